//! What the CLI's end-to-end tests share: the binary run against a temporary config, a
//! `watch` run off the async runtime, and waiting for sockets to join a simulator's room.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use sockeye_sim::Sim;

pub fn cli(args: &[&str], config: &std::path::Path, stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockeye-cli"));
    cmd.args(args)
        .env("SOCKEYE_CONFIG", config)
        .env("NO_COLOR", "1")
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

/// Until `n` sockets have joined `room` (bounded).
pub async fn joined(sim: &Sim, room: &str, n: usize) {
    for _ in 0..200 {
        let count =
            sim.state().socket_infos().iter().filter(|s| s.rooms.iter().any(|r| r == room)).count();
        if count >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{n} sockets did not join {room}: {:?}", sim.state().socket_infos());
}
pub mod prometheus;
