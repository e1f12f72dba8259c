//! The supervisor's outer loop: log in when needed, open a connection (each transport in
//! turn), serve it, and decide from how it ended whether to retry, re-login or stop.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::progress::next_polled;
use super::{Command, SessionOptions, Shared, Subscription};
use crate::auth::{self, AuthError, Credentials};
use crate::events::{RealtimeEvent, now_ms};
use crate::secrets::Secret;
use crate::state::{LinkState, StateSnapshot};
use crate::target::Target;
use crate::wire::{
    self, ConnectError, ConnectOptions, Connection, EioVersion, Transport, TransportPlan,
};

/// Why a live connection ended.
pub(super) enum LinkEnd {
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

/// A connection and how we got it.
pub(super) struct Live {
    pub conn: Connection,
    /// Set when an earlier transport failed (or the upgrade did): what happened.
    pub fallback: Option<String>,
}

pub(crate) struct Supervisor {
    pub(super) target: Arc<Target>,
    pub(super) options: SessionOptions,
    pub(super) http: reqwest::Client,
    pub(super) state: watch::Sender<StateSnapshot>,
    pub(super) events: broadcast::Sender<Arc<RealtimeEvent>>,
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
    pub(super) subscriptions: BTreeSet<Subscription>,
    /// The sid from a Frappe login (or the pasted one).
    sid: Option<Secret>,
    /// Send a dummy Cookie with token auth (version-15 servers demand one).
    pub(super) cookie_shim: bool,
    /// The Engine.IO version the server spoke last time (skips the v4 attempt on v2 servers).
    eio: Option<EioVersion>,
    shared: Arc<Shared>,
    /// Cursors, the open gap and the burst that fills it.
    pub(super) bf: super::gap::Backfill,
    /// Agent progress polled while the link is down, when the profile names an endpoint.
    pub(super) progress: Option<super::progress::Fallback>,
}

impl Supervisor {
    pub(super) fn new(
        target: Arc<Target>,
        options: SessionOptions,
        state: watch::Sender<StateSnapshot>,
        events: broadcast::Sender<Arc<RealtimeEvent>>,
        commands: mpsc::UnboundedReceiver<Command>,
        subscriptions: BTreeSet<Subscription>,
        shared: Arc<Shared>,
    ) -> Supervisor {
        let http = auth::http_client_for(
            &[&target.base_url, &target.socket_url],
            &target.tls,
            &target.proxy,
            options.connect_timeout.min(Duration::from_secs(10)),
        );
        let bf = super::gap::Backfill::new(options.backfill.clone());
        let progress = super::progress::Fallback::start(
            &options.progress,
            &target,
            &shared,
            http.clone(),
            state.subscribe(),
        );
        Supervisor {
            bf,
            progress,
            target,
            options,
            http,
            state,
            events,
            commands,
            subscriptions,
            sid: None,
            cookie_shim: false,
            eio: None,
            shared,
        }
    }

    pub(super) fn set(&self, state: LinkState) {
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

    fn set_sid(&mut self, sid: Option<Secret>) {
        if let Ok(mut s) = self.shared.sid.lock() {
            *s = sid.clone();
        }
        self.sid = sid;
    }

    pub(super) fn sid(&self) -> Option<&Secret> {
        self.sid.as_ref()
    }

    fn stopped(&self, done: oneshot::Sender<()>) {
        self.set(LinkState::Stopped { reason: "stopped".into() });
        let _ = done.send(());
    }

    pub(crate) async fn run(mut self) {
        if let Credentials::Sid(s) = &self.target.credentials {
            self.set_sid(Some(s.clone()));
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
                            self.set_sid(None);
                            continue;
                        }
                        LinkEnd::ServerDisconnect => {
                            self.set(LinkState::Stopped { reason: "io server disconnect (the server closed the session; not retrying)".into() });
                            if !self.wait_for_reconnect().await {
                                return;
                            }
                            continue;
                        }
                        LinkEnd::Stop(done) => return self.stopped(done),
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
                Err(AttemptError::Command(Command::Stop(done))) => return self.stopped(done),
                Err(AttemptError::Command(_)) => continue,
                Err(AttemptError::Failed(e)) => e,
            };
            attempt += 1;
            let delay = self.options.backoff.delay(attempt);
            self.set(LinkState::Reconnecting {
                attempt,
                next_retry_at_ms: now_ms() + delay.as_millis() as u64,
                last_error,
            });
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    polled = next_polled(&mut self.progress) => self.deliver_polled(polled).await,
                    cmd = self.commands.recv() => match cmd.and_then(Command::refuse_emit) {
                        None => if self.commands.is_closed() { return },
                        Some(Command::Stop(done)) => return self.stopped(done),
                        Some(Command::ReconnectNow) => break,
                        Some(Command::Subscribe(s)) => { self.subscriptions.insert(s); }
                        Some(Command::Emit { .. }) => {}
                    }
                }
            }
        }
    }

    /// Park until asked to reconnect; false when stopped or every handle is gone.
    async fn wait_for_reconnect(&mut self) -> bool {
        loop {
            let cmd = tokio::select! {
                polled = next_polled(&mut self.progress) => {
                    self.deliver_polled(polled).await;
                    continue;
                }
                cmd = self.commands.recv() => cmd,
            };
            let Some(cmd) = cmd else { return false };
            match cmd.refuse_emit() {
                None | Some(Command::Emit { .. }) => {}
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
            match auth::frappe_login(
                &self.http,
                &self.target.base_url,
                &self.target.origin,
                user,
                password,
            )
            .await
            {
                Ok(sid) => self.set_sid(Some(sid)),
                Err(AuthError::Refused(m)) => return Err(AttemptError::Refused(m)),
                Err(AuthError::Unreachable(m)) => return Err(AttemptError::Failed(m)),
            }
        }
        let mut errors = Vec::new();
        for transport in self.options.transports.clone() {
            // After a failed WebSocket, polling tries the upgrade once connected, as
            // socket.io-client does: a WebSocket that only timed out (a server catching up
            // after a freeze) comes back, and a blocked one costs one refused request.
            let upgrade = self.options.upgrade || !errors.is_empty();
            match self.open(transport, upgrade).await {
                Ok(mut live) => {
                    // Upgraded to WebSocket after all: nothing fell back.
                    let upgraded = transport != Transport::Websocket
                        && live.conn.info.transport == Transport::Websocket;
                    if !errors.is_empty() && !upgraded {
                        live.fallback =
                            Some(format!("{} failed; fell back to {transport}", errors.join("; ")));
                    }
                    return Ok(live);
                }
                Err(AttemptError::Failed(e)) => errors.push(format!("{transport}: {e}")),
                Err(other) => return Err(other),
            }
        }
        Err(AttemptError::Failed(errors.join("; ")))
    }

    /// One transport: open it and join the namespace.
    async fn open(&mut self, transport: Transport, upgrade: bool) -> Result<Live, AttemptError> {
        let mut shim_retry = false;
        loop {
            let plan = match transport {
                Transport::Websocket => TransportPlan::Websocket,
                Transport::Polling if upgrade => TransportPlan::PollingThenUpgrade,
                Transport::Polling => TransportPlan::Polling,
            };
            self.shared.cookie_shim.store(self.cookie_shim, std::sync::atomic::Ordering::Relaxed);
            self.shared.attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.shared.attempted.notify_waiters();
            let opts = ConnectOptions {
                socket_url: self.target.socket_url.clone(),
                namespace: self.target.namespace.clone(),
                headers: self.target.headers(self.sid.as_ref(), self.cookie_shim),
                auth: self
                    .target
                    .auth_payload()
                    .and_then(|a| serde_json::value::to_raw_value(&a).ok()),
                plan,
                version: self.eio,
                tls: self.target.tls.clone(),
                proxy: self.target.proxy.clone(),
                timeout: self.options.connect_timeout,
                max_packet: self.options.max_packet,
                http: self.http.clone(),
                queue: 1024,
                // Only where an upgrade was wanted: a link set to polling stays polling.
                retry_upgrade: self.options.retry_upgrade.filter(|_| upgrade),
            };
            let connecting = wire::connect(&opts);
            tokio::pin!(connecting);
            let connected = loop {
                tokio::select! {
                    r = &mut connecting => break r,
                    polled = next_polled(&mut self.progress) => self.deliver_polled(polled).await,
                    cmd = self.commands.recv() => match cmd {
                        // Joined after the connect, with the rest.
                        Some(Command::Subscribe(s)) => { self.subscriptions.insert(s); }
                        Some(c @ Command::Emit { .. }) => { c.refuse_emit(); }
                        None => return Err(AttemptError::Command(Command::ReconnectNow)),
                        Some(c) => return Err(AttemptError::Command(c)),
                    }
                }
            };
            match connected {
                Ok(conn) => {
                    self.eio = Some(conn.info.eio);
                    let fallback = conn
                        .info
                        .upgrade_failed
                        .as_ref()
                        .map(|why| format!("upgrade to websocket failed: {why}"));
                    return Ok(Live { conn, fallback });
                }
                Err(ConnectError::Refused(msg)) => {
                    let token_auth = self.target.credentials.authorization().is_some();
                    if msg == "No cookie transmitted."
                        && token_auth
                        && !self.cookie_shim
                        && !shim_retry
                    {
                        // Version-15 servers refuse token auth without some Cookie header.
                        self.cookie_shim = true;
                        shim_retry = true;
                        continue;
                    }
                    return Err(AttemptError::Refused(msg));
                }
                Err(ConnectError::Timeout(d)) => {
                    return Err(AttemptError::Failed(format!(
                        "the namespace {} did not answer within {d:?}",
                        self.target.namespace
                    )));
                }
                Err(e) => return Err(AttemptError::Failed(e.to_string())),
            }
        }
    }
}
