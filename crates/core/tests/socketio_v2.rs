//! Socket.IO v2 servers (Engine.IO 3: Frappe v13-era sites, older self-hosted servers),
//! played by the real npm `socket.io` 2.x with a Frappe-style middleware. Engine.IO 3 has the
//! client send the pings: a client that waits for the server's drops every
//! pingInterval + pingTimeout. Also the independent v4 server over polling, for bursts.

mod common;

use std::time::Duration;

use common::peers::{free_port, node_frappe, node_frappe_v2};
use common::*;
use serde_json::json;
use sockeye_core::auth::Credentials;
use sockeye_core::events::EventKind;
use sockeye_core::secrets::Secret;
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::state::LinkState;
use sockeye_core::wire::{self, EioVersion, TransportPlan};
use sockeye_core::{AuthMethod, Transport};

async fn post(url: String, body: serde_json::Value) -> serde_json::Value {
    reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

async fn sid_session(url: &str, options: SessionOptions, origin: Option<&str>) -> Session {
    let mut p = sockeye_core::Profile::new("v2", url, AuthMethod::Sid).unwrap();
    p.site = Some("raven.test".into());
    p.origin = origin.map(str::to_string);
    p.subscriptions.channels = vec!["general".into()];
    let t = sockeye_core::target::resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    Session::spawn(t, options)
}

#[tokio::test]
async fn a_v2_server_is_held_past_its_heartbeat_with_no_reconnect_and_no_missing_event() {
    // socket.io 2.x defaults: pingInterval 25 s, pingTimeout 5 s. Without client pings the
    // server drops us at 30 s; 75 s covers two and a half of those windows.
    let peer = node_frappe_v2(free_port(), 25_000, 5_000);
    let url = peer.url();
    let s = sid_session(&url, fast_options(), None).await;
    let mut events = s.events();
    match connected(&s).await {
        LinkState::Connected { transport, user, eio, .. } => {
            assert_eq!(
                (transport, eio, user.as_deref()),
                (Transport::Websocket, EioVersion::V3, Some(USER))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(s.state().borrow().state.describe().contains("Socket.IO v2 server (EIO 3)"));
    let mut states = s.state();
    states.borrow_and_update();
    for i in 0..15u64 {
        let r = post(format!("{url}/__test/publish"), json!({"room": "doc:Raven Channel/general", "event": "message_created", "message": {"channel_id": "general", "sender": "a@x", "message_id": format!("m{i}"), "message_details": {"content": format!("n{i}")}}})).await;
        assert_eq!(r["delivered_to"], 1, "still subscribed at {i}");
        let e = next_named(&mut events, "message_created", 5).await;
        assert!(matches!(&e.kind, EventKind::MessageCreated(m) if m.message_id == format!("m{i}")));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(
            s.state().borrow().state.is_connected(),
            "dropped at {} s: {:?}",
            (i + 1) * 5,
            s.state().borrow().state
        );
    }
    // rtt updates are fine; a different state (reconnecting) is not.
    let last = s.state().borrow().clone();
    assert!(last.state.is_connected());
    assert!(
        last.since_ms <= sockeye_core::events::now_ms() - 70_000,
        "connected without a break for 70 s+"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_v2_refusal_is_shown_verbatim_and_acks_work() {
    let peer = node_frappe_v2(free_port(), 25_000, 5_000);
    let s = sid_session(&peer.url(), fast_options(), Some("http://elsewhere.example")).await;
    let st = wait_state(&s, "auth failed", 10, |s| matches!(s, LinkState::AuthFailed { .. })).await;
    assert_eq!(st, LinkState::AuthFailed { message: "Invalid origin".into() });
    s.stop().await;

    let headers = vec![("Origin".into(), peer.url()), ("Cookie".into(), "sid=good-sid".into())];
    let o = wire_options(&peer.url(), "/raven.test", headers, TransportPlan::PollingThenUpgrade);
    let conn = wire::connect(&o).await.unwrap();
    assert_eq!(
        (conn.info.eio, conn.info.transport, conn.info.upgrade_failed.as_deref()),
        (EioVersion::V3, Transport::Websocket, None)
    );
    let args = [
        serde_json::value::to_raw_value(&1).unwrap(),
        serde_json::value::to_raw_value("a").unwrap(),
    ];
    let refs: Vec<_> = args.iter().map(|a| a.as_ref()).collect();
    let ack = conn.handle.emit_with_ack("echo_ack", &refs, Duration::from_secs(3)).await.unwrap();
    assert_eq!(ack.get(), r#"[1,"a"]"#);
    conn.handle.close().await;
}

/// 10,000 events in one burst over long-polling, none lost, in order.
async fn polling_burst(url: &str) {
    let s = sid_session(
        url,
        SessionOptions {
            transports: vec![Transport::Polling],
            event_buffer: 20_000,
            ..fast_options()
        },
        None,
    )
    .await;
    let mut events = s.events();
    match connected(&s).await {
        LinkState::Connected { transport, .. } => assert_eq!(transport, Transport::Polling),
        other => panic!("{other:?}"),
    }
    post(
        format!("{url}/__test/burst"),
        json!({"room": "user:test@example.com", "event": "burst", "count": 10_000}),
    )
    .await;
    for expected in 1..=10_000u64 {
        let e = next_named(&mut events, "burst", 10).await;
        assert_eq!(e.json()["seq"].as_u64(), Some(expected), "out of order or lost");
    }
    s.stop().await;
}

#[tokio::test]
async fn ten_thousand_event_polling_bursts_over_both_protocol_versions() {
    let v2 = node_frappe_v2(free_port(), 25_000, 5_000);
    polling_burst(&v2.url()).await;
    let v4 = node_frappe(free_port());
    polling_burst(&v4.url()).await;
}

#[tokio::test]
async fn a_v2_server_restart_reconnects_and_resubscribes() {
    let port = free_port();
    let peer = node_frappe_v2(port, 25_000, 5_000);
    let url = peer.url();
    let s = sid_session(&url, fast_options(), None).await;
    let mut events = s.events();
    connected(&s).await;
    peer.kill();
    wait_state(&s, "link lost", 10, |st| !st.is_connected()).await;
    let _peer = node_frappe_v2(port, 25_000, 5_000);
    match connected(&s).await {
        LinkState::Connected { eio, .. } => assert_eq!(eio, EioVersion::V3),
        other => panic!("{other:?}"),
    }
    let r = post(format!("{url}/__test/publish"), json!({"room": "doc:Raven Channel/general", "event": "message_created", "message": {"channel_id": "general", "sender": "a@x", "message_id": "after", "message_details": {"content": "back"}}})).await;
    assert_eq!(r["delivered_to"], 1, "resubscribed after the restart");
    let e = next_named(&mut events, "message_created", 5).await;
    assert_eq!(e.json()["message_id"], "after");
    s.stop().await;
}
