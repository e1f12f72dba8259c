//! `sockeye-cli watch` after the link was down, in both forms: the gap marker and recovered
//! Raven messages, and agent progress polled while realtime was down.

mod common;

use common::*;
use serde_json::{Value, json};
use sockeye_sim::{Sim, SimOptions};

#[tokio::test]
async fn watch_shows_recovered_messages_and_the_gap_marker_in_both_forms() {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let url = sim.url();
    let args = |json: bool| {
        let mut a: Vec<String> =
            ["watch", "--url", &url, "--sid", "good-sid", "--channel", "general"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        // before, the marker, two recovered, after.
        a.extend(["--count", "5", "--timeout", "30"].map(String::from));
        if json {
            a.push("--json".into());
        }
        a
    };
    let human = tokio::spawn(watch(args(false)));
    let json = tokio::spawn(watch(args(true)));
    let room = "doc:Raven Channel/general";
    joined(&sim, room, 2).await;
    sim.send_message("general", "bob@example.com", "<p>before</p>").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sim.set_faults(&["bad_gateway=true"]).unwrap();
    sim.drop_connections();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let a = sim.send_message("general", "bob@example.com", "<p>missed one</p>").await;
    let b = sim.send_message("general", "bob@example.com", "<p>missed two</p>").await;
    sim.set_faults(&["bad_gateway=false"]).unwrap();
    joined(&sim, room, 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    sim.send_message("general", "bob@example.com", "<p>after</p>").await;
    let (human, json) = (human.await.unwrap(), json.await.unwrap());

    let out = text(&human);
    assert_eq!(human.status.code(), Some(0), "{out}");
    let gap: Vec<&str> = out.lines().filter(|l| l.contains("sockeye:gap")).collect();
    assert_eq!(gap.len(), 1, "{out}");
    // "before" is recovered too when the drop beat its live delivery (a loaded machine): the
    // marker's count is whatever was recovered, and both missed messages are among them.
    let recovered = out.lines().filter(|l| l.ends_with("(recovered)")).count();
    assert!((2..=3).contains(&recovered), "{out}");
    let count = format!("{recovered} messages recovered");
    assert!(gap[0].contains("link down ") && gap[0].contains(&count), "{out}");
    for m in ["missed one", "missed two"] {
        let line = out.lines().find(|l| l.contains(m)).unwrap_or_else(|| panic!("{m}: {out}"));
        assert!(line.ends_with("(recovered)"), "{line}");
    }
    // Posted after the reconnect: shown once (live, or fetched if the backfill's query was
    // later than the post on a loaded machine; never both).
    assert_eq!(out.lines().filter(|l| l.contains(": after")).count(), 1, "{out}");

    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .filter(|v: &serde_json::Value| v["kind"] == "event")
        .collect();
    let marker: Vec<_> = events.iter().filter(|v| v["name"] == "sockeye:gap").collect();
    assert_eq!(marker.len(), 1);
    let recovered: Vec<&str> = events
        .iter()
        .filter(|v| v["recovered"] == true)
        .map(|v| v["payload"]["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(marker[0]["payload"]["recovered"], recovered.len());
    assert_eq!(recovered[recovered.len() - 2..], [a.name.as_str(), b.name.as_str()], "in order");
    assert!(
        events
            .iter()
            .filter(|v| v["name"] == "message_created")
            .all(|v| v["recovered"] == true || v.get("recovered").is_none()),
        "live events carry no recovered field"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_shows_polled_progress_and_the_fallback_reports_in_both_forms() {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let url = sim.url();
    let args = |json: bool| {
        let mut a: Vec<String> =
            ["watch", "--url", &url, "--sid", "good-sid"].iter().map(|s| s.to_string()).collect();
        // The live start, "polling", two polled updates, "stopped" (no open run left).
        a.extend(["--count", "5", "--timeout", "40"].map(String::from));
        a.extend(["--progress-endpoint", sockeye_sim::progress::PROGRESS_METHOD].map(String::from));
        if json {
            a.push("--json".into());
        }
        a
    };
    let human = tokio::spawn(watch(args(false)));
    let json = tokio::spawn(watch(args(true)));
    joined(&sim, "user:test@example.com", 2).await;
    sim.send_progress("conv-7", json!({"type": "thinking", "message": "Analyzing"})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sim.set_faults(&["bad_gateway=true"]).unwrap();
    sim.drop_connections();
    sim.send_progress(
        "conv-7",
        json!({"type": "working", "step": 1, "total": 1, "message": "Edit"}),
    )
    .await;
    sim.send_progress("conv-7", json!({"type": "complete", "message": "Done"})).await;
    let (human, json) = (human.await.unwrap(), json.await.unwrap());

    let out = text(&human);
    assert_eq!(human.status.code(), Some(0), "{out}");
    let polled: Vec<&str> = out.lines().filter(|l| l.ends_with("(polled)")).collect();
    assert_eq!(polled.len(), 2, "{out}");
    assert!(polled[0].contains("working 1/1: Edit") && polled[1].contains("complete: Done"));
    let reports: Vec<&str> =
        out.lines().filter(|l| l.contains("sockeye:progress_fallback")).collect();
    assert_eq!(reports.len(), 2, "{out}");
    assert!(
        reports[0].contains("realtime down: polling ai_assistant.api.get_progress for 1 open run")
    );
    assert!(reports[1].contains("progress polling stopped: no open run left · 2 updates fetched"));

    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    let events: Vec<Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .filter(|v: &Value| v["kind"] == "event")
        .collect();
    let progress: Vec<(u64, bool)> = events
        .iter()
        .filter(|v| v["name"] == "ai_progress")
        .map(|v| (v["payload"]["seq"].as_u64().unwrap(), v["polled"] == true))
        .collect();
    assert_eq!(progress, [(1, false), (2, true), (3, true)]);
    assert!(
        events
            .iter()
            .filter(|v| v["name"] == "ai_progress")
            .all(|v| v["polled"] == true || v.get("polled").is_none()),
        "live events carry no polled field"
    );
    let states: Vec<&str> = events
        .iter()
        .filter(|v| v["name"] == "sockeye:progress_fallback")
        .map(|v| v["payload"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["polling", "stopped"]);
    sim.shutdown().await;
}
