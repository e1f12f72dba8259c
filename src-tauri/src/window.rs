//! The window is only a view: closing it destroys the webview (and its WebKit processes) and
//! the app stays in the tray; Show builds it again from the config, and the page restores
//! itself from what Rust kept (see `pipeline.rs`).

use std::sync::Arc;

use tauri::{AppHandle, Manager as _, WebviewWindowBuilder};

use crate::app_state::Manager;

pub const MAIN: &str = "main";

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
    match WebviewWindowBuilder::from_config(app, &config).and_then(|b| b.build()) {
        Ok(w) => {
            let _ = w.set_focus();
        }
        Err(e) => tracing::error!("the window could not be built: {e}"),
    }
}

/// The window is gone: stop sending to it.
pub fn destroyed(app: &AppHandle) {
    if let Some(m) = app.try_state::<Arc<Manager>>() {
        m.pipe.detach();
    }
}
