//! The connect pipeline of Frappe's `realtime/middlewares/authenticate.js`, as a pure function.
//!
//! Input is what the real middleware sees: the headers of the first Engine.IO request and the
//! namespace. Output is the identity the socket gets, or the exact refusal string that becomes
//! `44/<ns>,{"message":…}`. Keeping it free of I/O lets every row of the spec's table be unit
//! tested byte for byte.

use base64::Engine as _;
use http::HeaderMap;

use crate::config::{Mode, SimConfig};

/// Who a socket is once the pipeline accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub site: String,
    /// `None` = accepted with no identity (secret mismatch): no rooms, no handlers.
    pub user: Option<String>,
    pub user_type: Option<String>,
}

impl Identity {
    /// The simulated auth callback answered `{}`: connected but deaf.
    pub fn deaf(site: String) -> Self {
        Identity { site, user: None, user_type: None }
    }
}

pub const MSG_INVALID_NAMESPACE: &str = "Invalid namespace";
pub const MSG_INVALID_ORIGIN: &str = "Invalid origin";
pub const MSG_MISSING_BOTH: &str =
    "Missing cookie and authorization header. Either one needed for authentication.";
pub const MSG_NO_COOKIE_V15: &str = "No cookie transmitted.";
pub const MSG_NO_METHOD: &str =
    "No authentication method used. Use cookie or authorization header.";
pub const MSG_BAD_TOKEN: &str =
    "Unauthorized: TypeError: Cannot read properties of undefined (reading 'installed_apps')";
pub const MSG_FETCH_FAILED: &str = "Unauthorized: TypeError: fetch failed";

/// `hostname()` of `realtime/utils.js`: the part between `//` and the next `/`, cut at the
/// first `:`. Works on `Host` values (`a.b:8000`) and origins (`http://a.b:8000`).
pub fn hostname(value: &str) -> &str {
    let rest = match value.find("://") {
        Some(i) => &value[i + 3..],
        None => value,
    };
    let rest = rest.split('/').next().unwrap_or("");
    rest.split(':').next().unwrap_or("")
}

/// A header's value the way Node sees it: repeated headers joined with `", "`.
pub fn header_joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// Site resolution (spec §3.2): `X-Frappe-Site-Name` → default site for localhost hosts →
/// hostname(Origin) → hostname(Host).
pub fn resolve_site(headers: &HeaderMap, default_site: &str) -> Option<String> {
    if let Some(v) = header_joined(headers, "x-frappe-site-name") {
        return Some(hostname(&v).to_string());
    }
    let host = header_joined(headers, "host");
    if let Some(h) = &host {
        let name = hostname(h);
        if name == "localhost" || name == "127.0.0.1" {
            return Some(default_site.to_string());
        }
    }
    if let Some(o) = header_joined(headers, "origin") {
        return Some(hostname(&o).to_string());
    }
    host.map(|h| hostname(&h).to_string())
}

fn cookie_sid(cookie: &str) -> Option<&str> {
    cookie
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "sid")
        .map(|(_, v)| v)
}

/// What the credential resolution decided (the simulated `get_user_info` answer).
enum Credential {
    User(String),
    Guest,
    Rejected,
}

fn resolve_authorization(config: &SimConfig, authorization: &str) -> Credential {
    let parts: Vec<&str> = authorization.split(' ').collect();
    if parts.len() != 2 {
        return Credential::Rejected;
    }
    let (scheme, value) = (parts[0].to_ascii_lowercase(), parts[1]);
    let user = match scheme.as_str() {
        "token" => config.api_tokens.get(value).cloned(),
        "basic" => base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|pair| config.api_tokens.get(&pair).cloned()),
        "bearer" => config.bearer_tokens.get(value).cloned(),
        _ => None,
    };
    user.map_or(Credential::Rejected, Credential::User)
}

fn resolve_sid(config: &SimConfig, sid: &str) -> Credential {
    match config.sessions.get(sid) {
        Some(user) => Credential::User(user.clone()),
        None => Credential::Guest,
    }
}

/// A REST request whose `Authorization` header does not validate (HTTP 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthorized;

/// Who a REST request is, the way Frappe's `validate_auth` + session resume decide it:
/// a two-part `Authorization` header must validate (`Err` = HTTP 401), otherwise the cookie
/// The `sid` cookie of a request, if any.
pub fn cookie_sid_of(headers: &HeaderMap) -> Option<String> {
    header_joined(headers, "cookie").as_deref().and_then(cookie_sid).map(str::to_string)
}

/// `sid` resolves to its user, or silently to Guest.
pub fn rest_user(config: &SimConfig, headers: &HeaderMap) -> Result<String, Unauthorized> {
    if let Some(auth) = header_joined(headers, "authorization") {
        return match resolve_authorization(config, &auth) {
            Credential::User(u) => Ok(u),
            _ => Err(Unauthorized),
        };
    }
    let sid = header_joined(headers, "cookie");
    match sid.as_deref().and_then(cookie_sid).map(|sid| resolve_sid(config, sid)) {
        Some(Credential::User(u)) => Ok(u),
        _ => Ok("Guest".into()),
    }
}

/// Run the pipeline. `web_origins` are the origins (scheme://host:port) where the simulated
/// web process answers for this site; an Origin elsewhere makes the callback fail.
/// `secret_mismatch` makes a successful callback answer `{}`.
pub fn authenticate(
    config: &SimConfig,
    headers: &HeaderMap,
    namespace: &str,
    web_origins: &[String],
    secret_mismatch: bool,
) -> Result<Identity, String> {
    let ns = namespace.trim_start_matches('/');
    let site = resolve_site(headers, &config.default_site).unwrap_or_default();
    if ns != site || !config.sites.iter().any(|s| s == ns) {
        return Err(MSG_INVALID_NAMESPACE.into());
    }
    let origin = header_joined(headers, "origin");
    let host = header_joined(headers, "host").unwrap_or_default();
    match &origin {
        Some(o) if hostname(o) == hostname(&host) => {}
        _ => return Err(MSG_INVALID_ORIGIN.into()),
    }
    let origin = origin.unwrap_or_default();
    let cookie = header_joined(headers, "cookie");
    let authorization = header_joined(headers, "authorization");
    match config.mode {
        Mode::V15 if cookie.is_none() => return Err(MSG_NO_COOKIE_V15.into()),
        _ if cookie.is_none() && authorization.is_none() => return Err(MSG_MISSING_BOTH.into()),
        _ => {}
    }
    let sid = cookie.as_deref().and_then(cookie_sid);
    if sid.is_none() && authorization.is_none() {
        return Err(MSG_NO_METHOD.into());
    }
    // The callback goes to `<Origin>/api/method/…`: an origin that is not a URL fails to
    // parse, one where no web process listens fails to fetch.
    if origin.contains(", ") || !origin.contains("://") {
        return Err(format!(
            "Unauthorized: TypeError: Failed to parse URL from {origin}/api/method/frappe.realtime.get_user_info"
        ));
    }
    let origin_base = origin.trim_end_matches('/');
    if !web_origins.iter().any(|w| w == origin_base) {
        return Err(match config.mode {
            Mode::V15 => {
                let hostport = origin_base.split("://").nth(1).unwrap_or(origin_base);
                format!("Unauthorized: Error: connect ECONNREFUSED {hostport}")
            }
            _ => MSG_FETCH_FAILED.into(),
        });
    }
    let credential = match (config.mode, sid, authorization.as_deref()) {
        (Mode::V15, Some(sid), _) => resolve_sid(config, sid),
        (_, _, Some(auth)) => resolve_authorization(config, auth),
        (_, Some(sid), None) => resolve_sid(config, sid),
        (_, None, None) => unreachable!("checked above: sid or authorization present"),
    };
    let user = match credential {
        Credential::Rejected => return Err(MSG_BAD_TOKEN.into()),
        Credential::Guest => "Guest".to_string(),
        Credential::User(u) => u,
    };
    if secret_mismatch {
        return Ok(Identity::deaf(site));
    }
    let user_type = if user == "Guest" {
        match config.mode {
            Mode::V15 => None,
            _ => Some("Website User".to_string()),
        }
    } else {
        config.user_type(&user)
    };
    Ok(Identity { site, user: Some(user), user_type })
}

/// The rooms Frappe's handler joins on connect (spec §4).
pub fn initial_rooms(identity: &Identity) -> Vec<String> {
    let Some(user) = &identity.user else {
        return Vec::new();
    };
    let mut rooms = vec![format!("user:{user}"), "website".to_string()];
    if identity.user_type.as_deref() == Some("System User") {
        rooms.push("all".into());
    }
    rooms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_SITE, DEFAULT_USER};

    const ORIGIN: &str = "http://127.0.0.1:18000";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn run(config: &SimConfig, pairs: &[(&str, &str)], ns: &str) -> Result<Identity, String> {
        authenticate(config, &headers(pairs), ns, &[ORIGIN.to_string()], false)
    }

    fn base<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut v = vec![("host", "127.0.0.1:18000"), ("origin", ORIGIN)];
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn hostname_matches_node_helper() {
        assert_eq!(hostname("http://a.b:8000"), "a.b");
        assert_eq!(hostname("a.b:8000"), "a.b");
        assert_eq!(hostname("https://a.b/x"), "a.b");
        assert_eq!(hostname("http://a, b"), "a, b");
    }

    #[test]
    fn good_sid_token_basic_bearer_connect() {
        let c = SimConfig::default();
        let ns = "/raven.test";
        for extra in [
            ("cookie", "sid=good-sid"),
            ("authorization", "token key:secret"),
            ("authorization", "Basic a2V5OnNlY3JldA=="),
            ("authorization", "Bearer good-bearer"),
        ] {
            let id = run(&c, &base(&[extra]), ns).unwrap();
            assert_eq!(id.user.as_deref(), Some(DEFAULT_USER), "{extra:?}");
            assert_eq!(initial_rooms(&id), vec!["user:test@example.com", "website", "all"]);
        }
    }

    #[test]
    fn refusals_use_the_exact_strings_in_order() {
        let c = SimConfig::default();
        let ns = "/raven.test";
        assert_eq!(
            run(&c, &base(&[("cookie", "sid=good-sid")]), "/other.site"),
            Err(MSG_INVALID_NAMESPACE.into())
        );
        assert_eq!(
            run(&c, &[("host", "127.0.0.1:18000"), ("cookie", "sid=good-sid")], ns),
            Err(MSG_INVALID_ORIGIN.into())
        );
        assert_eq!(
            run(
                &c,
                &[
                    ("host", "127.0.0.1:18000"),
                    ("origin", "http://evil.example"),
                    ("x-frappe-site-name", DEFAULT_SITE),
                    ("cookie", "sid=good-sid")
                ],
                ns
            ),
            Err(MSG_INVALID_ORIGIN.into())
        );
        assert_eq!(run(&c, &base(&[]), ns), Err(MSG_MISSING_BOTH.into()));
        assert_eq!(run(&c, &base(&[("cookie", "theme=dark")]), ns), Err(MSG_NO_METHOD.into()));
        assert_eq!(
            run(&c, &base(&[("authorization", "token key:wrong")]), ns),
            Err(MSG_BAD_TOKEN.into())
        );
        assert_eq!(
            run(&c, &base(&[("authorization", "tokenonly")]), ns),
            Err(MSG_BAD_TOKEN.into())
        );
    }

    #[test]
    fn unknown_sid_is_guest_not_an_error() {
        let c = SimConfig::default();
        let id = run(&c, &base(&[("cookie", "sid=expired")]), "/raven.test").unwrap();
        assert_eq!(id.user.as_deref(), Some("Guest"));
        assert_eq!(initial_rooms(&id), vec!["user:Guest", "website"]);
    }

    #[test]
    fn origin_where_no_web_process_answers_fails_the_callback() {
        let c = SimConfig::default();
        let h = headers(&[
            ("host", "127.0.0.1:9000"),
            ("origin", "http://127.0.0.1:9000"),
            ("cookie", "sid=good-sid"),
        ]);
        let e = authenticate(&c, &h, "/raven.test", &[ORIGIN.into()], false).unwrap_err();
        assert_eq!(e, MSG_FETCH_FAILED);
    }

    #[test]
    fn duplicated_origin_passes_origin_check_then_fails_to_parse() {
        let c = SimConfig::default();
        let h = headers(&[
            ("host", "127.0.0.1:18000"),
            ("origin", ORIGIN),
            ("origin", ORIGIN),
            ("cookie", "sid=good-sid"),
        ]);
        let e = authenticate(&c, &h, "/raven.test", &[ORIGIN.into()], false).unwrap_err();
        assert_eq!(
            e,
            "Unauthorized: TypeError: Failed to parse URL from http://127.0.0.1:18000, http://127.0.0.1:18000/api/method/frappe.realtime.get_user_info"
        );
    }

    #[test]
    fn site_header_wins_and_localhost_uses_default_site() {
        let c = SimConfig::default();
        let h = headers(&[
            ("host", "localhost:18000"),
            ("origin", "http://localhost:18000"),
            ("x-frappe-site-name", "raven.test"),
            ("cookie", "sid=good-sid"),
        ]);
        assert!(
            authenticate(&c, &h, "/raven.test", &["http://localhost:18000".into()], false).is_ok()
        );
    }

    #[test]
    fn v15_needs_a_cookie_and_prefers_the_sid() {
        let c = SimConfig { mode: Mode::V15, ..SimConfig::default() };
        let ns = "/raven.test";
        assert_eq!(
            run(&c, &base(&[("authorization", "token key:secret")]), ns),
            Err(MSG_NO_COOKIE_V15.into())
        );
        let id =
            run(&c, &base(&[("cookie", "sid=expired"), ("authorization", "token key:secret")]), ns)
                .unwrap();
        assert_eq!(id.user.as_deref(), Some("Guest"), "v15: the sid wins over the token");
        assert_eq!(id.user_type, None);
    }

    #[test]
    fn secret_mismatch_accepts_with_no_identity() {
        let c = SimConfig::default();
        let h = headers(&base(&[("cookie", "sid=good-sid")]));
        let id = authenticate(&c, &h, "/raven.test", &[ORIGIN.into()], true).unwrap();
        assert_eq!(id.user, None);
        assert!(initial_rooms(&id).is_empty());
    }
}
