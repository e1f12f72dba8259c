//! The fault matrix: a session with a channel subscription and events flowing, through real
//! nginx and a TCP proxy to the simulator running as a process of its own, while faults come
//! and go. For each fault: the states shown, the time to detect it, the time to recover once
//! it ends, the events lost, the Raven messages lost (0 with backfill) and whether the
//! subscriptions came back. The table is written to `$CARGO_TARGET_TMPDIR/reliability.md`, and
//! to `docs/reliability.md` with `SOCKEYE_WRITE_RELIABILITY=1`.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::faults::*;
use common::{USER, nginx, peers::free_port, target};
use sockeye_core::auth::Credentials;
use sockeye_core::events::{AiProgress, EventKind};
use sockeye_core::secrets::Secret;
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::state::LinkState;
use sockeye_core::{AuthMethod, RealtimeEvent};

#[path = "fault_matrix/faults.rs"]
mod matrix_faults;
#[path = "fault_matrix/report.rs"]
mod matrix_report;
use matrix_faults::*;
use matrix_report::{Outcome, Row};

/// Not a test: the simulator process of the matrix. It does nothing unless this binary was
/// started by [`SimProcess::start`], which sets the port.
#[test]
fn simulator_process() {
    let Ok(port) = std::env::var(SIM_PORT_VAR) else { return };
    let port: u16 = port.parse().expect("a port");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut config = sockeye_sim::SimConfig::default();
        if let Ok(origin) = std::env::var(SIM_ORIGIN_VAR) {
            config.extra_web_origins.insert(config.default_site.clone(), vec![origin]);
        }
        let options = sockeye_sim::SimOptions {
            addr: ([127, 0, 0, 1], port).into(),
            config,
            ..Default::default()
        };
        let _sim = sockeye_sim::Sim::start(options).await.expect("simulator starts");
        std::future::pending::<()>().await
    });
}

/// The session's heartbeat in the matrix: a ping every 5 s, dead after 3 s without a pong.
fn options(lossless: tokio::sync::mpsc::Sender<Arc<RealtimeEvent>>) -> SessionOptions {
    SessionOptions {
        connect_timeout: Duration::from_secs(5),
        ping_every: Duration::from_secs(5),
        pong_timeout: Duration::from_secs(3),
        // A polling fallback tries the WebSocket again after 1 s, 2 s, 4 s, ...
        retry_upgrade: Some(Duration::from_secs(1)),
        lossless: Some(lossless),
        ..Default::default()
    }
}

/// Session → nginx → TCP proxy → simulator process; the publisher talks to the simulator
/// directly, as the site's web process does.
struct Rig {
    sim: SimProcess,
    proxy: TcpProxy,
    nginx: nginx::Nginx,
    ctl: Control,
    session: Session,
    states: StateLog,
    got: Arc<Mutex<Vec<Arc<RealtimeEvent>>>>,
    next_number: u64,
}

impl Rig {
    async fn start() -> Rig {
        let sim_port = free_port();
        let proxy = TcpProxy::start(sim_port).await;
        let upstream = format!("127.0.0.1:{}", proxy.port);
        let nginx = nginx::start("faults.conf", |t, _| t.replace("@UPSTREAM@", &upstream));
        let url = format!("http://127.0.0.1:{}", nginx.port);
        let sim = SimProcess::start(sim_port, &url);
        let t =
            target(&url, AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), &["general"])
                .await;
        let (tx, mut rx) = tokio::sync::mpsc::channel(100_000);
        let session = Session::spawn(t, options(tx));
        let states = StateLog::record(&session);
        let got: Arc<Mutex<Vec<Arc<RealtimeEvent>>>> = Arc::default();
        let sink = got.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                sink.lock().unwrap().push(e);
            }
        });
        let ctl = Control::new(&sim.url());
        let rig = Rig { sim, proxy, nginx, ctl, session, states, got, next_number: 1 };
        if rig.connected_within(Instant::now(), 15).await.is_none() {
            let seen: Vec<String> = rig
                .states
                .since(Instant::now() - Duration::from_secs(60))
                .iter()
                .map(|(_, s)| s.describe())
                .collect();
            let nginx_log = std::fs::read_to_string(rig.nginx.dir.path().join("error.log"));
            panic!(
                "the session did not connect: {seen:#?}\nnginx's error log:\n{}",
                nginx_log.unwrap_or_else(|e| e.to_string())
            );
        }
        rig
    }

    fn fault_file(&self, name: &str, on: bool) {
        let path = self.nginx.dir.path().join(name);
        if on {
            std::fs::write(path, b"").unwrap();
        } else {
            let _ = std::fs::remove_file(path);
        }
    }

    async fn connected_within(&self, t: Instant, secs: u64) -> Option<Instant> {
        self.states.first_since(t, secs, |s| s.is_connected()).await.map(|(at, _)| at)
    }

    /// Step numbers of `ai_progress` received, and Raven message ids (live, recovered).
    fn received(&self) -> (BTreeSet<u64>, BTreeSet<String>, BTreeSet<String>) {
        let mut steps = BTreeSet::new();
        let (mut live, mut recovered) = (BTreeSet::new(), BTreeSet::new());
        for e in self.got.lock().unwrap().iter() {
            match &e.kind {
                EventKind::AiProgress(AiProgress::Working { step, .. }) => {
                    steps.insert(*step);
                }
                EventKind::MessageCreated(m) if e.recovered => {
                    recovered.insert(m.message_id.to_string());
                }
                EventKind::MessageCreated(m) => {
                    live.insert(m.message_id.to_string());
                }
                _ => {}
            }
        }
        (steps, live, recovered)
    }

    /// A message posted now arrives live within 5 s: the channel subscription is back.
    async fn subscription_back(&self, label: &str) -> bool {
        // After the backfill that follows a reconnect: a message it fetched would arrive as
        // recovered, and its live copy be dropped as the duplicate it is.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let Some(id) = self.ctl.message("general", &format!("after {label}")).await else {
            return false;
        };
        for _ in 0..100 {
            if self.received().1.contains(&id) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Run one fault: `inject`, hold while the publisher and message poster run, `end`, then
    /// measure. `link_drops` says whether the fault takes the link down (or only changes it).
    async fn run<F: Fault>(&mut self, fault: &mut F) -> Row {
        let label = fault.label();
        eprintln!("fault: {label}");
        self.connected_within(Instant::now(), 20).await;
        let first = self.next_number;
        let (sent, publisher) = if fault.quiet() {
            (Sent::default(), None)
        } else {
            let (s, h) = Sent::run(self.ctl.clone(), USER, first, Duration::from_millis(50));
            (s, Some(h))
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t0 = Instant::now();
        fault.inject(self).await;
        let detected = self.states.first_since(t0, fault.detect_within(), |s| fault.shows(s)).await;
        // Messages the site creates while the link is out (where the site can take them).
        let mut posted = Vec::new();
        for i in 0..3 {
            if let Some(id) = self.ctl.message("general", &format!("during {label} #{i}")).await {
                posted.push(id);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let held = fault.hold(self).await;
        let t1 = Instant::now();
        fault.end(self).await;
        // A fault whose end drops the link (to make the fixed path be used): recovery is the
        // connect after that drop, not a connect the old fault allowed just before it.
        let from = if fault.end_drops() {
            // An attempt begun (or failed) after the end: the next connect is a new one.
            let fresh = |s: &LinkState| {
                matches!(s, LinkState::Connecting { .. } | LinkState::Reconnecting { .. })
            };
            let drop = self.states.first_since(t1, 5, fresh).await;
            drop.map(|(at, _)| at).unwrap_or(t1)
        } else {
            t1
        };
        let recovered =
            self.states.first_since(from, 25, |s| fault.recovered(s)).await.map(|(at, _)| at);
        let subs_back = recovered.is_some() && self.subscription_back(&label).await;
        if !subs_back {
            let trace: Vec<String> = self
                .states
                .since(t1)
                .iter()
                .map(|(at, s)| format!("+{} ms {}", at.duration_since(t1).as_millis(), short(s)))
                .collect();
            eprintln!("{label}: no live message after recovery; states since the end: {trace:#?}");
        }
        // With the path mended, the link is a WebSocket again (not stuck on a fallback).
        let stuck_on_polling = matches!(
            self.session.state().borrow().state,
            LinkState::Connected { transport: sockeye_core::Transport::Polling, .. }
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(h) = publisher {
            h.abort();
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let log = sent.log.lock().unwrap().clone();
        self.next_number = log.last().map(|(n, ..)| n + 1).unwrap_or(first);
        let (steps, live, rec) = self.received();
        let reached: Vec<u64> =
            log.iter().filter(|(_, r, _)| r.unwrap_or(0) > 0).map(|(n, ..)| *n).collect();
        let lost: Vec<u64> = reached.iter().copied().filter(|n| !steps.contains(n)).collect();
        let raven_lost: Vec<&String> =
            posted.iter().filter(|id| !live.contains(*id) && !rec.contains(*id)).collect();
        let shown: Vec<String> =
            dedup(self.states.since(t0).iter().map(|(_, s)| short(s)).collect::<Vec<_>>());
        Row {
            fault: label,
            shown,
            detect_ms: detected.as_ref().map(|(at, _)| at.duration_since(t0).as_millis()),
            recover_ms: recovered.map(|at| at.duration_since(t1).as_millis()),
            published: log.len(),
            reached: reached.len(),
            lost: lost.len(),
            raven_posted: posted.len(),
            raven_recovered: posted.iter().filter(|id| rec.contains(*id)).count(),
            raven_lost: raven_lost.len(),
            subs_back,
            outcome: if stuck_on_polling {
                Outcome::fail("came back over polling and stayed there".into())
            } else {
                fault.judge(held, detected.is_some(), recovered.is_some(), subs_back)
            },
        }
    }
}

/// One state in a few words: the name and its reason, error or fallback.
fn short(s: &LinkState) -> String {
    let mut d = s.describe();
    if let LinkState::Reconnecting { last_error, .. } = s {
        d = format!("reconnecting: {last_error}");
    }
    d.chars().take(110).collect()
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        // Attempts and round-trip times change on every step; keep the first of a kind.
        let kind = |x: &str| x.split([':', '(', ',']).next().unwrap_or("").trim().to_string();
        if out.last().map(|l| kind(l) == kind(&s)).unwrap_or(false) {
            continue;
        }
        out.push(s);
    }
    out
}

/// A fault: how it starts and ends, what state shows it, and what counts as handled.
trait Fault {
    fn label(&self) -> String;
    /// No publisher during the fault (a fault that needs an idle link).
    fn quiet(&self) -> bool {
        false
    }
    fn detect_within(&self) -> u64 {
        20
    }
    /// The state that shows the fault (by default: anything but connected).
    fn shows(&self, s: &LinkState) -> bool {
        !s.is_connected()
    }
    /// `end` drops the link so that the next connection takes the mended path.
    fn end_drops(&self) -> bool {
        false
    }
    /// The state that shows the link back after the fault (by default: connected).
    fn recovered(&self, s: &LinkState) -> bool {
        s.is_connected()
    }
    async fn inject(&mut self, rig: &mut Rig);
    /// Hold the fault; returns what the fault's own check found (a note for the table).
    async fn hold(&mut self, rig: &mut Rig) -> Result<String, String>;
    async fn end(&mut self, rig: &mut Rig);
    fn judge(
        &self,
        held: Result<String, String>,
        detected: bool,
        recovered: bool,
        subs: bool,
    ) -> Outcome {
        match held {
            Err(why) => Outcome::fail(why),
            Ok(_) if !detected => Outcome::fail("the state never showed the fault".into()),
            Ok(_) if !recovered => Outcome::fail("the link did not come back".into()),
            Ok(_) if !subs => Outcome::fail("the channel subscription did not come back".into()),
            Ok(note) => Outcome::pass(note),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let mut rig = Rig::start().await;
    let mut rows = Vec::new();
    rows.push(rig.run(&mut Restart).await);
    rows.push(rig.run(&mut Freeze { secs: 30 }).await);
    rows.push(rig.run(&mut KilledForGood { secs: 20 }).await);
    rows.push(rig.run(&mut CutMidStream).await);
    rows.push(rig.run(&mut ProxyAnswers { file: "fault-404", code: 404 }).await);
    rows.push(rig.run(&mut ProxyAnswers { file: "fault-502", code: 502 }).await);
    rows.push(rig.run(&mut StripUpgrade).await);
    rows.push(rig.run(&mut IdleTimeout { secs: 15 }).await);
    rows.push(rig.run(&mut SessionExpired).await);
    rig.session.stop().await;
    for (label, url) in [
        ("DNS failure (unresolvable host)", "http://sockeye-fault.invalid:9000".to_string()),
        ("nothing listening on the port", format!("http://127.0.0.1:{}", free_port())),
    ] {
        rows.push(never_up(label, &url).await);
    }
    matrix_report::write(&rows);
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.outcome.ok).collect();
    assert!(failed.is_empty(), "faults not handled:\n{}", matrix_report::table(&rows));
}

/// A fault that never ends: the state must name it, and the session keeps retrying.
async fn never_up(label: &str, url: &str) -> Row {
    let t =
        target(url, AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), &["general"]).await;
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let s = Session::spawn(t, options(tx));
    let states = StateLog::record(&s);
    let t0 = Instant::now();
    let shown = states.first_since(t0, 15, |s| matches!(s, LinkState::Reconnecting { .. })).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let attempts = s.attempts();
    s.stop().await;
    let all = dedup(states.since(t0).iter().map(|(_, s)| short(s)).collect());
    let outcome = match &shown {
        Some(_) if attempts >= 2 => Outcome::pass(format!("{attempts} attempts in ~4 s, retrying")),
        Some(_) => Outcome::fail(format!("only {attempts} attempt(s): not retrying")),
        None => Outcome::fail("never showed reconnecting".into()),
    };
    Row {
        fault: label.to_string(),
        shown: all,
        detect_ms: shown.map(|(at, _)| at.duration_since(t0).as_millis()),
        outcome,
        ..Row::default()
    }
}
