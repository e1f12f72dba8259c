//! The wire against servers that are not ours: a hand-written hostile Engine.IO server that
//! mixes malformed, oversized, deeply nested, binary and out-of-order packets with good
//! events (both Engine.IO versions, every transport plan), and a real Socket.IO v2 server.
//! Every good event must arrive, in order, with the link up; every bad one reported.

mod common;

use std::time::Duration;

use common::peers::hostile;
use serde_json::value::RawValue;
use sockeye_core::wire::{
    self, ConnectOptions, Disconnect, EioVersion, Inbound, PacketError, Transport, TransportPlan,
};
use url::Url;

fn options(
    base: &str,
    query: &str,
    plan: TransportPlan,
    version: Option<EioVersion>,
) -> ConnectOptions {
    let mut o = common::wire_options(base, "/site", vec![("Origin".into(), base.into())], plan);
    o.socket_url = Url::parse(&format!("{base}/socket.io/?{query}")).unwrap();
    o.version = version;
    o
}

#[derive(Debug, Default)]
struct Seen {
    names: Vec<String>,
    seqs: Vec<u64>,
    malformed: Vec<PacketError>,
    attachments: Vec<Vec<u8>>,
    done: Option<u64>,
}

fn seq_of(payload: &RawValue) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct S {
        seq: Option<u64>,
        good: Option<u64>,
    }
    let s: S = serde_json::from_str(payload.get()).ok()?;
    s.seq.or(s.good)
}

/// Read until `done`, failing on a close before it.
async fn until_done(conn: &mut wire::Connection) -> Seen {
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let item = tokio::time::timeout_at(deadline, conn.inbound.recv())
            .await
            .expect("done within 20 s")
            .expect("connection open");
        match item {
            Inbound::Event(e) if e.name == "done" => {
                seen.done = seq_of(e.payload.raw());
                return seen;
            }
            Inbound::Event(e) => {
                if let Some(s) = seq_of(e.payload.raw())
                    .filter(|_| !["oversized", "deep", "bin"].contains(&e.name.as_str()))
                {
                    seen.seqs.push(s);
                }
                seen.attachments.extend(e.attachments);
                seen.names.push(e.name);
            }
            Inbound::Malformed(m) => {
                assert!(m.raw.len() <= wire::connection::MALFORMED_EXCERPT, "excerpt is bounded");
                seen.malformed.push(m.error);
            }
            Inbound::Upgraded => panic!("no upgrade in place without a retry schedule"),
            Inbound::Closed(d) => panic!("closed before done: {d}"),
        }
    }
}

fn assert_hostile_script(seen: &Seen, repeat: u64, what: &str) {
    let want: Vec<u64> = (1..=24 * repeat).collect();
    assert_eq!(seen.seqs, want, "{what}: every good event, in order");
    assert_eq!(seen.done, Some(24 * repeat), "{what}");
    for name in [
        "message",
        "error",
        "open",
        "close",
        "connect",
        "disconnect",
        "connect_error",
        "ping",
        "pong",
        "upgrade",
    ] {
        assert!(
            seen.names.iter().any(|n| n == name),
            "{what}: event named {name} delivered as an event"
        );
    }
    assert!(seen.names.iter().any(|n| n == "bin"), "{what}: the binary event is delivered");
    assert!(
        seen.attachments.contains(&vec![0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]),
        "{what}: with its attachment"
    );
    // (a) (b) (c) bad JSON, (d) unknown SIO type, (d) unknown EIO type, (f) nesting,
    // (h) stray binary, (i) unknown ack: eight reports per repeat.
    assert_eq!(seen.malformed.len() as u64, 8 * repeat, "{what}: {:?}", seen.malformed);
    assert!(seen.malformed.contains(&PacketError::TooDeep(128)), "{what}");
    assert!(seen.malformed.contains(&PacketError::UnexpectedBinary), "{what}");
    assert!(seen.malformed.contains(&PacketError::UnknownAck(999)), "{what}");
}

#[tokio::test]
async fn hostile_server_every_transport_and_version_keeps_the_link_and_every_good_event() {
    let peer = hostile(25_000, 20_000);
    for (eio, query_v) in [(None, "EIO=4"), (Some(EioVersion::V3), "EIO=3")] {
        for plan in
            [TransportPlan::Websocket, TransportPlan::Polling, TransportPlan::PollingThenUpgrade]
        {
            let what = format!("{query_v} {plan:?}");
            let mut conn =
                wire::connect(&options(&peer.url(), "script=hostile&repeat=2", plan, eio))
                    .await
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            let want_transport = if plan == TransportPlan::Polling {
                Transport::Polling
            } else {
                Transport::Websocket
            };
            assert_eq!(conn.info.transport, want_transport, "{what}");
            if eio.is_some() {
                assert_eq!(conn.info.eio, EioVersion::V3, "{what}");
            }
            let seen = until_done(&mut conn).await;
            assert_hostile_script(&seen, 2, &what);
            // Still up: an ack round trip works after all that.
            let arg: Box<RawValue> = serde_json::value::to_raw_value(&7).unwrap();
            let ack = conn
                .handle
                .emit_with_ack("echo", &[&arg], Duration::from_secs(3))
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(ack.get(), "[7]", "{what}");
            conn.handle.close().await;
        }
    }
}

#[tokio::test]
async fn packets_over_the_limit_are_reported_and_skipped() {
    let peer = hostile(25_000, 20_000);
    let mut o = options(&peer.url(), "script=hostile", TransportPlan::Websocket, None);
    o.max_packet = 200_000;
    let mut conn = wire::connect(&o).await.unwrap();
    let seen = until_done(&mut conn).await;
    assert_eq!(seen.seqs, (1..=24).collect::<Vec<_>>());
    assert!(!seen.names.iter().any(|n| n == "oversized"));
    assert!(
        seen.malformed.iter().any(|e| matches!(e, PacketError::Oversized { limit: 200_000, .. })),
        "{:?}",
        seen.malformed
    );
}

#[tokio::test]
async fn lifecycle_names_are_events_on_every_transport() {
    let peer = hostile(25_000, 20_000);
    for plan in [TransportPlan::Websocket, TransportPlan::Polling] {
        let mut conn = wire::connect(&options(&peer.url(), "script=names&repeat=3", plan, None))
            .await
            .unwrap();
        let seen = until_done(&mut conn).await;
        assert_eq!(seen.seqs, (1..=39).collect::<Vec<_>>(), "{plan:?}");
        assert!(seen.malformed.is_empty());
    }
}

#[tokio::test]
async fn a_server_close_and_a_dead_server_are_typed() {
    // Short heartbeat: the server pings every 300 ms and expects our pong.
    let peer = hostile(300, 600);
    let mut conn =
        wire::connect(&options(&peer.url(), "script=none", TransportPlan::Websocket, None))
            .await
            .unwrap();
    until_done(&mut conn).await;
    // Our pongs keep it alive across several intervals.
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), conn.inbound.recv()).await.is_err(),
        "nothing but heartbeats"
    );
    reqwest::Client::new()
        .post(format!("{}/__test/emit", peer.url()))
        .json(&serde_json::json!({"engine": "1"}))
        .send()
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(3), conn.inbound.recv()).await.unwrap() {
        Some(Inbound::Closed(Disconnect::TransportClose(_))) => {}
        other => panic!("{other:?}"),
    }
    // A server that stops answering: ping timeout within pingInterval + pingTimeout.
    let mut conn =
        wire::connect(&options(&peer.url(), "script=none", TransportPlan::Polling, None))
            .await
            .unwrap();
    until_done(&mut conn).await;
    peer.kill();
    let t0 = std::time::Instant::now();
    match tokio::time::timeout(Duration::from_secs(5), conn.inbound.recv()).await.unwrap() {
        Some(Inbound::Closed(Disconnect::TransportError(_) | Disconnect::PingTimeout(_))) => {}
        other => panic!("{other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(3));
}

/// The session on a hostile link: every good event reaches consumers, each bad packet is one
/// `sockeye:malformed` event and a count in the state, and the link is never dropped.
#[tokio::test]
async fn a_session_on_a_hostile_link_stays_up_and_reports_every_bad_packet() {
    use sockeye_core::state::LinkState;
    let peer = hostile(25_000, 20_000);
    let s = hostile_session(&peer).await;
    let mut events = s.events();
    let (mut good, mut malformed) = (Vec::new(), 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("done in time")
            .expect("stream open");
        match e.name.as_str() {
            "done" => break,
            "sockeye:malformed" => {
                malformed += 1;
                assert!(
                    e.json()["reason"].as_str().is_some_and(|r| !r.is_empty()),
                    "{}",
                    e.payload
                );
            }
            "oversized" | "deep" | "bin" => {}
            _ => good.push(e.json()["seq"].as_u64().unwrap()),
        }
    }
    assert_eq!(good, (1..=24).collect::<Vec<_>>());
    assert_eq!(malformed, 8);
    let snap = s.state().borrow().clone();
    match &snap.state {
        LinkState::Connected { malformed, .. } => assert_eq!(*malformed, 8),
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.state().borrow().since_ms, snap.since_ms, "no reconnect");
    s.stop().await;
}

/// `Session::emit` with and without an ack, on the live link; refused at once without one.
#[tokio::test]
async fn session_emits_with_and_without_ack() {
    let peer = hostile(25_000, 20_000);
    let s = hostile_session(&peer).await;
    common::connected(&s).await;
    let arg =
        || vec![serde_json::value::to_raw_value(&serde_json::json!({"k": [1, "two"]})).unwrap()];
    let ack = s.emit("anything", arg(), Some(Duration::from_secs(3))).await.unwrap();
    assert_eq!(ack.unwrap().get(), r#"[{"k":[1,"two"]}]"#);
    assert!(s.emit("fire_and_forget", arg(), None).await.unwrap().is_none());
    s.stop().await;
    assert!(s.emit("late", arg(), None).await.is_err(), "no link, no emit");
}

/// A session to the hostile server as a generic (non-Frappe) Socket.IO server with a JWT
/// `auth` payload: no identity or ping checks, namespace `/site`.
async fn hostile_session(peer: &common::peers::Peer) -> sockeye_core::session::Session {
    use sockeye_core::session::{Session, SessionOptions};
    let mut p =
        sockeye_core::Profile::new("hostile", &peer.url(), sockeye_core::AuthMethod::Jwt).unwrap();
    p.namespace = Some("site".into());
    let creds = sockeye_core::auth::Credentials::Jwt(sockeye_core::secrets::Secret::new("t"));
    let t = sockeye_core::target::resolve_with(&p, creds).await;
    Session::spawn(
        t,
        SessionOptions { connect_timeout: Duration::from_secs(5), ..Default::default() },
    )
}
