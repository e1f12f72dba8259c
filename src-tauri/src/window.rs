//! The window is only a view: closing it destroys the webview (its WebKit web process exits
//! with it) and the app stays in the tray; Show builds it again from the config, and the page
//! restores itself from what Rust kept (see `pipeline.rs`), view state included.

use std::sync::Arc;
use std::time::Duration;

use tauri::{AppHandle, Manager as _, WebviewWindowBuilder};

use crate::app_state::Manager;

pub const MAIN: &str = "main";

/// How long after the window is gone the idle WebKit helpers are ended; a Show within it
/// reuses them.
const IDLE_AFTER_CLOSE: Duration = Duration::from_secs(2);

/// Show the window, building it if it was closed.
pub fn show(app: &AppHandle) {
    if let Some(w) = app.get_webview_window(MAIN) {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
        return;
    }
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == MAIN).cloned() else {
        return;
    };
    crate::bench_mark("show", serde_json::Value::Null);
    match WebviewWindowBuilder::from_config(app, &config).and_then(|b| b.build()) {
        Ok(w) => {
            let _ = w.set_focus();
            // The title carries the state (the tray sets it on every change).
            crate::tray::refresh(app);
        }
        Err(e) => tracing::error!("the window could not be built: {e}"),
    }
}

/// The window is gone: stop sending to it, and once it stays gone, give back what only a
/// window needed.
pub fn destroyed(app: &AppHandle) {
    if let Some(m) = app.try_state::<Arc<Manager>>() {
        m.pipe.detach();
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(IDLE_AFTER_CLOSE).await;
        // Under WebDriver (tauri-driver sets this) the automation session lives in that
        // process, and ending it ends the session.
        let automated = std::env::var("TAURI_WEBVIEW_AUTOMATION").as_deref() == Ok("true");
        if app.get_webview_window(MAIN).is_none() && !automated {
            release_idle_memory();
        }
    });
}

/// WebKitGTK keeps its network process for as long as the app runs (Tauri keeps the web
/// context alive on Linux so a new window reuses it, tauri#14626): ~30 MB PSS for a window
/// that no longer exists. With no window left it is ended; WebKit starts a new one when the
/// next window loads. (`kill(1)` rather than a libc call: the workspace forbids `unsafe`.)
#[cfg(target_os = "linux")]
fn release_idle_memory() {
    for pid in child_pids(std::process::id(), "WebKitNetworkPr") {
        let ended = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        if let Err(e) = ended {
            tracing::warn!("could not end WebKit's idle network process {pid}: {e}");
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn release_idle_memory() {}

/// Children of `parent` whose command name (as the kernel truncates it) starts with `comm`.
#[cfg(target_os = "linux")]
fn child_pids(parent: u32, comm: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|d| d.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // "pid (comm) state ppid …": the name may hold spaces and parentheses.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                return false;
            };
            let ppid = stat[close + 1..].split_whitespace().nth(1).and_then(|p| p.parse().ok());
            ppid == Some(parent) && stat[open + 1..close].starts_with(comm)
        })
        .collect()
}
