//! Parts for the fault matrix: the simulator as a process of its own (so it can be frozen with
//! SIGSTOP and killed), a TCP proxy whose connections can be cut, every state change of a
//! session with its time, and a publisher that numbers what it sends.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sockeye_core::session::Session;
use sockeye_core::state::LinkState;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// The environment variable that turns the fixture `simulator_process` of the calling test
/// binary into a simulator on this port (see `fault_matrix.rs`).
pub const SIM_PORT_VAR: &str = "SOCKEYE_FAULT_SIM_PORT";
/// The web origin the simulator's auth callback accepts besides its own (the front door's).
pub const SIM_ORIGIN_VAR: &str = "SOCKEYE_FAULT_SIM_ORIGIN";

/// The simulator in a child process: this test binary run again with only the fixture test
/// selected and [`SIM_PORT_VAR`] set.
pub struct SimProcess {
    child: Option<Child>,
    pub port: u16,
    origin: String,
}

impl SimProcess {
    /// On `port`, with `origin` (the proxy's URL) as a web origin its auth callback reaches.
    pub fn start(port: u16, origin: &str) -> SimProcess {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "simulator_process", "--nocapture", "--test-threads=1"])
            .env(SIM_PORT_VAR, port.to_string())
            .env(SIM_ORIGIN_VAR, origin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the test binary starts again as the simulator");
        let mut p = SimProcess { child: Some(child), port, origin: origin.to_string() };
        p.wait_listening();
        p
    }

    /// Until the simulator itself answers on its port: a port that something else took in the
    /// meantime (the simulator then fails to bind and exits) is an error here, not a rig whose
    /// proxy talks to a stranger.
    fn wait_listening(&mut self) {
        for _ in 0..200 {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("the simulator process exited ({status}) before serving port {}", self.port);
            }
            if sim_answers(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the simulator process did not listen on {}", self.port);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill").args([sig, &pid]).status().unwrap().success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// SIGSTOP: the process holds its sockets and answers nothing.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// SIGKILL and reap: the port refuses connections.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port (after [`SimProcess::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        *self = SimProcess::start(self.port, &self.origin.clone());
    }
}

/// Whether the simulator's control API answers 200 on `port` (one HTTP/1.0 request).
fn sim_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /__sim/info HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // A stopped child is continued first, so no test leaves a stopped process behind.
            let _ = Command::new("kill").args(["-CONT", &c.id().to_string()]).status();
        }
        self.kill();
    }
}

/// A TCP proxy on 127.0.0.1 whose live connections can be cut at once (a middlebox dropping
/// them mid-stream); new connections pass again straight after.
pub struct TcpProxy {
    pub port: u16,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    refuse: Arc<AtomicBool>,
    task: AbortHandle,
}

impl TcpProxy {
    pub async fn start(upstream: u16) -> TcpProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let refuse = Arc::new(AtomicBool::new(false));
        let (c, r) = (conns.clone(), refuse.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if r.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed at once
                }
                let pipe = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                let mut list = c.lock().unwrap();
                list.retain(|h| !h.is_finished());
                list.push(pipe.abort_handle());
            }
        })
        .abort_handle();
        TcpProxy { port, conns, refuse, task }
    }

    /// Cut every live connection (both sides see the socket closed).
    pub fn cut_all(&self) -> usize {
        let mut list = self.conns.lock().unwrap();
        let n = list.iter().filter(|h| !h.is_finished()).count();
        for h in list.drain(..) {
            h.abort();
        }
        n
    }

    /// Close new connections as soon as they are accepted (or pass them again).
    pub fn refuse(&self, on: bool) {
        self.refuse.store(on, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut_all();
    }
}

/// Every state a session showed, with when (the `watch` channel may fold changes closer than
/// the recorder's wake-up; what it shows is what the app and the tray show too).
#[derive(Clone, Default)]
pub struct StateLog {
    pub seen: Arc<Mutex<Vec<(Instant, LinkState)>>>,
}

impl StateLog {
    pub fn record(s: &Session) -> StateLog {
        let log = StateLog::default();
        let seen = log.seen.clone();
        let mut rx = s.state();
        tokio::spawn(async move {
            loop {
                let st = rx.borrow_and_update().state.clone();
                seen.lock().unwrap().push((Instant::now(), st));
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
        log
    }

    /// States since `t`, in order.
    pub fn since(&self, t: Instant) -> Vec<(Instant, LinkState)> {
        self.seen.lock().unwrap().iter().filter(|(at, _)| *at >= t).cloned().collect()
    }

    /// The first state since `t` matching `pred`, waiting up to `secs`.
    pub async fn first_since(
        &self,
        t: Instant,
        secs: u64,
        pred: impl Fn(&LinkState) -> bool,
    ) -> Option<(Instant, LinkState)> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(hit) = self.since(t).into_iter().find(|(_, s)| pred(s)) {
                return Some(hit);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The simulator's control API (`/__sim/…`), reached directly (never through the faulty path).
#[derive(Clone)]
pub struct Control {
    pub base: String,
    http: reqwest::Client,
}

impl Control {
    pub fn new(base: &str) -> Control {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        Control { base: base.to_string(), http }
    }

    async fn post(&self, path: &str, body: Value) -> Option<Value> {
        let r = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.ok()?;
        r.json().await.ok()
    }

    /// `ai_progress` number `n` to the user's room; how many sockets it reached (None: the
    /// server did not answer).
    pub async fn progress(&self, user: &str, n: u64) -> Option<u64> {
        let body = json!({"event": "ai_progress", "user": user,
            "message": {"type": "working", "step": n, "total": 1_000_000, "message": "tick"}});
        self.post("/__sim/publish", body).await?["delivered_to"].as_u64()
    }

    /// A Raven message stored by the site and published to the channel's room: its id.
    pub async fn message(&self, channel: &str, text: &str) -> Option<String> {
        let body = json!({"channel_id": channel, "text": text});
        Some(self.post("/__sim/message", body).await?["message_id"].as_str()?.to_string())
    }

    /// Drop every transport (TCP) the simulator holds.
    pub async fn drop_all(&self) -> Option<Value> {
        self.post("/__sim/disconnect", json!({})).await
    }
}

/// One publish: its number, how many sockets the server reached (None: no answer), when.
pub type Publish = (u64, Option<u64>, Instant);

/// What a steady publisher sent.
#[derive(Clone, Default)]
pub struct Sent {
    pub log: Arc<Mutex<Vec<Publish>>>,
}

impl Sent {
    /// Publish `ai_progress` numbered from `first`, every `every`, until aborted.
    pub fn run(
        ctl: Control,
        user: &'static str,
        first: u64,
        every: Duration,
    ) -> (Sent, AbortHandle) {
        let sent = Sent::default();
        let log = sent.log.clone();
        let task = tokio::spawn(async move {
            let mut n = first;
            loop {
                let reached = ctl.progress(user, n).await;
                log.lock().unwrap().push((n, reached, Instant::now()));
                n += 1;
                tokio::time::sleep(every).await;
            }
        });
        (sent, task.abort_handle())
    }
}
