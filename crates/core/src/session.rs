//! The session supervisor: one task per environment that connects, authenticates,
//! subscribes, verifies, streams events and reconnects, publishing its state on a `watch`
//! and its events on a bounded `broadcast`.
//!
//! The Frappe facts that shape it (`frappe-realtime.md`): an expired sid connects as Guest
//! and a secret mismatch connects deaf, so "connected" is only claimed after the web process
//! confirmed the user and the socket answered `ping` with `pong`; subscriptions live in server
//! memory, so every (re)connect re-emits them; a refused CONNECT is final until the user acts.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::auth::{self, AuthError, Credentials, WhoAmI};
use crate::backoff::Backoff;
use crate::events::{RealtimeEvent, now_ms};
use crate::secrets::Secret;
use crate::state::{LinkState, StateSnapshot};
use crate::target::Target;
use crate::transport::{ConnectSpec, Connector, Inbound, Link, Transport, TransportError};

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
    /// Events kept for slow consumers before the oldest are dropped (they are told how many).
    pub event_buffer: usize,
    /// Transports in the order tried. WebSocket first; polling when the upgrade is blocked.
    pub transports: Vec<Transport>,
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
    fn emit_args(&self) -> (&'static str, Vec<Value>) {
        match self {
            Subscription::Channel(id) => ("doc_subscribe", vec![json!("Raven Channel"), json!(id)]),
            Subscription::Doc(dt, dn) => ("doc_subscribe", vec![json!(dt), json!(dn)]),
            Subscription::Doctype(dt) => ("doctype_subscribe", vec![json!(dt)]),
            Subscription::Task(id) => ("task_subscribe", vec![json!(id)]),
        }
    }
}

enum Command {
    ReconnectNow,
    Subscribe(Subscription),
    Stop(oneshot::Sender<()>),
}

/// A handle to a running session. Cheap to clone; the task stops with [`Session::stop`] or
/// when every handle is dropped.
#[derive(Clone)]
pub struct Session {
    name: String,
    state: watch::Receiver<StateSnapshot>,
    events: broadcast::Sender<Arc<RealtimeEvent>>,
    commands: mpsc::UnboundedSender<Command>,
    task: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl Session {
    /// Start a session for `target`.
    pub fn spawn(target: Target, options: SessionOptions, connector: Arc<dyn Connector>) -> Session {
        let name = target.name.clone();
        let (state_tx, state_rx) = watch::channel(StateSnapshot { profile: name.clone(), state: LinkState::Idle, since_ms: now_ms() });
        let (events_tx, _) = broadcast::channel(options.event_buffer.max(16));
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let mut subs: BTreeSet<Subscription> = BTreeSet::new();
        subs.extend(target.subscriptions.channels.iter().cloned().map(Subscription::Channel));
        subs.extend(target.subscriptions.doctypes.iter().cloned().map(Subscription::Doctype));
        subs.extend(target.subscriptions.tasks.iter().cloned().map(Subscription::Task));
        let http = auth::http_client(!target.verify_tls, options.connect_timeout.min(Duration::from_secs(10)));
        let supervisor = Supervisor {
            target,
            options,
            connector,
            http,
            state: state_tx,
            events: events_tx.clone(),
            commands: cmd_rx,
            subscriptions: subs,
            sid: None,
            cookie_shim: false,
        };
        let task = tokio::spawn(supervisor.run());
        Session { name, state: state_rx, events: events_tx, commands: cmd_tx, task: Arc::new(std::sync::Mutex::new(Some(task))) }
    }

    pub fn name(&self) -> &str {
        &self.name
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

    /// Skip the backoff wait (or leave auth-failed / stopped) and connect now.
    pub fn reconnect_now(&self) {
        let _ = self.commands.send(Command::ReconnectNow);
    }

    /// Add a subscription; it is emitted now if connected and after every reconnect.
    pub fn subscribe(&self, sub: Subscription) {
        let _ = self.commands.send(Command::Subscribe(sub));
    }

    /// Disconnect and end the task.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Stop(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
        let handle = self.task.lock().expect("task lock").take();
        if let Some(h) = handle {
            h.abort();
        }
    }
}

/// Why a live connection ended.
enum LinkEnd {
    Lost(String),
    ServerDisconnect,
    ReconnectNow,
    /// The site says we are Guest and we can log in: drop the sid and connect again.
    Relogin,
    Stop(oneshot::Sender<()>),
}

/// Why an attempt did not produce a live connection.
enum AttemptError {
    /// The server refused our credentials (namespace CONNECT error or login refusal).
    Refused(String),
    Failed(String),
    Command(Command),
}

struct Live {
    link: Box<dyn Link>,
    inbound: mpsc::Receiver<Inbound>,
    transport: Transport,
}

/// What the identity checks found so far.
#[derive(Debug, Clone, PartialEq)]
enum Identity {
    Pending,
    User(String),
    Guest,
    Rejected(String),
    /// The web process could not be asked (URL is a bare realtime port, network…).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pong {
    NotUsed,
    Waiting { sent: Instant, first: bool },
    Answered,
    Missing,
}

struct Supervisor {
    target: Target,
    options: SessionOptions,
    connector: Arc<dyn Connector>,
    http: reqwest::Client,
    state: watch::Sender<StateSnapshot>,
    events: broadcast::Sender<Arc<RealtimeEvent>>,
    commands: mpsc::UnboundedReceiver<Command>,
    subscriptions: BTreeSet<Subscription>,
    /// The sid from a Frappe login (or the pasted one).
    sid: Option<Secret>,
    /// Send a dummy Cookie with token auth (version-15 servers demand one).
    cookie_shim: bool,
}

impl Supervisor {
    fn set(&self, state: LinkState) {
        self.state.send_if_modified(|s| {
            if s.state == state {
                return false;
            }
            // Same kind of state with new numbers (rtt) keeps its start time.
            if std::mem::discriminant(&s.state) != std::mem::discriminant(&state) {
                s.since_ms = now_ms();
            }
            s.state = state;
            true
        });
    }

    async fn run(mut self) {
        if let Credentials::Sid(s) = &self.target.credentials {
            self.sid = Some(s.clone());
        }
        let mut attempt: u32 = 0;
        let mut relogged = false;
        loop {
            self.set(LinkState::Connecting { attempt });
            let last_error = match self.attempt().await {
                Ok(live) => {
                    attempt = 0;
                    match self.serve(live, relogged).await {
                        LinkEnd::Lost(e) => {
                            relogged = false;
                            e
                        }
                        LinkEnd::ReconnectNow => continue,
                        LinkEnd::Relogin => {
                            relogged = true;
                            self.sid = None;
                            continue;
                        }
                        LinkEnd::ServerDisconnect => {
                            self.set(LinkState::Stopped { reason: "io server disconnect (the server closed the session; not retrying)".into() });
                            if !self.wait_for_reconnect().await {
                                return;
                            }
                            continue;
                        }
                        LinkEnd::Stop(done) => {
                            self.set(LinkState::Stopped { reason: "stopped".into() });
                            let _ = done.send(());
                            return;
                        }
                    }
                }
                Err(AttemptError::Refused(message)) => {
                    self.set(LinkState::AuthFailed { message });
                    if !self.wait_for_reconnect().await {
                        return;
                    }
                    attempt = 0;
                    continue;
                }
                Err(AttemptError::Command(Command::Stop(done))) => {
                    self.set(LinkState::Stopped { reason: "stopped".into() });
                    let _ = done.send(());
                    return;
                }
                Err(AttemptError::Command(_)) => continue,
                Err(AttemptError::Failed(e)) => e,
            };
            attempt += 1;
            let delay = self.options.backoff.delay(attempt);
            self.set(LinkState::Reconnecting { attempt, next_retry_at_ms: now_ms() + delay.as_millis() as u64, last_error });
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    cmd = self.commands.recv() => match cmd {
                        None => return,
                        Some(Command::Stop(done)) => {
                            self.set(LinkState::Stopped { reason: "stopped".into() });
                            let _ = done.send(());
                            return;
                        }
                        Some(Command::ReconnectNow) => break,
                        Some(Command::Subscribe(s)) => { self.subscriptions.insert(s); }
                    }
                }
            }
        }
    }

    /// Park until asked to reconnect; false when stopped or every handle is gone.
    async fn wait_for_reconnect(&mut self) -> bool {
        loop {
            match self.commands.recv().await {
                None => return false,
                Some(Command::Stop(done)) => {
                    let reason = match &self.state.borrow().state {
                        LinkState::Stopped { reason } => reason.clone(),
                        _ => "stopped".into(),
                    };
                    self.set(LinkState::Stopped { reason });
                    let _ = done.send(());
                    return false;
                }
                Some(Command::ReconnectNow) => return true,
                Some(Command::Subscribe(s)) => {
                    self.subscriptions.insert(s);
                }
            }
        }
    }

    /// Log in if needed, then try each transport until one opens the namespace.
    async fn attempt(&mut self) -> Result<Live, AttemptError> {
        if let Credentials::Login { user, password } = &self.target.credentials
            && self.sid.is_none()
        {
            self.set(LinkState::Authenticating { step: format!("logging in as {user}") });
            match auth::frappe_login(&self.http, &self.target.base_url, &self.target.origin, user, password).await {
                Ok(sid) => self.sid = Some(sid),
                Err(AuthError::Refused(m)) => return Err(AttemptError::Refused(m)),
                Err(AuthError::Unreachable(m)) => return Err(AttemptError::Failed(m)),
            }
        }
        let mut errors = Vec::new();
        let transports = self.options.transports.clone();
        for transport in transports {
            match self.open(transport).await {
                Ok(live) => return Ok(live),
                Err(AttemptError::Failed(e)) => errors.push(format!("{transport}: {e}")),
                Err(other) => return Err(other),
            }
        }
        Err(AttemptError::Failed(errors.join("; ")))
    }

    /// One transport: open, then wait for the namespace's answer.
    async fn open(&mut self, transport: Transport) -> Result<Live, AttemptError> {
        let mut shim_retry = false;
        loop {
            let spec = ConnectSpec {
                url: self.target.socket_url.clone(),
                namespace: self.target.namespace.clone(),
                headers: self.target.headers(self.sid.as_ref(), self.cookie_shim),
                auth: self.target.auth_payload(),
                transport,
                accept_invalid_certs: !self.target.verify_tls,
            };
            let (tx, mut rx) = mpsc::channel(1024);
            let deadline = Instant::now() + self.options.connect_timeout;
            let connect = self.connector.connect(spec, tx);
            let link = tokio::select! {
                r = tokio::time::timeout_at(deadline, connect) => match r {
                    Err(_) => return Err(AttemptError::Failed(TransportError::Timeout(self.options.connect_timeout).to_string())),
                    Ok(Err(e)) => return Err(AttemptError::Failed(e.to_string())),
                    Ok(Ok(link)) => link,
                },
                cmd = self.commands.recv() => return Err(self.command_during_attempt(cmd)),
            };
            let first = tokio::select! {
                r = tokio::time::timeout_at(deadline, rx.recv()) => r,
                cmd = self.commands.recv() => {
                    link.close().await;
                    return Err(self.command_during_attempt(cmd));
                }
            };
            match first {
                Ok(Some(Inbound::Open)) => return Ok(Live { link, inbound: rx, transport }),
                Ok(Some(Inbound::Refused(msg))) => {
                    link.close().await;
                    let token_auth = self.target.credentials.authorization().is_some();
                    if msg == "No cookie transmitted." && token_auth && !self.cookie_shim && !shim_retry {
                        // Version-15 servers refuse token auth without some Cookie header.
                        self.cookie_shim = true;
                        shim_retry = true;
                        continue;
                    }
                    return Err(AttemptError::Refused(msg));
                }
                Ok(Some(Inbound::Error(e))) => {
                    link.close().await;
                    return Err(AttemptError::Failed(e));
                }
                Ok(Some(other)) => {
                    link.close().await;
                    return Err(AttemptError::Failed(format!("unexpected first message {other:?}")));
                }
                Ok(None) => return Err(AttemptError::Failed("connection closed before the namespace answered".into())),
                Err(_) => {
                    link.close().await;
                    return Err(AttemptError::Failed(format!("the namespace {} did not answer within {:?}", self.target.namespace, self.options.connect_timeout)));
                }
            }
        }
    }

    fn command_during_attempt(&mut self, cmd: Option<Command>) -> AttemptError {
        match cmd {
            None => AttemptError::Command(Command::ReconnectNow),
            Some(Command::Subscribe(s)) => {
                self.subscriptions.insert(s);
                AttemptError::Failed("interrupted".into())
            }
            Some(c) => AttemptError::Command(c),
        }
    }

    fn live_state(&self, transport: Transport, identity: &Identity, pong: Pong, rtt: Option<u64>) -> LinkState {
        let user = match identity {
            Identity::User(u) => Some(u.clone()),
            Identity::Guest => Some("Guest".into()),
            _ => self.target.credentials.jwt_subject(),
        };
        if !self.target.frappe {
            return LinkState::Connected { transport, user, rtt_ms: rtt };
        }
        match (identity, pong) {
            (Identity::Guest, _) => LinkState::Degraded {
                transport,
                user,
                reason: "connected as Guest: the site does not accept our session (sid expired or invalid); log in again".into(),
            },
            (Identity::Rejected(m), _) => LinkState::Degraded { transport, user, reason: format!("the site rejects our credentials over REST ({m})") },
            (_, Pong::Missing) => LinkState::Degraded {
                transport,
                user,
                reason: format!(
                    "connected but deaf: no pong to ping within {:?}; the realtime server did not verify us with the web process (socket secret mismatch?)",
                    self.options.pong_timeout
                ),
            },
            (Identity::Pending, _) | (_, Pong::Waiting { first: true, .. }) => LinkState::Authenticating { step: "confirming identity (get_logged_user, ping→pong)".into() },
            _ => LinkState::Connected { transport, user, rtt_ms: rtt },
        }
    }

    /// Start the writer task of a live link. The serve loop never awaits a send: an emit
    /// stuck behind the transport's locks while the receive side waits for the serve loop to
    /// drain events would stall both. Sends go through this queue; a failed send comes back
    /// on the returned channel.
    fn writer(link: Arc<dyn Link>) -> (mpsc::UnboundedSender<(String, Vec<Value>)>, mpsc::UnboundedReceiver<String>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, Vec<Value>)>();
        let (err_tx, err_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some((event, args)) = rx.recv().await {
                if let Err(e) = link.emit(&event, args).await {
                    let _ = err_tx.send(format!("emit {event} failed: {e}"));
                    return;
                }
            }
        });
        (tx, err_rx)
    }

    async fn serve(&mut self, live: Live, relogged: bool) -> LinkEnd {
        let Live { link, mut inbound, transport } = live;
        let link: Arc<dyn Link> = Arc::from(link);
        let (out, mut send_errors) = Self::writer(link.clone());
        // Closing can block on the same locks as a send: bounded, never forever.
        let close = |link: Arc<dyn Link>| async move {
            let _ = tokio::time::timeout(Duration::from_secs(2), link.close()).await;
        };
        for sub in self.subscriptions.clone() {
            let (event, args) = sub.emit_args();
            let _ = out.send((event.to_string(), args));
        }
        let mut identity = Identity::Pending;
        let mut pong = Pong::NotUsed;
        let mut rtt = None;
        let (who_tx, mut who_rx) = oneshot::channel();
        if self.target.frappe {
            let (http, base, headers) = (self.http.clone(), self.target.base_url.clone(), self.target.headers(self.sid.as_ref(), self.cookie_shim));
            tokio::spawn(async move {
                let _ = who_tx.send(auth::who_am_i(&http, &base, &headers).await);
            });
            let _ = out.send(("ping".into(), vec![]));
            pong = Pong::Waiting { sent: Instant::now(), first: true };
        } else {
            drop(who_tx);
            identity = Identity::Unknown;
        }
        let user_label = |identity: &Identity| match identity {
            Identity::User(u) => Some(u.clone()),
            _ => None,
        };
        self.set(self.live_state(transport, &identity, pong, rtt));
        let mut ticker = tokio::time::interval(Duration::from_millis(250).min(self.options.pong_timeout / 4));
        let mut next_ping = Instant::now() + self.options.ping_every;
        // Under a flood the server queues our `pong` behind thousands of events: a late pong
        // while events keep arriving is a busy link, not a dead or deaf one.
        let mut last_inbound = Instant::now();
        loop {
            tokio::select! {
                msg = inbound.recv() => match msg {
                    None => {
                        close(link).await;
                        return LinkEnd::Lost("connection closed".into());
                    }
                    Some(Inbound::Event { name, args }) => {
                        last_inbound = Instant::now();
                        if name == "pong" && let Pong::Waiting { sent, .. } = pong {
                            rtt = Some(sent.elapsed().as_millis() as u64);
                            pong = Pong::Answered;
                            self.set(self.live_state(transport, &identity, pong, rtt));
                            continue;
                        }
                        let event = RealtimeEvent::from_args(&name, args, user_label(&identity).as_deref());
                        // No receivers is fine: events are live-only.
                        let _ = self.events.send(Arc::new(event));
                    }
                    Some(Inbound::ServerDisconnect) => {
                        close(link).await;
                        return LinkEnd::ServerDisconnect;
                    }
                    Some(Inbound::Error(e)) => {
                        close(link).await;
                        return LinkEnd::Lost(e);
                    }
                    Some(Inbound::Refused(m)) => {
                        close(link).await;
                        return LinkEnd::Lost(format!("namespace refused after connect: {m}"));
                    }
                    Some(Inbound::Open) => {}
                },
                who = &mut who_rx, if identity == Identity::Pending => {
                    identity = match who {
                        Ok(Ok(WhoAmI::User(u))) => Identity::User(u),
                        Ok(Ok(WhoAmI::Guest)) => Identity::Guest,
                        Ok(Ok(WhoAmI::Rejected(m))) => Identity::Rejected(m),
                        _ => Identity::Unknown,
                    };
                    if identity == Identity::Guest && matches!(self.target.credentials, Credentials::Login { .. }) && !relogged {
                        close(link).await;
                        return LinkEnd::Relogin;
                    }
                    self.set(self.live_state(transport, &identity, pong, rtt));
                }
                _ = ticker.tick() => {
                    if let Pong::Waiting { sent, first } = pong
                        && sent.elapsed() > self.options.pong_timeout
                        && last_inbound.elapsed() > self.options.pong_timeout
                    {
                        if first {
                            pong = Pong::Missing;
                            self.set(self.live_state(transport, &identity, pong, rtt));
                        } else {
                            close(link).await;
                            return LinkEnd::Lost(format!("no pong within {:?}: the link is dead", self.options.pong_timeout));
                        }
                    }
                    if self.target.frappe && Instant::now() >= next_ping && matches!(pong, Pong::Answered | Pong::Missing) {
                        next_ping = Instant::now() + self.options.ping_every;
                        if pong == Pong::Answered {
                            let _ = out.send(("ping".into(), vec![]));
                            pong = Pong::Waiting { sent: Instant::now(), first: false };
                        }
                    }
                }
                Some(e) = send_errors.recv() => {
                    close(link).await;
                    return LinkEnd::Lost(e);
                }
                cmd = self.commands.recv() => match cmd {
                    None => {
                        close(link).await;
                        return LinkEnd::Lost("session dropped".into());
                    }
                    Some(Command::ReconnectNow) => {
                        close(link).await;
                        return LinkEnd::ReconnectNow;
                    }
                    Some(Command::Stop(done)) => {
                        close(link).await;
                        return LinkEnd::Stop(done);
                    }
                    Some(Command::Subscribe(sub)) => {
                        let (event, args) = sub.emit_args();
                        self.subscriptions.insert(sub);
                        let _ = out.send((event.to_string(), args));
                    }
                }
            }
        }
    }
}
