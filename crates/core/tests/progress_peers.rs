//! The progress fallback against an independent server: the node `socket.io` 4.7 Frappe-style
//! peer (`tests/peers/frappe_like_server.mjs`) records a run's updates with `conversation_id`
//! and no `seq`, so live and polled copies (the catch-up's too) are recognised by their content.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::peers::{free_port, node_frappe};
use common::*;
use serde_json::{Value, json};
use sockeye_core::events::RealtimeEvent;
use sockeye_core::progress::{FallbackReport, FallbackState, ProgressOptions};
use sockeye_core::runs::{RunStatus, RunTracker};
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::{AuthMethod, auth::Credentials, secrets::Secret};
use tokio::sync::mpsc;

async fn post(url: String, body: Value) -> Value {
    reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

async fn polls(url: &str) -> u64 {
    let stats: Value =
        reqwest::get(format!("{url}/__test/stats")).await.unwrap().json().await.unwrap();
    stats["progress_polls"].as_u64().expect("the peer counts progress polls")
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
                seen.iter().map(|e| (&e.name, e.payload.get(), e.polled)).collect::<Vec<_>>()
            ),
        }
    }
}

/// Whatever else arrives within `ms` (to show that nothing more does).
async fn drain_for(
    rx: &mut mpsc::Receiver<Arc<RealtimeEvent>>,
    seen: &mut Vec<Arc<RealtimeEvent>>,
    ms: u64,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        seen.push(e);
    }
}

/// The run's updates as (type, polled), in delivery order.
fn updates(seen: &[Arc<RealtimeEvent>]) -> Vec<(String, bool)> {
    seen.iter()
        .filter(|e| e.name == "ai_progress")
        .map(|e| (e.json()["type"].as_str().unwrap_or("?").to_string(), e.polled))
        .collect()
}

fn stopped(seen: &[Arc<RealtimeEvent>]) -> bool {
    seen.iter()
        .filter_map(|e| FallbackReport::from_event(e))
        .any(|r| r.state == FallbackState::Stopped)
}

/// A session on the peer at `url`, polling with the given pacing.
async fn session(
    url: &str,
    first_interval: Duration,
) -> (Session, mpsc::Receiver<Arc<RealtimeEvent>>) {
    let mut p = sockeye_core::Profile::new("node", url, AuthMethod::Sid).unwrap();
    p.site = Some("raven.test".into());
    let t = sockeye_core::target::resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    let progress = ProgressOptions {
        start_after: Duration::from_millis(400),
        first_interval,
        max_interval: first_interval.max(Duration::from_millis(800)),
        ..ProgressOptions::for_endpoint(Some("ai_assistant.api.get_progress".into()))
    };
    let (tx, rx) = mpsc::channel(10_000);
    let s = Session::spawn(t, SessionOptions { lossless: Some(tx), progress, ..fast_options() });
    connected(&s).await;
    (s, rx)
}

async fn realtime(url: &str, s: &Session, up: bool) {
    post(format!("{url}/__test/realtime"), json!({"up": up})).await;
    if up {
        s.reconnect_now();
        connected(s).await;
    } else {
        wait_state(s, "link lost", 10, |st| !st.is_connected()).await;
    }
}

#[tokio::test]
async fn node_peer_run_is_polled_while_realtime_is_down_each_update_once_and_not_after() {
    let peer = node_frappe(free_port());
    let url = peer.url();
    let (s, mut rx) = session(&url, Duration::from_millis(200)).await;
    let mut seen = Vec::new();
    let step = |update: Value| {
        post(format!("{url}/__test/progress"), json!({"conversation_id": "c-42", "update": update}))
    };
    let first = step(json!({"type": "thinking", "message": "Analyzing request..."})).await;
    assert_eq!(first["delivered_to"], 1, "{first}");
    step(json!({"type": "plan", "message": "1. Read\n2. Edit"})).await;
    recv_until(&mut rx, &mut seen, "live start", |s| updates(s).len() == 2).await;
    drain_for(&mut rx, &mut seen, 1_200).await;
    assert_eq!(polls(&url).await, 0, "polled while healthy");

    realtime(&url, &s, false).await;
    let missed = step(json!({"type": "working", "step": 1, "total": 2, "message": "Read"})).await;
    assert_eq!(missed["delivered_to"], 0);
    step(json!({"type": "step_complete", "step": 1, "total": 2, "message": "Read"})).await;
    recv_until(&mut rx, &mut seen, "polled updates", |s| updates(s).len() == 4).await;

    realtime(&url, &s, true).await;
    recv_until(&mut rx, &mut seen, "polling stopped", stopped).await;
    let polls_when_back = polls(&url).await;
    step(json!({"type": "working", "step": 2, "total": 2, "message": "Edit"})).await;
    step(json!({"type": "complete", "message": "Done"})).await;
    recv_until(&mut rx, &mut seen, "live end", |s| updates(s).len() == 6).await;
    drain_for(&mut rx, &mut seen, 2_000).await;
    assert_eq!(polls(&url).await, polls_when_back, "polled after the link was back");

    let want: Vec<(String, bool)> = [
        ("thinking", false),
        ("plan", false),
        ("working", true),
        ("step_complete", true),
        ("working", false),
        ("complete", false),
    ]
    .iter()
    .map(|(t, p)| (t.to_string(), *p))
    .collect();
    assert_eq!(updates(&seen), want, "each update once, the missed ones polled");
    let mut runs = RunTracker::new("node", 10);
    for e in &seen {
        runs.apply(e);
    }
    let run = runs.runs().find(|r| r.id == "c-42").expect("one keyed run");
    assert_eq!((run.status, run.events, run.steps[0].done), (RunStatus::Complete, 6, Some(true)));
    assert_eq!(runs.runs().count(), 1);
    s.stop().await;
}

#[tokio::test]
async fn node_peer_update_published_after_the_last_round_is_caught_up_once_by_content() {
    let peer = node_frappe(free_port());
    let url = peer.url();
    // One round, then none for long: what comes after it can only come by the catch-up.
    let (s, mut rx) = session(&url, Duration::from_secs(30)).await;
    let mut seen = Vec::new();
    let step = |run: &str, update: Value| {
        post(format!("{url}/__test/progress"), json!({"conversation_id": run, "update": update}))
    };
    let thinking = json!({"type": "thinking", "message": "Analyzing request..."});
    step("c-1", thinking.clone()).await;
    step("c-2", thinking).await;
    recv_until(&mut rx, &mut seen, "live start", |s| updates(s).len() == 2).await;
    drain_for(&mut rx, &mut seen, 800).await;
    assert_eq!(polls(&url).await, 0, "a link that never broke is never asked");

    realtime(&url, &s, false).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while polls(&url).await < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no polling round");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let missed = step("c-1", json!({"type": "working", "step": 1, "total": 2, "message": "Read"}));
    assert_eq!(missed.await["delivered_to"], 0);
    realtime(&url, &s, true).await;
    recv_until(&mut rx, &mut seen, "polling stopped", stopped).await;
    assert_eq!(polls(&url).await, 4, "one catch-up request per open run");
    step("c-1", json!({"type": "complete", "message": "Done"})).await;
    recv_until(&mut rx, &mut seen, "live end", |s| updates(s).len() == 4).await;
    drain_for(&mut rx, &mut seen, 1_500).await;
    assert_eq!(polls(&url).await, 4, "nothing more once caught up");

    let of = |run: &str| -> Vec<(String, bool)> {
        let mine: Vec<Arc<RealtimeEvent>> =
            seen.iter().filter(|e| e.run_key.as_deref() == Some(run)).cloned().collect();
        updates(&mine)
    };
    let want = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
        v.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    };
    assert_eq!(of("c-1"), want(&[("thinking", false), ("working", true), ("complete", false)]));
    assert_eq!(of("c-2"), want(&[("thinking", false)]));
    let report = seen
        .iter()
        .rev()
        .find_map(|e| FallbackReport::from_event(e).filter(|r| r.state == FallbackState::Stopped))
        .unwrap();
    assert_eq!((report.runs, report.fetched, report.caught_up), (2, 1, Some(1)));
    s.stop().await;
}
