//! `sim --replay`: a recording served back gives, recorded again, the same events in the same
//! order with the same arguments and the recorded timing; bad files are refused naming the
//! line.

mod common;
#[path = "../../core/tests/common/peers.rs"]
mod peers;

use std::time::Duration;

use common::*;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use sockeye_sim::Sim;

const EVENTS: usize = 6;

fn connected(l: &str) -> bool {
    l.contains(r#""kind":"state""#) && l.contains(r#""state":"connected""#)
}

fn watch_args<'a>(url: &'a str, file: &'a str, count: &'a str) -> Vec<&'a str> {
    vec![
        "watch",
        "--json",
        "--url",
        url,
        "--sid",
        "good-sid",
        "--channel",
        "general",
        "--count",
        count,
        "--timeout",
        "60",
        "--record",
        file,
    ]
}

/// The live events of a recording: (t_ms, name, room, args).
fn received(path: &std::path::Path) -> Vec<(u64, String, Value, Value)> {
    let (lines, _) = recording_lines(path);
    lines
        .iter()
        .filter(|l| l["kind"] == "event" && l["dir"] == "in")
        .map(|l| {
            (
                l["t_ms"].as_u64().unwrap(),
                l["name"].as_str().unwrap().to_string(),
                l["room"].clone(),
                l["args"].clone(),
            )
        })
        .collect()
}

/// About ten seconds of a site: Raven messages, an agent run, an event with two arguments
/// and one with none.
async fn play_a_site(sim: &Sim) {
    let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
    let progress = |body: Value| {
        serde_json::from_value(
            json!({"event": "ai_progress", "user": "test@example.com", "message": body}),
        )
        .unwrap()
    };
    let start = tokio::time::Instant::now();
    let at = |s: f64| tokio::time::sleep_until(start + Duration::from_secs_f64(s));
    sim.send_message("general", "bob@example.com", "<p>first</p>").await;
    at(1.5).await;
    sim.publish(progress(json!({"type": "thinking", "message": "hm", "task_id": "t1"})))
        .await
        .unwrap();
    at(3.0).await;
    let two = [raw(r#"{"a": 1}"#), raw(r#""x""#)];
    let refs: Vec<&RawValue> = two.iter().map(|r| r.as_ref()).collect();
    sim.state().emit_args(None, Some("all"), "pair", &refs).await;
    at(5.0).await;
    sim.send_message("general", "bob@example.com", "<p>second</p>").await;
    at(7.0).await;
    sim.state().emit_args(None, Some("all"), "tick", &[]).await;
    at(10.0).await;
    sim.publish(progress(json!({"type": "complete", "message": "done", "task_id": "t1"})))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_recorded_again_gives_the_same_events_in_order_and_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.jsonl");
    let again = dir.path().join("again.jsonl");
    let count = EVENTS.to_string();

    let sim = Sim::start(Default::default()).await.unwrap();
    let url = sim.url();
    let mut w = Running::spawn(&watch_args(&url, original.to_str().unwrap(), &count), None);
    tokio::task::block_in_place(|| w.until("connected", 45, connected));
    // "Connected" is shown before the site has run the channel's permission check: play the
    // site once the watcher is in the channel's room, as the replay below waits for it too.
    joined(&sim, "doc:Raven Channel/general", 1).await;
    play_a_site(&sim).await;
    let (code, seen) = tokio::task::block_in_place(|| w.finish(30));
    assert_eq!(code, Some(0), "{seen:#?}");
    sim.shutdown().await;

    let port = peers::free_port().to_string();
    let replay_args = ["sim", "--port", &port, "--replay", original.to_str().unwrap()];
    let mut server = Running::spawn(&replay_args, None);
    tokio::task::block_in_place(|| server.until("the simulator", 20, |l| l.contains("replay ")));
    let url = format!("http://127.0.0.1:{port}");
    let w = Running::spawn(&watch_args(&url, again.to_str().unwrap(), &count), None);
    let (code, seen) = tokio::task::block_in_place(|| w.finish(75));
    let file = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    assert_eq!(code, Some(0), "{seen:#?}\n{}\n{}", file(&original), file(&again));
    tokio::task::block_in_place(|| server.until("the end", 10, |l| l.starts_with("replay done")));
    assert!(server.seen.iter().any(|l| l == &format!("replay done: {EVENTS} events served")));

    let (a, b) = (received(&original), received(&again));
    let without_time = |v: &[(u64, String, Value, Value)]| {
        v.iter().map(|(_, n, r, args)| (n.clone(), r.clone(), args.clone())).collect::<Vec<_>>()
    };
    assert_eq!(a.len(), EVENTS, "{a:#?}");
    assert_eq!(without_time(&a), without_time(&b), "same events, order, rooms and arguments");
    assert_eq!(a[2].3, json!([{"a": 1}, "x"]), "two arguments stay two");
    assert_eq!(a[4].3, json!([]), "none stays none");
    // Timing at 1x: the span within 10 %, each event within 10 % of the span of its place.
    let span = |v: &[(u64, String, Value, Value)]| (v[v.len() - 1].0 - v[0].0) as f64;
    let (sa, sb) = (span(&a), span(&b));
    eprintln!("recorded span {sa} ms, replayed span {sb} ms ({:+.2} %)", (sb / sa - 1.0) * 100.0);
    assert!(sa > 9_000.0, "the recording spans ~10 s: {sa} ms");
    assert!((sb / sa - 1.0).abs() < 0.10, "replayed span {sb} ms vs recorded {sa} ms");
    for (x, y) in a.iter().zip(&b) {
        let (ox, oy) = ((x.0 - a[0].0) as f64, (y.0 - b[0].0) as f64);
        assert!((ox - oy).abs() < sa * 0.10, "{}: at {oy} ms, recorded at {ox} ms", x.1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_recordings_are_refused_naming_the_line_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("none.toml");
    let head = r#"{"kind":"header","format":1,"sockeye":"0.1.0","env":"e","url":null,"namespace":"/s","started_at":"x","started_at_ms":1,"source":"watch"}"#;
    let event = r#"{"kind":"event","t_ms":0,"dir":"in","name":"a","args":[1]}"#;
    let newer = dir.path().join("newer.jsonl");
    std::fs::write(
        &newer,
        format!("{}\n{event}\n", head.replace(r#""format":1"#, r#""format":9"#)),
    )
    .unwrap();
    let o = cli(&["sim", "--port", "0", "--replay", newer.to_str().unwrap()], &cfg, None);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("line 1: recording format 9 is newer"), "{}", text(&o));

    let damaged = dir.path().join("damaged.jsonl");
    std::fs::write(&damaged, format!("{head}\n{event}\n{{\"kind\":\"ev\n{event}\n")).unwrap();
    let o = cli(&["sim", "--port", "0", "--replay", damaged.to_str().unwrap()], &cfg, None);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("line 3: damaged"), "{}", text(&o));

    let port = peers::free_port().to_string();
    let args =
        ["sim", "--port", &port, "--replay", damaged.to_str().unwrap(), "--skip-bad", "--now"];
    let mut server = Running::spawn(&args, None);
    tokio::task::block_in_place(|| {
        server.until("the replay of what is good", 20, |l| l == "replay done: 2 events served")
    });
}
