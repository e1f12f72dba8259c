//! The app's state and its one owner: [`Manager`] holds the config, the running
//! environments and the active one under ONE lock ([`Manager::inner`]).
//!
//! Lock order (a lock may only be taken while holding locks above it):
//! 1. `Manager::inner` — never held across an `.await`, never while sending to the window
//!    process or the tray, or calling the pipeline's `on_state` callback;
//! 2. `Pipeline::kept`, then `Pipeline::batcher`, then the outbox's (see `pipeline.rs`).
//!
//! The window link's lock (`window.rs`) is a leaf: nothing else is taken under it.
//!
//! Everything a shell shows is derived from here and pushed (page events for the environment
//! list and settings, through the window process's link; states, runs, messages and events
//! through the pipeline's outbox, which the page's long poll waits on); the page never polls
//! on a timer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use sockeye_core::config_file::Config;
use sockeye_core::raven_api::{ChannelCache, ChannelInfo};
use sockeye_core::secrets::{KeyringStore, SecretStore};
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::session_rest::{self, RestAuth};
use sockeye_core::target::{self, Target};
use sockeye_core::views::LinkView;
use sockeye_core::{AuthMethod, Profile};

use crate::error::{AppError, Result};
use crate::notifier::Notifier;
use crate::pipeline::{self, Pipeline};
use crate::window::WindowHost;

/// An environment as the page and the tray list it. Never carries a secret. Every profile
/// field is here so the form shows (and sends back) what the CLI set.
#[derive(Debug, Clone, Serialize)]
pub struct EnvView {
    pub profile: Profile,
    pub deployment: String,
    pub demo: bool,
    pub active: bool,
    pub link: Option<LinkView>,
}

struct Env {
    profile: Profile,
    session: Session,
    rest: RestAuth,
    target: Target,
    forwarder: tokio::task::JoinHandle<()>,
    demo: bool,
}

/// Everything under the one lock.
struct Inner {
    config: Config,
    envs: BTreeMap<String, Env>,
    active: Option<String>,
    demo_sim: Option<sockeye_sim::Sim>,
}

pub struct Manager {
    /// The window process, when one runs (page events go to it).
    pub window: Arc<WindowHost>,
    config_path: PathBuf,
    inner: Mutex<Inner>,
    pub pipe: Arc<Pipeline>,
    pub notifier: Notifier,
    channels: ChannelCache,
    /// The emit panel's history and production confirmations (its own lock, never held
    /// with `inner`).
    pub emit_desk: Mutex<sockeye_core::emit::EmitDesk>,
    /// Why the config file could not be read at start (the app then runs on the demo, and
    /// saving is refused until the file is fixed); shown in the window.
    pub config_error: Option<String>,
}

impl Manager {
    pub fn new(
        window: Arc<WindowHost>,
        config_path: PathBuf,
        config: Config,
        notifier: Notifier,
        pipe: Arc<Pipeline>,
        config_error: Option<String>,
    ) -> Arc<Manager> {
        let active = config.settings.active.clone();
        Arc::new(Manager {
            window,
            config_path,
            inner: Mutex::new(Inner { config, envs: BTreeMap::new(), active, demo_sim: None }),
            pipe,
            notifier,
            channels: ChannelCache::default(),
            emit_desk: Mutex::default(),
            config_error,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("app state")
    }

    /// Push the environment list to the page and redraw the tray. Call with no lock held.
    pub fn changed(&self) {
        self.window.emit("sockeye://envs", &self.views());
        self.pipe.state_changed();
    }

    /// Start watching `profile` (replacing a session of the same name).
    pub fn start(&self, profile: Profile, target: Target, demo: bool) {
        let name = profile.name.clone();
        let mut options = SessionOptions::for_profile(&profile);
        // Cursors of the Raven messages seen survive restarts beside the config, so the time
        // the app was closed is backfilled too (bounded by the profile's startup window). The
        // demo's simulator starts empty every time: nothing to remember.
        options.backfill.state_file = (!demo)
            .then(|| sockeye_core::backfill::store::path_for(&self.config_path, &target.name));
        // Sends (subscriptions, the emit panel's) appear in the log as outgoing and go into
        // a recording.
        options.echo_sent = true;
        let session = Session::spawn(target.clone(), options);
        let rest = session_rest::for_session(&session);
        let forwarder = tokio::spawn(pipeline::forward(
            name.clone(),
            session.clone(),
            self.pipe.clone(),
            self.notifier.clone(),
        ));
        let old = {
            let mut inner = self.lock();
            let old = inner
                .envs
                .insert(name.clone(), Env { profile, session, rest, target, forwarder, demo });
            // Keep an active environment that runs or is configured (it may start later).
            let keep = inner
                .active
                .as_ref()
                .is_some_and(|a| inner.envs.contains_key(a) || inner.config.get(a).is_ok());
            if !keep {
                inner.active = Some(name.clone());
            }
            old
        };
        self.channels.forget(&name);
        if let Some(old) = old {
            retire(old);
        }
        self.changed();
    }

    /// Stop an environment's session (the socket is closed in the background).
    pub fn stop(&self, name: &str) {
        let old = {
            let mut inner = self.lock();
            let old = inner.envs.remove(name);
            if inner.active.as_deref() == Some(name) {
                inner.active = inner.envs.keys().next().cloned();
            }
            old
        };
        if let Some(old) = old {
            retire(old);
        }
        self.pipe.forget(name);
        self.channels.forget(name);
        self.changed();
    }

    pub async fn start_profile(&self, profile: Profile) -> Result<()> {
        let target = target::resolve(&profile, &KeyringStore).await?;
        self.start(profile, target, false);
        Ok(())
    }

    pub fn names(&self) -> Vec<String> {
        self.lock().envs.keys().cloned().collect()
    }

    pub fn active(&self) -> Option<String> {
        self.lock().active.clone()
    }

    pub fn session(&self, name: &str) -> Result<Session> {
        self.lock()
            .envs
            .get(name)
            .map(|e| e.session.clone())
            .ok_or_else(|| AppError::UnknownEnv(name.into()))
    }

    pub fn target(&self, name: &str) -> Result<(Profile, Target)> {
        self.lock()
            .envs
            .get(name)
            .map(|e| (e.profile.clone(), e.target.clone()))
            .ok_or_else(|| AppError::UnknownEnv(name.into()))
    }

    /// Every running environment's target (an export redacts all their secrets).
    pub fn targets(&self) -> Vec<Target> {
        self.lock().envs.values().map(|e| e.target.clone()).collect()
    }

    /// Whether `name` is a production environment (emitting asks first).
    pub fn is_production(&self, name: &str) -> Result<bool> {
        let inner = self.lock();
        let e = inner.envs.get(name).ok_or_else(|| AppError::UnknownEnv(name.into()))?;
        let prod = &inner.config.settings.production_hosts;
        Ok(e.profile.deployment_type(prod) == sockeye_core::url_rules::DeploymentType::VpsProd)
    }

    pub fn set_active(&self, name: &str) -> Result<()> {
        {
            let mut inner = self.lock();
            if !inner.envs.contains_key(name) {
                return Err(AppError::UnknownEnv(name.into()));
            }
            inner.active = Some(name.into());
        }
        self.save_config()?;
        self.changed();
        Ok(())
    }

    pub fn views(&self) -> Vec<EnvView> {
        let links = self.pipe.links();
        let inner = self.lock();
        let prod = &inner.config.settings.production_hosts;
        inner
            .envs
            .values()
            .map(|e| EnvView {
                profile: e.profile.clone(),
                deployment: e.profile.deployment_type(prod).as_str().into(),
                demo: e.demo,
                active: inner.active.as_deref() == Some(&e.profile.name),
                link: links.get(&e.profile.name).cloned(),
            })
            .collect()
    }

    /// Read or change the config under the lock (not saved; see [`Manager::save_config`]).
    pub fn with_config<T>(&self, f: impl FnOnce(&mut Config) -> T) -> T {
        f(&mut self.lock().config)
    }

    pub fn save_config(&self) -> Result<()> {
        let mut inner = self.lock();
        let active =
            inner.active.clone().filter(|a| inner.config.profiles.iter().any(|p| &p.name == a));
        inner.config.settings.active = active;
        inner.config.save(&self.config_path)?;
        Ok(())
    }

    pub fn store_secret(&self, profile: &str, secret: &str) -> Result<()> {
        KeyringStore.set(profile, &sockeye_core::secrets::Secret::new(secret))?;
        Ok(())
    }

    pub fn set_demo_sim(&self, sim: sockeye_sim::Sim) {
        self.lock().demo_sim = Some(sim);
    }

    /// The channel list of an environment, from the cache unless `refresh`; fetched with the
    /// session's own login (never a login of its own).
    pub async fn channels(&self, name: &str, refresh: bool) -> Result<Vec<ChannelInfo>> {
        let (session, rest, target, login) = {
            let inner = self.lock();
            let e = inner.envs.get(name).ok_or_else(|| AppError::UnknownEnv(name.into()))?;
            (
                e.session.clone(),
                e.rest.clone(),
                e.target.clone(),
                matches!(e.profile.auth, AuthMethod::Login { .. }),
            )
        };
        let http = sockeye_core::auth::http_client_for(
            &[&target.base_url],
            &target.tls,
            &target.proxy,
            Duration::from_secs(5),
        );
        let r = self.channels.get(name, refresh, &http, &target.base_url, &session, &rest).await;
        r.map_err(|e| {
            AppError::Invalid(if login {
                format!("{e} (channels are listed with the session's login)")
            } else {
                e.to_string()
            })
        })
    }

    /// The one shutdown path (Quit, SIGTERM): every session is stopped — namespace
    /// DISCONNECT sent, socket closed — in parallel, bounded so the app exits within 2 s.
    pub async fn shutdown(&self) {
        let (envs, sim) = {
            let mut inner = self.lock();
            (std::mem::take(&mut inner.envs), inner.demo_sim.take())
        };
        let stops = envs.into_values().map(|e| async move {
            e.forwarder.abort();
            e.session.stop().await;
        });
        if tokio::time::timeout(Duration::from_millis(1500), futures_util::future::join_all(stops))
            .await
            .is_err()
        {
            tracing::warn!("some sessions did not close within 1.5 s; exiting anyway");
        }
        drop(sim);
    }
}

/// Stop a replaced or removed environment in the background.
fn retire(env: Env) {
    env.forwarder.abort();
    tokio::spawn(async move { env.session.stop().await });
}
