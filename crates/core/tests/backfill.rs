//! Backfill after a gap, against the simulator: the realtime side goes away (502 on
//! `/socket.io/`, sockets dropped) while the web process keeps storing messages; when the
//! link is back, every missed message is delivered once, in order, marked recovered, after
//! one gap marker, and live messages follow.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use sockeye_core::backfill::{BackfillOptions, GAP_EVENT, GapReport};
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::{AuthMethod, RealtimeEvent};
use sockeye_core::{auth::Credentials, secrets::Secret};
use tokio::sync::mpsc;

fn gaps(seen: &[Arc<RealtimeEvent>]) -> Vec<GapReport> {
    seen.iter()
        .filter(|e| e.name == GAP_EVENT)
        .map(|e| serde_json::from_value(e.json()).expect("a gap report"))
        .collect()
}

/// Message ids in delivery order, with whether each was recovered.
fn messages(seen: &[Arc<RealtimeEvent>]) -> Vec<(String, bool)> {
    seen.iter()
        .filter(|e| e.name == "message_created")
        .map(|e| (e.json()["message_id"].as_str().unwrap().to_string(), e.recovered))
        .collect()
}

async fn session(sim_url: &str, channels: &[&str], backfill: BackfillOptions) -> (Session, Stream) {
    let t =
        target(sim_url, AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), channels).await;
    let (tx, rx) = mpsc::channel(10_000);
    let s = Session::spawn(t, SessionOptions { lossless: Some(tx), backfill, ..fast_options() });
    (s, Stream::new(rx))
}

#[tokio::test]
async fn missed_messages_arrive_once_in_order_marked_recovered_after_one_gap_marker() {
    let sim = sim().await;
    let (s, mut st) = session(&sim.url(), &["general"], BackfillOptions::default()).await;
    connected(&s).await;
    let first = sim.send_message("general", "bob@example.com", "<p>before</p>").await;
    st.until("the live message", 5, |seen| messages(seen).len() == 1).await;

    realtime_down(&sim, &s).await;
    let mut missed = Vec::new();
    for i in 0..3 {
        missed.push(
            sim.send_message("general", "bob@example.com", &format!("<p>missed {i}</p>"))
                .await
                .name,
        );
    }
    realtime_up(&sim, &s).await;
    st.until("three recovered", 10, |seen| messages(seen).len() == 4).await;
    let after = sim.send_message("general", "bob@example.com", "<p>after</p>").await;
    st.until("the live one after", 5, |seen| messages(seen).len() == 5).await;
    st.settle(300).await;

    let got = messages(&st.seen);
    let mut want = vec![(first.name.clone(), false)];
    want.extend(missed.iter().map(|id| (id.clone(), true)));
    want.push((after.name.clone(), false));
    assert_eq!(got, want, "{:#?}", describe(&st.seen));
    let g = gaps(&st.seen);
    assert_eq!(g.len(), 1, "one gap marker");
    assert_eq!((g[0].recovered, g[0].capped, g[0].error.as_deref()), (3, false, None));
    assert_eq!(g[0].cause, "reconnect");
    assert!(g[0].down_from_ms <= g[0].down_to_ms);
    // The marker comes before the recovered messages, the live message after them.
    let pos = |pred: &dyn Fn(&RealtimeEvent) -> bool| st.seen.iter().position(|e| pred(e)).unwrap();
    let marker = pos(&|e| e.name == GAP_EVENT);
    let first_recovered = pos(&|e| e.recovered);
    assert!(marker < first_recovered);
    // In `--json` form the mark is a field; live events do not carry it.
    let json = serde_json::to_value(&*st.seen[first_recovered]).unwrap();
    assert_eq!(json["recovered"], true);
    assert!(serde_json::to_value(&*st.seen[0]).unwrap().get("recovered").is_none());
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn messages_posted_across_the_reconnect_edge_are_each_shown_once() {
    let sim = sim().await;
    let (s, mut st) = session(&sim.url(), &["general"], BackfillOptions::default()).await;
    connected(&s).await;
    realtime_down(&sim, &s).await;
    sim.send_message("general", "bob@example.com", "<p>in the gap</p>").await;
    // Keep posting while the link comes back: some land before the REST query, some while
    // the socket is subscribing, some after; each must be delivered exactly once.
    sim.set_faults(&["bad_gateway=false"]).unwrap();
    s.reconnect_now();
    let mut posted = Vec::new();
    let mut state = s.state();
    for i in 0..40 {
        posted.push(
            sim.send_message("general", "bob@example.com", &format!("<p>edge {i}</p>")).await.name,
        );
        tokio::time::sleep(Duration::from_millis(15)).await;
        if i > 20 && state.borrow_and_update().state.is_connected() {
            break;
        }
    }
    connected(&s).await;
    let last = sim.send_message("general", "bob@example.com", "<p>last</p>").await.name;
    posted.push(last.clone());
    st.until("the last message", 10, |seen| messages(seen).iter().any(|(id, _)| *id == last)).await;
    st.settle(300).await;
    let got = messages(&st.seen);
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (id, _) in &got {
        *count.entry(id.as_str()).or_default() += 1;
    }
    assert!(count.values().all(|n| *n == 1), "duplicates: {:#?}", describe(&st.seen));
    for id in &posted {
        assert!(count.contains_key(id.as_str()), "{id} missing: {:#?}", describe(&st.seen));
    }
    assert_eq!(gaps(&st.seen).len(), 1);
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_large_gap_is_paged_and_capped_and_the_marker_says_so() {
    let sim = sim().await;
    let opts = BackfillOptions { max_per_gap: 120, page_size: 50, ..Default::default() };
    let (s, mut st) = session(&sim.url(), &["general"], opts).await;
    connected(&s).await;
    sim.send_message("general", "bob@example.com", "<p>before</p>").await;
    st.until("the live message", 5, |seen| messages(seen).len() == 1).await;
    realtime_down(&sim, &s).await;
    let mut missed = Vec::new();
    for i in 0..500 {
        missed.push(
            sim.send_message("general", "bob@example.com", &format!("<p>m{i}</p>")).await.name,
        );
    }
    realtime_up(&sim, &s).await;
    st.until("the gap marker", 15, |seen| !gaps(seen).is_empty()).await;
    st.settle(500).await;
    let g = &gaps(&st.seen)[0];
    assert_eq!((g.recovered, g.capped), (120, true), "{g:?}");
    assert!(g.channels[0].capped);
    let recovered: Vec<String> =
        messages(&st.seen).into_iter().filter(|(_, r)| *r).map(|(id, _)| id).collect();
    assert_eq!(recovered, missed[380..].to_vec(), "the newest 120, oldest first");
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_forbidden_channel_is_reported_on_that_channel_and_the_link_stays_healthy() {
    let sim = sim().await;
    let (s, mut st) =
        session(&sim.url(), &["general", "secret-room"], BackfillOptions::default()).await;
    connected(&s).await;
    realtime_down(&sim, &s).await;
    sim.send_message("general", "bob@example.com", "<p>missed</p>").await;
    realtime_up(&sim, &s).await;
    st.until("the gap marker", 10, |seen| !gaps(seen).is_empty()).await;
    let g = &gaps(&st.seen)[0];
    assert_eq!(g.error, None, "{g:?}");
    assert_eq!(g.recovered, 1);
    let secret = g.channels.iter().find(|c| c.channel_id == "secret-room").expect("listed");
    let why = secret.error.as_deref().unwrap_or_default();
    assert!(why.contains("not permitted") && why.contains("secret-room"), "{why}");
    let general = g.channels.iter().find(|c| c.channel_id == "general").unwrap();
    assert_eq!((general.recovered, general.error.as_deref()), (1, None));
    assert!(s.state().borrow().state.is_connected());
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn the_time_the_app_was_closed_is_backfilled_from_remembered_cursors() {
    let sim = sim().await;
    let dir = std::env::temp_dir().join(format!("sockeye-backfill-{}", std::process::id()));
    let file = dir.join("state/test.cursors.json");
    let opts = BackfillOptions { state_file: Some(file.clone()), ..Default::default() };
    let (s, mut st) = session(&sim.url(), &["general"], opts.clone()).await;
    connected(&s).await;
    sim.send_message("general", "bob@example.com", "<p>seen</p>").await;
    st.until("the live message", 5, |seen| messages(seen).len() == 1).await;
    s.stop().await;
    let text = std::fs::read_to_string(&file).expect("cursors written on stop");
    assert!(!text.contains("good-sid"), "no secrets in the state file");
    let a = sim.send_message("general", "bob@example.com", "<p>while closed 1</p>").await.name;
    let b = sim.send_message("general", "bob@example.com", "<p>while closed 2</p>").await.name;
    let (s2, mut st2) = session(&sim.url(), &["general"], opts).await;
    st2.until("two recovered", 10, |seen| messages(seen).len() == 2).await;
    st2.settle(300).await;
    assert_eq!(messages(&st2.seen), vec![(a, true), (b, true)]);
    let g = gaps(&st2.seen);
    assert_eq!((g.len(), g[0].cause.as_str(), g[0].recovered), (1, "startup", 2));
    s2.stop().await;
    // Without a state file (the CLI), a fresh session has no gap to fill.
    let (s3, mut st3) = session(&sim.url(), &["general"], BackfillOptions::default()).await;
    connected(&s3).await;
    st3.settle(500).await;
    assert!(
        gaps(&st3.seen).is_empty() && messages(&st3.seen).is_empty(),
        "{:?}",
        describe(&st3.seen)
    );
    s3.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_sim_lists_raven_messages_like_frappe() {
    let sim = sim().await;
    for i in 0..5 {
        sim.send_message("general", "bob@example.com", &format!("<p>n{i}</p>")).await;
    }
    let http = reqwest::Client::new();
    let get = |q: Vec<(&'static str, String)>, cookie: &'static str| {
        let http = http.clone();
        let url = format!("{}/api/resource/Raven%20Message", sim.url());
        async move {
            let r = http.get(url).query(&q).header("Cookie", cookie).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let q = |filters: Value| {
        vec![
            ("fields", json!(["name", "content", "creation"]).to_string()),
            ("filters", filters.to_string()),
            ("order_by", "creation asc".to_string()),
            ("limit_start", "1".to_string()),
            ("limit_page_length", "2".to_string()),
        ]
    };
    let (status, body) = get(q(json!([["channel_id", "=", "general"]])), "sid=good-sid").await;
    assert_eq!(status, 200, "{body}");
    let contents: Vec<&str> =
        body["data"].as_array().unwrap().iter().map(|r| r["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["n1", "n2"]);
    assert_eq!(body["data"][0].as_object().unwrap().len(), 3, "only the fields asked for");
    let (status, body) = get(q(json!([["channel_id", "=", "secret-room"]])), "sid=good-sid").await;
    assert_eq!((status, body["exc_type"].as_str()), (403, Some("PermissionError")));
    let (status, _) = get(q(json!([["channel_id", "=", "general"]])), "sid=unknown").await;
    assert_eq!(status, 403, "Guest reads nothing");
    sim.shutdown().await;
}
