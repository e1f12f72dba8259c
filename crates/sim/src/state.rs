//! The simulator's shared state and the one place that emits to sockets.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::Identity;
use crate::config::{Mode, SimConfig};
use crate::conn::ConnHub;
use crate::faults::Faults;
use crate::payloads::StoredMessage;

/// How many Raven messages the simulated site keeps (oldest dropped first).
pub const MESSAGE_HISTORY: usize = 5_000;

/// Everything the handlers, the web endpoints and the control API share.
pub struct SimState {
    pub config: RwLock<SimConfig>,
    pub faults: RwLock<Faults>,
    pub io: SocketIo,
    pub hub: Arc<ConnHub>,
    pub messages: Mutex<VecDeque<StoredMessage>>,
    /// `http://127.0.0.1:<port>` and `http://localhost:<port>`: where the simulated web
    /// process answers, hence the Origins whose auth callback succeeds.
    pub own_origins: RwLock<Vec<String>>,
    /// Running scenarios, cancelled together on shutdown.
    pub scenarios: Mutex<Vec<JoinHandle<()>>>,
    pub shutdown: CancellationToken,
    /// Asks the server task to restart (drop everything, stay down for the duration).
    pub restart_tx: tokio::sync::mpsc::UnboundedSender<std::time::Duration>,
    /// Every `ai_progress` update of the site's runs (the progress endpoint answers from it).
    pub runs: Mutex<crate::progress::RunLog>,
    /// Calls of the progress endpoint so far (tests check a client polls only when it must).
    pub progress_polls: std::sync::atomic::AtomicU64,
}

/// Arguments that socketioxide sends as that many arguments: it spreads a tuple (never a
/// sequence, which is one array argument), so they serialise as a tuple of their length.
struct Spread<'a>(&'a [&'a serde_json::value::RawValue]);

impl serde::Serialize for Spread<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(self.0.len())?;
        for a in self.0 {
            t.serialize_element(a)?;
        }
        t.end()
    }
}

/// One connected socket, as `GET /__sim/sockets` lists it.
#[derive(Debug, Serialize)]
pub struct SocketInfo {
    pub id: String,
    pub namespace: String,
    pub site: Option<String>,
    pub user: Option<String>,
    pub rooms: Vec<String>,
    pub transport: &'static str,
}

impl SimState {
    pub fn config(&self) -> std::sync::RwLockReadGuard<'_, SimConfig> {
        self.config.read().expect("config lock")
    }

    pub fn faults(&self) -> Faults {
        self.faults.read().expect("faults lock").clone()
    }

    /// Apply `K=V` knobs (after an optional reset); nothing changes if one is bad.
    pub fn update_faults(
        &self,
        reset: bool,
        specs: &[String],
    ) -> Result<Faults, crate::faults::FaultError> {
        let mut next = if reset { Faults::default() } else { self.faults() };
        for spec in specs {
            next.set(spec)?;
        }
        self.hub.set_frozen(next.freeze);
        *self.faults.write().expect("faults lock") = next.clone();
        Ok(next)
    }

    /// Origins whose callback succeeds for `site`.
    pub fn web_origins(&self, site: &str) -> Vec<String> {
        let mut v = self.own_origins.read().expect("origins lock").clone();
        if let Some(extra) = self.config().extra_web_origins.get(site) {
            v.extend(extra.iter().cloned());
        }
        v
    }

    /// The namespaces a publish for `site` (or every site) reaches.
    fn target_namespaces(&self, site: Option<&str>) -> Vec<String> {
        let config = self.config();
        if config.mode == Mode::Jwt {
            return vec!["/".into()];
        }
        match site {
            Some(s) => vec![format!("/{s}")],
            None => config.sites.iter().map(|s| format!("/{s}")).collect(),
        }
    }

    /// Emit `event` with exactly one argument to `room` (or every socket when `None`) of
    /// `site` (or every site). Returns how many sockets it was delivered to.
    pub async fn emit<T: serde::Serialize + ?Sized>(
        &self,
        site: Option<&str>,
        room: Option<&str>,
        event: &str,
        message: &T,
    ) -> usize {
        // A 1-tuple: socketioxide spreads arrays into several arguments otherwise.
        self.emit_data(site, room, event, &(message,)).await
    }

    /// Emit `event` with exactly these arguments (each raw JSON, sent as it is).
    pub async fn emit_args(
        &self,
        site: Option<&str>,
        room: Option<&str>,
        event: &str,
        args: &[&serde_json::value::RawValue],
    ) -> usize {
        self.emit_data(site, room, event, &Spread(args)).await
    }

    async fn emit_data<T: serde::Serialize + ?Sized>(
        &self,
        site: Option<&str>,
        room: Option<&str>,
        event: &str,
        data: &T,
    ) -> usize {
        let mut delivered = 0;
        for ns in self.target_namespaces(site) {
            let Some(ops) = self.io.of(&ns) else { continue };
            let ops = match room {
                Some(r) => ops.to(r.to_string()),
                None => ops,
            };
            let targets = ops.clone().sockets();
            // Sockets with no identity (secret mismatch) hear nothing, even broadcasts.
            let live = targets.iter().filter(|s| hears(s)).count();
            if live == 0 {
                continue;
            }
            if room.is_none() {
                for s in targets.iter().filter(|s| hears(s)) {
                    let _ = s.emit(event, data);
                }
            } else if let Err(e) = ops.emit(event, data).await {
                // Only sockets whose buffer is full or that are closing fail; the rest got it.
                tracing::warn!("emit {event} to {ns}: {e}");
            }
            delivered += live;
        }
        delivered
    }

    /// The sockets an emit to `room` (every socket when `None`) of `site` reaches now. For a
    /// sender of many events (a burst), which resolves them now and then instead of for
    /// every event: per event, the room lookups cost the simulator more than the emit and
    /// made it the bottleneck of the polling benchmarks.
    pub fn listeners(&self, site: Option<&str>, room: Option<&str>) -> Vec<SocketRef> {
        let mut out = Vec::new();
        for ns in self.target_namespaces(site) {
            let Some(ops) = self.io.of(&ns) else { continue };
            let sockets = match room {
                Some(r) => ops.to(r.to_string()).sockets(),
                None => ops.sockets(),
            };
            out.extend(sockets.into_iter().filter(hears));
        }
        out
    }

    pub fn store_message(&self, m: StoredMessage) {
        let mut q = self.messages.lock().expect("messages lock");
        if q.len() == MESSAGE_HISTORY {
            q.pop_front();
        }
        q.push_back(m);
    }

    pub fn recent_messages(&self, channel: &str, limit: usize) -> Vec<StoredMessage> {
        let q = self.messages.lock().expect("messages lock");
        let mut v: Vec<StoredMessage> =
            q.iter().rev().filter(|m| m.channel_id == channel).take(limit).cloned().collect();
        v.reverse();
        v
    }

    /// Every connected socket on every namespace.
    pub fn all_sockets(&self) -> Vec<SocketRef> {
        self.io.nsps().into_iter().flat_map(|ns| ns.sockets()).collect()
    }

    pub fn socket_infos(&self) -> Vec<SocketInfo> {
        self.all_sockets()
            .into_iter()
            .map(|s| {
                let id = s.extensions.get::<Identity>();
                let mut rooms: Vec<String> = s
                    .rooms()
                    .into_iter()
                    .map(|r| r.to_string())
                    .filter(|r| r != &s.id.to_string())
                    .collect();
                rooms.sort();
                SocketInfo {
                    id: s.id.to_string(),
                    namespace: s.ns().to_string(),
                    site: id.as_ref().map(|i| i.site.clone()),
                    user: id.and_then(|i| i.user),
                    rooms,
                    transport: match s.transport_type() {
                        socketioxide::TransportType::Polling => "polling",
                        socketioxide::TransportType::Websocket => "websocket",
                    },
                }
            })
            .collect()
    }

    pub fn track_scenario(&self, handle: JoinHandle<()>) {
        let mut v = self.scenarios.lock().expect("scenarios lock");
        v.retain(|h| !h.is_finished());
        v.push(handle);
    }

    pub fn stop_scenarios(&self) {
        for h in self.scenarios.lock().expect("scenarios lock").drain(..) {
            h.abort();
        }
    }
}

/// Sockets with no identity (a socket secret mismatch) hear nothing, even broadcasts.
fn hears(s: &SocketRef) -> bool {
    s.extensions.get::<Identity>().is_some_and(|i| i.user.is_some())
}
