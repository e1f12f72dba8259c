//! Start at login: an XDG autostart entry (`~/.config/autostart/sockeye.desktop`, the same
//! file the app wrote before it had a tray process of its own) that starts `sockeye --hidden`,
//! straight to the tray.

use auto_launch::{AutoLaunch, AutoLaunchBuilder};

/// The argument that starts Sockeye in the tray without a window.
pub const HIDDEN: &str = "--hidden";

fn launcher() -> Result<AutoLaunch, String> {
    let exe = std::env::current_exe().map_err(|e| format!("this program's path: {e}"))?;
    // An AppImage runs from a mount that changes every start; its own file is what to start.
    let path = std::env::var_os("APPIMAGE").map(std::path::PathBuf::from).unwrap_or(exe);
    AutoLaunchBuilder::new()
        .set_app_name("sockeye")
        .set_app_path(&path.display().to_string())
        .set_args(&[HIDDEN])
        .build()
        .map_err(|e| e.to_string())
}

pub fn is_enabled() -> bool {
    launcher().and_then(|l| l.is_enabled().map_err(|e| e.to_string())).unwrap_or(false)
}

pub fn set(enabled: bool) -> Result<(), String> {
    let l = launcher()?;
    let r = if enabled { l.enable() } else { l.disable() };
    r.map_err(|e| e.to_string())
}
