//! The tray icon: aggregate state at a glance, and a menu to switch, reconnect, diagnose,
//! mute, show and quit. Linux shows no tooltips, so the state is also in the title. Labels
//! and tones come from the core's view models.

use std::sync::Arc;

use sockeye_core::views::{self, Tone};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager as _};

use crate::app_state::{EnvView, Manager};
use crate::window;

const TRAY_ID: &str = "sockeye";

fn icon(t: Tone) -> Image<'static> {
    let bytes: &'static [u8] = match t {
        Tone::Ok => include_bytes!("../../icons/tray-connected.png"),
        Tone::Busy => include_bytes!("../../icons/tray-connecting.png"),
        Tone::Degraded => include_bytes!("../../icons/tray-degraded.png"),
        Tone::Down => include_bytes!("../../icons/tray-down.png"),
        Tone::Muted => include_bytes!("../../icons/tray-muted.png"),
    };
    Image::from_bytes(bytes).expect("bundled PNG")
}

fn line(e: &EnvView) -> String {
    e.link.as_ref().map(|l| l.short()).unwrap_or_else(|| "starting".into())
}

fn menu(app: &AppHandle, envs: &[EnvView], muted: bool) -> tauri::Result<Menu<tauri::Wry>> {
    let menu = Menu::new(app)?;
    for e in envs {
        let mark = if e.active { "● " } else { "   " };
        menu.append(&MenuItem::with_id(
            app,
            format!("env:{}", e.profile.name),
            format!("{mark}{} — {}", e.profile.name, line(e)),
            true,
            None::<&str>,
        )?)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(app, "reconnect", "Reconnect now", true, None::<&str>)?)?;
    menu.append(&MenuItem::with_id(app, "diagnose", "Run diagnostics", true, None::<&str>)?)?;
    menu.append(&CheckMenuItem::with_id(
        app,
        "mute",
        "Mute notifications",
        true,
        muted,
        None::<&str>,
    )?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(app, "show", "Show window", true, None::<&str>)?)?;
    menu.append(&MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?)?;
    Ok(menu)
}

fn on_menu(app: &AppHandle, id: &str) {
    let Some(m) = app.try_state::<Arc<Manager>>() else { return };
    match id {
        "reconnect" => {
            if let Some(a) = m.active()
                && let Ok(s) = m.session(&a)
            {
                s.reconnect_now();
            }
        }
        "diagnose" => {
            window::show(app);
            let _ = app.emit("sockeye://navigate", "diagnostics");
        }
        "mute" => {
            let settings = m.with_config(|c| {
                c.settings.notifications.muted = !c.settings.notifications.muted;
                c.settings.notifications.clone()
            });
            m.notifier.settings(settings);
            // Muting works for this run either way; only keeping it for the next can fail
            // (a config file that does not read is never overwritten).
            if let Err(e) = m.save_config() {
                tracing::warn!("mute is not kept for the next start: {e:#}");
            }
            let _ = app.emit("sockeye://settings", crate::commands::settings_of(app, &m));
            refresh(app);
        }
        "show" => window::show(app),
        "quit" => crate::quit(app.clone()),
        other => {
            if let Some(name) = other.strip_prefix("env:") {
                let _ = m.set_active(name);
            }
        }
    }
}

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(Tone::Busy))
        .menu(&menu(app, &[], false)?)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()))
        .build(app)?;
    Ok(())
}

/// Redraw icon, title, tooltip and menu from the current states.
pub fn refresh(app: &AppHandle) {
    let Some(m) = app.try_state::<Arc<Manager>>() else { return };
    let envs = m.views();
    let muted = m.with_config(|c| c.settings.notifications.muted);
    let tone = views::aggregate(envs.iter().filter_map(|e| e.link.as_ref()), muted);
    let title = envs
        .iter()
        .find(|e| e.active)
        .map(|e| format!("{}: {}", e.profile.name, line(e)))
        .unwrap_or_else(|| "Sockeye".into());
    let app2 = app.clone();
    // Tray calls must run on the main thread.
    let _ = app.run_on_main_thread(move || {
        if let Some(tray) = app2.tray_by_id(TRAY_ID) {
            let _ = tray.set_icon(Some(icon(tone)));
            let _ = tray.set_tooltip(Some(format!("Sockeye — {title}")));
            let _ = tray.set_title(Some(title.clone()));
            if let Ok(menu) = menu(&app2, &envs, muted) {
                let _ = tray.set_menu(Some(menu));
            }
        }
        if let Some(w) = app2.get_webview_window("main") {
            let _ = w.set_title(&format!("Sockeye — {title}"));
        }
    });
}
