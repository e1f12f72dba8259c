//! A polling session moves to WebSocket in place (`2probe` → `3probe`, the pending poll ended,
//! `5`) while events stream, against servers that are not ours — node `socket.io` 4 and 2
//! (Engine.IO 4 and 3) and python-socketio — and our simulator (socketioxide): every event
//! arrives once, in order, across the switch, and sending works on the new transport.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::peers::{free_port, node_frappe, node_frappe_v2, python_agent};
use serde_json::json;
use serde_json::value::RawValue;
use sockeye_core::wire::{self, ConnectOptions, Inbound, Transport, TransportPlan};

type Publish = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

fn options(base: &str, namespace: &str, headers: Vec<(String, String)>) -> ConnectOptions {
    let mut o = common::wire_options(base, namespace, headers, TransportPlan::Polling);
    o.retry_upgrade = Some(Duration::from_millis(300));
    o
}

fn frappe_headers(base: &str) -> Vec<(String, String)> {
    vec![("Origin".into(), base.into()), ("Cookie".into(), "sid=good-sid".into())]
}

/// POST `body(n)` to `url` for each event.
fn http_publisher(url: String, body: fn(u64) -> serde_json::Value) -> Publish {
    let client = reqwest::Client::new();
    Arc::new(move |n| {
        let (client, url) = (client.clone(), url.clone());
        Box::pin(async move {
            let r = client.post(url).json(&body(n)).send().await.expect("publish");
            assert!(r.status().is_success(), "publish {n}: {}", r.status());
        })
    })
}

fn seq_of(payload: &RawValue) -> u64 {
    let v: serde_json::Value = serde_json::from_str(payload.get()).unwrap();
    v["seq"].as_u64().or_else(|| v["data"]["seq"].as_u64()).expect("a numbered event")
}

/// Connect over polling, publish numbered events every 5 ms until 50 have gone after the
/// switch, and check what arrived. `ack`: the server acks `echo_ack` with its arguments.
async fn streams_across_the_switch(what: &str, opts: ConnectOptions, publish: Publish, ack: bool) {
    let mut conn = wire::connect(&opts).await.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(conn.info.transport, Transport::Polling, "{what}");
    let upgraded = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let publisher = {
        let (upgraded, published) = (upgraded.clone(), published.clone());
        tokio::spawn(async move {
            let mut after = 0;
            // Bounded: 2,000 events (10 s) at most, whatever happens.
            for n in 1..=2000u64 {
                publish(n).await;
                published.store(n, Ordering::SeqCst);
                if upgraded.load(Ordering::SeqCst) {
                    after += 1;
                    if after == 50 {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let mut seqs = Vec::new();
    let mut at_switch = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(publisher.is_finished() && seqs.len() as u64 >= published.load(Ordering::SeqCst)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: stalled; {} of {:?}",
            seqs.len(),
            published
        );
        let Ok(item) = tokio::time::timeout(Duration::from_millis(100), conn.inbound.recv()).await
        else {
            continue;
        };
        match item.unwrap_or_else(|| panic!("{what}: the connection ended")) {
            Inbound::Event(e) => seqs.push(seq_of(e.payload.raw())),
            Inbound::Upgraded => {
                at_switch = Some(seqs.len());
                upgraded.store(true, Ordering::SeqCst);
            }
            Inbound::Malformed(m) => panic!("{what}: {m:?}"),
            Inbound::Closed(d) => panic!("{what}: closed: {d}"),
        }
    }
    let n = published.load(Ordering::SeqCst);
    let at_switch = at_switch.unwrap_or_else(|| panic!("{what}: never upgraded"));
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{what}: every event once, in order");
    assert!(at_switch > 0 && (at_switch as u64) < n, "{what}: events on both sides");
    if ack {
        let arg = serde_json::value::to_raw_value(&json!({"after": "upgrade"})).unwrap();
        let answer =
            conn.handle.emit_with_ack("echo_ack", &[&arg], Duration::from_secs(5)).await.unwrap();
        assert_eq!(answer.get(), r#"[{"after":"upgrade"}]"#, "{what}: acked over the WebSocket");
    }
    eprintln!("{what}: {n} events, the switch after event {at_switch}");
    conn.handle.close().await;
}

/// A Frappe-style node server (`frappe_like_server*`): sid cookie, `/raven.test`, events
/// published to the user's room through `/__test/publish`, `echo_ack` answered.
async fn frappe_style_server_upgrades_in_place(what: &str, url: &str) {
    let publish = http_publisher(
        format!("{url}/__test/publish"),
        |n| json!({"room": "user:test@example.com", "event": "seq", "message": {"seq": n}}),
    );
    let opts = options(url, "/raven.test", frappe_headers(url));
    streams_across_the_switch(what, opts, publish, true).await;
}

#[tokio::test]
async fn node_socketio_4_upgrades_in_place() {
    let peer = node_frappe(0);
    frappe_style_server_upgrades_in_place("socket.io 4", &peer.url()).await;
}

#[tokio::test]
async fn node_socketio_2_upgrades_in_place() {
    let peer = node_frappe_v2(free_port(), 25_000, 5_000);
    frappe_style_server_upgrades_in_place("socket.io 2 (EIO 3)", &peer.url()).await;
}

#[tokio::test]
async fn python_socketio_upgrades_in_place() {
    let secret = "upgrade-secret";
    let peer = python_agent(free_port(), secret);
    let url = peer.url();
    let token = sockeye_sim::jwt::mint(Some("agent-user"), secret, 3600);
    let mut opts = options(&url, "/", vec![]);
    opts.auth = Some(serde_json::value::to_raw_value(&json!({ "token": token })).unwrap());
    let publish = http_publisher(
        format!("{url}/__test/emit"),
        |n| json!({"user": "agent-user", "event": "thought", "data": {"seq": n}}),
    );
    streams_across_the_switch("python-socketio", opts, publish, true).await;
}

#[tokio::test]
async fn the_simulator_upgrades_in_place() {
    let sim = Arc::new(common::sim().await);
    let url = sim.url();
    let namespace = format!("/{}", sim.site());
    let publish: Publish = {
        let sim = sim.clone();
        Arc::new(move |n| {
            let sim = sim.clone();
            Box::pin(async move {
                let req = common::publish(
                    json!({"event": "seq", "message": {"seq": n}, "room": "user:test@example.com"}),
                );
                sim.publish(req).await.expect("publish");
            })
        })
    };
    streams_across_the_switch(
        "simulator",
        options(&url, &namespace, frappe_headers(&url)),
        publish,
        false,
    )
    .await;
}
