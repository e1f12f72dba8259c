//! The proxy variables as users set them, through the real binary and a real proxy
//! (Debian's tinyproxy, installed by scripts/setup-deps): `HTTP_PROXY` is honoured, `NO_PROXY`
//! sends a host direct, `--no-proxy` overrides the variables and `--proxy` names one. The
//! diagnostics' `proxy` probe says which path was taken, and the proxy's log agrees.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

struct Tinyproxy(Child);

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tinyproxy(dir: &Path, port: u16) -> Tinyproxy {
    let bin = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("tinyproxy is installed (scripts/setup-deps)");
    let conf = dir.join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Info\n",
            dir.join("proxy.log").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(bin)
        .args(["-d", "-c"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Tinyproxy(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("tinyproxy did not listen");
}

fn diagnose(url: &str, args: &[&str], env: &[(&str, String)]) -> serde_json::Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sockeye-cli"));
    c.args(["diagnose", "--url", url, "--sid", "good-sid", "--site", "raven.test", "--json"]);
    c.args(["--hold", "0", "--probe-timeout", "2"]).args(args);
    for v in PROXY_VARS {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let o: Output = c.output().unwrap();
    let mut report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    });
    report["process_exit"] = o.status.code().into();
    report
}

fn proxy_probe(report: &serde_json::Value) -> Option<String> {
    report["probes"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == "proxy")
        .map(|p| p["status"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn proxy_variables_no_proxy_and_flags() {
    let sim = sockeye_sim::Sim::start(Default::default()).await.unwrap();
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _proxy = tinyproxy(dir.path(), port);
    let proxy_url = format!("http://127.0.0.1:{port}");
    let via_env = [("HTTP_PROXY", proxy_url.clone())];
    let log = || std::fs::read_to_string(dir.path().join("proxy.log")).unwrap_or_default();

    let r = tokio::task::spawn_blocking({
        let (url, env) = (url.clone(), via_env.clone());
        move || diagnose(&url, &[], &env)
    })
    .await
    .unwrap();
    assert_eq!(proxy_probe(&r).as_deref(), Some("pass"), "{r:#}");
    assert_eq!(r["process_exit"], 0, "the whole chain passes through the proxy: {r:#}");
    let tunnelled = log().matches("CONNECT").count();
    assert!(tunnelled >= 1, "{}", log());

    for (args, env) in [
        (
            vec![],
            vec![("HTTP_PROXY", proxy_url.clone()), ("NO_PROXY", "localhost,127.0.0.1".into())],
        ),
        (vec!["--no-proxy"], via_env.to_vec()),
    ] {
        let url = url.clone();
        let r = tokio::task::spawn_blocking(move || diagnose(&url, &args, &env)).await.unwrap();
        assert_eq!(proxy_probe(&r), None, "direct: {r:#}");
        assert_eq!(r["process_exit"], 0, "{r:#}");
    }
    assert_eq!(log().matches("CONNECT").count(), tunnelled, "nothing more went through");

    let r = tokio::task::spawn_blocking({
        let (url, p) = (url.clone(), proxy_url.clone());
        move || diagnose(&url, &["--proxy", &p], &[])
    })
    .await
    .unwrap();
    assert_eq!(proxy_probe(&r).as_deref(), Some("pass"), "--proxy: {r:#}");
    sim.shutdown().await;
}
