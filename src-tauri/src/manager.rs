//! The environments the app watches: one core [`Session`] per environment, a forwarder task
//! per session that folds events into runs, notifications and UI batches, and one pump that
//! sends the batches to the window over a Tauri channel.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use sockeye_core::auth::Credentials;
use sockeye_core::batch::{Batch, Batcher};
use sockeye_core::config_file::Config;
use sockeye_core::events::{EventKind, RealtimeEvent};
use sockeye_core::notify::{self, Trigger};
use sockeye_core::runs::{Run, RunChange, RunTracker};
use sockeye_core::secrets::{KeyringStore, SecretStore};
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::state::{LinkState, StateSnapshot};
use sockeye_core::target::{self, Target};
use sockeye_core::{Profile};
use tauri::ipc::{Channel, InvokeResponseBody};
use tokio::sync::{Notify, broadcast::error::RecvError};
use tokio::time::Instant;

use crate::error::{AppError, Result};
use crate::notifier::Notifier;

/// What the window receives, in batches.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UiItem {
    State { env: String, snapshot: StateSnapshot },
    Event {
        env: String,
        #[serde(serialize_with = "event_for_ui")]
        event: Arc<RealtimeEvent>,
    },
    Run { run: Run },
}

/// The fields of an event the page uses; the typed view (`kind`) would roughly double every
/// message and the page renders from the raw payload.
fn event_for_ui<S: serde::Serializer>(e: &Arc<RealtimeEvent>, s: S) -> std::result::Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct UiEvent<'a> {
        name: &'a str,
        payload: &'a serde_json::value::RawValue,
        room_hint: Option<&'a str>,
        parse_note: Option<&'a str>,
        received_at_ms: u64,
    }
    UiEvent { name: &e.name, payload: &e.payload, room_hint: e.room_hint.as_deref(), parse_note: e.parse_note.as_deref(), received_at_ms: e.received_at_ms }.serialize(s)
}

/// Largest channel message Tauri delivers with a single `eval` (its threshold is 8 KiB). Batches
/// reach the page as `{"items": [UiItem...], "dropped": n}` frames of at most this size
/// (`dropped`: items the window was too slow for, shown as a count).
const UI_FRAME_BYTES: usize = 8000;

/// Sends a batch to the window as frames (see [`UI_FRAME_BYTES`]), stopping at the first
/// failure (the window went away).
pub fn send_frames(sink: &Channel<InvokeResponseBody>, batch: &Batch<UiItem>) -> tauri::Result<()> {
    for frame in batch.json_frames(UI_FRAME_BYTES) {
        sink.send(InvokeResponseBody::Json(frame))?;
    }
    Ok(())
}

/// The key of a run in [`Shared::runs`], and of its latest state in a batch.
fn run_key(run: &Run) -> String {
    format!("{}/{}", run.env, run.id)
}

/// An environment as the UI and the tray list it. Never carries a secret.
#[derive(Debug, Clone, Serialize)]
pub struct EnvView {
    pub name: String,
    pub url: String,
    pub site: Option<String>,
    pub socket_port: Option<u16>,
    pub auth: String,
    pub user: Option<String>,
    pub key: Option<String>,
    pub channels: Vec<String>,
    pub verify_tls: bool,
    pub deployment: String,
    pub demo: bool,
    pub active: bool,
    pub state: StateSnapshot,
}

struct Env {
    profile: Profile,
    session: Session,
    target: Target,
    forwarder: tauri::async_runtime::JoinHandle<()>,
    demo: bool,
}

/// Shared with the forwarders: the batcher, the latest runs and states.
pub struct Shared {
    pub batcher: Mutex<Batcher<UiItem>>,
    pub wake: Notify,
    pub sink: Mutex<Option<Channel<InvokeResponseBody>>>,
    pub runs: Mutex<BTreeMap<String, Run>>,
    pub states: Mutex<BTreeMap<String, StateSnapshot>>,
    /// Called on every state change (the tray redraws).
    pub on_state: Box<dyn Fn() + Send + Sync>,
}

pub struct Manager {
    pub config_path: PathBuf,
    pub config: Mutex<Config>,
    envs: Mutex<BTreeMap<String, Env>>,
    pub active: Mutex<Option<String>>,
    pub shared: Arc<Shared>,
    pub notifier: Notifier,
    pub demo_sim: Mutex<Option<sockeye_sim::Sim>>,
}

impl Manager {
    pub fn new(config_path: PathBuf, config: Config, notifier: Notifier, on_state: Box<dyn Fn() + Send + Sync>) -> Arc<Manager> {
        let shared = Arc::new(Shared {
            // One batch per display frame at most: a longer delay is pure added latency (the
            // webview paints once per frame anyway), a shorter one only adds IPC messages.
            batcher: Mutex::new(Batcher::new(500, Duration::from_millis(16), 20_000)),
            wake: Notify::new(),
            sink: Mutex::new(None),
            runs: Mutex::new(BTreeMap::new()),
            states: Mutex::new(BTreeMap::new()),
            on_state,
        });
        let active = config.settings.active.clone();
        let m = Arc::new(Manager { config_path, config: Mutex::new(config), envs: Mutex::new(BTreeMap::new()), active: Mutex::new(active), shared: shared.clone(), notifier, demo_sim: Mutex::new(None) });
        tauri::async_runtime::spawn(pump(shared));
        m
    }

    /// Start watching `profile` with `creds` (replacing a session of the same name).
    pub fn start(&self, profile: Profile, target: Target, demo: bool) {
        let name = profile.name.clone();
        self.stop(&name);
        let session = Session::spawn(target.clone(), SessionOptions::default());
        let forwarder = tauri::async_runtime::spawn(forward(name.clone(), session.clone(), self.shared.clone(), self.notifier.clone()));
        self.envs.lock().expect("envs").insert(name.clone(), Env { profile, session, target, forwarder, demo });
        let mut active = self.active.lock().expect("active");
        if active.as_ref().is_none_or(|a| !self.envs.lock().expect("envs").contains_key(a)) {
            *active = Some(name);
        }
    }

    pub fn stop(&self, name: &str) {
        if let Some(env) = self.envs.lock().expect("envs").remove(name) {
            env.forwarder.abort();
            let s = env.session.clone();
            tauri::async_runtime::spawn(async move { s.stop().await });
            self.shared.states.lock().expect("states").remove(name);
        }
    }

    pub async fn start_profile(&self, profile: Profile) -> Result<()> {
        let target = target::resolve(&profile, &KeyringStore).await?;
        self.start(profile, target, false);
        Ok(())
    }

    pub fn names(&self) -> Vec<String> {
        self.envs.lock().expect("envs").keys().cloned().collect()
    }

    pub fn session(&self, name: &str) -> Result<Session> {
        self.envs.lock().expect("envs").get(name).map(|e| e.session.clone()).ok_or_else(|| AppError::UnknownEnv(name.into()))
    }

    pub fn target(&self, name: &str) -> Result<(Profile, Target)> {
        self.envs.lock().expect("envs").get(name).map(|e| (e.profile.clone(), e.target.clone())).ok_or_else(|| AppError::UnknownEnv(name.into()))
    }

    pub fn views(&self) -> Vec<EnvView> {
        let envs = self.envs.lock().expect("envs");
        let active = self.active.lock().expect("active").clone();
        let prod = self.config.lock().expect("config").settings.production_hosts.clone();
        envs.values()
            .map(|e| {
                let p = &e.profile;
                let (user, key) = match &p.auth {
                    sockeye_core::AuthMethod::Login { user } => (Some(user.clone()), None),
                    sockeye_core::AuthMethod::ApiToken { key } => (None, Some(key.clone())),
                    _ => (None, None),
                };
                EnvView {
                    name: p.name.clone(),
                    url: p.url.as_str().trim_end_matches('/').to_string(),
                    site: p.site.clone(),
                    socket_port: p.socket_port,
                    auth: p.auth.name().into(),
                    user,
                    key,
                    channels: p.subscriptions.channels.clone(),
                    verify_tls: p.verify_tls,
                    deployment: p.deployment_type(&prod).as_str().into(),
                    demo: e.demo,
                    active: active.as_deref() == Some(&p.name),
                    state: e.session.state().borrow().clone(),
                }
            })
            .collect()
    }

    /// The REST headers for an environment (for the channel picker), resolved the way the
    /// session resolves them; a Frappe login gets a fresh sid.
    pub async fn rest_headers(&self, name: &str) -> Result<(Target, Vec<(String, String)>)> {
        let (_, t) = self.target(name)?;
        let http = sockeye_core::auth::http_client(!t.verify_tls, Duration::from_secs(5));
        let sid = match &t.credentials {
            Credentials::Sid(s) => Some(s.clone()),
            Credentials::Login { user, password } => Some(sockeye_core::auth::frappe_login(&http, &t.base_url, &t.origin, user, password).await.map_err(|e| AppError::Invalid(e.to_string()))?),
            _ => None,
        };
        let headers = t.headers(sid.as_ref(), false).into_iter().filter(|(k, _)| !k.eq_ignore_ascii_case("origin")).collect();
        Ok((t, headers))
    }

    pub fn save_config(&self) -> Result<()> {
        let mut c = self.config.lock().expect("config");
        c.settings.active = self.active.lock().expect("active").clone().filter(|a| c.profiles.iter().any(|p| &p.name == a));
        c.save(&self.config_path)?;
        Ok(())
    }

    /// The secret store for `profile` (used when saving the form).
    pub fn store_secret(&self, profile: &str, secret: &str) -> Result<()> {
        KeyringStore.set(profile, &sockeye_core::secrets::Secret::new(secret))?;
        Ok(())
    }
}

/// One environment's forwarder: events → runs, notifications and UI items; states → UI and
/// tray, link lost/restored notifications.
async fn forward(env: String, session: Session, shared: Arc<Shared>, notifier: Notifier) {
    let mut events = session.events();
    let mut states = session.state();
    let mut runs = RunTracker::new(&env, 200);
    let mut was_connected = false;
    let mut lost_notified = false;
    let push = |item: UiItem| {
        shared.batcher.lock().expect("batcher").push(item, Instant::now());
        shared.wake.notify_one();
    };
    let mut user: Option<String> = None;
    // The state at start, so the UI has it before the first change.
    {
        let snap = states.borrow_and_update().clone();
        shared.states.lock().expect("states").insert(env.clone(), snap.clone());
        push(UiItem::State { env: env.clone(), snapshot: snap });
        (shared.on_state)();
    }
    loop {
        tokio::select! {
            changed = states.changed() => {
                if changed.is_err() { return; }
                let snap = states.borrow_and_update().clone();
                let connected = snap.state.is_connected();
                if let LinkState::Connected { user: u, .. } = &snap.state {
                    user = u.clone();
                }
                if was_connected && !connected && !matches!(snap.state, LinkState::Authenticating { .. }) {
                    notifier.trigger(Trigger::LinkLost { env: env.clone(), reason: snap.state.describe() });
                    lost_notified = true;
                } else if connected && lost_notified {
                    notifier.trigger(Trigger::LinkRestored { env: env.clone() });
                    lost_notified = false;
                }
                if connected || matches!(snap.state, LinkState::Reconnecting { .. } | LinkState::AuthFailed { .. } | LinkState::Stopped { .. } | LinkState::Degraded { .. }) {
                    was_connected = connected;
                }
                shared.states.lock().expect("states").insert(env.clone(), snap.clone());
                push(UiItem::State { env: env.clone(), snapshot: snap });
                (shared.on_state)();
            }
            ev = events.recv() => match ev {
                Ok(e) => {
                    if let Some(change) = runs.apply(&e) {
                        if let RunChange::Finished(r) = &change && let Some(t) = notify::run_trigger(r) {
                            notifier.trigger(t);
                        }
                        let run = change.run().clone();
                        shared.runs.lock().expect("runs").insert(run_key(&run), run.clone());
                        push(UiItem::Run { run });
                    }
                    if let EventKind::MessageCreated(m) = &e.kind {
                        notifier.trigger(notify::message_trigger(&env, m, user.as_deref()));
                    }
                    push(UiItem::Event { env: env.clone(), event: e });
                }
                Err(RecvError::Lagged(n)) => {
                    // The session dropped events for this slow forwarder: say so in the log.
                    let note = RealtimeEvent::from_args("sockeye:lagged", vec![serde_json::json!({"dropped": n})], None);
                    push(UiItem::Event { env: env.clone(), event: Arc::new(note) });
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// Sends due batches to the window. Items wait in the bounded batcher when no window listens.
async fn pump(shared: Arc<Shared>) {
    loop {
        let deadline = shared.batcher.lock().expect("batcher").deadline();
        match deadline {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(d) => {}
                    _ = shared.wake.notified() => {}
                }
            }
            None => shared.wake.notified().await,
        }
        let sink = shared.sink.lock().expect("sink").clone();
        let Some(sink) = sink else { continue };
        let batch = shared.batcher.lock().expect("batcher").take_due(Instant::now());
        let Some(mut b) = batch else { continue };
        b.keep_last_by(|item| match item {
            UiItem::Run { run } => Some(run_key(run)),
            _ => None,
        });
        if send_frames(&sink, &b).is_err() {
            // The window went away (reload): forget the channel until it subscribes again.
            *shared.sink.lock().expect("sink") = None;
        }
    }
}
