//! The Tauri commands: thin wrappers over the manager and the core.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sockeye_core::diagnose::{self, DiagnoseOptions, Report};
use sockeye_core::notify::NotifySettings;
use sockeye_core::profile::{AuthMethod, Profile};
use sockeye_core::url_rules::normalize_base_url;
use sockeye_core::batch::Batch;
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use crate::error::{AppError, Result};
use crate::manager::{EnvView, Manager, UiItem, send_frames};

type M<'a> = State<'a, Arc<Manager>>;

/// Start streaming batches to the window; sends the current states and runs first.
#[tauri::command]
pub fn subscribe(m: M<'_>, on_batch: Channel<InvokeResponseBody>) -> Result<()> {
    let mut items: Vec<UiItem> = m.shared.states.lock().expect("states").iter().map(|(env, s)| UiItem::State { env: env.clone(), snapshot: s.clone() }).collect();
    items.extend(m.shared.runs.lock().expect("runs").values().map(|r| UiItem::Run { run: r.clone() }));
    send_frames(&on_batch, &Batch { items, dropped: 0 }).map_err(|e| AppError::Invalid(e.to_string()))?;
    *m.shared.sink.lock().expect("sink") = Some(on_batch);
    m.shared.wake.notify_one();
    Ok(())
}

#[tauri::command]
pub fn list_envs(m: M<'_>) -> Vec<EnvView> {
    m.views()
}

#[tauri::command]
pub fn set_active(m: M<'_>, name: String) -> Result<()> {
    m.session(&name)?;
    *m.active.lock().expect("active") = Some(name);
    (m.shared.on_state)();
    let _ = m.save_config();
    Ok(())
}

#[tauri::command]
pub fn reconnect(m: M<'_>, name: String) -> Result<()> {
    m.session(&name)?.reconnect_now();
    Ok(())
}

/// The URL rules, for the form to apply as the user types.
#[tauri::command]
pub fn normalize_url(input: String) -> Result<String> {
    Ok(normalize_base_url(&input)?.as_str().trim_end_matches('/').to_string())
}

/// The environment form. `secret` is only sent when the user typed one; it goes to the keyring.
#[derive(Debug, Deserialize)]
pub struct EnvForm {
    pub name: String,
    pub url: String,
    pub site: Option<String>,
    pub socket_port: Option<u16>,
    pub auth: String,
    pub user: Option<String>,
    pub key: Option<String>,
    #[serde(default)]
    pub channels: Vec<String>,
    pub verify_tls: bool,
    pub secret: Option<String>,
}

fn blank(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

#[tauri::command]
pub async fn save_env(m: M<'_>, form: EnvForm) -> Result<Vec<EnvView>> {
    let auth = match form.auth.as_str() {
        "none" => AuthMethod::None,
        "login" => AuthMethod::Login { user: blank(form.user).ok_or_else(|| AppError::Invalid("a login needs a user".into()))? },
        "sid" => AuthMethod::Sid,
        "api_token" => AuthMethod::ApiToken { key: blank(form.key).ok_or_else(|| AppError::Invalid("an API token needs its key".into()))? },
        "bearer" => AuthMethod::Bearer,
        "jwt" => AuthMethod::Jwt,
        other => return Err(AppError::Invalid(format!("unknown auth method {other:?}"))),
    };
    let mut p = Profile::new(form.name.trim(), &form.url, auth)?;
    p.site = blank(form.site);
    p.socket_port = form.socket_port;
    p.verify_tls = form.verify_tls;
    p.subscriptions.channels = form.channels.into_iter().map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
    if let Some(secret) = blank(form.secret) {
        m.store_secret(&p.name, &secret)?;
    }
    {
        let mut c = m.config.lock().expect("config");
        c.upsert(p.clone())?;
    }
    m.save_config()?;
    m.start_profile(p).await?;
    Ok(m.views())
}

#[tauri::command]
pub fn remove_env(m: M<'_>, name: String) -> Result<Vec<EnvView>> {
    m.stop(&name);
    let removed = m.config.lock().expect("config").remove(&name).is_ok();
    if removed {
        m.save_config()?;
        let _ = sockeye_core::secrets::SecretStore::delete(&sockeye_core::secrets::KeyringStore, &name);
    }
    let names = m.names();
    let mut active = m.active.lock().expect("active");
    if active.as_deref() == Some(name.as_str()) {
        *active = names.first().cloned();
    }
    drop(active);
    (m.shared.on_state)();
    Ok(m.views())
}

/// Diagnose some environments (all when `names` is empty), in parallel.
#[tauri::command]
pub async fn run_diagnostics(m: M<'_>, names: Vec<String>, deep: bool) -> Result<Vec<Report>> {
    let names = if names.is_empty() { m.names() } else { names };
    let prod = m.config.lock().expect("config").settings.production_hosts.clone();
    let mut jobs = Vec::new();
    for n in names {
        let (profile, target) = m.target(&n)?;
        let opts = DiagnoseOptions { deployment: profile.deployment_type(&prod), hold: if deep { Duration::from_secs(10) } else { Duration::from_secs(1) }, ..Default::default() };
        jobs.push(tauri::async_runtime::spawn(async move { diagnose::diagnose(&target, &opts).await }));
    }
    let mut out = Vec::new();
    for j in jobs {
        out.push(j.await.map_err(|e| AppError::Invalid(e.to_string()))?);
    }
    Ok(out)
}

#[derive(Debug, Serialize)]
pub struct ChannelInfo {
    pub id: String,
    pub label: String,
}

/// Raven channels the environment's user can see (for the channel picker).
#[tauri::command]
pub async fn list_channels(m: M<'_>, name: String) -> Result<Vec<ChannelInfo>> {
    let (target, headers) = m.rest_headers(&name).await?;
    let http = sockeye_core::auth::http_client(!target.verify_tls, Duration::from_secs(5));
    let mut url = target.base_url.clone();
    url.set_path("/api/method/raven.api.raven_channel.get_all_channels");
    let mut req = http.get(url);
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.send().await.map_err(|e| AppError::Invalid(format!("channel list: {e}")))?;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.map_err(|e| AppError::Invalid(format!("channel list: HTTP {status}: {e}")))?;
    let list = body.pointer("/message/channels").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    Ok(list
        .iter()
        .filter_map(|c| {
            let id = c.get("name")?.as_str()?.to_string();
            let label = c.get("channel_name").and_then(|v| v.as_str()).unwrap_or(&id).to_string();
            Some(ChannelInfo { id, label })
        })
        .collect())
}

/// Subscribe the environment to one more channel, now and after every reconnect.
#[tauri::command]
pub fn watch_channel(m: M<'_>, name: String, channel: String) -> Result<()> {
    m.session(&name)?.subscribe(sockeye_core::session::Subscription::Channel(channel.clone()));
    let mut c = m.config.lock().expect("config");
    if let Some(p) = c.profiles.iter_mut().find(|p| p.name == name)
        && !p.subscriptions.channels.contains(&channel)
    {
        p.subscriptions.channels.push(channel);
        drop(c);
        m.save_config()?;
    }
    Ok(())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Settings {
    pub notifications: NotifySettings,
    pub autostart: bool,
}

#[tauri::command]
pub fn get_settings(app: AppHandle, m: M<'_>) -> Settings {
    Settings { notifications: m.config.lock().expect("config").settings.notifications.clone(), autostart: app.autolaunch().is_enabled().unwrap_or(false) }
}

#[tauri::command]
pub fn set_settings(app: AppHandle, m: M<'_>, settings: Settings) -> Result<()> {
    m.notifier.settings(settings.notifications.clone());
    m.config.lock().expect("config").settings.notifications = settings.notifications;
    m.save_config()?;
    let auto = app.autolaunch();
    let r = if settings.autostart { auto.enable() } else { auto.disable() };
    r.map_err(|e| AppError::Invalid(format!("start at login: {e}")))?;
    (m.shared.on_state)();
    Ok(())
}

/// Write the event log (JSON lines built by the window) to the download directory.
#[tauri::command]
pub fn export_log(jsonl: String) -> Result<String> {
    let dir = directories::UserDirs::new().and_then(|d| d.download_dir().map(|p| p.to_path_buf())).or_else(|| std::env::temp_dir().into()).ok_or_else(|| AppError::Invalid("no download directory".into()))?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("sockeye-events-{}.jsonl", sockeye_core::events::now_ms()));
    std::fs::write(&path, jsonl)?;
    Ok(path.display().to_string())
}
