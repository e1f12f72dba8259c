//! Moving a polling session to WebSocket: the probe (`2probe` → `3probe`, then `5`).
//!
//! At the handshake, as socket.io-client does ([`super::TransportPlan::PollingThenUpgrade`]).
//! And later, in place: a session that fell back to polling (a proxy that stripped the
//! Upgrade headers, a network that blocked WebSockets) tries again on a schedule
//! ([`super::ConnectOptions::retry_upgrade`]). Without it a link stays on polling until it
//! breaks, long after the proxy was mended; with a reconnect instead, events sent in between
//! would be lost. In place keeps the Engine.IO session: the server holds what it queued and
//! sends it on the WebSocket, rooms stay joined, and nothing is lost or reordered.
//!
//! The switch, as engine.io-client does it: once `3probe` came back, the poller stops after
//! the GET in flight (the server answers it with a `noop`), what that GET brought is decoded
//! as usual, the polling writer posts what was queued and hands its queue over, then `5` goes
//! out on the WebSocket and the WebSocket becomes the transport.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::client::ConnectOptions;
use super::connection::{Flow, Inbound, Task};
use super::engine::EioVersion;
use super::error::Disconnect;
use super::http;
use super::io::{self, Incoming, Out, Reader};
use super::websocket::{self, Ws};

/// The longest wait between two tries.
pub const RETRY_CAP: Duration = Duration::from_secs(300);

/// How long the switch may take: the pending GET's answer and the last POST. Servers give up
/// on an upgrade after 10 s (engine.io's `upgradeTimeout`).
const SWITCH_LIMIT: Duration = Duration::from_secs(10);

/// A WebSocket for the session `sid` that answered `2probe` with `3probe`. The caller sends
/// `5` when its polling is paused.
pub(crate) async fn probe(
    opts: &ConnectOptions,
    version: EioVersion,
    sid: &str,
    deadline: Instant,
) -> Result<Ws, String> {
    let url = http::eio_url(&opts.socket_url, version, "websocket", Some(sid));
    let left = deadline.saturating_duration_since(Instant::now());
    let mut ws = websocket::connect(&url, &opts.headers, &opts.tls, &opts.proxy, left)
        .await
        .map_err(|e| e.to_string())?;
    ws.send(Message::Text("2probe".into())).await.map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout_at(deadline, super::client::next_text(&mut ws))
        .await
        .map_err(|_| "no 3probe before the deadline".to_string())?;
    match answer {
        Ok(t) if t == "3probe" => Ok(ws),
        Ok(t) => Err(format!("expected 3probe, got {}", http::excerpt(&t, 60))),
        Err(e) => Err(e.to_string()),
    }
}

/// The schedule of a polling session's tries: the first after `retry_upgrade`, then doubling
/// up to [`RETRY_CAP`]. One try is one WebSocket request; a refused one costs the site what a
/// browser's refused upgrade costs.
pub(crate) struct Retry {
    opts: ConnectOptions,
    version: EioVersion,
    sid: String,
    every: Duration,
    next: Instant,
    /// The try under way: a task, so that the connection's `select!` can drop and re-create
    /// the future that awaits it without losing the try.
    probing: Option<JoinHandle<Result<Ws, String>>>,
}

impl Retry {
    pub(crate) fn new(opts: &ConnectOptions, version: EioVersion, sid: &str) -> Option<Retry> {
        let first = opts.retry_upgrade?;
        Some(Retry {
            opts: opts.clone(),
            version,
            sid: sid.to_owned(),
            every: first,
            next: Instant::now() + first,
            probing: None,
        })
    }

    /// The WebSocket of the first try that works. Cancel-safe.
    pub(crate) async fn ready(&mut self) -> Ws {
        loop {
            let task = match &mut self.probing {
                Some(task) => task,
                None => {
                    tokio::time::sleep_until(self.next).await;
                    let (opts, version, sid) = (self.opts.clone(), self.version, self.sid.clone());
                    self.probing.insert(tokio::spawn(async move {
                        let deadline = Instant::now() + opts.timeout;
                        probe(&opts, version, &sid, deadline).await
                    }))
                }
            };
            let tried = task.await;
            self.probing = None;
            match tried {
                Ok(Ok(ws)) => return ws,
                Ok(Err(why)) => {
                    tracing::debug!(%why, "websocket still refused; staying on polling")
                }
                Err(e) => tracing::debug!(%e, "websocket try ended"),
            }
            self.every = (self.every * 2).min(RETRY_CAP);
            self.next = Instant::now() + self.every;
        }
    }
}

/// The WebSocket of the next try that works; never, without a schedule.
pub(crate) async fn next_try(retry: &mut Option<Retry>) -> Ws {
    match retry {
        Some(r) => r.ready().await,
        None => std::future::pending().await,
    }
}

impl Drop for Retry {
    fn drop(&mut self) {
        if let Some(task) = self.probing.take() {
            task.abort();
        }
    }
}

impl Task {
    /// Switch this polling session to `ws`, which answered the probe. Ends the connection
    /// only if the switch broke both transports.
    pub(crate) async fn upgrade_in_place(
        &mut self,
        mut ws: Ws,
        pong_due: &mut Option<Instant>,
    ) -> Flow {
        let Reader::Polling { pause, .. } = &self.reader else {
            return Flow::Go;
        };
        pause.cancel();
        let broken = |why: &str| Flow::End(Disconnect::TransportError(format!("upgrade: {why}")));
        // What the last GET brings is read as usual, in order, before anything on the socket.
        let drained = tokio::time::timeout(SWITCH_LIMIT, async {
            loop {
                match self.reader.next().await {
                    Incoming::Closed(None) => return Flow::Go,
                    other => {
                        if let Flow::End(d) = self.on_incoming(other, pong_due).await {
                            return Flow::End(d);
                        }
                    }
                }
            }
        })
        .await;
        match drained {
            Ok(Flow::Go) => {}
            Ok(end) => return end,
            Err(_) => return broken("the server did not end the pending poll"),
        }
        let (tx, rx) = oneshot::channel();
        if self.writer.tx.send(Out::Handover(tx)).is_err() {
            return broken("the polling writer stopped");
        }
        let parts = match tokio::time::timeout(SWITCH_LIMIT, rx).await {
            Ok(Ok(parts)) => parts,
            _ => return broken("the polling writer did not hand over its queue"),
        };
        if let Err(e) = ws.send(Message::Text("5".into())).await {
            return broken(&e.to_string());
        }
        let (sink, stream) = ws.split();
        self.reader = Reader::Ws(stream);
        io::spawn_ws_writer(sink, parts);
        self.retry = None;
        tracing::info!("upgraded to websocket in place");
        self.deliver(Inbound::Upgraded).await
    }
}
