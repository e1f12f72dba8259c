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
    received_at: Rfc3339Ms,
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
            received_at: Rfc3339Ms::of(e.received_at_ms),
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

/// Milliseconds since the Unix epoch as RFC 3339 (UTC), always with three fractional digits
/// (`2023-11-14T22:13:20.120Z`). Times outside years 0–9999 read as the epoch.
pub fn rfc3339_ms(ms: u64) -> String {
    Rfc3339Ms::of(ms).as_str().to_string()
}

/// [`rfc3339_ms`] written into a fixed buffer: every `--json` line carries one, and a
/// formatter with an allocation per event was a visible part of a line's cost.
struct Rfc3339Ms([u8; 24]);

impl Rfc3339Ms {
    fn of(ms: u64) -> Rfc3339Ms {
        let t = i64::try_from(ms / 1000)
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .filter(|t| (0..=9999).contains(&t.year()))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let milli = if t == time::OffsetDateTime::UNIX_EPOCH && ms >= 1000 { 0 } else { ms % 1000 };
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, t.year() as u32);
        put(5, 2, u32::from(u8::from(t.month())));
        put(8, 2, u32::from(t.day()));
        put(11, 2, u32::from(t.hour()));
        put(14, 2, u32::from(t.minute()));
        put(17, 2, u32::from(t.second()));
        put(20, 3, milli as u32);
        Rfc3339Ms(b)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII digits and separators")
    }
}

impl Serialize for Rfc3339Ms {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
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
        assert_eq!(rfc3339_ms(1_700_000_000_120), "2023-11-14T22:13:20.120Z");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_007), "2000-02-29T00:00:00.007Z");
        assert_eq!(rfc3339_ms(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_ms(u64::MAX), "1970-01-01T00:00:00.000Z", "out of range");
        // The same instants as time's own RFC 3339 formatter, where it writes milliseconds.
        for ms in [1_700_000_000_123u64, 1_234_567_890_999, 4_102_444_800_001] {
            let t =
                time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
            let theirs = t.format(&time::format_description::well_known::Rfc3339).unwrap();
            assert_eq!(rfc3339_ms(ms), theirs, "{ms}");
        }
    }
}
