//! `watch --record` against independent servers with every auth method: the file has every
//! event (received and sent), one JSON value per line, and none of the credentials used,
//! even where an event's payload carried one.

mod common;
#[path = "../../core/tests/common/peers.rs"]
mod peers;

use common::*;
use serde_json::{Value, json};

const SITE: &str = "raven.test";

async fn post(url: &str, body: Value) -> Value {
    reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

fn connected(l: &str) -> bool {
    l.contains(r#""kind":"state""#) && l.contains(r#""state":"connected""#)
}

/// Watch with `--record`, wait for the link, let `publish` send events, and return the
/// recording's lines and text after `count` events.
async fn record(
    args: &[&str],
    stdin: Option<&str>,
    count: usize,
    publish: impl AsyncFnOnce(),
) -> (Vec<Value>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rec.jsonl");
    let count = count.to_string();
    let mut a = vec!["watch", "--json", "--count", &count, "--timeout", "30"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--record", file.to_str().unwrap()]);
    let mut w = Running::spawn(&a, stdin);
    tokio::task::block_in_place(|| w.until("connected", 45, connected));
    publish().await;
    let (code, seen) = tokio::task::block_in_place(|| w.finish(30));
    assert_eq!(code, Some(0), "{seen:#?}");
    recording_lines(&file)
}

fn events<'a>(lines: &'a [Value], dir: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["kind"] == "event" && l["dir"] == dir).collect()
}

fn assert_secret_free(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{s:?} is in the recording:\n{text}");
    }
}

/// The header, the states, our subscriptions and the two events, with `secret` redacted
/// from the one whose payload carried it.
fn check_frappe(lines: &[Value], text: &str, secrets: &[&str]) {
    let h = &lines[0];
    assert_eq!((h["kind"].as_str(), h["format"].as_u64()), (Some("header"), Some(1)));
    assert_eq!(h["namespace"], format!("/{SITE}"));
    assert!(h["url"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{h}");
    assert!(lines.iter().any(|l| l["kind"] == "state" && l["state"] == "connected"), "{text}");
    assert_eq!(lines.last().unwrap()["kind"], "end", "{text}");
    let sent = events(lines, "out");
    assert!(
        sent.iter()
            .any(|e| e["name"] == "doc_subscribe"
                && e["args"] == json!(["Raven Channel", "general"])),
        "{text}"
    );
    let got = events(lines, "in");
    let names: Vec<&str> = got.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["message_created", "note"], "{text}");
    assert_eq!(got[0]["room"], "doc:Raven Channel/general");
    assert_eq!(got[0]["args"][0]["message_details"]["content"], "hello");
    let note = &got[1]["args"][0];
    assert_eq!(note["password"], "[redacted]", "{note}");
    assert_eq!(note["n"], 7, "the rest as received");
    assert!(note["text"].as_str().unwrap().contains("[redacted]"), "{note}");
    assert_secret_free(text, secrets);
}

async fn frappe_events(url: &str, secret: &str) {
    let r =
        post(&format!("{url}/__test/message"), json!({"channel_id": "general", "text": "hello"}))
            .await;
    assert_eq!(r["delivered_to"], 1, "{r}");
    let note = json!({"text": format!("leaked: {secret}"), "password": "hunter2-pw", "n": 7});
    let body = json!({"room": "user:test@example.com", "event": "note", "message": note});
    let r = post(&format!("{url}/__test/publish"), body).await;
    assert_eq!(r["delivered_to"], 1, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_node_socketio_with_sid_token_and_login() {
    let peer = peers::node_frappe(0);
    let url = peer.url();
    let base = ["--url", &url, "--site", SITE, "--channel", "general"];
    let methods: [(&[&str], Option<&str>, &str); 3] = [
        (&["--sid", "good-sid"], None, "good-sid"),
        (&["--token", "key:secret"], None, "key:secret"),
        (&["--user", "test@example.com", "--password-stdin"], Some("admin\n"), "admin"),
    ];
    for (cred, stdin, secret) in methods {
        let mut args = base.to_vec();
        args.extend_from_slice(cred);
        let (lines, text) =
            record(&args, stdin, 2, async || frappe_events(&url, secret).await).await;
        check_frappe(&lines, &text, &[secret, "hunter2-pw"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_python_socketio_with_a_jwt() {
    let secret = "py-agent-signing-secret";
    let peer = peers::python_agent(peers::free_port(), secret);
    let url = peer.url();
    let token = sockeye_sim::jwt::mint(Some("agent-user"), secret, 3600);
    let (lines, text) = record(&["--url", &url, "--jwt", &token], None, 2, async || {
        for (kind, data) in [
            ("thought", json!({"text": format!("my token is {token}")})),
            ("result", json!({"ok": true})),
        ] {
            post(
                &format!("{url}/__test/emit"),
                json!({"user": "agent-user", "event": kind, "data": data, "workflowId": "wf-1"}),
            )
            .await;
        }
    })
    .await;
    assert_eq!(lines[0]["namespace"], "/");
    let got = events(&lines, "in");
    let names: Vec<&str> = got.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["agent:thought", "agent:result"], "{text}");
    assert_eq!(got[0]["args"][0]["workflowId"], "wf-1");
    assert_eq!(got[0]["args"][0]["data"]["text"], "my token is [redacted]");
    assert_secret_free(&text, &[&token, secret]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_the_simulator_with_a_bearer_token() {
    let sim = sockeye_sim::Sim::start(Default::default()).await.unwrap();
    let url = sim.url();
    let bearer = sockeye_sim::config::DEFAULT_BEARER;
    let (lines, text) = record(&["--url", &url, "--bearer", bearer], None, 1, async || {
        let req = json!({"event": "note", "user": "test@example.com", "message": {"auth": {"bearer": bearer}, "x": 1}});
        sim.publish(serde_json::from_value(req).unwrap()).await.unwrap();
    })
    .await;
    let got = events(&lines, "in");
    assert_eq!(got.len(), 1, "{text}");
    assert_eq!(got[0]["args"][0], json!({"auth": "[redacted]", "x": 1}));
    assert_eq!(got[0]["room"], serde_json::Value::Null, "no room known for an unknown event");
    assert_secret_free(&text, &[bearer]);
}

/// Past the size cap the file rotates (each part starts with the header); when the disk
/// goes (the folder is removed, so the next rotation fails) the recording stops with a
/// message and the link keeps delivering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotates_past_the_cap_and_a_write_error_stops_only_the_recording() {
    let sim = sockeye_sim::Sim::start(Default::default()).await.unwrap();
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rec.jsonl");
    let publish = async |n: u64| {
        for i in 0..n {
            let req = json!({"event": "tick", "user": "test@example.com", "message": {"i": i, "pad": "x".repeat(300)}});
            sim.publish(serde_json::from_value(req).unwrap()).await.unwrap();
        }
    };
    let args =
        ["watch", "--json", "--url", &url, "--sid", "good-sid", "--count", "12", "--timeout", "30"];
    let mut a = args.to_vec();
    a.extend(["--record", file.to_str().unwrap(), "--record-max-size", "2K", "--record-keep", "2"]);
    let mut w = Running::spawn(&a, None);
    tokio::task::block_in_place(|| w.until("connected", 45, connected));
    publish(12).await;
    let (code, _) = tokio::task::block_in_place(|| w.finish(30));
    assert_eq!(code, Some(0));
    let mut parts = 0;
    let mut ticks = 0;
    for p in [file.clone(), dir.path().join("rec.jsonl.1"), dir.path().join("rec.jsonl.2")] {
        let (lines, text) = recording_lines(&p);
        assert_eq!(lines[0]["kind"], "header", "{text}");
        assert!(text.len() <= 2048, "{} bytes", text.len());
        ticks += events(&lines, "in").len();
        parts += 1;
    }
    assert!(!dir.path().join("rec.jsonl.3").exists(), "keep 2");
    assert_eq!(parts, 3);
    assert!(ticks < 12, "the oldest part was dropped");

    let gone = tempfile::tempdir().unwrap();
    let file = gone.path().join("rec.jsonl");
    let mut a = args.to_vec();
    a.extend(["--record", file.to_str().unwrap(), "--record-max-size", "2K"]);
    let mut w = Running::spawn(&a, None);
    tokio::task::block_in_place(|| w.until("connected", 45, connected));
    std::fs::remove_dir_all(gone.path()).unwrap();
    publish(12).await;
    let (code, seen) = tokio::task::block_in_place(|| w.finish(30));
    assert_eq!(code, Some(0), "every event still came: {seen:#?}");
    assert_eq!(seen.iter().filter(|l| l.contains(r#""name":"tick""#)).count(), 12);
}
