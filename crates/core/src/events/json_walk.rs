//! A walk over JSON text that is already known to be valid (a `RawValue`): it finds where
//! an object's members and their values begin and end, and nothing more. No tree, no second
//! validation, nothing copied. Used by the typed views ([`super::payload_fields`]), which
//! hand anything the walk cannot vouch for to serde.

/// One member's value: where it starts in the text, read only as far as it is used.
pub(super) struct Value<'a> {
    text: &'a str,
    start: usize,
    /// Known once read or descended into; the walk skips it otherwise.
    end: Option<usize>,
}

impl<'a> Value<'a> {
    pub(super) fn raw(&mut self) -> Option<&'a str> {
        let end = self.end()?;
        Some(&self.text[self.start..end])
    }

    /// Where the value ends: known if it was read or entered, found (and kept) otherwise.
    fn end(&mut self) -> Option<usize> {
        if self.end.is_none() {
            self.end = Some(value_end(self.text.as_bytes(), self.start)?);
        }
        self.end
    }

    /// A string without escapes, borrowed; `None` for anything else (read it with `raw`).
    pub(super) fn plain_str(&mut self) -> Option<&'a str> {
        let b = self.text.as_bytes();
        if b.get(self.start) != Some(&b'"') {
            return None;
        }
        let (close, escaped) = string_end(b, self.start + 1)?;
        self.end = Some(close + 1);
        (!escaped).then(|| &self.text[self.start + 1..close])
    }

    /// Walk into an object value, member by member; `None` for anything but an object.
    pub(super) fn members<F: FnMut(&'a str, &mut Value<'a>) -> Option<()>>(
        &mut self,
        f: &mut F,
    ) -> Option<()> {
        self.end = Some(members(self.text, self.start, f)?);
        Some(())
    }

    pub(super) fn is_null(&self) -> bool {
        self.text[self.start..].starts_with("null")
    }
}

/// Walk the members of the object at `start`, returning where it ends. `None` when the text
/// there is not an object whose keys are plain strings, or `f` declines a member.
pub(super) fn members<'a, F: FnMut(&'a str, &mut Value<'a>) -> Option<()>>(
    text: &'a str,
    start: usize,
    f: &mut F,
) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, start);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (key_end, escaped) = string_end(b, i + 1)?;
        if escaped {
            return None;
        }
        let key = &text[i + 1..key_end];
        i = skip_ws(b, key_end + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let mut value = Value { text, start: i, end: None };
        f(key, &mut value)?;
        i = skip_ws(b, value.end()?);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Some(i + 1),
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The index of the quote closing the string whose first character is at `i`, and whether
/// the string has escapes (the wire's scan; on checked text it cannot fail).
fn string_end(b: &[u8], i: usize) -> Option<(usize, bool)> {
    crate::wire::json_check::string_end(b, i).ok()
}

/// Where the JSON value starting at `i` ends (exclusive).
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => Some(string_end(b, i + 1)?.0 + 1),
        b'{' | b'[' => {
            let (mut depth, mut j) = (0usize, i);
            loop {
                match *b.get(j)? {
                    b'"' => j = string_end(b, j + 1)?.0,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let n = b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(b.len() - i);
            (n > 0).then_some(i + n)
        }
    }
}
