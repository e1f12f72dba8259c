//! Backfill against an independent server: the node `socket.io` 4.7 Frappe-style peer
//! (`tests/peers/frappe_like_server.mjs`) with its own message store and list endpoint.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::peers::{free_port, node_frappe};
use common::*;
use serde_json::{Value, json};
use sockeye_core::backfill::{GAP_EVENT, GapReport};
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::{AuthMethod, RealtimeEvent, auth::Credentials, secrets::Secret};
use tokio::sync::mpsc;

async fn post(url: String, body: Value) -> Value {
    reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

async fn recv_until(
    rx: &mut mpsc::Receiver<Arc<RealtimeEvent>>,
    seen: &mut Vec<Arc<RealtimeEvent>>,
    what: &str,
    done: impl Fn(&[Arc<RealtimeEvent>]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done(seen) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => seen.push(e),
            _ => panic!(
                "{what}: not within 15 s; seen {:?}",
                seen.iter().map(|e| &e.name).collect::<Vec<_>>()
            ),
        }
    }
}

fn messages(seen: &[Arc<RealtimeEvent>]) -> Vec<(String, bool)> {
    seen.iter()
        .filter(|e| e.name == "message_created")
        .map(|e| (e.json()["message_id"].as_str().unwrap().to_string(), e.recovered))
        .collect()
}

#[tokio::test]
async fn node_peer_gap_is_filled_once_in_order_with_one_marker_and_a_refused_channel_named() {
    let peer = node_frappe(free_port());
    let url = peer.url();
    // The peer does not answer Raven's site-name call: the site is configured.
    let mut p = sockeye_core::Profile::new("node", &url, AuthMethod::Sid).unwrap();
    p.site = Some("raven.test".into());
    p.subscriptions.channels = vec!["general".into(), "engineering".into()];
    let t = sockeye_core::target::resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    let (tx, mut rx) = mpsc::channel(10_000);
    let s = Session::spawn(t, SessionOptions { lossless: Some(tx), ..fast_options() });
    let mut seen = Vec::new();
    connected(&s).await;
    let msg = |text: &str| {
        post(format!("{url}/__test/message"), json!({"channel_id": "general", "text": text}))
    };
    let first = msg("<p>before</p>").await;
    assert_eq!(first["delivered_to"], 1, "{first}");
    recv_until(&mut rx, &mut seen, "live message", |s| messages(s).len() == 1).await;

    post(format!("{url}/__test/realtime"), json!({"up": false})).await;
    wait_state(&s, "link lost", 10, |st| !st.is_connected()).await;
    let mut missed = Vec::new();
    for i in 0..3 {
        let m = msg(&format!("<p>missed {i}</p>")).await;
        assert_eq!(m["delivered_to"], 0);
        missed.push(m["message_id"].as_str().unwrap().to_string());
    }
    post(format!("{url}/__test/realtime"), json!({"up": true})).await;
    s.reconnect_now();
    connected(&s).await;
    recv_until(&mut rx, &mut seen, "recovered", |s| messages(s).len() == 4).await;
    let after = msg("<p>after</p>").await;
    recv_until(&mut rx, &mut seen, "live after", |s| messages(s).len() == 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(e) = rx.try_recv() {
        seen.push(e);
    }

    let mut want = vec![(first["message_id"].as_str().unwrap().to_string(), false)];
    want.extend(missed.into_iter().map(|m| (m, true)));
    want.push((after["message_id"].as_str().unwrap().to_string(), false));
    assert_eq!(messages(&seen), want);
    let gaps: Vec<GapReport> = seen
        .iter()
        .filter(|e| e.name == GAP_EVENT)
        .map(|e| serde_json::from_value(e.json()).unwrap())
        .collect();
    assert_eq!(gaps.len(), 1, "one gap marker");
    assert_eq!((gaps[0].recovered, gaps[0].error.as_deref()), (3, None));
    let eng = gaps[0].channels.iter().find(|c| c.channel_id == "engineering").unwrap();
    assert!(eng.error.as_deref().unwrap_or_default().contains("not permitted"), "{eng:?}");
    assert!(s.state().borrow().state.is_connected(), "a refused channel is not a link failure");
    // One bounded burst per gap, no polling: priming (2 channels) + the gap (2 channels).
    let stats: Value =
        reqwest::get(format!("{url}/__test/stats")).await.unwrap().json().await.unwrap();
    assert!(stats["resource_lists"].as_u64().unwrap() <= 4, "{stats}");
    s.stop().await;
}
