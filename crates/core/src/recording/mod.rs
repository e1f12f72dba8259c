//! Recordings: a link's history as a file of JSON lines, the one format that `watch --record`,
//! the app's Record button and the event log's export write, and that the simulator replays.
//!
//! ```text
//! {"kind":"header","format":1,"sockeye":"0.1.0","env":"prod","url":"https://site/", …}
//! {"kind":"state","t_ms":12,"at_ms":…,"state":"connecting","attempt":0}
//! {"kind":"event","t_ms":340,"at_ms":…,"dir":"out","ns":"/site","name":"doc_subscribe","args":["Raven Channel","general"]}
//! {"kind":"event","t_ms":2210,"at_ms":…,"dir":"in","ns":"/site","name":"message_created","room":"doc:Raven Channel/general","args":[{…as received…}]}
//! {"kind":"end","t_ms":9000,"events":2,"reason":"stopped"}
//! ```
//!
//! `t_ms` is monotonic, from the start of the recording; `at_ms` the wall clock. `args` are
//! the packet's arguments, each exactly as received (never re-parsed or re-escaped), except
//! where [`redact`] replaced a secret. Readers refuse a newer `format` (see [`reader`]).

pub mod reader;
pub mod redact;
pub mod writer;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::events::{Direction, RealtimeEvent};

pub use reader::{ReadError, Recording};
pub use redact::Redactor;
pub use writer::{RecordError, Recorder, RecorderOptions, RecordingStatus, parse_size};

/// The format this version writes and the newest it reads.
pub const FORMAT: u32 = 1;

/// The protocol versions a recording's client speaks; which one a link used is in its
/// `connected` state lines (`eio`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocols {
    pub engineio: Vec<u32>,
    pub socketio: Vec<u32>,
}

impl Default for Protocols {
    fn default() -> Self {
        Protocols { engineio: vec![3, 4], socketio: vec![4, 5] }
    }
}

/// The first line of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    pub sockeye: String,
    /// The environment recorded (`None` for an export of several).
    pub env: Option<String>,
    /// The site's URL, without credentials.
    pub url: Option<String>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub protocols: Protocols,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub started_at_ms: u64,
    /// `watch`, `app`, `export`.
    pub source: String,
    /// 0 for the first file; n for the n-th file after a rotation.
    #[serde(default)]
    pub part: u32,
}

impl Header {
    pub fn new(
        source: &str,
        env: Option<&str>,
        url: Option<&url::Url>,
        ns: Option<&str>,
    ) -> Header {
        let now = crate::events::now_ms();
        Header {
            format: FORMAT,
            sockeye: env!("CARGO_PKG_VERSION").into(),
            env: env.map(str::to_string),
            url: url.map(without_credentials),
            namespace: ns.map(str::to_string),
            protocols: Protocols::default(),
            started_at: crate::event_line::rfc3339_ms(now),
            started_at_ms: now,
            source: source.into(),
            part: 0,
        }
    }
}

/// `url` without user, password, query or fragment (a query may carry `sid` or a token).
pub fn without_credentials(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

#[derive(Serialize)]
struct HeaderLine<'a> {
    kind: &'static str,
    #[serde(flatten)]
    header: &'a Header,
}

/// One event as a line (written; [`reader::EventRecord`] is its reading).
#[derive(Serialize)]
pub(crate) struct EventLine<'a> {
    kind: &'static str,
    t_ms: u64,
    at_ms: u64,
    dir: Direction,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ns: Option<&'a str>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    room: Option<&'a str>,
    args: &'a RawValue,
    /// `backfill` (fetched over REST after a gap) or `poll` (progress endpoint).
    #[serde(skip_serializing_if = "Option::is_none")]
    via: Option<&'static str>,
}

/// The event's arguments as one JSON array, each as received.
pub fn args_array(e: &RealtimeEvent) -> Box<RawValue> {
    let text = match e.arg_count {
        0 => "[]".to_string(),
        1 => format!("[{}]", e.payload.get()),
        _ if e.payload.get().trim_start().starts_with('[') => e.payload.get().to_string(),
        _ => format!("[{}]", e.payload.get()),
    };
    RawValue::from_string(text).expect("an array of JSON values is JSON")
}

/// Write `e` as an event line at `t_ms` (without redaction: see [`Recorder`]).
pub(crate) fn event_line(
    e: &RealtimeEvent,
    t_ms: u64,
    env: Option<&str>,
    ns: Option<&str>,
) -> String {
    let args = args_array(e);
    let line = EventLine {
        kind: "event",
        t_ms,
        at_ms: e.received_at_ms,
        dir: e.direction,
        env,
        ns,
        name: &e.name,
        room: e.room_hint.as_deref(),
        args: &args,
        via: if e.recovered {
            Some("backfill")
        } else if e.polled {
            Some("poll")
        } else {
            None
        },
    };
    serde_json::to_string(&line).expect("an event line serialises")
}

pub(crate) fn header_line(h: &Header) -> String {
    serde_json::to_string(&HeaderLine { kind: "header", header: h }).expect("a header serialises")
}

/// Write an export of the app's event log: a header, then each entry as an event line
/// (`t_ms` counted from the first entry's arrival, `env` on each line). Redacted like a
/// recording. Returns the number of events written.
pub fn write_export(
    entries: &[crate::event_log::LogEntry],
    redactor: &Redactor,
    mut out: impl std::io::Write,
) -> std::io::Result<usize> {
    let mut envs: Vec<&str> = entries.iter().map(|e| &*e.env).collect();
    envs.sort();
    envs.dedup();
    let mut header =
        Header::new("export", envs.first().copied().filter(|_| envs.len() == 1), None, None);
    let first = entries.first().map_or(header.started_at_ms, |e| e.event.received_at_ms);
    header.started_at_ms = first;
    header.started_at = crate::event_line::rfc3339_ms(first);
    writeln!(out, "{}", header_line(&header))?;
    for e in entries {
        let t = e.event.received_at_ms.saturating_sub(first);
        let line = event_line(&e.event, t, Some(&e.env), None);
        writeln!(out, "{}", redactor.line(&line))?;
    }
    out.flush()?;
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_keep_their_count_and_bytes() {
        let raw = |s: &str| RawValue::from_string(s.into()).unwrap();
        let one = RealtimeEvent::from_raw("e", raw(r#"[1, 2]"#), None);
        assert_eq!(args_array(&one).get(), "[[1, 2]]", "one array argument");
        let two = RealtimeEvent::from_raw("e", raw(r#"[1, "a"]"#), None).with_arg_count(2);
        assert_eq!(args_array(&two).get(), r#"[1, "a"]"#);
        let none = RealtimeEvent::from_raw("e", raw("null"), None).with_arg_count(0);
        assert_eq!(args_array(&none).get(), "[]");
    }

    #[test]
    fn urls_lose_user_password_and_query() {
        let u =
            url::Url::parse("https://me:pw@site.test:8443/socket.io/?sid=abc&token=x#f").unwrap();
        assert_eq!(without_credentials(&u), "https://site.test:8443/socket.io/");
    }
}
