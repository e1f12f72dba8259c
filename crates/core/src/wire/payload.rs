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
        let base = source.as_ptr() as usize;
        let at = part.as_ptr() as usize;
        match at.checked_sub(base) {
            Some(start) if start + part.len() <= source.len() => {
                Payload { source: Arc::clone(source), start, end: start + part.len() }
            }
            _ => Payload::own(part.to_string()),
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
    fn a_raw_value_becomes_a_payload_with_the_same_text() {
        let raw = RawValue::from_string(r#"{"b": [1, 2]}"#.into()).unwrap();
        let p = Payload::from(raw);
        assert_eq!(p.get(), r#"{"b": [1, 2]}"#);
        assert_eq!(p.raw().get(), p.get());
    }
}
