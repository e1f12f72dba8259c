//! Independent Socket.IO servers (node `socket.io`, python-socketio) run as child processes
//! on loopback. Their dependencies are installed by `scripts/test` (npm ci, pip into a venv).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/peers")
        .canonicalize()
        .expect("tests/peers exists")
}

fn need(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (it installs the test peers)",
        path.display()
    );
    path
}

pub fn node() -> (String, PathBuf) {
    need(peers_dir().join("node_modules/socket.io"));
    ("node".into(), peers_dir())
}

pub fn python() -> PathBuf {
    need(peers_dir().join(".venv/bin/python"))
}

/// A child server that is killed (SIGKILL, like a crash) when dropped.
pub struct Peer {
    child: Child,
    pub port: u16,
}

impl Peer {
    pub fn start(mut cmd: Command) -> Peer {
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("peer starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(p) = line.strip_prefix("listening ") {
                    let _ = tx.send(p.trim().parse::<u16>().unwrap());
                }
            }
        });
        let port = rx.recv_timeout(Duration::from_secs(20)).expect("peer printed its port");
        Peer { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn node_frappe(port: u16) -> Peer {
    let (node, dir) = node();
    let mut c = Command::new(node);
    c.current_dir(&dir).arg("frappe_like_server.mjs").arg(port.to_string());
    Peer::start(c)
}

pub fn python_agent(port: u16, secret: &str) -> Peer {
    let mut c = Command::new(python());
    c.current_dir(peers_dir()).arg("agent_server.py").arg(port.to_string()).arg(secret);
    Peer::start(c)
}

/// A port nothing listens on now, and one this process has not handed out before (a rig
/// picks several ports before its servers bind them; the same one twice would join two of
/// them into a loop).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The Frappe-style server on npm `socket.io` 2.x (Engine.IO 3), with its heartbeat.
pub fn node_frappe_v2(port: u16, ping_interval_ms: u64, ping_timeout_ms: u64) -> Peer {
    let (node, dir) = node();
    need(peers_dir().join("node_modules/socket.io-v2"));
    let mut c = Command::new(node);
    c.current_dir(&dir)
        .arg("frappe_like_server_v2.cjs")
        .arg(port.to_string())
        .arg("raven.test")
        .arg(ping_interval_ms.to_string())
        .arg(ping_timeout_ms.to_string());
    Peer::start(c)
}

/// The hand-written hostile Engine.IO 3/4 server (`tests/peers/README.md` lists its script).
pub fn hostile(ping_interval_ms: u64, ping_timeout_ms: u64) -> Peer {
    let (node, dir) = node();
    need(peers_dir().join("node_modules/ws"));
    let mut c = Command::new(node);
    c.current_dir(&dir)
        .arg("hostile_server.mjs")
        .arg("0")
        .arg(ping_interval_ms.to_string())
        .arg(ping_timeout_ms.to_string());
    Peer::start(c)
}

/// A bench split as the real one is (`frappe_split_server.mjs`): the realtime port answers
/// only `/socket.io/` and authenticates by calling the web app back at the Origin; the web
/// app listens on `web_port`. `env` sets its knobs (SERVER_IP, DEVELOPER_MODE, ...).
pub struct Split {
    pub realtime: Peer,
    pub web_port: u16,
}

impl Split {
    pub fn web_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.web_port)
    }
}

pub fn node_frappe_split(env: &[(&str, &str)]) -> Split {
    let (node, dir) = node();
    let web_port = free_port();
    let mut c = Command::new(node);
    c.current_dir(&dir).arg("frappe_split_server.mjs").arg("0").arg(web_port.to_string());
    for (k, v) in env {
        c.env(k, v);
    }
    Split { realtime: Peer::start(c), web_port }
}
