//! `sockeye-cli watch --metrics` as a service: every connection form exports valid metrics
//! (`promtool check metrics`), SIGTERM closes the sessions, secrets come from the
//! environment or a 0600 credentials file, and a real Prometheus scraping the watcher sees
//! the simulator go away (link down) and come back. The docs' rules and scrape config pass
//! `promtool check`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::prometheus::{Prometheus, fleet_docs, have, promtool};
use common::*;
use sockeye_sim::{Sim, SimOptions};

/// A watcher run as a service would be: no terminal, stderr collected.
struct Watcher {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Watcher {
    fn spawn(args: &[&str], config: &Path, envs: &[(&str, &str)]) -> Watcher {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sockeye-cli"))
            .args(args)
            .env("SOCKEYE_CONFIG", config)
            .envs(envs.iter().copied())
            .env_remove("SOCKEYE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary runs");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (pipe, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Watcher { child, stderr }
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The metrics URL the watcher logged once listening (bounded).
    async fn metrics_url(&mut self) -> String {
        for _ in 0..100 {
            if let Some(at) = self.log().split("metrics at ").nth(1) {
                return at.split_whitespace().next().unwrap().to_string();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("watcher exited {status}: {}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no metrics address logged: {}", self.log());
    }

    /// SIGTERM, then its exit code (bounded).
    async fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return (status.code(), self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        panic!("SIGTERM did not stop the watcher in 10 s: {}", self.log());
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn scrape(url: &str, openmetrics: bool) -> (String, String) {
    let mut req = reqwest::Client::new().get(url);
    if openmetrics {
        req = req.header("accept", "application/openmetrics-text; version=1.0.0");
    }
    let r = req.send().await.expect("the endpoint answers");
    assert!(r.status().is_success(), "{}", r.status());
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    (ct, r.text().await.unwrap())
}

/// Until every one of `envs` is up in the exposition (bounded); the classic text.
async fn all_up(url: &str, envs: &[&str]) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(url, false).await.1;
        if envs.iter().all(|e| text.contains(&format!("sockeye_link_up{{env=\"{e}\"}} 1"))) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("not all of {envs:?} up: {text}");
}

fn private_file(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn every_connection_form_exports_valid_metrics_and_stops_cleanly_on_sigterm() {
    let check = have("promtool");
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    for name in ["alpha", "beta"] {
        let args = ["env", "add", name, "--url", &url, "--auth", "token", "--key", "key"];
        let o = cli(&[&args[..], &["--site", "raven.test"]].concat(), &cfg, None);
        assert!(o.status.success(), "{}", text(&o));
    }
    // alpha's secret from the environment, beta's from a credentials file only its owner reads.
    let creds = dir.path().join("credentials.toml");
    private_file(&creds, "beta = \"secret\"\n", 0o600);
    let creds_flag = creds.to_str().unwrap();
    let secrets = [("SOCKEYE_SECRET_ALPHA", "secret")];
    let m = "127.0.0.1:0";
    let forms: [(&[&str], &[&str]); 4] = [
        (&["watch", "--url", &url, "--token", "key:secret", "--metrics", m], &["cli"]),
        (&["watch", "--env", "alpha", "--metrics", m], &["alpha"]),
        (
            &[
                "watch",
                "--env",
                "alpha",
                "--env",
                "beta",
                "--credentials",
                creds_flag,
                "--metrics",
                m,
            ],
            &["alpha", "beta"],
        ),
        (&["watch", "--all", "--credentials", creds_flag, "--metrics", m], &["alpha", "beta"]),
    ];
    for (args, envs) in forms {
        let mut w = Watcher::spawn(args, &cfg, &secrets);
        let at = w.metrics_url().await;
        let text = all_up(&at, envs).await;
        for e in envs {
            for line in [
                format!("sockeye_link_state{{env=\"{e}\",state=\"connected\"}} 1"),
                format!("sockeye_reconnects_total{{env=\"{e}\"}} 0"),
                format!("sockeye_malformed_packets_total{{env=\"{e}\"}} 0"),
            ] {
                assert!(text.contains(&line), "{args:?}: {line} missing in {text}");
            }
            assert!(text.contains(&format!("sockeye_rtt_seconds{{env=\"{e}\"}} ")), "{text}");
        }
        if check {
            let (ok, out) = promtool(&["check", "metrics"], Some(&text));
            assert!(ok, "{args:?}: promtool check metrics: {out}\n{text}");
        }
        let (ct, om) = scrape(&at, true).await;
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
        assert!(om.ends_with("# EOF\n") && om.contains("# TYPE sockeye_events counter"), "{om}");
        let (code, log) = w.terminate().await;
        assert_eq!(code, Some(0), "{args:?}: {log}");
        assert!(log.contains(" INFO ") && log.contains("connected over websocket"), "{log}");
        assert!(log.contains("SIGTERM: closing") && log.ends_with("stopped\n"), "{log}");
        // The sessions were closed, not dropped: the server saw them leave.
        let mut left = usize::MAX;
        for _ in 0..50 {
            left = sim.state().socket_infos().len();
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(left, 0, "{args:?}: sockets still open after SIGTERM");
    }

    // Several environments in JSON: each state line names its environment.
    private_file(&creds, "alpha = \"secret\"\nbeta = \"secret\"\n", 0o600);
    let args = ["watch", "--all", "--credentials", creds_flag, "--json", "--timeout", "3"];
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let config = cfg.clone();
    // Off the runtime: the simulator runs on it.
    let o = tokio::task::spawn_blocking(move || {
        cli(&args.iter().map(String::as_str).collect::<Vec<_>>(), &config, None)
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "ends by --timeout: {}", text(&o));
    let states: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .filter(|v: &serde_json::Value| v["kind"] == "state" && v["state"] == "connected")
        .collect();
    let mut envs: Vec<&str> = states.iter().map(|v| v["profile"].as_str().unwrap()).collect();
    envs.sort();
    assert_eq!(envs, ["alpha", "beta"], "{}", text(&o));
    assert!(text(&o).contains("last state of alpha: connected"), "{}", text(&o));

    // A credentials file others may read is refused, naming the fix; nothing connects.
    private_file(&creds, "beta = \"secret\"\n", 0o644);
    let o = cli(&["watch", "--env", "beta", "--credentials", creds_flag], &cfg, None);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("can be read by others") && text(&o).contains("chmod 600"));
    // Bad or taken addresses are clear errors.
    let o = cli(&["watch", "--url", &url, "--metrics", "localhost:9464"], &cfg, None);
    assert!(!o.status.success() && text(&o).contains("127.0.0.1:9464"), "{}", text(&o));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = cli(&["watch", "--url", &url, "--metrics", &addr], &cfg, None);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains(&format!("--metrics: cannot listen on {addr}")), "{}", text(&o));
    let o = cli(&["watch", "--url", &url, "--diagnose-every", "10m"], &cfg, None);
    assert!(text(&o).contains("--metrics"), "--diagnose-every needs --metrics: {}", text(&o));
    sim.shutdown().await;
}

#[tokio::test]
async fn periodic_diagnosis_exports_each_probe() {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let args = ["watch", "--url", &url, "--sid", "good-sid", "--metrics", "127.0.0.1:0"];
    let mut w = Watcher::spawn(
        &[&args[..], &["--diagnose-every", "10m"]].concat(),
        &dir.path().join("c.toml"),
        &[],
    );
    let at = w.metrics_url().await;
    // The first diagnosis runs at once.
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(&at, false).await.1;
        if text.contains("sockeye_diagnosed_timestamp_seconds{env=\"cli\"}") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for probe in ["dns", "tcp", "handshake", "websocket"] {
        let pass =
            format!("sockeye_probe_status{{env=\"cli\",probe=\"{probe}\",status=\"pass\"}} 1");
        assert!(text.contains(&pass), "{pass} missing: {text}");
        let d = format!("sockeye_probe_duration_seconds{{env=\"cli\",probe=\"{probe}\"}} ");
        assert!(text.contains(&d), "{d} missing: {text}");
    }
    assert!(w.log().contains("cli: diagnosis"), "{}", w.log());
    let (code, log) = w.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_docs_rules_and_scrape_config_pass_promtool() {
    if !have("promtool") {
        return;
    }
    let rules = fleet_docs().join("sockeye-rules.yml");
    let (ok, out) = promtool(&["check", "rules", rules.to_str().unwrap()], None);
    assert!(ok && out.contains("2 rules found"), "{out}");
    let config = fleet_docs().join("prometheus.yml");
    let (ok, out) = promtool(&["check", "config", config.to_str().unwrap()], None);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn prometheus_sees_the_link_up_then_down_and_up_across_a_simulator_restart() {
    if !have("prometheus") {
        return;
    }
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let (addr, url) = (sim.addr(), sim.url());
    let dir = tempfile::tempdir().unwrap();
    let args = ["watch", "--url", &url, "--sid", "good-sid", "--metrics", "127.0.0.1:0"];
    let mut w = Watcher::spawn(&args, &dir.path().join("c.toml"), &[]);
    let at = w.metrics_url().await;
    let target = at.trim_start_matches("http://").trim_end_matches("/metrics");
    let prom = Prometheus::start(target, &fleet_docs().join("sockeye-rules.yml")).await;
    let up = r#"sockeye_link_up{env="cli",job="sockeye"}"#;
    prom.wait_for(up, "1", 30).await;
    assert_eq!(prom.value(r#"up{job="sockeye"}"#).await.as_deref(), Some("1"));

    sim.shutdown().await;
    prom.wait_for(up, "0", 30).await;
    // The docs' rule sees it: pending until the link has been down for 2 minutes.
    let mut state = None;
    for _ in 0..40 {
        let alerts = prom.api("alerts").await;
        state = alerts["alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["labels"]["alertname"] == "SockeyeLinkDown"))
            .map(|x| x["state"].clone());
        if state.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(state, Some(serde_json::json!("pending")), "{}", prom.log());

    let sim = Sim::start(SimOptions { addr, ..Default::default() }).await.unwrap();
    prom.wait_for(up, "1", 60).await;
    let lost = prom.value(r#"sockeye_reconnects_total{env="cli"}"#).await;
    assert_eq!(lost.as_deref(), Some("1"), "{}", w.log());
    let (code, log) = w.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    sim.shutdown().await;
}
