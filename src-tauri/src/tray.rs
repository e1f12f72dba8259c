//! The tray icon: aggregate state at a glance, and a menu to switch, reconnect, diagnose,
//! mute, show and quit. Linux shows no tooltips, so the state is also in the title.

use std::sync::Arc;

use sockeye_core::state::LinkState;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager as _};

use crate::manager::{EnvView, Manager};

const TRAY_ID: &str = "sockeye";

/// The aggregate state, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Aggregate {
    Connected,
    Muted,
    Connecting,
    Degraded,
    Down,
}

pub fn aggregate(envs: &[EnvView], muted: bool) -> Aggregate {
    let worst = envs
        .iter()
        .map(|e| match &e.state.state {
            LinkState::Connected { .. } => Aggregate::Connected,
            LinkState::Idle | LinkState::Connecting { .. } | LinkState::Authenticating { .. } => Aggregate::Connecting,
            LinkState::Degraded { .. } => Aggregate::Degraded,
            LinkState::Reconnecting { .. } | LinkState::AuthFailed { .. } | LinkState::Stopped { .. } => Aggregate::Down,
        })
        .max()
        .unwrap_or(Aggregate::Connecting);
    if muted && worst == Aggregate::Connected { Aggregate::Muted } else { worst }
}

fn icon(a: Aggregate) -> Image<'static> {
    let bytes: &'static [u8] = match a {
        Aggregate::Connected => include_bytes!("../../icons/tray-connected.png"),
        Aggregate::Connecting => include_bytes!("../../icons/tray-connecting.png"),
        Aggregate::Degraded => include_bytes!("../../icons/tray-degraded.png"),
        Aggregate::Down => include_bytes!("../../icons/tray-down.png"),
        Aggregate::Muted => include_bytes!("../../icons/tray-muted.png"),
    };
    Image::from_bytes(bytes).expect("bundled PNG")
}

fn short(s: &LinkState) -> String {
    match s {
        LinkState::Connected { transport, rtt_ms, .. } => format!("connected ({transport}{})", rtt_ms.map(|r| format!(", {r} ms")).unwrap_or_default()),
        other => other.name().replace('_', " "),
    }
}

fn menu(app: &AppHandle, envs: &[EnvView], muted: bool) -> tauri::Result<Menu<tauri::Wry>> {
    let menu = Menu::new(app)?;
    for e in envs {
        let mark = if e.active { "● " } else { "   " };
        menu.append(&MenuItem::with_id(app, format!("env:{}", e.name), format!("{mark}{} — {}", e.name, short(&e.state.state)), true, None::<&str>)?)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(app, "reconnect", "Reconnect now", true, None::<&str>)?)?;
    menu.append(&MenuItem::with_id(app, "diagnose", "Run diagnostics", true, None::<&str>)?)?;
    menu.append(&CheckMenuItem::with_id(app, "mute", "Mute notifications", true, muted, None::<&str>)?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(app, "show", "Show window", true, None::<&str>)?)?;
    menu.append(&MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?)?;
    Ok(menu)
}

pub fn show_window(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

fn on_menu(app: &AppHandle, id: &str) {
    let Some(m) = app.try_state::<Arc<Manager>>() else { return };
    let active = m.active.lock().expect("active").clone();
    match id {
        "reconnect" => {
            if let Some(a) = active
                && let Ok(s) = m.session(&a)
            {
                s.reconnect_now();
            }
        }
        "diagnose" => {
            show_window(app);
            let _ = app.emit("sockeye://navigate", "diagnostics");
        }
        "mute" => {
            let settings = {
                let mut c = m.config.lock().expect("config");
                c.settings.notifications.muted = !c.settings.notifications.muted;
                c.settings.notifications.clone()
            };
            m.notifier.settings(settings);
            let _ = m.save_config();
            refresh(app);
        }
        "show" => show_window(app),
        "quit" => app.exit(0),
        other => {
            if let Some(name) = other.strip_prefix("env:") {
                *m.active.lock().expect("active") = Some(name.to_string());
                let _ = m.save_config();
                let _ = app.emit("sockeye://active", name);
                refresh(app);
            }
        }
    }
}

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(Aggregate::Connecting))
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
    let muted = m.config.lock().expect("config").settings.notifications.muted;
    let a = aggregate(&envs, muted);
    let title = envs.iter().find(|e| e.active).map(|e| format!("{}: {}", e.name, short(&e.state.state))).unwrap_or_else(|| "Sockeye".into());
    let app2 = app.clone();
    // Tray calls must run on the main thread.
    let _ = app.run_on_main_thread(move || {
        if let Some(tray) = app2.tray_by_id(TRAY_ID) {
            let _ = tray.set_icon(Some(icon(a)));
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
