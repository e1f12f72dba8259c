//! Keeping secrets out of recordings. A line is redacted as JSON text, string by string,
//! without building a tree: the connection's own credentials wherever they appear, the value
//! of any field whose name says it is a secret, and `sid=…`, `token=…`, `Bearer …`,
//! `Cookie: …` forms inside texts (error messages carry URLs and headers).
//!
//! A redacted string becomes `"[redacted]"`; the line stays valid JSON.

use std::borrow::Cow;

use crate::auth::Credentials;
use crate::target::Target;

pub const REDACTED: &str = "[redacted]";

/// Field names whose values are never written (compared lowercased). Not `token`: agents
/// stream model tokens under that name; a token that is our credential is caught by value.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "api_secret",
    "client_secret",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "access_token",
    "refresh_token",
    "id_token",
    "jwt",
    "sid",
    "auth",
    "api_key",
    "apikey",
    "private_key",
    "passphrase",
];

/// `name=value` forms (query strings, cookies) whose value is a secret.
const SECRET_PARAMS: &[&str] =
    &["sid", "token", "access_token", "password", "pwd", "auth", "api_key", "secret", "jwt"];

/// `Scheme value` forms (Authorization headers) whose value is a secret.
const SECRET_SCHEMES: &[&str] = &["bearer ", "basic ", "token "];

/// Header names whose whole value is a secret, written `Name: value` in texts.
const SECRET_HEADERS: &[&str] = &["cookie:", "authorization:", "proxy-authorization:"];

/// Secrets shorter than this are not searched for by value (a 2-character password would
/// blank every matching pair of letters); the rules by name still apply to them.
const MIN_SECRET_LEN: usize = 4;

/// What to redact in one recording.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Each secret as it appears inside a JSON string (escaped), longest first.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new<I: IntoIterator<Item = String>>(secrets: I) -> Redactor {
        let mut v: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .map(|s| {
                let quoted = serde_json::to_string(&s).unwrap_or_default();
                quoted[1..quoted.len().saturating_sub(1).max(1)].to_string()
            })
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        v.dedup();
        Redactor { secrets: v }
    }

    /// The secrets of a target: its credentials, the proxy's password, extra header values.
    pub fn for_target(t: &Target) -> Redactor {
        Redactor::new(secrets_of(t))
    }

    /// The secrets of several targets (an export of the app's log).
    pub fn for_targets<'a>(targets: impl IntoIterator<Item = &'a Target>) -> Redactor {
        Redactor::new(targets.into_iter().flat_map(secrets_of))
    }

    /// Add a secret learnt later (the sid of a login).
    pub fn add(&mut self, secret: &str) {
        let more = Redactor::new([secret.to_string()]);
        self.secrets.extend(more.secrets);
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self.secrets.dedup();
    }

    /// `line` (one JSON value) with every secret replaced.
    pub fn line<'a>(&self, line: &'a str) -> Cow<'a, str> {
        let b = line.as_bytes();
        let mut out = String::new();
        let mut copied = 0;
        let mut i = 0;
        let mut secret_key = false;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    let end = string_end(b, i);
                    let inner = &line[i + 1..end.saturating_sub(1).max(i + 1)];
                    let is_key = b[end..].iter().find(|c| !c.is_ascii_whitespace()) == Some(&b':');
                    let replaced: Option<Cow<'_, str>> = if is_key {
                        secret_key = SECRET_KEYS.iter().any(|k| inner.eq_ignore_ascii_case(k));
                        None
                    } else if std::mem::take(&mut secret_key) {
                        Some(Cow::Borrowed(REDACTED))
                    } else {
                        match self.text(inner) {
                            Cow::Owned(t) => Some(Cow::Owned(t)),
                            Cow::Borrowed(_) => None,
                        }
                    };
                    if let Some(r) = replaced {
                        out.push_str(&line[copied..i + 1]);
                        out.push_str(&r);
                        out.push('"');
                        copied = end;
                    }
                    i = end;
                }
                b'{' | b'[' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' if secret_key => {
                    // A secret field whose value is not a string (an `auth` object): all of it.
                    secret_key = false;
                    let end = value_end(b, i);
                    out.push_str(&line[copied..i]);
                    out.push('"');
                    out.push_str(REDACTED);
                    out.push('"');
                    copied = end;
                    i = end;
                }
                b',' | b'}' | b']' => {
                    secret_key = false;
                    i += 1;
                }
                _ => i += 1,
            }
        }
        if copied == 0 {
            return Cow::Borrowed(line);
        }
        out.push_str(&line[copied..]);
        Cow::Owned(out)
    }

    /// The inside of a JSON string with secrets replaced.
    fn text<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let mut t = Cow::Borrowed(s);
        for secret in &self.secrets {
            if t.contains(secret.as_str()) {
                t = Cow::Owned(t.replace(secret.as_str(), REDACTED));
            }
        }
        let lower = t.to_ascii_lowercase();
        let mut cuts: Vec<(usize, usize)> = Vec::new();
        for p in SECRET_PARAMS {
            for (at, _) in lower.match_indices(&format!("{p}=")) {
                if at == 0 || !is_word(lower.as_bytes()[at - 1]) {
                    let start = at + p.len() + 1;
                    cuts.push((start, param_end(&lower, start)));
                }
            }
        }
        for scheme in SECRET_SCHEMES {
            for (at, _) in lower.match_indices(scheme) {
                let start = at + scheme.len();
                let end = param_end(&lower, start);
                // `token key:secret` (Frappe) and `Bearer xyz`; "token expired" is prose.
                let credential = &lower[start..end];
                let looks_like = credential.len() >= 8
                    && (*scheme != "token " || credential.contains(':'))
                    && (at == 0 || !is_word(lower.as_bytes()[at - 1]));
                if looks_like {
                    cuts.push((start, end));
                }
            }
        }
        for h in SECRET_HEADERS {
            for (at, _) in lower.match_indices(h) {
                if at == 0 || !is_word(lower.as_bytes()[at - 1]) {
                    let start = at + h.len();
                    let end = lower[start..].find("\\n").map_or(lower.len(), |e| start + e);
                    cuts.push((start, end));
                }
            }
        }
        if cuts.is_empty() {
            return t;
        }
        cuts.sort();
        let mut out = String::with_capacity(t.len());
        let mut at = 0;
        for (start, end) in cuts {
            if start < at || end <= start {
                continue;
            }
            out.push_str(&t[at..start]);
            out.push_str(REDACTED);
            at = end;
        }
        out.push_str(&t[at..]);
        Cow::Owned(out)
    }
}

/// What counts as a secret of `t`.
fn secrets_of(t: &Target) -> Vec<String> {
    let mut s: Vec<String> = match &t.credentials {
        Credentials::None => vec![],
        Credentials::Login { password, .. } => vec![password.expose().into()],
        Credentials::Sid(x) | Credentials::Bearer(x) | Credentials::Jwt(x) => {
            vec![x.expose().into()]
        }
        Credentials::ApiToken { key, secret } => {
            vec![format!("{key}:{}", secret.expose()), secret.expose().into()]
        }
    };
    if let crate::proxy::ProxyChoice::Via(p) = &t.proxy
        && let Some(pw) = &p.password
    {
        s.push(pw.expose().into());
    }
    s.extend(t.extra_headers.iter().map(|(_, v)| v.clone()));
    s
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Where a parameter's value ends inside an escaped JSON string.
fn param_end(s: &str, start: usize) -> usize {
    s[start..].find(['&', ';', ',', ' ', '\\', '\'', ')', '>', '#']).map_or(s.len(), |e| start + e)
}

/// The index just past the string starting at `b[i] == '"'`.
fn string_end(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// The index just past the JSON value starting at `i` (not a string).
fn value_end(b: &[u8], i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' => {
                j = string_end(b, j);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return j,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            b',' if depth == 0 => return j,
            _ => {}
        }
        j += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new(["s3cr3t-sid".to_string(), "pa\"ss".to_string(), "ab".to_string()])
    }

    fn valid(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
    }

    #[test]
    fn credentials_by_value_field_names_and_forms_in_texts() {
        let line = r#"{"kind":"event","args":[{"msg":"cookie sid=s3cr3t-sid here","password":"x","auth":{"token":"t"},"n":[1,2],"note":"pa\"ss!","ab":"ab cd"}]}"#;
        let out = r().line(line);
        let v = valid(&out);
        let a = &v["args"][0];
        assert_eq!(a["msg"], "cookie sid=[redacted] here");
        assert_eq!(a["password"], REDACTED);
        assert_eq!(a["auth"], REDACTED, "a secret field's object goes whole");
        assert_eq!(a["n"], serde_json::json!([1, 2]));
        assert_eq!(a["note"], "[redacted]!");
        assert_eq!(a["ab"], "ab cd", "short secrets are not searched by value");
    }

    #[test]
    fn urls_headers_and_schemes_in_error_texts() {
        let line = r#"{"state":"reconnecting","last_error":"GET http://h/socket.io/?EIO=4&transport=polling&sid=Abc123 failed; Authorization: token key:verysecret\nnext; Bearer eyJhbGciOiJIUzI1NiJ9.x.y; token expired"}"#;
        let v = valid(&r().line(line));
        let e = v["last_error"].as_str().unwrap();
        assert!(!e.contains("Abc123") && !e.contains("verysecret") && !e.contains("eyJhbG"), "{e}");
        assert!(e.contains("token expired"), "prose stays: {e}");
        assert!(e.contains("transport=polling"), "{e}");
    }

    #[test]
    fn a_line_without_secrets_is_not_copied() {
        let line = r#"{"a":"b","c":[1,{"d":null}]}"#;
        assert!(matches!(r().line(line), Cow::Borrowed(_)));
    }

    #[test]
    fn secret_fields_of_every_value_kind_keep_the_line_valid() {
        for v in ["1", "-2.5", "true", "null", "[1,[2]]", r#"{"a":{"b":"c"}}"#, r#""s""#] {
            let line = format!(r#"{{"x":1,"sid":{v},"y":2}}"#);
            let out = valid(&r().line(&line));
            assert_eq!(out["sid"], REDACTED, "{v}");
            assert_eq!(out["y"], 2);
        }
    }
}
