//! The window, from the tray process: Show starts the window process (`sockeye-window`) and
//! serves its page's commands over a Unix socket until it ends; closing the window ends that
//! process, and with it GTK, WebKit and their helper processes (see
//! `sockeye_core::window_link`). Everything the page shows is kept here, so the next window
//! comes back as the last one was left.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use sockeye_core::window_link::{self, FromWindow, LINK_ENV, ToWindow};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use crate::app_state::Manager;

/// How long a starting window process has to connect (a debug build under WebDriver is slow).
const CONNECT_WITHIN: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct WindowHost {
    link: Mutex<Link>,
    /// Numbers the window processes, so a link that ended does not clear its successor.
    started: AtomicU64,
}

struct Link {
    /// Lines to the window process; `Some` from Show until the process is gone.
    to_window: Option<(u64, mpsc::UnboundedSender<String>)>,
    /// The title, sent to every new window.
    title: String,
    /// A view to open once the page listens (the tray's "Run diagnostics").
    navigate: Option<String>,
}

impl Default for Link {
    fn default() -> Link {
        // Until the first state is known: the window's own title, never an empty one.
        Link { to_window: None, title: crate::APP_NAME.into(), navigate: None }
    }
}

impl WindowHost {
    /// Show the window: raise the running one (`true`), or start a window process.
    pub fn show(&self, m: &Arc<Manager>) -> bool {
        crate::bench_mark("show", serde_json::Value::Null);
        let mut link = self.link.lock().expect("window link");
        if let Some((_, tx)) = &link.to_window
            && tx.send(window_link::to_line(&ToWindow::Show)).is_ok()
        {
            return true;
        }
        let n = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(window_link::to_line(&ToWindow::Title(link.title.clone())));
        link.to_window = Some((n, tx));
        drop(link);
        let m = m.clone();
        tokio::spawn(async move {
            if let Err(e) = run(&m, n, rx).await {
                tracing::error!("the window: {e}");
            }
            // The window process is gone: nothing more is queued for its page.
            m.pipe.detach();
            let mut link = m.window.link.lock().expect("window link");
            if link.to_window.as_ref().is_some_and(|(k, _)| *k == n) {
                link.to_window = None;
            }
        });
        false
    }

    /// Show the window on `view`: at once in a running window, else once the new page has
    /// restored the last view (its first pull, see `calls.rs`).
    pub fn show_view(&self, m: &Arc<Manager>, view: &str) {
        self.link.lock().expect("window link").navigate = Some(view.into());
        if self.show(m) {
            self.navigate_pending();
        }
    }

    /// Send the pending navigation, if any.
    pub fn navigate_pending(&self) {
        let view = self.link.lock().expect("window link").navigate.take();
        if let Some(v) = view {
            self.emit("sockeye://navigate", &v);
        }
    }

    fn send(&self, message: &ToWindow) {
        if let Some((_, tx)) = &self.link.lock().expect("window link").to_window {
            let _ = tx.send(window_link::to_line(message));
        }
    }

    /// A page event, when a window runs (a new page asks for what it needs when it loads).
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, payload: &T) {
        match window_link::json(payload) {
            Ok(payload) => self.send(&ToWindow::Emit { event: event.into(), payload }),
            Err(e) => tracing::error!("{event}: {e}"),
        }
    }

    pub fn set_title(&self, title: &str) {
        let changed = {
            let mut link = self.link.lock().expect("window link");
            let changed = link.title != title;
            link.title = title.into();
            changed
        };
        if changed {
            self.send(&ToWindow::Title(title.into()));
        }
    }

    /// End the window process (Quit): it also ends by itself when this process exits and
    /// its socket closes.
    pub fn quit(&self) {
        self.send(&ToWindow::Quit);
    }
}

/// Environment for the window process and so for its WebKit processes, which inherit it:
/// JavaScriptCore's collector told to collect the whole heap every time, and at the latest
/// after every 16 MB the page allocates.
///
/// Under a steady flood (the page takes and parses a batch 50 times a second) WebKitGTK's web
/// process stops running full collections from a random minute on: its young-generation
/// collections go on but free nothing, or for a while no collection runs at all, and the
/// page's heap fills with garbage ~10 MB a minute until something forces a full collection
/// (docs/reliability.md, "Soak"). With every collection full and one due after each 16 MB
/// allocated whatever WebKit's timers do, the heap stays within its live size (a few MB)
/// plus 16 MB; a collection of it costs a millisecond or two.
const WEB_PROCESS_ENV: [(&str, &str); 2] =
    [("JSC_useGenerationalGC", "0"), ("JSC_gcMaxHeapSize", "16777216")];

/// The window process's program: beside this one (`SOCKEYE_WINDOW_BIN` overrides).
fn window_program() -> std::io::Result<PathBuf> {
    if let Some(p) = std::env::var_os("SOCKEYE_WINDOW_BIN") {
        return Ok(p.into());
    }
    Ok(std::env::current_exe()?.with_file_name("sockeye-window"))
}

/// A private place for the socket: the user's runtime directory (owner-only by the XDG
/// rules), else a directory of our own in the temp dir.
fn socket_path(n: u64) -> std::io::Result<PathBuf> {
    let name = format!("sockeye-{}-{n}.sock", std::process::id());
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_dir()) {
        return Ok(Path::new(&dir).join(name));
    }
    let dir = std::env::temp_dir().join(format!("sockeye-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir.join(name))
}

/// One window process, from its start to its end: its page's calls are answered, each in
/// a task of its own (the page's long poll must not hold up its clicks).
async fn run(
    m: &Arc<Manager>,
    n: u64,
    mut to_window: mpsc::UnboundedReceiver<String>,
) -> std::io::Result<()> {
    let path = socket_path(n)?;
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let program = window_program()?;
    let mut command = tokio::process::Command::new(&program);
    command.env(LINK_ENV, &path);
    for (name, value) in WEB_PROCESS_ENV {
        // A value already in the environment wins (to compare, or to undo).
        if std::env::var_os(name).is_none() {
            command.env(name, value);
        }
    }
    let mut child = command.spawn();
    let connected = match &mut child {
        Ok(c) => tokio::select! {
            a = tokio::time::timeout(CONNECT_WITHIN, listener.accept()) => match a {
                Ok(accepted) => accepted.map(|(stream, _)| stream),
                Err(_) => Err(std::io::Error::other("the window process did not connect")),
            },
            status = c.wait() => Err(match status {
                Ok(s) => std::io::Error::other(format!("the window process ended at start ({s})")),
                Err(e) => e,
            }),
        },
        Err(e) => {
            // `cargo run -p sockeye` builds only this binary; scripts/run builds both.
            let hint = match e.kind() {
                std::io::ErrorKind::NotFound => {
                    " (build it beside sockeye: cargo build -p sockeye --bins, or scripts/run)"
                }
                _ => "",
            };
            Err(std::io::Error::other(format!("{}: {e}{hint}", program.display())))
        }
    };
    // Only the child was to connect: the path goes whatever happened.
    let _ = std::fs::remove_file(&path);
    let stream = connected?;
    let (read, mut write) = stream.into_split();
    let (replies, mut replies_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        loop {
            let line = tokio::select! {
                l = to_window.recv() => l,
                l = replies_rx.recv() => l,
            };
            let Some(line) = line else { return };
            if write.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        match window_link::from_line::<FromWindow>(&line) {
            Ok(FromWindow::Call { id, cmd, args }) => {
                let (m, replies) = (m.clone(), replies.clone());
                tokio::spawn(async move {
                    let result =
                        crate::calls::call(&m, &cmd, &args).await.map_err(|e| e.to_string());
                    let _ = replies.send(window_link::to_line(&ToWindow::Reply { id, result }));
                });
            }
            Ok(FromWindow::Closed) => m.pipe.detach(),
            Err(e) => tracing::error!("a line from the window process that does not read: {e}"),
        }
    }
    writer.abort();
    if let Ok(mut c) = child {
        // Reaped: it closed its end, so it is exiting.
        let _ = tokio::time::timeout(Duration::from_secs(2), c.wait()).await;
    }
    Ok(())
}
