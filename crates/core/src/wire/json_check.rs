//! JSON validation in one pass, without building anything, for the packets the client keeps
//! as raw text (an event's arguments, an ack's array).
//!
//! Why not serde: turning an argument into a `&RawValue` made serde_json validate it (its
//! `ignore_value`), and the nesting limit needed a second pass of its own; over polling that
//! pair was a tenth of the client's ingest time for a Raven message. This pass validates,
//! limits the nesting and finds where each argument starts and ends at once, then hands the
//! checked slices to serde_json as `RawValue`s without a second validation ([`raw_value`]).
//!
//! It accepts exactly what serde_json accepts as one value (RFC 8259: no control characters
//! in strings, escapes `\" \\ \/ \b \f \n \r \t \uXXXX` with unpaired surrogates let through
//! as serde's raw values let them through, no leading zeros, nothing after the value but
//! whitespace); `tests/fuzz_codec.rs` compares the two on near-JSON text.

use std::borrow::Cow;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Why a text is not one JSON value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON: what was expected and the byte offset where it was not found.
    #[error("expected {expected} at byte {at}")]
    Syntax { expected: &'static str, at: usize },
    /// Nested deeper than the limit (counting every open array and object).
    #[error("nested deeper than {0} levels")]
    TooDeep(usize),
}

/// An event array's name and arguments, each argument a checked slice of the text.
pub struct EventSlices<'a> {
    pub name: Cow<'a, str>,
    pub args: Vec<&'a str>,
}

/// Check `text` as an event array `["name", arg, …]` nested at most `max_depth` deep (the
/// array itself counts), and slice it.
pub fn event_array(text: &str, max_depth: usize) -> Result<EventSlices<'_>, JsonError> {
    event_slices(text, max_depth).map_err(|e| match e {
        JsonError::TooDeep(_) => JsonError::TooDeep(max_depth),
        e => e,
    })
}

fn event_slices(text: &str, max_depth: usize) -> Result<EventSlices<'_>, JsonError> {
    let mut c = Checker { b: text.as_bytes(), i: 0 };
    c.ws();
    c.expect(b'[', "'['")?;
    c.ws();
    if c.peek() != Some(b'"') {
        return Err(c.error(if c.peek() == Some(b']') {
            "an event name (the array is empty)"
        } else {
            "an event name (a string)"
        }));
    }
    let name_start = c.i;
    let escaped = c.string()?;
    let name_text = &text[name_start..c.i];
    let name = if escaped {
        // Rare (a name with a quote or a `\u` escape); the text is checked already.
        Cow::Owned(serde_json::from_str(name_text).map_err(|_| c.error("an event name"))?)
    } else {
        Cow::Borrowed(&name_text[1..name_text.len() - 1])
    };
    let mut args = Vec::with_capacity(1);
    loop {
        c.ws();
        match c.peek() {
            Some(b',') => {
                c.i += 1;
                c.ws();
                let start = c.i;
                c.value(max_depth.saturating_sub(1))?;
                args.push(&text[start..c.i]);
            }
            Some(b']') => {
                c.i += 1;
                break;
            }
            _ => return Err(c.error("',' or ']'")),
        }
    }
    c.end()?;
    Ok(EventSlices { name, args })
}

/// Check that `text` is one JSON value nested at most `max_depth` deep; the value's text
/// without the whitespace around it.
pub fn value(text: &str, max_depth: usize) -> Result<&str, JsonError> {
    let mut c = Checker { b: text.as_bytes(), i: 0 };
    c.ws();
    let start = c.i;
    c.value(max_depth)?;
    let end = c.i;
    c.end()?;
    Ok(&text[start..end])
}

/// `text`, checked by this module, as serde_json's `RawValue`, without serde validating it a
/// second time. serde_json has no public unchecked constructor; its own deserializer hands a
/// raw value over through a private map entry (`RawValue`'s `Deserialize`), which
/// [`Checked`] plays. Should a serde_json release change that, this falls back to serde's
/// validating parse: slower, never wrong (a unit test says which path is taken).
pub(crate) fn raw_value(text: &str) -> &RawValue {
    match <&RawValue as de::Deserialize>::deserialize(Checked(text)) {
        Ok(raw) => raw,
        Err(_) => serde_json::from_str(text).unwrap_or_else(|_| null()),
    }
}

fn null() -> &'static RawValue {
    serde_json::from_str("null").expect("null is JSON")
}

/// serde_json's private name for a raw value (`serde_json/src/raw.rs`, `TOKEN`).
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// A deserializer that offers one checked text as a raw value, the way serde_json's own does.
struct Checked<'a>(&'a str);

impl<'de> Deserializer<'de> for Checked<'de> {
    type Error = de::value::Error;

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        if name != RAW_VALUE_TOKEN {
            return Err(de::Error::custom("only a raw value"));
        }
        visitor.visit_map(RawEntry { text: Some(self.0) })
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only a raw value"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// The one entry `{TOKEN: text}` of the raw-value hand-over.
struct RawEntry<'a> {
    text: Option<&'a str>,
}

impl<'de> MapAccess<'de> for RawEntry<'de> {
    type Error = de::value::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        if self.text.is_none() {
            return Ok(None);
        }
        seed.deserialize(de::value::BorrowedStrDeserializer::new(RAW_VALUE_TOKEN)).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let text = self.text.take().ok_or_else(|| de::Error::custom("no raw value left"))?;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(text))
    }
}

/// A cursor over the text. Containers are tracked in a bit stack (one bit per open level,
/// set for an object), so the check needs no allocation and no recursion at any depth.
struct Checker<'a> {
    b: &'a [u8],
    i: usize,
}

/// Open levels a [`Checker`]'s bit stack can hold.
const STACK_BITS: usize = 128;

impl Checker<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn error(&self, expected: &'static str) -> JsonError {
        JsonError::Syntax { expected, at: self.i }
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), JsonError> {
        if self.peek() != Some(byte) {
            return Err(self.error(expected));
        }
        self.i += 1;
        Ok(())
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Only whitespace may follow.
    fn end(&mut self) -> Result<(), JsonError> {
        self.ws();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("the end of the text")),
        }
    }

    /// One value at the cursor, at most `max_depth` levels deep.
    fn value(&mut self, max_depth: usize) -> Result<(), JsonError> {
        let max_depth = max_depth.min(STACK_BITS);
        let (mut stack, mut depth) = (0u128, 0usize);
        loop {
            // A value is expected here.
            self.ws();
            match self.peek() {
                Some(b'"') => {
                    self.string()?;
                }
                Some(open @ (b'{' | b'[')) => {
                    if depth == max_depth {
                        return Err(JsonError::TooDeep(max_depth));
                    }
                    let object = open == b'{';
                    self.i += 1;
                    self.ws();
                    let close = if object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        // Empty: a whole value, nothing to keep open.
                        self.i += 1;
                    } else {
                        stack = (stack << 1) | u128::from(object);
                        depth += 1;
                        if object {
                            self.key()?;
                        }
                        continue;
                    }
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(self.error("a value")),
            }
            // A value ended: close every container it ends, or go on to the next member.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                self.ws();
                let object = stack & 1 == 1;
                match (self.peek(), object) {
                    (Some(b','), _) => {
                        self.i += 1;
                        if object {
                            self.ws();
                            self.key()?;
                        }
                        break;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        self.i += 1;
                        stack >>= 1;
                        depth -= 1;
                    }
                    (_, true) => return Err(self.error("',' or '}'")),
                    (_, false) => return Err(self.error("',' or ']'")),
                }
            }
        }
    }

    /// An object's key and its colon.
    fn key(&mut self) -> Result<(), JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("a key (a string)"));
        }
        self.string()?;
        self.ws();
        self.expect(b':', "':'")
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), JsonError> {
        if !self.b[self.i..].starts_with(word) {
            return Err(self.error("a value"));
        }
        self.i += word.len();
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), JsonError> {
        let start = self.i;
        self.digits();
        if self.i == start {
            return Err(self.error("a digit"));
        }
        Ok(())
    }

    /// The string whose opening quote is at the cursor; the cursor ends past its closing
    /// quote. Whether it had escapes.
    fn string(&mut self) -> Result<bool, JsonError> {
        let (close, escaped) = string_end(self.b, self.i + 1)?;
        self.i = close + 1;
        Ok(escaped)
    }
}

/// The index of the quote closing the string whose first character is at `i`, and whether
/// the string has escapes; an error at the first byte that a JSON string may not hold.
/// Eight bytes at a time, like serde_json's own scan: a payload's strings are mostly short
/// keys, too short for `memchr` to pay for itself, too many for a byte loop. (The typed
/// views' walk over checked text finds its strings' ends with this too.)
pub(crate) fn string_end(b: &[u8], mut i: usize) -> Result<(usize, bool), JsonError> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let error = |expected, at| Err(JsonError::Syntax { expected, at });
    let mut escaped = false;
    loop {
        // The first byte that is a quote, a backslash or a control character. Each mask is
        // exact up to its first hit, the lowest byte, which is the one taken.
        let found = loop {
            match b.get(i..i + 8) {
                Some(chunk) => {
                    let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
                    let quote = w ^ (ONES * u64::from(b'"'));
                    let slash = w ^ (ONES * u64::from(b'\\'));
                    let hits = (quote.wrapping_sub(ONES) & !quote)
                        | (slash.wrapping_sub(ONES) & !slash)
                        | (w.wrapping_sub(ONES * 0x20) & !w);
                    let hits = hits & HIGH;
                    if hits != 0 {
                        break i + (hits.trailing_zeros() / 8) as usize;
                    }
                    i += 8;
                }
                None => {
                    let rest = b.get(i..).unwrap_or_default();
                    match rest.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20) {
                        Some(k) => break i + k,
                        None => return error("a closing quote", b.len()),
                    }
                }
            }
        };
        match b[found] {
            b'"' => return Ok((found, escaped)),
            b'\\' => {
                escaped = true;
                i = found + 2;
                match b.get(found + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                    Some(b'u') => {
                        let hex = b.get(found + 2..found + 6);
                        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                            return error("four hex digits after \\u", found);
                        }
                        i += 4;
                    }
                    _ => return error("an escape", found),
                }
            }
            _ => {
                return error(
                    "an escaped control character (a raw one is not allowed in a string)",
                    found,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> bool {
        value(text, 128).is_ok()
    }

    #[test]
    fn accepts_what_json_allows() {
        for text in [
            "0",
            "-0",
            "-12.5e+3",
            "1E9",
            "0.0",
            r#""""#,
            r#""a\"b\\c\/d\b\f\n\r\t\u00e9\uD800""#,
            "  {\"a\" : [1, true, false, null, {}, []] }\n",
            "[[[]]]",
            "\"é – ✓\"",
            "{\"\":\"\"}",
        ] {
            assert!(ok(text), "{text:?} is JSON");
            assert!(serde_json::from_str::<&RawValue>(text).is_ok(), "and serde agrees: {text:?}");
        }
    }

    #[test]
    fn refuses_what_json_does_not() {
        for text in [
            "",
            " ",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "tru",
            "nul",
            "\"abc",
            "\"a\u{1}b\"",
            r#""\x""#,
            r#""\u12G4""#,
            r#""\u12""#,
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "{a:1}",
            "{\"a\":1,}",
            "[1 2]",
            "1 2",
            "[}",
            "{]",
            "[",
            "{",
            "]",
            "'a'",
            "NaN",
        ] {
            assert!(!ok(text), "{text:?} is not JSON");
            assert!(serde_json::from_str::<&RawValue>(text).is_err(), "and serde agrees: {text:?}");
        }
    }

    #[test]
    fn nesting_is_limited_without_recursion() {
        let at = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(value(&at(128), 128).is_ok());
        assert_eq!(value(&at(129), 128), Err(JsonError::TooDeep(128)));
        assert_eq!(value(&at(1_000_000), 128), Err(JsonError::TooDeep(128)), "no stack overflow");
        let mixed = format!("{}1{}", r#"{"a":["#.repeat(64), "]}".repeat(64));
        assert!(value(&mixed, 128).is_ok(), "objects and arrays both count");
        assert_eq!(value(&format!("[{mixed}]"), 128), Err(JsonError::TooDeep(128)));
    }

    #[test]
    fn event_arrays_are_sliced() {
        let e = event_array(r#" ["hello", {"a": [1, "x,]"]} , 2,"t" ] "#, 128).unwrap();
        assert_eq!(e.name, "hello");
        assert!(matches!(e.name, Cow::Borrowed(_)), "a plain name is borrowed");
        assert_eq!(e.args, vec![r#"{"a": [1, "x,]"]}"#, "2", r#""t""#]);
        let e = event_array(r#"["a\"b\u00e9"]"#, 128).unwrap();
        assert_eq!((e.name.as_ref(), e.args.len()), ("a\"bé", 0));
        for bad in [r#"[]"#, r#"[1]"#, r#"["a",]"#, r#"["a" 1]"#, r#"["a"] x"#, r#"{"a":1}"#, "["] {
            assert!(event_array(bad, 128).is_err(), "{bad:?}");
        }
        let deep = format!(r#"["d",{}{}]"#, "[".repeat(127), "]".repeat(127));
        assert!(event_array(&deep, 128).is_ok(), "the array itself is the first level");
        let deeper = format!(r#"["d",{}{}]"#, "[".repeat(128), "]".repeat(128));
        assert_eq!(event_array(&deeper, 128).err(), Some(JsonError::TooDeep(128)));
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(
            value(r#"{"a": 1 "b": 2}"#, 128),
            Err(JsonError::Syntax { expected: "',' or '}'", at: 8 })
        );
    }

    #[test]
    fn checked_text_becomes_a_raw_value_without_a_second_validation() {
        // Only the hand-over can make a `RawValue` of text that is not JSON: if this fails,
        // serde_json changed its private protocol and `raw_value` validates again (slower).
        assert_eq!(raw_value("{not json").get(), "{not json");
        assert_eq!(raw_value(r#"{"a":1}"#).get(), r#"{"a":1}"#);
    }
}
