//! Agent progress while realtime is down, against the simulator: its runs keep going (and
//! being recorded) while `/socket.io/` answers 502; the session polls the progress endpoint
//! for the runs still open, shows what it fetched once, marked polled, in the run's timeline,
//! stops when the link is back or the run ends (asking each open run once more when the link
//! is back: the catch-up), never polls while the link is healthy, and asks a refusing
//! endpoint once.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use sockeye_core::events::RealtimeEvent;
use sockeye_core::progress::{FallbackReport, FallbackState, ProgressOptions};
use sockeye_core::runs::{RunStatus, RunTracker};
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::{AuthMethod, auth::Credentials, secrets::Secret};
use sockeye_sim::Sim;
use sockeye_sim::progress::PROGRESS_METHOD;
use tokio::sync::mpsc;

/// The `ai_progress` updates of `run`, as (seq, polled).
fn updates(seen: &[Arc<RealtimeEvent>], run: &str) -> Vec<(u64, bool)> {
    seen.iter()
        .filter(|e| e.name == "ai_progress" && e.run_key.as_deref() == Some(run))
        .map(|e| (e.seq.expect("the simulator numbers updates"), e.polled))
        .collect()
}

fn reports(seen: &[Arc<RealtimeEvent>]) -> Vec<FallbackReport> {
    seen.iter().filter_map(|e| FallbackReport::from_event(e)).collect()
}

/// Quick pacing for tests (the defaults: 3 s before the first poll, 1 s backing off to 5 s).
fn fast(endpoint: &str) -> ProgressOptions {
    ProgressOptions {
        start_after: Duration::from_millis(400),
        first_interval: Duration::from_millis(200),
        max_interval: Duration::from_millis(800),
        ..ProgressOptions::for_endpoint(Some(endpoint.into()))
    }
}

/// One round, then none for long: what is published after it can only come by the catch-up.
fn one_round(endpoint: &str) -> ProgressOptions {
    ProgressOptions {
        first_interval: Duration::from_secs(30),
        max_interval: Duration::from_secs(30),
        ..fast(endpoint)
    }
}

async fn session(sim: &Sim, progress: ProgressOptions) -> (Session, Stream) {
    let creds = Credentials::Sid(Secret::new("good-sid"));
    let t = target(&sim.url(), AuthMethod::Sid, creds, &[]).await;
    let (tx, rx) = mpsc::channel(10_000);
    let s = Session::spawn(t, SessionOptions { lossless: Some(tx), progress, ..fast_options() });
    (s, Stream::new(rx))
}

fn fold(seen: &[Arc<RealtimeEvent>], run: &str) -> sockeye_core::runs::Run {
    let mut t = RunTracker::new("test", 50);
    for e in seen {
        t.apply(e);
    }
    t.runs().find(|r| r.id == run).cloned().expect("the run is in the timeline")
}

#[tokio::test]
async fn updates_missed_while_realtime_is_down_arrive_polled_once_and_polling_stops_when_it_is_back()
 {
    let sim = sim().await;
    let (s, mut st) = session(&sim, fast(PROGRESS_METHOD)).await;
    connected(&s).await;
    let run = "conv-1";
    sim.send_progress(run, json!({"type": "thinking", "message": "Analyzing request..."})).await;
    sim.send_progress(run, json!({"type": "plan", "message": "1. Read\n2. Edit"})).await;
    st.until("the live start", 5, |seen| updates(seen, run).len() == 2).await;
    // Healthy with an open run for longer than the fallback's delay: never a poll.
    st.settle(1_500).await;
    assert_eq!(sim.progress_polls(), 0, "polled while healthy");

    realtime_down(&sim, &s).await;
    sim.send_progress(run, json!({"type": "working", "step": 1, "total": 2, "message": "Read"}))
        .await;
    sim.send_progress(
        run,
        json!({"type": "step_complete", "step": 1, "total": 2, "message": "Read"}),
    )
    .await;
    st.until("the polled updates", 10, |seen| updates(seen, run).len() == 4).await;
    assert_eq!(updates(&st.seen, run), vec![(1, false), (2, false), (3, true), (4, true)]);

    realtime_up(&sim, &s).await;
    st.until("polling stopped", 10, |seen| {
        reports(seen).iter().any(|r| r.state == FallbackState::Stopped)
    })
    .await;
    let polls_when_back = sim.progress_polls();
    assert!(polls_when_back >= 1);
    sim.send_progress(run, json!({"type": "working", "step": 2, "total": 2, "message": "Edit"}))
        .await;
    sim.send_progress(run, json!({"type": "complete", "message": "Done"})).await;
    st.until("the live end", 5, |seen| updates(seen, run).len() == 6).await;
    // Longer than the longest poll interval: nothing is asked once the link is back.
    st.settle(2_000).await;
    assert_eq!(sim.progress_polls(), polls_when_back, "polled after the link was back");

    let got = updates(&st.seen, run);
    let mut count: HashMap<u64, usize> = HashMap::new();
    for (seq, _) in &got {
        *count.entry(*seq).or_default() += 1;
    }
    assert!(count.values().all(|n| *n == 1), "duplicates: {:#?}", describe(&st.seen));
    assert_eq!(got[4..], [(5, false), (6, false)], "live again after the outage");
    let r = fold(&st.seen, run);
    assert_eq!((r.status, r.events, r.gaps), (RunStatus::Complete, 6, 0), "{r:?}");
    assert_eq!(r.steps[0].done, Some(true), "step 1 completed from polling");
    let states: Vec<FallbackState> = reports(&st.seen).iter().map(|r| r.state).collect();
    assert_eq!(states, [FallbackState::Polling, FallbackState::Stopped]);
    let stopped = &reports(&st.seen)[1];
    assert_eq!(stopped.fetched, 2);
    assert!(stopped.reason.as_deref().unwrap_or_default().contains("realtime is back"));
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_scripted_run_that_ends_while_realtime_is_down_completes_from_polling_alone() {
    let sim = sim().await;
    let (s, mut st) = session(&sim, fast(PROGRESS_METHOD)).await;
    connected(&s).await;
    let params = sockeye_sim::ScenarioParams { n: 3, pace: 0.2, ..Default::default() };
    sim.run_scenario("ai_run", params).unwrap();
    st.until("the run's first update", 10, |seen| seen.iter().any(|e| e.name == "ai_progress"))
        .await;
    let run = st.seen.iter().find_map(|e| e.run_key.clone()).expect("scripted runs are keyed");
    realtime_down(&sim, &s).await;
    // The scenario goes on while nobody listens; polling brings the rest, ending in complete.
    st.until("the run completes", 20, |seen| {
        seen.iter().any(|e| e.polled && e.payload.get().contains("\"complete\""))
    })
    .await;
    st.until("polling stopped", 10, |seen| {
        reports(seen).iter().any(|r| r.state == FallbackState::Stopped)
    })
    .await;
    let polls_after = sim.progress_polls();
    st.settle(2_000).await;
    assert_eq!(sim.progress_polls(), polls_after, "a finished run is not polled");
    assert!(!s.state().borrow().state.is_connected(), "still down");
    let r = fold(&st.seen, &run);
    assert_eq!(r.status, RunStatus::Complete, "{r:?}");
    assert_eq!((r.steps.len(), r.gaps), (3, 0), "{r:?}");
    let seqs: Vec<u64> = updates(&st.seen, &run).iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "each once, in order");
    let stopped = reports(&st.seen).pop().unwrap();
    assert!(stopped.reason.unwrap().contains("no open run"));
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_that_answers_404_is_asked_once_and_the_reason_is_reported() {
    let sim = sim().await;
    sim.set_faults(&["progress_missing"]).unwrap();
    let (s, mut st) = session(&sim, fast(PROGRESS_METHOD)).await;
    connected(&s).await;
    sim.send_progress("conv-2", json!({"type": "thinking", "message": "hmm"})).await;
    st.until("the live start", 5, |seen| updates(seen, "conv-2").len() == 1).await;
    realtime_down(&sim, &s).await;
    sim.send_progress("conv-2", json!({"type": "working", "step": 1, "total": 3, "message": "w"}))
        .await;
    st.until("the refusal", 10, |seen| {
        reports(seen).iter().any(|r| r.state == FallbackState::Refused)
    })
    .await;
    st.settle(2_000).await;
    assert_eq!(sim.progress_polls(), 1, "asked once");
    let refused: Vec<FallbackReport> =
        reports(&st.seen).into_iter().filter(|r| r.state == FallbackState::Refused).collect();
    assert_eq!(refused.len(), 1, "reported once");
    let why = refused[0].reason.clone().unwrap_or_default();
    assert!(why.contains("404") && why.contains("Page Not Found"), "{why}");
    assert!(refused[0].summary().contains("not polled again"));
    // Down again later in the same session: still not asked.
    realtime_up(&sim, &s).await;
    realtime_down(&sim, &s).await;
    st.settle(1_500).await;
    assert_eq!(sim.progress_polls(), 1);
    assert!(st.seen.iter().all(|e| !e.polled));
    s.stop().await;
    sim.shutdown().await;
}

/// The simulator's control API: the next update of `run`; how many sockets got it.
async fn control_progress(sim: &Sim, run: &str, update: serde_json::Value) -> u64 {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/__sim/progress", sim.url()))
        .json(&json!({"task_id": run, "update": update}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["delivered_to"].as_u64().expect("the control API says who got it")
}

async fn polls_reach(sim: &Sim, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim.progress_polls() < n {
        assert!(tokio::time::Instant::now() < deadline, "{} polls, not {n}", sim.progress_polls());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_update_published_after_the_last_round_is_caught_up_once_with_one_request_per_open_run()
{
    let sim = sim().await;
    let (s, mut st) = session(&sim, one_round(PROGRESS_METHOD)).await;
    connected(&s).await;
    let thinking = json!({"type": "thinking", "message": "Analyzing request..."});
    for run in ["conv-a", "conv-b", "conv-done"] {
        assert_eq!(control_progress(&sim, run, thinking.clone()).await, 1);
    }
    control_progress(&sim, "conv-done", json!({"type": "complete", "message": "Done"})).await;
    st.until("the live updates", 5, |seen| {
        seen.iter().filter(|e| e.name == "ai_progress").count() == 4
    })
    .await;
    st.settle(800).await;
    assert_eq!(sim.progress_polls(), 0, "a link that never broke is never asked");

    realtime_down(&sim, &s).await;
    // The one round: the two open runs (the finished one is not asked).
    polls_reach(&sim, 2).await;
    st.until("polling", 5, |seen| reports(seen).iter().any(|r| r.state == FallbackState::Polling))
        .await;
    let missed = json!({"type": "working", "step": 1, "total": 2, "message": "Read"});
    assert_eq!(control_progress(&sim, "conv-a", missed).await, 0, "realtime is down");
    realtime_up(&sim, &s).await;
    st.until("polling stopped", 10, |seen| {
        reports(seen).iter().any(|r| r.state == FallbackState::Stopped)
    })
    .await;
    assert_eq!(sim.progress_polls(), 2 + 2, "one catch-up request per open run");
    st.settle(1_500).await;
    assert_eq!(sim.progress_polls(), 4, "nothing more once caught up");

    assert_eq!(updates(&st.seen, "conv-a"), [(1, false), (2, true)], "{:#?}", describe(&st.seen));
    assert_eq!(updates(&st.seen, "conv-b"), [(1, false)]);
    let stopped = reports(&st.seen).pop().unwrap();
    assert_eq!((stopped.runs, stopped.fetched, stopped.caught_up), (2, 1, Some(1)));
    assert!(
        stopped.summary().ends_with("1 update fetched, 1 on catch-up"),
        "{}",
        stopped.summary()
    );
    // Realtime carries the run on; the timeline has no hole.
    control_progress(&sim, "conv-a", json!({"type": "complete", "message": "Done"})).await;
    st.until("the live end", 5, |seen| updates(seen, "conv-a").len() == 3).await;
    assert_eq!(updates(&st.seen, "conv-a")[2], (3, false));
    let r = fold(&st.seen, "conv-a");
    assert_eq!((r.status, r.events, r.gaps), (RunStatus::Complete, 3, 0), "{r:?}");
    assert_eq!(sim.progress_polls(), 4);
    s.stop().await;
    sim.shutdown().await;
}
