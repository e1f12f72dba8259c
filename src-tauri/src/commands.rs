//! The page's commands (routed by name in `calls.rs`): one-line adapters over the
//! [`Manager`] and the core.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sockeye_core::diagnose::{self, DiagnoseOptions, Report};
use sockeye_core::event_log::LogQuery;
use sockeye_core::notify::NotifySettings;
use sockeye_core::profile_edit::{EditMode, ProfileEdit, edit_profile};
use sockeye_core::raven_api::ChannelInfo;
use sockeye_core::url_rules::normalize_base_url;
use sockeye_core::views::RunView;

use crate::app_state::{EnvView, Manager};
use crate::error::{AppError, Result};
use crate::pipeline::LogPageView;

type M<'a> = &'a Arc<Manager>;

/// What the page needs to know once: its bounds, the view state the last window left, and
/// whether benchmark marks are wanted.
#[derive(Debug, Serialize)]
pub struct AppInfo {
    pub bench: bool,
    pub kept_events: usize,
    /// The log's byte bound (names and payloads).
    pub kept_event_bytes: usize,
    pub kept_messages: usize,
    pub log_rows: usize,
    pub view_state: serde_json::Value,
    /// The config file could not be read: the parse error, naming the file and line.
    pub config_error: Option<String>,
}

pub async fn app_info(m: M<'_>) -> Result<AppInfo> {
    Ok(AppInfo {
        bench: std::env::var_os("SOCKEYE_UI_BENCH").is_some(),
        kept_events: m.pipe.log_cap(),
        kept_event_bytes: sockeye_core::event_log::KEEP_BYTES,
        kept_messages: crate::pipeline::KEEP_MESSAGES,
        log_rows: crate::pipeline::LOG_ROWS,
        view_state: m.pipe.view_state(),
        config_error: m.config_error.clone(),
    })
}

/// A mark from the page's benchmark instrumentation (`ui/bench.js`), printed on stdout as
/// `SOCKEYE_BENCH {json}` for the UI benchmark to read; nothing without `SOCKEYE_UI_BENCH`.
pub fn bench_mark(name: String, data: serde_json::Value) {
    crate::bench_mark(&name, data);
}

/// The page's view state (tab, channel, filters), kept for the next window.
pub fn set_view_state(m: M<'_>, state: serde_json::Value) {
    m.pipe.set_view_state(state);
}

/// Start the window's stream: what is kept is queued first; returns the window's number for
/// `next_batch`.
pub async fn subscribe(m: M<'_>) -> Result<u64> {
    Ok(m.pipe.subscribe())
}

/// The window's long poll: the batches queued for it, as a JSON array of frames, as soon as
/// there are any (`[]` after 20 s of nothing); `null` when `window` is no longer the current
/// one (the page stops polling).
pub async fn next_batch(m: M<'_>, window: u64) -> Result<Box<RawValue>> {
    let body = m.pipe.outbox.take(window, Duration::from_secs(20)).await;
    // The frames are JSON already: passed on as written.
    RawValue::from_string(body.unwrap_or_else(|| "null".into()))
        .map_err(|e| AppError::Invalid(format!("a batch that is not JSON: {e}")))
}

/// One run whole, as kept: the page asks when a run came without its steps and the steps it
/// holds are not the ones the run's fingerprint names (see `pipeline::pump`).
pub async fn run_view(m: M<'_>, env: String, id: String) -> Result<Option<Arc<RunView>>> {
    Ok(m.pipe.run(&env, &id))
}

/// The environment list once, at page load; changes are pushed as `sockeye://envs`.
pub async fn list_envs(m: M<'_>) -> Result<Vec<EnvView>> {
    Ok(m.views())
}

pub fn set_active(m: M<'_>, name: String) -> Result<()> {
    m.set_active(&name)
}

pub fn reconnect(m: M<'_>, name: String) -> Result<()> {
    m.session(&name)?.reconnect_now();
    Ok(())
}

/// The URL rules, for the form to apply as the user types.
pub fn normalize_url(input: String) -> Result<String> {
    Ok(normalize_base_url(&input)?.as_str().trim_end_matches('/').to_string())
}

/// Create or change an environment through the core's one edit function: fields the form
/// does not send are kept. `secret` (only when typed) goes to the keyring.
pub async fn save_env(
    m: M<'_>,
    name: String,
    edit: ProfileEdit,
    secret: Option<String>,
) -> Result<()> {
    let profile = m.with_config(|c| edit_profile(c, name.trim(), edit, EditMode::Upsert))?;
    if let Some(secret) = secret.filter(|s| !s.trim().is_empty()) {
        m.store_secret(&profile.name, secret.trim())?;
    }
    m.save_config()?;
    m.start_profile(profile).await
}

pub fn remove_env(m: M<'_>, name: String) -> Result<()> {
    m.stop(&name);
    if m.with_config(|c| c.remove(&name).is_ok()) {
        m.save_config()?;
        let _ =
            sockeye_core::secrets::SecretStore::delete(&sockeye_core::secrets::KeyringStore, &name);
    }
    Ok(())
}

/// Diagnose some environments (all when `names` is empty), in parallel.
pub async fn run_diagnostics(m: M<'_>, names: Vec<String>, deep: bool) -> Result<Vec<Report>> {
    let names = if names.is_empty() { m.names() } else { names };
    let prod = m.with_config(|c| c.settings.production_hosts.clone());
    let mut jobs = Vec::new();
    for n in names {
        let (profile, target) = m.target(&n)?;
        let opts = DiagnoseOptions {
            deployment: profile.deployment_type(&prod),
            hold: if deep { Duration::from_secs(10) } else { Duration::from_secs(1) },
            ..Default::default()
        };
        jobs.push(tokio::spawn(async move { diagnose::diagnose(&target, &opts).await }));
    }
    let mut out = Vec::new();
    for j in jobs {
        out.push(j.await.map_err(|e| AppError::Invalid(e.to_string()))?);
    }
    Ok(out)
}

/// Raven channels the environment's user can see (the picker asks when opened; `refresh`
/// from its refresh button).
pub async fn list_channels(m: M<'_>, name: String, refresh: bool) -> Result<Vec<ChannelInfo>> {
    m.channels(&name, refresh).await
}

/// Subscribe the environment to one more channel, now and after every reconnect.
pub fn watch_channel(m: M<'_>, name: String, channel: String) -> Result<()> {
    m.session(&name)?.subscribe(sockeye_core::session::Subscription::Channel(channel.clone()));
    let configured = m.with_config(|c| {
        let Some(p) = c.profiles.iter().find(|p| p.name == name) else { return false };
        let mut channels = p.subscriptions.channels.clone();
        if channels.contains(&channel) {
            return false;
        }
        channels.push(channel);
        edit_profile(
            c,
            &name,
            ProfileEdit { channels: Some(channels), ..Default::default() },
            EditMode::Change,
        )
        .is_ok()
    });
    if configured {
        m.save_config()?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub notifications: NotifySettings,
    pub autostart: bool,
    /// A recording the demo replays, looped (used when the demo starts).
    #[serde(default)]
    pub demo_recording: Option<String>,
    /// Size past which recordings rotate (`64M`).
    #[serde(default)]
    pub record_max_size: Option<String>,
}

pub fn settings_of(m: &Manager) -> Settings {
    let (notifications, demo_recording, record_max_size) = m.with_config(|c| {
        let s = &c.settings;
        (
            s.notifications.clone(),
            s.demo_recording.as_ref().map(|p| p.display().to_string()),
            s.record_max_size.clone(),
        )
    });
    Settings {
        notifications,
        autostart: crate::autostart::is_enabled(),
        demo_recording,
        record_max_size,
    }
}

pub fn get_settings(m: M<'_>) -> Settings {
    settings_of(m)
}

pub fn set_settings(m: M<'_>, settings: Settings) -> Result<()> {
    let size = settings.record_max_size.clone().filter(|s| !s.trim().is_empty());
    if let Some(s) = &size {
        sockeye_core::recording::parse_size(s).map_err(AppError::Invalid)?;
    }
    if let Some(p) = settings.demo_recording.as_deref().filter(|p| !p.trim().is_empty()) {
        sockeye_core::recording::Recording::open(std::path::Path::new(p.trim()), false)
            .map_err(|e| AppError::Invalid(format!("{p}: {e}")))?;
    }
    m.notifier.settings(settings.notifications.clone());
    m.with_config(|c| {
        c.settings.notifications = settings.notifications.clone();
        c.settings.demo_recording =
            settings.demo_recording.clone().filter(|p| !p.trim().is_empty()).map(Into::into);
        c.settings.record_max_size = size;
    });
    m.save_config()?;
    crate::autostart::set(settings.autostart)
        .map_err(|e| AppError::Invalid(format!("start at login: {e}")))?;
    m.window.emit("sockeye://settings", &settings_of(m));
    m.pipe.state_changed();
    Ok(())
}

/// Open a message's link in the system browser (http, https and mailto only).
pub fn open_link(url: String) -> Result<()> {
    if !sockeye_core::rich_text::is_safe_href(&url) {
        return Err(AppError::Invalid(format!("not an http(s) or mailto link: {url}")));
    }
    #[cfg(target_os = "linux")]
    let cmd = ("xdg-open", vec![url]);
    #[cfg(target_os = "macos")]
    let cmd = ("open", vec![url]);
    #[cfg(target_os = "windows")]
    let cmd = ("explorer", vec![url]);
    let mut child = std::process::Command::new(cmd.0).args(cmd.1).spawn()?;
    // Reap the opener when it exits (it hands the URL to the browser and returns).
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// The newest `limit` events of the app's log matching the log's filter and search.
pub async fn query_log(m: M<'_>, name: String, text: String, limit: usize) -> Result<LogPageView> {
    Ok(m.pipe.query_log(&LogQuery::new(&name, &text), limit.min(crate::pipeline::LOG_ROWS)))
}

/// Empty the app's event log; returns the number of the last event it held (older ones
/// still on their way to the page are not drawn).
pub fn clear_log(m: M<'_>) -> u64 {
    m.pipe.clear_log()
}

/// Where an export went.
#[derive(Debug, Serialize)]
pub struct Exported {
    pub path: String,
    pub lines: usize,
}

/// Write the app's event log as a recording (replayable, secrets redacted) to the download
/// directory.
pub async fn export_log(m: M<'_>) -> Result<Exported> {
    let pipe = m.pipe.clone();
    let redactor = sockeye_core::recording::Redactor::for_targets(&m.targets());
    let write = move || -> Result<Exported> {
        let path =
            download_path(&format!("sockeye-events-{}.jsonl", sockeye_core::events::now_ms()))?;
        let file = std::io::BufWriter::new(sockeye_core::private_file::create_owner_only(&path)?);
        let lines = pipe.export_log(&redactor, file)?;
        Ok(Exported { path: path.display().to_string(), lines })
    };
    tokio::task::spawn_blocking(write).await.map_err(|e| AppError::Invalid(e.to_string()))?
}

/// `name` in the user's download directory (created if missing; the temp dir without one).
pub fn download_path(name: &str) -> Result<std::path::PathBuf> {
    let dir = directories::UserDirs::new()
        .and_then(|d| d.download_dir().map(|p| p.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join(name))
}
