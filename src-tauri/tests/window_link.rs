//! The tray process (`sockeye`) as its window process sees it, without GTK or a display: the
//! real binary on its embedded demo, with a stand-in for `sockeye-window` (a shell script that
//! only reports the socket it was given) and this test on that socket in the window's place.
//! It checks what the page relies on: the title first, answers to calls by id, errors as
//! messages, a line that does not read skipped with the link kept, batches passed through as
//! JSON, and the one shutdown path when the window process's link is gone.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use sockeye_core::window_link::{self, FromWindow, LINK_ENV, ToWindow};

struct App(Child);

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Window {
    lines: BufReader<UnixStream>,
    out: UnixStream,
    next_id: u64,
}

impl Window {
    fn send_line(&mut self, line: &str) {
        self.out.write_all(line.as_bytes()).unwrap();
    }

    fn read(&mut self) -> ToWindow {
        let mut line = String::new();
        assert!(self.lines.read_line(&mut line).unwrap() > 0, "the tray process closed the link");
        window_link::from_line(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Call `cmd` and wait for its answer (page events that come first are skipped).
    fn call(&mut self, cmd: &str, args: &str) -> Result<Box<RawValue>, String> {
        self.next_id += 1;
        let id = self.next_id;
        let args = RawValue::from_string(args.into()).unwrap();
        self.send_line(&window_link::to_line(&FromWindow::Call { id, cmd: cmd.into(), args }));
        loop {
            match self.read() {
                ToWindow::Reply { id: got, result } if got == id => return result,
                ToWindow::Reply { id: got, .. } => panic!("an answer to {got}, waiting for {id}"),
                _ => continue,
            }
        }
    }
}

fn until<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_tray_process_serves_its_window() {
    let dir = std::env::temp_dir().join(format!("sockeye-window-link-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let reported = dir.join("socket-path");
    let stand_in = dir.join("sockeye-window");
    std::fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nprintf '%s' \"${LINK_ENV}\" > '{}'\nexec sleep 30\n",
            dir.join("stand-in.pid").display(),
            reported.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("config.toml"), "").unwrap();

    let app = Command::new(env!("CARGO_BIN_EXE_sockeye"))
        .env("SOCKEYE_CONFIG", dir.join("config.toml"))
        .env("SOCKEYE_DEMO_PORT", "0")
        .env("SOCKEYE_DEMO_SCENARIO", "none")
        .env("SOCKEYE_WINDOW_BIN", &stand_in)
        .env("XDG_RUNTIME_DIR", &dir)
        // No session bus: no single-instance name, no tray icon, no notifications.
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", dir.join("no-bus").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut app = App(app);

    let path = until("the window process started with its socket", Duration::from_secs(20), || {
        std::fs::read_to_string(&reported).ok().filter(|p| !p.is_empty())
    });
    assert!(path.starts_with(dir.to_str().unwrap()), "{path}: not in XDG_RUNTIME_DIR");
    let stream = UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w =
        Window { lines: BufReader::new(stream.try_clone().unwrap()), out: stream, next_id: 0 };

    // The title comes first, so a new window never shows a stale one.
    match w.read() {
        ToWindow::Title(t) => assert!(t.starts_with("Sockeye"), "{t}"),
        other => panic!("first message {other:?}"),
    }
    let info: serde_json::Value =
        serde_json::from_str(w.call("app_info", "{}").unwrap().get()).unwrap();
    assert_eq!(info["kept_events"], 10_000, "{info}");

    // The demo's environment appears, and its link connects.
    until("the demo connected", Duration::from_secs(20), || {
        let envs: serde_json::Value =
            serde_json::from_str(w.call("list_envs", "{}").unwrap().get()).unwrap();
        let demo = envs.as_array()?.iter().find(|e| e["profile"]["name"] == "Demo")?.clone();
        (demo["link"]["state"] == "connected").then_some(())
    });

    // Errors are the message the page shows; a bad line is skipped and the link stays.
    let bad = w.call("normalize_url", r#"{"input":"ftp://h.example"}"#).unwrap_err();
    assert!(bad.contains("ftp"), "{bad}");
    let unknown = w.call("format_disk", "{}").unwrap_err();
    assert!(unknown.contains("no command named"), "{unknown}");
    let missing = w.call("set_active", "{}").unwrap_err();
    assert!(missing.contains("arguments"), "{missing}");
    w.send_line("{\"call\":{\"id\":\n");
    w.send_line("not json at all\n");
    let url = w.call("normalize_url", r#"{"input":"h.example/socket.io/"}"#).unwrap();
    assert_eq!(url.get(), r#""https://h.example""#);

    // The page's stream: subscribe, then the first pull is the replay of what was kept —
    // JSON frames passed through as the tray process wrote them.
    let window: u64 = serde_json::from_str(w.call("subscribe", "{}").unwrap().get()).unwrap();
    let frames = w.call("next_batch", &format!(r#"{{"window":{window}}}"#)).unwrap();
    let frames: Vec<serde_json::Value> = serde_json::from_str(frames.get()).unwrap();
    let items = frames.iter().flat_map(|f| f["items"].as_array().cloned().unwrap_or_default());
    let states: Vec<_> = items.filter(|i| i["type"] == "state").collect();
    assert!(states.iter().any(|s| s["env"] == "Demo"), "{frames:?}");

    // The window process's link ends: the tray process stays (closed to the tray) …
    drop(w);
    std::thread::sleep(Duration::from_millis(300));
    assert!(app.0.try_wait().unwrap().is_none(), "the tray process ended with its window");
    // … and SIGTERM takes the one shutdown path: gone within 2 s.
    let t0 = Instant::now();
    Command::new("kill").args(["-TERM", &app.0.id().to_string()]).status().unwrap();
    let status = until("the tray process exits on SIGTERM", Duration::from_secs(5), || {
        app.0.try_wait().unwrap()
    });
    assert!(status.success(), "{status:?}");
    assert!(t0.elapsed() < Duration::from_secs(2), "took {:?}", t0.elapsed());
    if let Ok(pid) = std::fs::read_to_string(dir.join("stand-in.pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
