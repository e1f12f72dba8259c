//! Sockeye, the tray app: a thin shell over `sockeye-core` (sessions, view models,
//! diagnostics, notification policy) and `sockeye-sim` (the embedded demo).
//!
//! This process (`sockeye`) is the tray: sessions, the state the page shows, the tray icon,
//! notifications. It links neither GTK nor WebKit, so closed to the tray it weighs what its
//! sessions do. The window is `sockeye-window`, started on Show and gone when closed (see
//! `window.rs` and `sockeye_core::window_link`).

mod app_state;
mod autostart;
mod calls;
mod commands;
mod commands_link;
mod demo;
mod error;
mod notifier;
mod outbox;
mod pipeline;
mod recordings;
mod single_instance;
mod tray;
mod window;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sockeye_core::config_file::{self, Config};
use tokio::sync::Notify;

use crate::app_state::Manager;
use crate::notifier::Notifier;
use crate::pipeline::Pipeline;
use crate::single_instance::Claim;
use crate::window::WindowHost;

/// jemalloc, with background threads that give freed pages back to the system within about a
/// second (`.cargo/config.toml` sets its options at build time). With glibc's malloc the tray
/// process kept the high water of a flood spent with the window open — 42–51 MB PSS closed to
/// the tray against 29 MB with this (`tests/ui/tray_cycle.mjs`); mimalloc kept more (67 MB).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The name the tray item, the window's title and notifications go by.
pub const APP_NAME: &str = "Sockeye";

/// Set once the shutdown path ran.
static QUITTING: AtomicBool = AtomicBool::new(false);

/// The one shutdown path (tray Quit, SIGTERM, SIGINT): stop every session (sockets closed,
/// namespace DISCONNECT sent), end the window process, then exit. Bounded: the process is
/// gone within 2 s.
pub async fn quit(m: Arc<Manager>) {
    if QUITTING.swap(true, Ordering::SeqCst) {
        return;
    }
    m.window.quit();
    m.shutdown().await;
    std::process::exit(0);
}

#[tokio::main]
async fn main() -> ExitCode {
    sockeye_core::logging::init("warn,sockeye=info");
    let hidden = std::env::args().skip(1).any(|a| a == autostart::HIDDEN);
    // The bus connection is held for as long as the process runs: it owns the name.
    let (_bus, shows) = match single_instance::claim(hidden).await {
        Claim::First(bus, shows) => (Some(bus), Some(shows)),
        Claim::Handed => return ExitCode::SUCCESS,
        Claim::NoBus(why) => {
            tracing::warn!("no session bus ({why}): no single-instance guard, no tray icon");
            (None, None)
        }
    };
    let path = match config_file::default_path() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sockeye: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A config that does not parse is kept as is; the app runs on the demo and says why.
    let (config, config_error) = match Config::load(&path) {
        Ok(c) => (c, None),
        Err(e) => (Config::default(), Some(e.to_string())),
    };
    if let Some(e) = &config_error {
        tracing::error!("{e}");
    }
    let notifier = Notifier::spawn(config.settings.notifications.clone());
    let changed = Arc::new(Notify::new());
    let on_state = changed.clone();
    let pipe = Pipeline::new(Box::new(move || on_state.notify_one()));
    let window = Arc::new(WindowHost::default());
    let m = Manager::new(window, path, config.clone(), notifier, pipe, config_error);
    tray::spawn(m.clone(), changed);
    if !hidden {
        m.window.show(&m);
    }
    if let Some(mut shows) = shows {
        let m = m.clone();
        tokio::spawn(async move {
            while shows.recv().await.is_some() {
                m.window.show(&m);
            }
        });
    }
    let starting = m.clone();
    tokio::spawn(async move {
        let m = starting;
        let mut started = 0;
        for p in config.profiles {
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
    signals().await;
    quit(m).await;
    ExitCode::SUCCESS
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
async fn signals() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
