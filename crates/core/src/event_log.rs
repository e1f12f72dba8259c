//! The event log a window shows, searches and exports: the newest events of every
//! environment, bounded, numbered in arrival order. It lives here rather than in the page so
//! the page holds only the rows it draws, a new window finds the log as the old one left it,
//! and an export is written from what was received, never shipped back over IPC.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::Arc;

use crate::RealtimeEvent;

/// How many events the app keeps by default (the page says so under the log).
pub const KEEP: usize = 10_000;
/// And how many bytes of them (name and payload as received), whatever their number: 10,000
/// agent payloads of 10 KB would otherwise hold 100 MB of an app that runs all day. The
/// oldest go first; the newest event is kept whatever its size.
pub const KEEP_BYTES: usize = 32 << 20;

/// One kept event and the environment it came from.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Arrival order, from 1; never reused, also across [`EventLog::clear`].
    pub seq: u64,
    pub env: Arc<str>,
    pub event: Arc<RealtimeEvent>,
    /// Entries the log held once this one was in (the page counts with it: big events push
    /// out more than one).
    pub kept: usize,
}

/// What the log's filter and search boxes ask for.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Part of the event name (case-sensitive, as typed); empty matches every name.
    pub name: String,
    /// Searched case-insensitively in "name room payload", the payload as compact JSON (see
    /// [`compact_json`]); empty matches everything.
    pub text: String,
}

impl LogQuery {
    pub fn new(name: &str, text: &str) -> LogQuery {
        LogQuery { name: name.trim().to_string(), text: text.trim().to_lowercase() }
    }

    pub fn matches(&self, e: &LogEntry) -> bool {
        let ev = &e.event;
        if !self.name.is_empty() && !ev.name.contains(&self.name) {
            return false;
        }
        if self.text.is_empty() {
            return true;
        }
        let room = ev.room_hint.as_deref().unwrap_or("");
        let hay = format!("{} {room} {}", ev.name, compact_json(ev.payload.get()));
        hay.to_lowercase().contains(&self.text)
    }
}

/// The newest matching entries, and how many there are.
#[derive(Debug, Clone)]
pub struct LogPage {
    /// Newest first, at most the limit asked for.
    pub entries: Vec<LogEntry>,
    /// Entries of the kept log that match.
    pub matched: usize,
    /// Entries kept.
    pub kept: usize,
    /// Entries pushed out by newer ones since the last clear.
    pub dropped: u64,
}

/// The bounded log: the oldest entries go when a new one comes past either bound (`cap`
/// entries, `max_bytes` of names and payloads).
#[derive(Debug)]
pub struct EventLog {
    cap: usize,
    max_bytes: usize,
    bytes: usize,
    entries: VecDeque<LogEntry>,
    last_seq: u64,
    dropped: u64,
}

/// What an entry counts toward the byte bound.
fn weight(e: &RealtimeEvent) -> usize {
    e.name.len() + e.payload.get().len()
}

impl EventLog {
    /// At most `cap` entries and [`KEEP_BYTES`].
    pub fn new(cap: usize) -> EventLog {
        EventLog::with_max_bytes(cap, KEEP_BYTES)
    }

    pub fn with_max_bytes(cap: usize, max_bytes: usize) -> EventLog {
        EventLog {
            cap: cap.max(1),
            max_bytes,
            bytes: 0,
            entries: VecDeque::new(),
            last_seq: 0,
            dropped: 0,
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keep `event`; returns its entry (what the window is sent).
    pub fn push(&mut self, env: Arc<str>, event: Arc<RealtimeEvent>) -> LogEntry {
        // A kept event must not pin the whole polling body it came in (its neighbours may
        // leave the log long before it does): the log's byte bound counts its payload only.
        let event = match event.compact() {
            Some(own) => Arc::new(own),
            None => event,
        };
        self.last_seq += 1;
        self.bytes += weight(&event);
        self.entries.push_back(LogEntry { seq: self.last_seq, env, event, kept: 0 });
        while self.entries.len() > self.cap
            || (self.bytes > self.max_bytes && self.entries.len() > 1)
        {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= weight(&old.event);
                self.dropped += 1;
            }
        }
        let kept = self.entries.len();
        let newest = self.entries.back_mut().expect("just pushed");
        newest.kept = kept;
        newest.clone()
    }

    /// The newest `limit` entries matching `q`, and the counts the page shows.
    pub fn query(&self, q: &LogQuery, limit: usize) -> LogPage {
        let mut entries = Vec::new();
        let mut matched = 0;
        for e in self.entries.iter().rev() {
            if q.matches(e) {
                matched += 1;
                if entries.len() < limit {
                    entries.push(e.clone());
                }
            }
        }
        LogPage { entries, matched, kept: self.entries.len(), dropped: self.dropped }
    }

    /// Forget every entry (numbering goes on, so a window can tell old from new). Returns
    /// the number of the last entry forgotten.
    pub fn clear(&mut self) -> u64 {
        self.entries.clear();
        self.bytes = 0;
        self.dropped = 0;
        self.last_seq
    }

    /// Snapshot of the kept entries, oldest first (to write without holding a lock).
    pub fn snapshot(&self) -> Vec<LogEntry> {
        self.entries.iter().cloned().collect()
    }
}

/// Write `entries` (oldest first) as a recording (see [`crate::recording`]): a header, then
/// one event line each with its environment, the arguments as received; secrets redacted.
/// An export can be replayed. Returns the number of events.
pub fn write_jsonl(
    entries: &[LogEntry],
    redactor: &crate::recording::Redactor,
    out: impl Write,
) -> io::Result<usize> {
    crate::recording::write_export(entries, redactor, out)
}

/// JSON text as JavaScript's `JSON.stringify` writes the parsed value: no whitespace outside
/// strings, escapes written the way JavaScript writes them (`\u00e9` as `é`, `\/` as `/`,
/// `\u0022` as `\"`), key order kept. The page matches live rows on that form, so a search
/// gives the same rows in the page and here.
pub fn compact_json(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if !in_string {
            if !c.is_whitespace() {
                out.push(c);
            }
            in_string = c == '"';
            continue;
        }
        match c {
            '"' => {
                out.push(c);
                in_string = false;
            }
            '\\' => match chars.next() {
                Some('/') => out.push('/'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    match decode_u(&hex, &mut chars) {
                        Some(ch) => push_as_javascript(&mut out, ch),
                        None => {
                            out.push_str("\\u");
                            out.push_str(&hex.to_lowercase());
                        }
                    }
                }
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    out
}

/// A string's character as `JSON.stringify` writes it.
fn push_as_javascript(out: &mut String, ch: char) {
    match ch {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c < ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push(c),
    }
}

/// The character of a `\uXXXX` escape (`hex` already read), joining a surrogate pair when the
/// next escape completes it; `None` for a lone surrogate or bad hex (kept escaped, as
/// JavaScript does).
fn decode_u(hex: &str, rest: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    let hi = u32::from_str_radix(hex, 16).ok().filter(|_| hex.len() == 4)?;
    if !(0xD800..0xDC00).contains(&hi) {
        return char::from_u32(hi);
    }
    let mut look = rest.clone();
    if look.next() != Some('\\') || look.next() != Some('u') {
        return None;
    }
    let lo_hex: String = look.by_ref().take(4).collect();
    let lo = u32::from_str_radix(&lo_hex, 16).ok().filter(|v| (0xDC00..0xE000).contains(v))?;
    *rest = look;
    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn ev(name: &str, payload: &str, room: Option<&str>) -> Arc<RealtimeEvent> {
        let raw = RawValue::from_string(payload.to_string()).unwrap();
        let mut e = RealtimeEvent::from_raw(name, raw, None);
        e.room_hint = room.map(str::to_string);
        e.received_at_ms = 1_700_000_000_000;
        Arc::new(e)
    }

    #[test]
    fn keeps_the_newest_up_to_the_bound_and_counts_what_went() {
        let mut log = EventLog::new(3);
        for i in 0..5 {
            log.push("a".into(), ev("tick", &format!("{{\"i\":{i}}}"), None));
        }
        let page = log.query(&LogQuery::default(), 10);
        assert_eq!(page.kept, 3);
        assert_eq!(page.dropped, 2);
        let seqs: Vec<u64> = page.entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![5, 4, 3], "newest first");
        assert_eq!(log.clear(), 5);
        assert!(log.is_empty());
        assert_eq!(log.push("a".into(), ev("tick", "1", None)).seq, 6, "numbering goes on");
    }

    #[test]
    fn a_kept_event_does_not_pin_the_body_it_came_in() {
        let message = r#"{"channel_id":"general","message_id":"m1","sender":"a@x","message_details":{"content":"hi","text":"<p>hi</p>"}}"#;
        let body = Arc::new(format!("[{message},\"{}\"]", "x".repeat(10_000)));
        let payload = crate::wire::Payload::within(&body, &body[1..1 + message.len()]);
        let e = Arc::new(RealtimeEvent::from_raw("message_created", payload, None));
        assert!(Arc::strong_count(&body) > 2, "the payload and the view's texts share the body");
        let mut log = EventLog::new(3);
        let entry = log.push("a".into(), e);
        assert_eq!(entry.event.payload.get(), message);
        let crate::events::EventKind::MessageCreated(m) = &entry.event.kind else {
            panic!("{:?}", entry.event.kind)
        };
        assert_eq!((m.content.as_str(), m.html.as_deref()), ("hi", Some("<p>hi</p>")));
        assert_eq!(Arc::strong_count(&body), 1, "the log keeps copies of the event's own bytes");
        let small = ev("tick", "{\"i\":2}", None);
        let kept = log.push("a".into(), Arc::clone(&small));
        assert!(Arc::ptr_eq(&kept.event, &small), "an event holding nothing more is kept as is");
    }

    #[test]
    fn big_events_are_bounded_by_bytes_and_the_newest_is_always_kept() {
        let mut log = EventLog::with_max_bytes(100, 1000);
        let big = format!("\"{}\"", "x".repeat(298)); // 300 bytes + "big" = 303
        for _ in 0..5 {
            log.push("a".into(), ev("big", &big, None));
        }
        let page = log.query(&LogQuery::default(), 10);
        assert_eq!((page.kept, page.dropped), (3, 2), "3 × 303 bytes fit in 1000, 4 do not");
        assert_eq!(page.entries[0].kept, 3);
        assert_eq!(log.push("a".into(), ev("big", &big, None)).kept, 3);
        let huge = format!("\"{}\"", "y".repeat(5000));
        let last = log.push("a".into(), ev("huge", &huge, None)).seq;
        let page = log.query(&LogQuery::default(), 10);
        assert_eq!((page.kept, page.entries[0].seq), (1, last), "alone, but kept");
        log.push("a".into(), ev("tick", "1", None));
        assert_eq!(log.len(), 1, "the huge one goes for the next");
        log.clear();
        for _ in 0..3 {
            log.push("a".into(), ev("big", &big, None));
        }
        assert_eq!(log.len(), 3, "clear forgets the bytes too");
    }

    #[test]
    fn query_filters_by_name_and_searches_room_and_payload_case_insensitively() {
        let mut log = EventLog::new(100);
        log.push("a".into(), ev("ai_progress", r#"{"type": "working", "message": "Fetch"}"#, None));
        log.push("b".into(), ev("message_created", r#"{"text": "hi"}"#, Some("raven:general")));
        log.push("a".into(), ev("ai_progress", r#"{"type": "complete"}"#, None));
        let names = |q: LogQuery, limit| {
            let p = log.query(&q, limit);
            (p.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), p.matched)
        };
        assert_eq!(names(LogQuery::new("ai_", ""), 10), (vec![3, 1], 2));
        assert_eq!(names(LogQuery::new("", "FETCH"), 10), (vec![1], 1));
        assert_eq!(names(LogQuery::new("", "RAVEN:GEN"), 10), (vec![2], 1));
        // The compact form, as the page's JSON.stringify writes it.
        assert_eq!(names(LogQuery::new("", "\"type\":\"working\""), 10), (vec![1], 1));
        assert_eq!(names(LogQuery::new("", ""), 1), (vec![3], 3), "limit bounds rows, not count");
    }

    #[test]
    fn export_is_a_recording_with_the_payload_as_received() {
        let mut log = EventLog::new(10);
        log.push("prod".into(), ev("message_created", r#"{"b": 1,  "a": "\u00e9"}"#, Some("r")));
        let mut recovered = (*ev("x", "null", None)).clone();
        recovered.recovered = true;
        recovered.received_at_ms += 1500;
        log.push("dev".into(), Arc::new(recovered));
        let mut out = Vec::new();
        let redactor = crate::recording::Redactor::default();
        assert_eq!(write_jsonl(&log.snapshot(), &redactor, &mut out).unwrap(), 2);
        let text = String::from_utf8(out.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with(r#"{"kind":"header","format":1,"#), "{}", lines[0]);
        assert_eq!(
            lines[1],
            r#"{"kind":"event","t_ms":0,"at_ms":1700000000000,"dir":"in","env":"prod","name":"message_created","room":"r","args":[{"b": 1,  "a": "\u00e9"}]}"#
        );
        let rec = crate::recording::Recording::read(out.as_slice(), false).unwrap();
        assert_eq!(rec.header.env, None, "two environments");
        let events: Vec<_> = rec.events().collect();
        assert_eq!((events[1].t_ms, events[1].via.as_deref()), (1500, Some("backfill")));
    }

    #[test]
    fn compact_json_matches_what_javascript_prints() {
        assert_eq!(compact_json(r#"{ "a" : [1, 2], "b": "x y" }"#), r#"{"a":[1,2],"b":"x y"}"#);
        assert_eq!(compact_json(r#""caf\u00e9 \/ \ud83d\ude00""#), "\"café / 😀\"");
        // Escaped as JSON.stringify escapes them.
        assert_eq!(
            compact_json(r#""\u0022 \u005C \u0001 \u000A \uD800 \n""#),
            r#""\" \\ \u0001 \n \ud800 \n""#
        );
    }
}
