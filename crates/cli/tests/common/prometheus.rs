//! Prometheus' own tools for the metrics tests: `promtool`, and a real Prometheus server on
//! 127.0.0.1 (a free port, a temporary storage directory), queried over its HTTP API.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The repository's docs/fleet directory (the scrape config and rules the docs ship).
pub fn fleet_docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/fleet")
}

/// Whether `tool` is installed; when it is not, outside CI the test says so and is skipped,
/// in CI (`CI=true`) it fails: setup-deps must have installed it.
pub fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").ok().as_deref() != Some("true"),
            "{tool} is missing in CI: scripts/setup-deps installs the Debian package `prometheus`"
        );
        eprintln!("SKIPPED: {tool} is not installed (Debian package `prometheus`)");
    }
    found
}

/// `promtool ARGS…` with `stdin`; its exit status and output.
pub fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let o = child.wait_with_output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.success(), text)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Prometheus server scraping `target` every second and evaluating `rules` every second.
pub struct Prometheus {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    pub async fn start(target: &str, rules: &Path) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: sockeye\n    static_configs:\n      - targets: [\"{target}\"]\n",
                rules.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus runs");
        let p = Prometheus { child, url, _dir: dir };
        for _ in 0..150 {
            if let Ok(r) = reqwest::get(format!("{}/-/ready", p.url)).await
                && r.status().is_success()
            {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus not ready in 15 s: {}", p.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The API's answer to `GET /api/v1/{path}` (the `data` member).
    pub async fn api(&self, path: &str) -> serde_json::Value {
        let v: serde_json::Value = reqwest::get(format!("{}/api/v1/{path}", self.url))
            .await
            .expect("prometheus answers")
            .json()
            .await
            .expect("JSON");
        assert_eq!(v["status"], "success", "{v}");
        v["data"].clone()
    }

    /// The value of instant query `q` (its only series), if it has one.
    pub async fn value(&self, q: &str) -> Option<String> {
        let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        let data = self.api(&format!("query?query={q}")).await;
        data["result"][0]["value"][1].as_str().map(String::from)
    }

    /// Until query `q` answers `want` (bounded by `secs`).
    pub async fn wait_for(&self, q: &str, want: &str, secs: u64) {
        let mut last = None;
        for _ in 0..secs * 4 {
            last = self.value(q).await;
            if last.as_deref() == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "{q} was {last:?}, not {want}, for {secs} s; targets: {}",
            self.api("targets").await
        );
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
