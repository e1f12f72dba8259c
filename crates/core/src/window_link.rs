//! The line protocol between the tray process (`sockeye`) and its window process
//! (`sockeye-window`).
//!
//! Why two processes: a process that has loaded WebKitGTK and GTK keeps ~150 MB of their pages
//! for as long as it lives, window or not, and a tray app lives all day closed to the tray.
//! So the tray process — sessions, view models, tray icon, notifications — links neither; it
//! starts a window process on Show, which ends when its window closes. Everything the page
//! shows stays in the tray process, so a new window comes back as the last one was left.
//!
//! The window process is a pass-through: every `invoke` of the page becomes a [`FromWindow::Call`]
//! with the command's name and its JSON arguments as the page sent them, answered by a
//! [`ToWindow::Reply`] with the JSON result as the tray process wrote it (passed on as text:
//! neither side parses a result into a tree). Pushed page events (`sockeye://envs`, …), the
//! title and Show/Quit go the other way.
//!
//! Framing: one JSON object per line, over a Unix socket that only the tray process's child
//! is told about (its path in [`LINK_ENV`]). serde_json never writes a raw newline inside a
//! value, so a line is a message.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The environment variable that gives the window process the tray process's socket.
pub const LINK_ENV: &str = "SOCKEYE_WINDOW_LINK";

/// What the window process sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromWindow {
    /// The page invoked `cmd` with `args` (an object, as the page wrote it).
    Call { id: u64, cmd: String, args: Box<RawValue> },
    /// The window was destroyed while the process stays (under WebDriver automation, whose
    /// session lives in the window process): the tray process stops sending to the page.
    Closed,
}

/// What the tray process sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToWindow {
    /// The answer to the call `id`: its JSON result, or the error's message.
    Reply { id: u64, result: Result<Box<RawValue>, String> },
    /// A page event and its JSON payload.
    Emit { event: String, payload: Box<RawValue> },
    /// The window's title (it carries the active environment's state).
    Title(String),
    /// Show the window (build it again if it was destroyed), raise and focus it.
    Show,
    /// Close the window and end the process.
    Quit,
}

/// A message as its line (newline included).
pub fn to_line<T: Serialize>(message: &T) -> String {
    // Serializing these types cannot fail: string keys, no maps with other keys.
    let mut line = serde_json::to_string(message).expect("window link message");
    line.push('\n');
    line
}

/// A line as a message (the newline may be left on).
pub fn from_line<'a, T: Deserialize<'a>>(line: &'a str) -> Result<T, serde_json::Error> {
    serde_json::from_str(line.trim_end_matches(['\n', '\r']))
}

/// `value` as JSON text for a reply or a payload.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Box<RawValue>, serde_json::Error> {
    serde_json::value::to_raw_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.into()).unwrap()
    }

    #[test]
    fn every_message_is_one_line_and_reads_back() {
        let call =
            FromWindow::Call { id: 7, cmd: "save_env".into(), args: raw(r#"{"name":"a\nb"}"#) };
        let line = to_line(&call);
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        match from_line::<FromWindow>(&line).unwrap() {
            FromWindow::Call { id, cmd, args } => {
                assert_eq!((id, cmd.as_str()), (7, "save_env"));
                assert_eq!(args.get(), r#"{"name":"a\nb"}"#);
            }
            other => panic!("{other:?}"),
        }
        for m in [
            ToWindow::Reply { id: 1, result: Ok(raw("[1,2]")) },
            ToWindow::Reply { id: 2, result: Err("no environment named \"x\"".into()) },
            ToWindow::Emit { event: "sockeye://envs".into(), payload: raw("[]") },
            ToWindow::Title("Demo: connected\nover websocket".into()),
            ToWindow::Show,
            ToWindow::Quit,
        ] {
            let line = to_line(&m);
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            let back: ToWindow = from_line(&line).unwrap();
            assert_eq!(to_line(&back), line);
        }
    }

    #[test]
    fn a_result_passes_through_as_written() {
        let body = r#"{"items":[{"type":"event","payload_json":"{\"a\": 1}"}],"dropped":0}"#;
        let line = to_line(&ToWindow::Reply { id: 3, result: Ok(raw(body)) });
        let ToWindow::Reply { result: Ok(r), .. } = from_line(&line).unwrap() else { panic!() };
        assert_eq!(r.get(), body);
    }

    #[test]
    fn a_bad_line_is_an_error() {
        assert!(from_line::<ToWindow>("{\"reply\":").is_err());
        assert!(from_line::<ToWindow>("{\"unknown\":1}").is_err());
    }
}
