//! Fixtures shared by the core's integration tests: a simulator on 127.0.0.1:0, sessions
//! pointed at it, and bounded waits.
#![allow(dead_code)]

pub mod faults;
pub mod nginx;
pub mod peers;

use std::sync::Arc;
use std::time::Duration;

use sockeye_core::auth::Credentials;
use sockeye_core::secrets::Secret;
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::state::LinkState;
use sockeye_core::target::{Target, resolve_with};
use sockeye_core::{AuthMethod, Profile, RealtimeEvent};
use sockeye_sim::{Sim, SimConfig, SimOptions};
use tokio::sync::broadcast;

pub const USER: &str = "test@example.com";

pub async fn sim_with(config: SimConfig, faults: &[&str]) -> Sim {
    let mut f = sockeye_sim::Faults::default();
    for k in faults {
        f.set(k).unwrap();
    }
    Sim::start(SimOptions { config, faults: f, ..Default::default() })
        .await
        .expect("simulator starts")
}

pub async fn sim() -> Sim {
    sim_with(SimConfig::default(), &[]).await
}

pub fn fast_options() -> SessionOptions {
    SessionOptions {
        connect_timeout: Duration::from_secs(5),
        pong_timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

pub async fn target(url: &str, auth: AuthMethod, creds: Credentials, channels: &[&str]) -> Target {
    let mut p = Profile::new("test", url, auth).unwrap();
    p.subscriptions.channels = channels.iter().map(|s| s.to_string()).collect();
    resolve_with(&p, creds).await
}

pub async fn sid_session(sim: &Sim, sid: &str, channels: &[&str]) -> Session {
    let t = target(&sim.url(), AuthMethod::Sid, Credentials::Sid(Secret::new(sid)), channels).await;
    Session::spawn(t, fast_options())
}

/// Wait until the state matches, or panic with the last state seen.
pub async fn wait_state(
    s: &Session,
    what: &str,
    secs: u64,
    pred: impl Fn(&LinkState) -> bool,
) -> LinkState {
    let mut rx = s.state();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let current = rx.borrow_and_update().state.clone();
        if pred(&current) {
            return current;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out after {secs} s waiting for {what}; last state: {current:?}"),
        }
    }
}

pub async fn connected(s: &Session) -> LinkState {
    wait_state(s, "connected", 10, |st| st.is_connected()).await
}

/// Next event named `name`, within `secs`.
pub async fn next_named(
    rx: &mut broadcast::Receiver<Arc<RealtimeEvent>>,
    name: &str,
    secs: u64,
) -> Arc<RealtimeEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) if e.name == name => return e,
            Ok(Ok(_)) => {}
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("event stream ended: {e}"),
            Err(_) => panic!("no {name} event within {secs} s"),
        }
    }
}

/// Assert no event named `name` arrives within `ms`.
pub async fn none_named(rx: &mut broadcast::Receiver<Arc<RealtimeEvent>>, name: &str, ms: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) if e.name == name => panic!("unexpected {name}: {:?}", e.payload),
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(_)) | Err(_) => return,
        }
    }
}

pub fn publish(v: serde_json::Value) -> sockeye_sim::PublishRequest {
    serde_json::from_value(v).unwrap()
}

/// Every event of a session, in order (the lossless queue).
pub struct Stream {
    pub rx: tokio::sync::mpsc::Receiver<Arc<RealtimeEvent>>,
    pub seen: Vec<Arc<RealtimeEvent>>,
}

impl Stream {
    pub fn new(rx: tokio::sync::mpsc::Receiver<Arc<RealtimeEvent>>) -> Stream {
        Stream { rx, seen: Vec::new() }
    }

    /// Read until `done` holds for what was seen, or panic after `secs` with what was seen.
    pub async fn until(
        &mut self,
        what: &str,
        secs: u64,
        done: impl Fn(&[Arc<RealtimeEvent>]) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(e)) => self.seen.push(e),
                _ => panic!("{what}: not within {secs} s; seen: {:#?}", describe(&self.seen)),
            }
        }
    }

    /// Whatever else arrives within `ms`.
    pub async fn settle(&mut self, ms: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.seen.push(e);
        }
    }
}

/// One line per event for failure messages: name, payload, and where it came from.
pub fn describe(seen: &[Arc<RealtimeEvent>]) -> Vec<String> {
    seen.iter()
        .map(|e| {
            let from = if e.recovered {
                " (recovered)"
            } else if e.polled {
                " (polled)"
            } else {
                ""
            };
            format!("{} {}{from}", e.name, e.payload.get())
        })
        .collect()
}

/// The realtime process stops behind a live web process (what a stopped or restarting Node
/// process behind nginx looks like): the link drops, REST keeps answering.
pub async fn realtime_down(sim: &Sim, s: &Session) {
    sim.set_faults(&["bad_gateway=true"]).unwrap();
    sim.drop_connections();
    wait_state(s, "link lost", 10, |st| !st.is_connected()).await;
}

/// The realtime process is back; the session reconnects at once.
pub async fn realtime_up(sim: &Sim, s: &Session) {
    sim.set_faults(&["bad_gateway=false"]).unwrap();
    s.reconnect_now();
    connected(s).await;
}

/// Options for `wire::connect` to a test server on loopback: `base` (`http://host:port`),
/// its `/socket.io/` path, a 5 s timeout, no retry of the upgrade; callers change the rest.
pub fn wire_options(
    base: &str,
    namespace: &str,
    headers: Vec<(String, String)>,
    plan: sockeye_core::wire::TransportPlan,
) -> sockeye_core::wire::ConnectOptions {
    sockeye_core::wire::ConnectOptions {
        socket_url: format!("{base}/socket.io/").parse().expect("a URL"),
        namespace: namespace.into(),
        headers,
        auth: None,
        plan,
        version: None,
        tls: Default::default(),
        proxy: Default::default(),
        timeout: Duration::from_secs(5),
        max_packet: 16 << 20,
        http: reqwest::Client::new(),
        queue: 64,
        retry_upgrade: None,
    }
}
