//! The session supervisor: one task per environment that connects, authenticates,
//! subscribes, verifies, streams events and reconnects, publishing its state on a `watch`
//! and its events on a bounded `broadcast` (and, for consumers that must not lose any, a
//! lossless queue whose backpressure reaches the socket).
//!
//! The Frappe facts that shape it (`frappe-realtime.md`): an expired sid connects as Guest
//! and a secret mismatch connects deaf, so "connected" is only claimed after the web process
//! confirmed the user and the socket answered `ping` with `pong`; subscriptions live in server
//! memory, so every (re)connect re-emits them; a refused CONNECT is final until the user acts.

mod gap;
mod progress;
mod serve;
mod supervisor;

pub use serve::MALFORMED_EVENT;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::events::{RealtimeEvent, now_ms};
use crate::secrets::Secret;
use crate::state::{LinkState, StateSnapshot};
use crate::target::Target;
use crate::wire::Transport;

/// Tunables; the defaults match socket.io-client and Frappe's heartbeat.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Per attempt: transport open plus namespace answer (socket.io-client: 20 s).
    pub connect_timeout: Duration,
    /// How often to `ping` a Frappe site (round-trip time, liveness).
    pub ping_every: Duration,
    /// A `pong` later than this marks the socket deaf (first ping) or dead (later pings).
    pub pong_timeout: Duration,
    pub backoff: Backoff,
    /// Events kept for slow broadcast consumers before the oldest are dropped for them
    /// (they are told how many).
    pub event_buffer: usize,
    /// Transports in the order tried. WebSocket first; polling when the upgrade is blocked.
    pub transports: Vec<Transport>,
    /// On polling, try the upgrade to WebSocket as browsers do.
    pub upgrade: bool,
    /// A link that had to settle for polling (the WebSocket failed, or the upgrade did)
    /// tries the WebSocket again after this long, then at doubling intervals up to five
    /// minutes, and moves to it in place once it works: a mended proxy is noticed without
    /// a reconnect and without losing an event. `None`: it stays on polling.
    pub retry_upgrade: Option<Duration>,
    /// Socket.IO packets larger than this are reported and skipped.
    pub max_packet: usize,
    /// A consumer that must see every event: the session waits for it (and so the socket
    /// does), instead of dropping events as the broadcast does for laggards.
    pub lossless: Option<mpsc::Sender<Arc<RealtimeEvent>>>,
    /// Publish what we send (subscriptions, the user's emits, their acks) as events with
    /// [`crate::events::Direction::Out`] / `Ack`, for a recording or a log that shows sends.
    /// The heartbeat `ping` is not echoed.
    pub echo_sent: bool,
    /// Raven messages missed while the link was down: fetched and delivered after a gap.
    pub backfill: crate::backfill::BackfillOptions,
    /// Agent progress polled over REST while the link is down (off without an endpoint).
    pub progress: crate::progress::ProgressOptions,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            connect_timeout: Duration::from_secs(20),
            ping_every: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(8),
            backoff: Backoff::default(),
            event_buffer: 4096,
            transports: vec![Transport::Websocket, Transport::Polling],
            upgrade: false,
            retry_upgrade: Some(Duration::from_secs(30)),
            max_packet: 16 << 20,
            lossless: None,
            echo_sent: false,
            backfill: Default::default(),
            progress: Default::default(),
        }
    }
}

impl SessionOptions {
    /// The defaults with what `profile` sets: its backfill settings and progress endpoint.
    pub fn for_profile(profile: &crate::profile::Profile) -> SessionOptions {
        SessionOptions {
            backfill: crate::backfill::BackfillOptions::from_settings(&profile.backfill),
            progress: crate::progress::ProgressOptions::for_endpoint(
                profile.progress_endpoint.clone(),
            ),
            ..Default::default()
        }
    }
}

/// A room to join after every connect.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subscription {
    /// `doc_subscribe("Raven Channel", id)`.
    Channel(String),
    /// `doc_subscribe(doctype, name)`.
    Doc(String, String),
    /// `doctype_subscribe(doctype)`.
    Doctype(String),
    /// `task_subscribe(id)`.
    Task(String),
}

impl Subscription {
    /// The event and its arguments as JSON texts.
    pub(crate) fn emit_args(&self) -> (&'static str, Vec<Box<RawValue>>) {
        let s = |v: &str| serde_json::value::to_raw_value(v).expect("a string is JSON");
        match self {
            Subscription::Channel(id) => ("doc_subscribe", vec![s("Raven Channel"), s(id)]),
            Subscription::Doc(dt, dn) => ("doc_subscribe", vec![s(dt), s(dn)]),
            Subscription::Doctype(dt) => ("doctype_subscribe", vec![s(dt)]),
            Subscription::Task(id) => ("task_subscribe", vec![s(id)]),
        }
    }
}

/// What an emit answers: the ack's arguments (a JSON array) when one was asked for.
pub type EmitReply = Result<Option<Box<RawValue>>, crate::wire::EmitError>;

pub(crate) enum Command {
    ReconnectNow,
    Subscribe(Subscription),
    Emit {
        name: String,
        args: Vec<Box<RawValue>>,
        ack: Option<Duration>,
        reply: oneshot::Sender<EmitReply>,
    },
    Stop(oneshot::Sender<()>),
}

impl Command {
    /// A command that needs a live link, arriving when there is none.
    pub(crate) fn refuse_emit(self) -> Option<Command> {
        match self {
            Command::Emit { reply, .. } => {
                let _ = reply.send(Err(crate::wire::EmitError::Closed));
                None
            }
            other => Some(other),
        }
    }
}

/// What the session shares with its handles: the credentials in use, for REST calls that
/// must reuse the session's login instead of logging in again.
#[derive(Default)]
pub(crate) struct Shared {
    pub sid: Mutex<Option<Secret>>,
    pub cookie_shim: std::sync::atomic::AtomicBool,
    /// Connection attempts so far; `attempted` wakes whoever waits for the next one.
    pub attempts: std::sync::atomic::AtomicU64,
    pub attempted: tokio::sync::Notify,
}

impl Shared {
    /// Headers for a REST call with the session's credentials: the sid of its own login
    /// (never a new login), or its token; and the Origin.
    pub fn rest_headers(&self, target: &Target) -> Vec<(String, String)> {
        let sid = self.sid.lock().ok().and_then(|s| s.clone());
        target.headers(sid.as_ref(), self.cookie_shim.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// [`Shared::rest_headers`], or `None` while a login session has no sid yet (a REST call
    /// then would only be Guest).
    pub fn rest_credentials(&self, target: &Target) -> Option<Vec<(String, String)>> {
        let has_sid = self.sid.lock().ok().is_some_and(|s| s.is_some());
        if matches!(target.credentials, crate::auth::Credentials::Login { .. }) && !has_sid {
            return None;
        }
        Some(self.rest_headers(target))
    }
}

/// A handle to a running session. Cheap to clone; the task stops with [`Session::stop`] or
/// when every handle is dropped.
#[derive(Clone)]
pub struct Session {
    target: Arc<Target>,
    state: watch::Receiver<StateSnapshot>,
    events: broadcast::Sender<Arc<RealtimeEvent>>,
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Session {
    /// Start a session for `target`.
    pub fn spawn(target: Target, options: SessionOptions) -> Session {
        let (state_tx, state_rx) = watch::channel(StateSnapshot {
            profile: target.name.clone(),
            state: LinkState::Idle,
            since_ms: now_ms(),
        });
        let (events_tx, _) = broadcast::channel(options.event_buffer.max(16));
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let mut subs: BTreeSet<Subscription> = BTreeSet::new();
        subs.extend(target.subscriptions.channels.iter().cloned().map(Subscription::Channel));
        subs.extend(target.subscriptions.doctypes.iter().cloned().map(Subscription::Doctype));
        subs.extend(target.subscriptions.tasks.iter().cloned().map(Subscription::Task));
        let shared = Arc::new(Shared::default());
        let target = Arc::new(target);
        let supervisor = supervisor::Supervisor::new(
            target.clone(),
            options,
            state_tx,
            events_tx.clone(),
            cmd_rx,
            subs,
            shared.clone(),
        );
        let task = tokio::spawn(supervisor.run());
        Session {
            target,
            state: state_rx,
            events: events_tx,
            commands: cmd_tx,
            shared,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    pub fn name(&self) -> &str {
        &self.target.name
    }

    /// The state stream; `borrow()` for the current value.
    pub fn state(&self) -> watch::Receiver<StateSnapshot> {
        self.state.clone()
    }

    /// A new consumer of events. A consumer that falls `event_buffer` behind gets
    /// `RecvError::Lagged(n)`: the n oldest were dropped for it.
    pub fn events(&self) -> broadcast::Receiver<Arc<RealtimeEvent>> {
        self.events.subscribe()
    }

    /// Headers for a REST call to the site with this session's credentials: the sid of its
    /// own login (never a new login), or its token; and the Origin.
    pub fn rest_headers(&self) -> Vec<(String, String)> {
        self.shared.rest_headers(&self.target)
    }

    /// [`Session::rest_headers`], or `None` while a login session has no sid yet (a REST call
    /// then would only be Guest).
    pub fn rest_credentials(&self) -> Option<Vec<(String, String)>> {
        self.shared.rest_credentials(&self.target)
    }

    /// Connection attempts made so far.
    pub fn attempts(&self) -> u64 {
        self.shared.attempts.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Wait (bounded) until an attempt after the `after`-th has been made.
    pub async fn next_attempt(&self, after: u64, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.shared.attempted.notified();
            if self.attempts() > after {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.attempts() > after;
            }
        }
    }

    /// Skip the backoff wait (or leave auth-failed / stopped) and connect now.
    pub fn reconnect_now(&self) {
        let _ = self.commands.send(Command::ReconnectNow);
    }

    /// Add a subscription; it is emitted now if connected and after every reconnect.
    pub fn subscribe(&self, sub: Subscription) {
        let _ = self.commands.send(Command::Subscribe(sub));
    }

    /// Emit `name` with `args` (JSON texts) on the live link; with `ack`, wait that long for
    /// the server's answer. Fails at once when the link is not up (nothing is queued for a
    /// later connection: an emit is a user's action, not a subscription).
    pub async fn emit(
        &self,
        name: &str,
        args: Vec<Box<RawValue>>,
        ack: Option<Duration>,
    ) -> EmitReply {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Emit { name: name.to_string(), args, ack, reply })
            .map_err(|_| crate::wire::EmitError::Closed)?;
        rx.await.unwrap_or(Err(crate::wire::EmitError::Closed))
    }

    /// Leave the namespace, close the socket and end the task (bounded: 5 s).
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Stop(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
        let handle = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            h.abort();
        }
    }
}
