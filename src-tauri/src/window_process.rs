//! `sockeye-window`: Sockeye's window, a process of its own. The tray process (`sockeye`)
//! starts it on Show and it ends when its window closes, taking GTK, WebKit and their
//! processes with it (see `sockeye_core::window_link` for why).
//!
//! It holds no state and no logic: the page's commands go to the tray process as they were
//! invoked and its answers come back as JSON text; page events, the title, Show and Quit
//! come from there. Started by hand (without the tray process's socket) it says so and exits.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

use sockeye_core::window_link::{self, FromWindow, LINK_ENV, ToWindow};
use tauri::ipc::{InvokeBody, InvokeResolver, InvokeResponseBody, Response};
use tauri::{AppHandle, Emitter, Manager as _, RunEvent, WebviewWindowBuilder, WindowEvent, Wry};

const MAIN: &str = "main";

/// Calls waiting for the tray process's answer.
type Pending = Arc<Mutex<HashMap<u64, InvokeResolver<Wry>>>>;

/// Under WebDriver (tauri-driver sets this) the automation session lives in this process and
/// its WebKit network process: closing the window must not end them.
fn automated() -> bool {
    std::env::var("TAURI_WEBVIEW_AUTOMATION").as_deref() == Ok("true")
}

fn main() {
    sockeye_core::logging::init("warn,sockeye=info");
    let Some(path) = std::env::var_os(LINK_ENV) else {
        eprintln!("sockeye-window is Sockeye's window and is started by `sockeye`; run that.");
        std::process::exit(2);
    };
    let stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sockeye-window: the tray process's socket {path:?}: {e}");
            std::process::exit(2);
        }
    };
    let to_host = writer(stream.try_clone().expect("socket"));
    let pending: Pending = Arc::default();
    let next_id = AtomicU64::new(1);

    let calls = (pending.clone(), to_host.clone());
    let app = tauri::Builder::default()
        .invoke_handler(move |invoke| {
            let (pending, to_host) = &calls;
            let cmd = invoke.message.command().to_string();
            let args = match invoke.message.payload() {
                InvokeBody::Json(v) => window_link::json(v),
                InvokeBody::Raw(_) => {
                    invoke.resolver.reject(format!("{cmd}: binary arguments are not taken"));
                    return true;
                }
            };
            let args = match args {
                Ok(a) => a,
                Err(e) => {
                    invoke.resolver.reject(format!("{cmd}: {e}"));
                    return true;
                }
            };
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            pending.lock().expect("pending calls").insert(id, invoke.resolver);
            if to_host.send(window_link::to_line(&FromWindow::Call { id, cmd, args })).is_err()
                && let Some(r) = pending.lock().expect("pending calls").remove(&id)
            {
                r.reject("Sockeye's tray process is gone");
            }
            true
        })
        .setup(move |app| {
            show(app.handle());
            let handle = app.handle().clone();
            std::thread::spawn(move || read_host(stream, handle, pending));
            Ok(())
        })
        .on_window_event(move |window, event| {
            if let WindowEvent::Destroyed = event {
                if automated() {
                    let _ = to_host.send(window_link::to_line(&FromWindow::Closed));
                } else {
                    quit(window.app_handle());
                }
            }
        })
        .build(tauri::generate_context!())
        .expect("Sockeye's window failed to start");
    app.run(|_, event| {
        // Under automation the process outlives its window (see `automated`); otherwise the
        // last window's close ends it through `quit`.
        if let RunEvent::ExitRequested { api, code: None, .. } = event
            && automated()
        {
            api.prevent_exit();
        }
    });
}

/// Lines to the tray process go through one writer thread, in order.
fn writer(mut stream: UnixStream) -> Sender<String> {
    let (tx, rx) = channel::<String>();
    std::thread::spawn(move || {
        for line in rx {
            if stream.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    tx
}

/// What the tray process sends, until it closes the socket (it quit or died): then this
/// process ends too.
fn read_host(stream: UnixStream, app: AppHandle, pending: Pending) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let message = match window_link::from_line::<ToWindow>(&line) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!("a line from the tray process that does not read: {e}");
                continue;
            }
        };
        match message {
            ToWindow::Reply { id, result } => {
                let Some(resolver) = pending.lock().expect("pending calls").remove(&id) else {
                    continue;
                };
                match result {
                    Ok(json) => resolver.resolve(Response::new(InvokeResponseBody::Json(
                        String::from(Box::<str>::from(json)),
                    ))),
                    Err(message) => resolver.reject(message),
                }
            }
            ToWindow::Emit { event, payload } => {
                let _ = app.emit(&event, payload);
            }
            ToWindow::Title(title) => {
                let app2 = app.clone();
                let _ = app.run_on_main_thread(move || {
                    if let Some(w) = app2.get_webview_window(MAIN) {
                        let _ = w.set_title(&title);
                    }
                });
            }
            ToWindow::Show => {
                let app2 = app.clone();
                let _ = app.run_on_main_thread(move || show(&app2));
            }
            ToWindow::Quit => break,
        }
    }
    quit(&app);
}

/// Show the window, building it if it was closed.
fn show(app: &AppHandle) {
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
        Err(e) => {
            tracing::error!("the window could not be built: {e}");
            std::process::exit(1);
        }
    }
}

/// End the process: the event loop first, and whatever it does, within 400 ms.
fn quit(app: &AppHandle) {
    app.exit(0);
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(400));
        std::process::exit(0);
    });
}
