//! An event's payload: its raw JSON text, checked once by the codec, kept byte for byte.
//!
//! A polling body carries dozens of events; a WebSocket frame carries one. Either way the
//! payload is a slice of the text it arrived in, shared, not copied: an event costs a
//! reference count, not an allocation and a copy of its ~1 KB of JSON (with glibc's
//! allocator, blocks that size miss the per-thread cache; the copy and its allocation were a
//! tenth of a polled Raven message's ingest). The text lives while any of its events does:
//! a consumer that keeps a few events of many bodies for long (an event log) takes
//! [`Payload::compact`] copies so one kept event does not pin a whole body.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::json_check;

/// Raw JSON text, valid by construction: cut from text the codec checked, or taken from a
/// `RawValue` (which serde checked).
#[derive(Clone)]
pub struct Payload {
    /// The text the payload arrived in (a body, a frame), or its own.
    source: Arc<String>,
    start: usize,
    end: usize,
}

/// A payload sharing a text larger than itself by more than this is copied out by
/// [`Payload::compact`]: what a kept event may pin beyond its own bytes.
const COMPACT_SLACK: usize = 4096;

impl Payload {
    /// `part` of `source`, which the codec checked as one JSON value. Falls back to a copy
    /// if `part` is not inside `source` (never the case on the codec's path).
    pub(crate) fn within(source: &Arc<String>, part: &str) -> Payload {
        match span_in(source, 0..source.len(), part) {
            Some((start, end)) => Payload { source: Arc::clone(source), start, end },
            None => Payload::own(part.to_string()),
        }
    }

    /// JSON text the codec (or serde) checked, as a payload of its own.
    pub(crate) fn own(text: String) -> Payload {
        let end = text.len();
        Payload { source: Arc::new(text), start: 0, end }
    }

    /// The JSON text, exactly as received.
    pub fn get(&self) -> &str {
        &self.source[self.start..self.end]
    }

    /// The text as serde_json's raw value (no second validation).
    pub fn raw(&self) -> &RawValue {
        json_check::raw_value(self.get())
    }

    /// A copy of its own when this payload shares a text much larger than itself (a slice of
    /// a polling body); `None` when it holds nothing beyond itself worth giving back.
    pub fn compact(&self) -> Option<Payload> {
        (self.source.len() > self.end - self.start + COMPACT_SLACK)
            .then(|| Payload::own(self.get().to_string()))
    }
}

impl Payload {
    /// `s`, a JSON string's contents read from this payload, as [`Text`]: shared when it is
    /// a slice of the payload's text (a string without escapes), a copy otherwise.
    pub(crate) fn text(&self, s: &str) -> Text {
        match span_in(&self.source, self.start..self.end, s) {
            Some((start, end)) => {
                Text(TextRepr::Shared { source: Arc::clone(&self.source), start, end })
            }
            None => Text::from(s),
        }
    }
}

/// A string read from an event's payload (a Raven message's text, its channel, its sender):
/// a slice of the payload's text, shared, when the JSON string had no escapes — a view
/// costs no allocation per field — or text of its own.
#[derive(Clone)]
pub struct Text(TextRepr);

#[derive(Clone)]
enum TextRepr {
    Shared { source: Arc<String>, start: usize, end: usize },
    Own(Box<str>),
}

impl Text {
    pub fn as_str(&self) -> &str {
        match &self.0 {
            TextRepr::Shared { source, start, end } => &source[*start..*end],
            TextRepr::Own(s) => s,
        }
    }
}

impl Text {
    /// The same text holding nothing else: a shared slice becomes a copy of its own.
    pub fn detached(&self) -> Text {
        match &self.0 {
            TextRepr::Shared { .. } => Text::from(self.as_str()),
            TextRepr::Own(_) => self.clone(),
        }
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Default for Text {
    fn default() -> Text {
        Text(TextRepr::Own(Box::default()))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text(TextRepr::Own(s.into()))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(TextRepr::Own(s.into_boxed_str()))
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h);
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Where `part` lies in `source`, if it is a slice of `source` within `range` (found by
/// address: the codec's slices borrow from the text they were cut from).
fn span_in(source: &str, range: std::ops::Range<usize>, part: &str) -> Option<(usize, usize)> {
    let start = (part.as_ptr() as usize).checked_sub(source.as_ptr() as usize)?;
    let end = start + part.len();
    (start >= range.start && end <= range.end).then_some((start, end))
}

impl From<Box<RawValue>> for Payload {
    fn from(raw: Box<RawValue>) -> Payload {
        Payload::own(String::from(Box::<str>::from(raw)))
    }
}

impl From<&RawValue> for Payload {
    fn from(raw: &RawValue) -> Payload {
        Payload::own(raw.get().to_string())
    }
}

impl Serialize for Payload {
    /// The text itself, unescaped (a raw value), as `Box<RawValue>` serializes.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw().serialize(s)
    }
}

impl fmt::Display for Payload {
    /// The JSON text, like `RawValue`'s.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Payload").field(&format_args!("{}", self.get())).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_shares_its_source_and_reads_as_the_slice() {
        let body = Arc::new(r#"42["e",{"a":1}]"#.to_string());
        let part = &body[7..14];
        let p = Payload::within(&body, part);
        assert_eq!(p.get(), r#"{"a":1}"#);
        assert_eq!(Arc::strong_count(&body), 2, "shared, not copied");
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"a":1}"#);
        assert_eq!(format!("{p:?}"), r#"Payload({"a":1})"#);
    }

    #[test]
    fn text_from_elsewhere_is_copied() {
        let body = Arc::new("[1]".to_string());
        let p = Payload::within(&body, "{}");
        assert_eq!(p.get(), "{}");
        assert_eq!(Arc::strong_count(&body), 1);
    }

    #[test]
    fn compact_gives_back_a_large_body_and_keeps_a_small_one() {
        let big = Arc::new(format!("[1,{}]", "2,".repeat(5000) + "3"));
        let p = Payload::within(&big, &big[1..2]);
        let c = p.compact().expect("a 1-byte payload of a 10 KB body is copied out");
        assert_eq!(c.get(), "1");
        assert_eq!(Arc::strong_count(&big), 2, "the copy does not hold the body");
        drop(p);
        assert_eq!(Arc::strong_count(&big), 1);
        let small = Arc::new("[1,2]".to_string());
        assert!(Payload::within(&small, &small[1..2]).compact().is_none());
    }

    #[test]
    fn text_inside_the_payload_is_shared_and_text_outside_is_copied() {
        let body = Arc::new(r#"42["e",{"a":"hi","b":"x\"y"}]"#.to_string());
        let p = Payload::within(&body, &body[7..body.len() - 1]);
        let hi = p.text(&p.get()[6..8]);
        assert_eq!(hi, "hi");
        assert_eq!(Arc::strong_count(&body), 3, "the field shares the body");
        let unescaped = String::from("x\"y");
        let own = p.text(&unescaped);
        assert_eq!(own, "x\"y");
        assert_eq!(Arc::strong_count(&body), 3);
        assert_eq!(serde_json::to_string(&own).unwrap(), r#""x\"y""#);
        assert_eq!(format!("{hi} {hi:?}"), "hi \"hi\"");
        let outside = Arc::new("[\"zz\"]".to_string());
        assert_eq!(p.text(&outside[2..4]), "zz", "another text's slice is copied");
        assert_eq!(Arc::strong_count(&outside), 1);
    }

    #[test]
    fn a_raw_value_becomes_a_payload_with_the_same_text() {
        let raw = RawValue::from_string(r#"{"b": [1, 2]}"#.into()).unwrap();
        let p = Payload::from(raw);
        assert_eq!(p.get(), r#"{"b": [1, 2]}"#);
        assert_eq!(p.raw().get(), p.get());
    }
}
