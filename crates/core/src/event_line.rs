//! One event as a line of JSON: what `sockeye-cli watch --json` prints, and what the benchmark
//! writes for every client. Written straight from the event: the payload is the raw JSON the
//! server sent, byte for byte, never re-parsed or re-escaped.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::events::RealtimeEvent;

/// The `--json` line of one event.
#[derive(Serialize)]
pub struct EventLine<'a> {
    /// Always `"event"` (other line kinds: state, summary).
    kind: &'static str,
    /// The environment, when a watcher streams several.
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<&'a str>,
    name: &'a str,
    room_hint: Option<&'a str>,
    payload: &'a RawValue,
    /// RFC 3339, UTC, millisecond precision.
    received_at: String,
    parse_note: Option<&'a str>,
    /// Fetched over REST after a gap, not received live.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    recovered: bool,
    /// Fetched by polling a progress endpoint while the link was down.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    polled: bool,
}

impl<'a> From<&'a RealtimeEvent> for EventLine<'a> {
    fn from(e: &'a RealtimeEvent) -> Self {
        EventLine {
            kind: "event",
            env: None,
            name: &e.name,
            room_hint: e.room_hint.as_deref(),
            payload: e.payload.raw(),
            received_at: rfc3339_ms(e.received_at_ms),
            parse_note: e.parse_note.as_deref(),
            recovered: e.recovered,
            polled: e.polled,
        }
    }
}

/// Write `e` as one line (with its newline).
pub fn write_line(out: &mut impl std::io::Write, e: &RealtimeEvent) -> std::io::Result<()> {
    write_line_of(out, e, None)
}

/// [`write_line`] naming the environment (`"env"`), for a watcher of several.
pub fn write_line_of(
    out: &mut impl std::io::Write,
    e: &RealtimeEvent,
    env: Option<&str>,
) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &EventLine { env, ..EventLine::from(e) })?;
    out.write_all(b"\n")
}

/// Milliseconds since the Unix epoch as RFC 3339 (UTC).
pub fn rfc3339_ms(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_written_as_received() {
        let raw = r#"{"b": 1,  "a":"\u00e9"}"#;
        let e = RealtimeEvent::from_raw("custom", RawValue::from_string(raw.into()).unwrap(), None);
        let mut out = Vec::new();
        write_line(&mut out, &e).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(line.ends_with("}\n"));
        assert!(line.contains(&format!(r#""payload":{raw}"#)), "{line}");
        assert!(!line.contains("recovered") && !line.contains("polled"));
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
