//! Sockeye, the tray app: a thin Tauri shell over `sockeye-core` (sessions, view models,
//! diagnostics, notification policy) and `sockeye-sim` (the embedded demo).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod app_state;
mod commands;
mod commands_link;
mod demo;
mod error;
mod notifier;
mod outbox;
mod pipeline;
mod recordings;
mod tray;
mod window;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sockeye_core::config_file::{self, Config};
use tauri::{AppHandle, Manager as _, RunEvent, WindowEvent};

use crate::app_state::Manager;
use crate::notifier::Notifier;
use crate::pipeline::Pipeline;

/// Start in the tray without building the window (autostart passes it).
const HIDDEN: &str = "--hidden";

/// Set once the shutdown path ran; the exit it requests is then let through.
static QUITTING: AtomicBool = AtomicBool::new(false);

/// The one shutdown path (tray Quit, SIGTERM, SIGINT): stop every session (sockets closed,
/// namespace DISCONNECT sent), then exit. Bounded: the process is gone within 2 s.
pub fn quit(app: AppHandle) {
    if QUITTING.swap(true, Ordering::SeqCst) {
        return;
    }
    tauri::async_runtime::spawn(async move {
        if let Some(m) = app.try_state::<Arc<Manager>>() {
            m.shutdown().await;
        }
        app.exit(0);
        // A stuck event loop must not keep a quitting process alive.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        std::process::exit(0);
    });
}

fn main() {
    sockeye_core::logging::init("warn,sockeye=info");
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| window::show(app)))
        // Started at login, the app goes straight to the tray: no webview until Show.
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![HIDDEN]),
        ))
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
            let pipe = Pipeline::new(Box::new(move || tray::refresh(&tray_handle)));
            if let Some(e) = &config_error {
                tracing::error!("{e}");
            }
            let m =
                Manager::new(handle.clone(), path, config.clone(), notifier, pipe, config_error);
            app.manage(m.clone());
            tray::create(&handle)?;
            spawn_signal_handler(handle.clone());
            if !std::env::args().skip(1).any(|a| a == HIDDEN) {
                window::show(&handle);
            }
            let profiles = config.profiles.clone();
            tauri::async_runtime::spawn(async move {
                let mut started = 0;
                for p in profiles {
                    let name = p.name.clone();
                    match m.start_profile(p).await {
                        Ok(()) => started += 1,
                        Err(e) => tracing::error!("environment {name}: {e}"),
                    }
                }
                if (started == 0 || std::env::var_os("SOCKEYE_DEMO").is_some())
                    && let Err(e) = demo::start(&m).await
                {
                    tracing::error!("demo: {e}");
                }
                m.changed();
            });
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::Destroyed = event {
                window::destroyed(window.app_handle());
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::subscribe,
            commands::next_batch,
            commands::run_view,
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
            commands::open_link,
            commands::export_log,
            commands::query_log,
            commands::clear_log,
            commands::set_view_state,
            commands::bench_mark,
            commands_link::record_start,
            commands_link::record_stop,
            commands_link::recordings,
            commands_link::check_emit_args,
            commands_link::emit,
            commands_link::emit_history,
        ])
        .build(tauri::generate_context!())
        .expect("Sockeye failed to start");
    app.run(|app, event| {
        // Closing the last window destroys its webview but keeps Sockeye in the tray; only
        // the shutdown path exits.
        if let RunEvent::ExitRequested { api, code, .. } = event
            && code.is_none()
            && !QUITTING.load(Ordering::SeqCst)
        {
            api.prevent_exit();
            let _ = app;
        }
    });
}

/// With `SOCKEYE_UI_BENCH` set, print a benchmark mark (wall-clock ms) on stdout.
pub fn bench_mark(name: &str, data: serde_json::Value) {
    if std::env::var_os("SOCKEYE_UI_BENCH").is_some() {
        let at_ms = sockeye_core::events::now_ms();
        println!(
            "SOCKEYE_BENCH {}",
            serde_json::json!({ "mark": name, "at_ms": at_ms, "data": data })
        );
    }
}

/// SIGTERM and SIGINT take the same path as Quit.
fn spawn_signal_handler(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) =
                (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
            else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        quit(app);
    });
}
