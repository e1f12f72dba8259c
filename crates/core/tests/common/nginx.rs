//! A real nginx on 127.0.0.1 from a config template in `tests/nginx` (`@PREFIX@`, `@LISTEN@`
//! and the caller's own placeholders replaced).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start nginx with `conf` from `tests/nginx`; `fill` replaces the template's placeholders
/// (given the run's directory, for files the config names).
pub fn start(conf: &str, fill: impl Fn(&str, &std::path::Path) -> String) -> Nginx {
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is installed by scripts/setup-deps");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    let port = super::peers::free_port();
    let template = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/nginx").join(conf),
    )
    .unwrap();
    let text = fill(&template, dir.path())
        .replace("@PREFIX@", dir.path().to_str().unwrap())
        .replace("@LISTEN@", &port.to_string());
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, text).unwrap();
    let mut child = Command::new(bin)
        .args([
            "-p",
            dir.path().to_str().unwrap(),
            "-e",
            dir.path().join("error.log").to_str().unwrap(),
            "-c",
            path.to_str().unwrap(),
            "-g",
            "daemon off; master_process off;",
        ])
        .spawn()
        .expect("nginx starts");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Nginx { child, port, dir };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "nginx did not listen: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );
}
