//! The `sockeye-cli` binary end to end: `env` against a temporary config file, `watch`
//! against a simulator on loopback.

mod common;

use std::process::{Command, Stdio};

use common::*;
use sockeye_sim::{ScenarioParams, Sim, SimOptions};

#[test]
fn env_add_list_show_remove_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    let o = cli(
        &[
            "env",
            "add",
            "prod",
            "--url",
            "wss://erp.example.com/socket.io/",
            "--auth",
            "token",
            "--key",
            "abc",
            "--channel",
            "general",
        ],
        &cfg,
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(
        &["env", "add", "sandbox", "--url", "https://x.ngrok-free.app", "--auth", "sid"],
        &cfg,
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(&["env", "list"], &cfg, None);
    let out = text(&o);
    assert!(
        out.contains("prod")
            && out.contains("https://erp.example.com")
            && out.contains("sandbox")
            && out.contains("sandbox"),
        "{out}"
    );
    let o = cli(&["env", "show", "prod"], &cfg, None);
    assert!(text(&o).contains("key = \"abc\""), "{}", text(&o));
    let file = std::fs::read_to_string(&cfg).unwrap();
    assert!(!file.to_lowercase().contains("secret ="), "no secret in the config file:\n{file}");

    let o = cli(&["env", "add", "bad", "--url", "ftp://h"], &cfg, None);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("ftp"), "{}", text(&o));
    let o = cli(&["env", "add", "prod", "--url", "https://h"], &cfg, None);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("already exists"));

    let o = cli(&["env", "remove", "sandbox"], &cfg, None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&cli(&["env", "list"], &cfg, None)).contains("sandbox"));
}

#[test]
fn a_broken_config_is_reported_with_its_line_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    let broken = "[[profile]]\nname = \"a\"\nurl = \n";
    std::fs::write(&cfg, broken).unwrap();
    let o = cli(&["env", "add", "x", "--url", "https://h"], &cfg, None);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("line 3"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), broken);
}

#[tokio::test]
async fn watch_prints_live_events_and_exits_by_count_timeout_or_refusal() {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let url = sim.url();
    let st = sim.state().clone();
    // Keep a paced agent run going while the watcher connects.
    let runner = tokio::spawn(async move {
        loop {
            sockeye_sim::scenarios::ai_run(
                st.clone(),
                ScenarioParams { pace: 0.05, ..Default::default() },
                false,
            )
            .await;
        }
    });
    let o = watch(vec![
        "watch".into(),
        "--url".into(),
        url.clone(),
        "--sid".into(),
        "good-sid".into(),
        "--count".into(),
        "4".into(),
        "--timeout".into(),
        "20".into(),
    ])
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("connected over websocket as test@example.com"), "{out}");
    assert_eq!(out.lines().filter(|l| l.contains(" ai_progress ")).count(), 4, "{out}");

    let o = watch(vec![
        "watch".into(),
        "--url".into(),
        url.clone(),
        "--token".into(),
        "key:secret".into(),
        "--json".into(),
        "--count".into(),
        "2".into(),
        "--timeout".into(),
        "20".into(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let ev: Vec<_> = lines.iter().filter(|v| v["kind"] == "event").collect();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["name"], "ai_progress");
    assert_eq!(ev[0]["room_hint"], "user:test@example.com");
    assert!(ev[0]["received_at"].as_str().unwrap().contains('T'));
    assert!(lines.iter().any(|v| v["kind"] == "state" && v["state"] == "connected"));
    runner.abort();

    let o = watch(vec![
        "watch".into(),
        "--url".into(),
        url.clone(),
        "--sid".into(),
        "good-sid".into(),
        "--count".into(),
        "1".into(),
        "--timeout".into(),
        "1.5".into(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("last state: connected"), "{}", text(&o));

    let o = watch(vec![
        "watch".into(),
        "--url".into(),
        url.clone(),
        "--bearer".into(),
        "nope".into(),
        "--timeout".into(),
        "10".into(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("Unauthorized: TypeError"), "{}", text(&o));

    let o = watch(vec!["watch".into(), "--url".into(), "http://exa mple".into()]).await;
    assert_eq!(o.status.code(), Some(3));
    sim.shutdown().await;
}

#[tokio::test]
async fn diagnose_side_by_side_json_and_exit_codes() {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    for (name, key) in [("sandbox", "key"), ("prod", "key")] {
        let o = cli(
            &[
                "env",
                "add",
                name,
                "--url",
                &url,
                "--auth",
                "token",
                "--key",
                key,
                "--site",
                "raven.test",
            ],
            &cfg,
            None,
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    let cfg2 = cfg.clone();
    let run = move |args: Vec<&'static str>| {
        let cfg = cfg2.clone();
        tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockeye-cli"));
            cmd.args(&args)
                .env("SOCKEYE_CONFIG", &cfg)
                .env("NO_COLOR", "1")
                .env("SOCKEYE_SECRET_SANDBOX", "secret")
                .env("SOCKEYE_SECRET_PROD", "wrong");
            cmd.output().unwrap()
        })
    };
    // Healthy environment: exit 0, all pass.
    let o = run(vec!["diagnose", "--env", "sandbox"]).await.unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("All probes passed"), "{}", text(&o));
    // Side by side: the bad one fails with its hint, exit 2.
    let o = run(vec!["diagnose", "--all"]).await.unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("sandbox") && out.contains("prod") && out.contains("Log in again"),
        "{out}"
    );
    // JSON: an array of reports with the summary keys.
    let o = run(vec!["diagnose", "--env", "sandbox", "--env", "prod", "--json"]).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["summary"]["auth_ok"], true);
    assert_eq!(v[1]["summary"]["auth_ok"], false);
    assert_eq!(v[1]["summary"]["deployment_type"], "local");
    // Bad arguments: exit 3.
    let o = run(vec!["diagnose", "--env", "nope"]).await.unwrap();
    assert_eq!(o.status.code(), Some(3));
    sim.shutdown().await;
}

/// `watch --json` into a pipe nobody reads for a while loses nothing: the session waits for
/// the writer and the socket waits for the session. Against node `socket.io` 4.7, which
/// buffers what it cannot send (our simulator drops beyond its per-socket buffer).
#[tokio::test]
async fn watch_json_into_a_stalled_pipe_loses_no_event() {
    use std::io::{BufRead, BufReader};
    let server = NodePeer::start("frappe_like_server.mjs");
    let url = server.url.clone();
    let mut line = String::new();
    const N: usize = 30_000;
    let dir = tempfile::tempdir().unwrap();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_sockeye-cli"))
        .args([
            "watch",
            "--url",
            &url,
            "--site",
            "raven.test",
            "--sid",
            "good-sid",
            "--json",
            "--count",
            &N.to_string(),
            "--timeout",
            "60",
        ])
        .env("SOCKEYE_CONFIG", dir.path().join("none.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(watch.stdout.take().unwrap());
    // Wait for the connected state line, then stall the pipe while the burst arrives.
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "watch ended early");
        if line.contains(r#""state":"connected""#) {
            break;
        }
    }
    let client = reqwest::Client::new();
    let r: serde_json::Value = client
        .post(format!("{url}/__test/burst"))
        .json(&serde_json::json!({"room": "user:test@example.com", "event": "burst", "count": N}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["delivered_to"], 1);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut seqs = Vec::with_capacity(N);
    let mut lagged = 0;
    for l in out.lines() {
        let v: serde_json::Value = serde_json::from_str(&l.unwrap()).expect("JSON lines");
        match v["kind"].as_str() {
            Some("event") if v["name"] == "burst" => {
                seqs.push(v["payload"]["seq"].as_u64().unwrap())
            }
            Some("lagged") => lagged += 1,
            _ => {}
        }
    }
    assert_eq!(watch.wait().unwrap().code(), Some(0));
    drop(server);
    assert_eq!(lagged, 0, "no skipped events in --json");
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>(), "every event, in order");
}

/// `emit`: an ack from a real Socket.IO v2 server (its `echo_ack` returns the arguments),
/// Frappe's `pong` to `ping`, a missing ack, and bad JSON arguments.
#[tokio::test]
async fn emit_prints_acks_and_listens() {
    let server = NodePeer::start("frappe_like_server_v2.cjs");
    let url = server.url.clone();
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> =
            ["emit", "--url", &url, "--site", "raven.test", "--sid", "good-sid"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let o = watch(base(&["echo_ack", "1", r#"{"a":"b"}"#, "--ack", "5"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(r#"ack [1,{"a":"b"}]"#), "{}", text(&o));
    let o = watch(base(&["ping", "--listen", "1"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).lines().any(|l| l.starts_with("pong")), "{}", text(&o));
    let o = watch(base(&["no_such_handler", "--ack", "0.5"])).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no ack in 0.5 s"), "{}", text(&o));
    let o = watch(base(&["x", "{not json"])).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("argument 1 is not JSON: key must be a string at line 1, column 2"),
        "{}",
        text(&o)
    );
}

/// A node peer from `tests/peers` on an ephemeral loopback port, killed when dropped.
struct NodePeer {
    child: std::process::Child,
    url: String,
}

impl NodePeer {
    fn start(script: &str) -> NodePeer {
        use std::io::{BufRead, BufReader};
        let peers = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers");
        assert!(
            peers.join("node_modules/socket.io").exists(),
            "run scripts/test (it installs the test peers)"
        );
        let mut child = Command::new("node")
            .current_dir(&peers)
            .args([script, "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let url = format!(
            "http://127.0.0.1:{}",
            line.trim().strip_prefix("listening ").expect("the peer prints its port")
        );
        NodePeer { child, url }
    }
}

impl Drop for NodePeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
