//! What the CLI's end-to-end tests share: the binary run against a temporary config, a
//! `watch` run off the async runtime, and waiting for sockets to join a simulator's room.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use sockeye_sim::Sim;

pub fn cli(args: &[&str], config: &std::path::Path, stdin: Option<&str>) -> Output {
    cli_env(args, config, &[], stdin)
}

/// [`cli`] with more environment variables.
pub fn cli_env(
    args: &[&str],
    config: &std::path::Path,
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockeye-cli"));
    cmd.args(args)
        .env("SOCKEYE_CONFIG", config)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("binary runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub async fn watch(args: Vec<String>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("none.toml");
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&a, &cfg, None)
    })
    .await
    .unwrap()
}

/// How many of `sim`'s sockets are in `room`.
fn sockets_in(sim: &Sim, room: &str) -> usize {
    sim.state().socket_infos().iter().filter(|s| s.rooms.iter().any(|r| r == room)).count()
}

/// Until `n` sockets have joined `room` (bounded).
pub async fn joined(sim: &Sim, room: &str, n: usize) {
    for _ in 0..200 {
        if sockets_in(sim, room) >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{n} sockets did not join {room}: {:?}", sim.state().socket_infos());
}

/// Until no socket is in `room` (bounded).
pub async fn left(sim: &Sim, room: &str) {
    for _ in 0..200 {
        if sockets_in(sim, room) == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("sockets stay in {room}: {:?}", sim.state().socket_infos());
}
pub mod prometheus;

/// A `sockeye-cli` run in the background whose stdout lines are read as they come.
pub struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
    _config: tempfile::TempDir,
}

impl Running {
    pub fn spawn(args: &[&str], stdin: Option<&str>) -> Running {
        use std::io::BufRead;
        let config = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockeye-cli"));
        cmd.args(args)
            .env("SOCKEYE_CONFIG", config.path().join("none.toml"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("binary runs");
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Running { child, lines, seen: Vec::new(), _config: config }
    }

    /// Read lines until one holds `pred` (bounded); panics with what was seen.
    pub fn until(&mut self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = pred(&l);
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!("{what}: not within {secs} s; seen: {:#?}", self.seen),
            }
        }
    }

    /// Wait (bounded) for the exit; its code and every line printed.
    pub fn finish(mut self, secs: u64) -> (Option<i32>, Vec<String>) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let code = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                while let Ok(l) = self.lines.recv_timeout(std::time::Duration::from_millis(500)) {
                    self.seen.push(l);
                }
                panic!("did not exit within {secs} s; seen: {:#?}", self.seen);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        while let Ok(l) = self.lines.recv_timeout(std::time::Duration::from_millis(500)) {
            self.seen.push(l);
        }
        (code, std::mem::take(&mut self.seen))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every line of a recording parsed (each must be JSON), and its text.
pub fn recording_lines(path: &std::path::Path) -> (Vec<serde_json::Value>, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}: {l}", i + 1))
        })
        .collect();
    (lines, text)
}
