//! Sockeye, the tray app: a thin Tauri shell over `sockeye-core` (sessions, diagnostics,
//! notification policy) and `sockeye-sim` (the embedded demo).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod demo;
mod error;
mod manager;
mod notifier;
mod tray;

use std::sync::Arc;

use sockeye_core::config_file::{self, Config};
use tauri::{Manager as _, WindowEvent};

use crate::manager::Manager;
use crate::notifier::Notifier;

fn main() {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SOCKEYE_LOG").unwrap_or_else(|_| "warn,sockeye=info".into())).init();
    tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| tray::show_window(app)))
        .plugin(tauri_plugin_autostart::init(tauri_plugin_autostart::MacosLauncher::LaunchAgent, None))
        .setup(|app| {
            let handle = app.handle().clone();
            let path = config_file::default_path()?;
            // A config that does not parse is kept as is; the app runs on the demo and says why.
            let (config, config_error) = match Config::load(&path) {
                Ok(c) => (c, None),
                Err(e) => (Config::default(), Some(e.to_string())),
            };
            let notifier = Notifier::spawn(config.settings.notifications.clone());
            let tray_handle = handle.clone();
            let m = Manager::new(path, config.clone(), notifier, Box::new(move || tray::refresh(&tray_handle)));
            app.manage(m.clone());
            tray::create(&handle)?;
            if let Some(e) = config_error {
                tracing::error!("{e}");
            }
            let profiles = config.profiles.clone();
            let mm: Arc<Manager> = m.clone();
            tauri::async_runtime::spawn(async move {
                let mut started = 0;
                for p in profiles {
                    let name = p.name.clone();
                    match mm.start_profile(p).await {
                        Ok(()) => started += 1,
                        Err(e) => tracing::error!("environment {name}: {e}"),
                    }
                }
                if (started == 0 || std::env::var_os("SOCKEYE_DEMO").is_some())
                    && let Err(e) = demo::start(&mm).await
                {
                    tracing::error!("demo: {e}");
                }
                (mm.shared.on_state)();
            });
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps Sockeye in the tray.
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::subscribe,
            commands::list_envs,
            commands::set_active,
            commands::reconnect,
            commands::normalize_url,
            commands::save_env,
            commands::remove_env,
            commands::run_diagnostics,
            commands::list_channels,
            commands::watch_channel,
            commands::get_settings,
            commands::set_settings,
            commands::export_log,
        ])
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("Sockeye failed to start");
}
