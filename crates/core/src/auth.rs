//! Credentials and the REST calls around them: Frappe login, identity, site discovery.

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use url::Url;

use crate::secrets::Secret;

/// Resolved credentials for one connection (the profile's method plus its secret).
#[derive(Debug, Clone)]
pub enum Credentials {
    None,
    /// Frappe login; the session logs in (again) whenever it needs a sid.
    Login {
        user: String,
        password: Secret,
    },
    Sid(Secret),
    ApiToken {
        key: String,
        secret: Secret,
    },
    Bearer(Secret),
    Jwt(Secret),
}

impl Credentials {
    pub fn method(&self) -> &'static str {
        match self {
            Credentials::None => "none",
            Credentials::Login { .. } => "login",
            Credentials::Sid(_) => "sid",
            Credentials::ApiToken { .. } => "api_token",
            Credentials::Bearer(_) => "bearer",
            Credentials::Jwt(_) => "jwt",
        }
    }

    /// The `Authorization` header value, for token methods.
    pub fn authorization(&self) -> Option<String> {
        match self {
            Credentials::ApiToken { key, secret } => {
                Some(format!("token {key}:{}", secret.expose()))
            }
            Credentials::Bearer(t) => Some(format!("Bearer {}", t.expose())),
            _ => None,
        }
    }

    /// `sub` of a JWT (read without verifying: the server verifies; we only label).
    pub fn jwt_subject(&self) -> Option<String> {
        let Credentials::Jwt(t) = self else { return None };
        let payload = t.expose().split('.').nth(1)?;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let v: Value = serde_json::from_slice(&raw).ok()?;
        v.get("sub").and_then(Value::as_str).map(str::to_string)
    }
}

/// A failure of a REST call, with the server's own words when it gave any.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// The server answered and refused (`Invalid login credentials`, …), verbatim.
    #[error("{0}")]
    Refused(String),
    /// No usable answer (network, timeout, not Frappe).
    #[error("{0}")]
    Unreachable(String),
}

/// Who the web process says we are.
#[derive(Debug, Clone, PartialEq)]
pub enum WhoAmI {
    User(String),
    /// 403 or `Guest`: the sid is unknown or expired.
    Guest,
    /// 401: the token or key is not accepted.
    Rejected(String),
}

/// A reqwest client for one environment's URLs (TLS opt-out applied; no cookie jar: cookies are
/// sent explicitly so nothing is kept between profiles).
pub fn http_client_for(
    urls: &[&Url],
    tls: &crate::tls::TlsSettings,
    proxy: &crate::proxy::ProxyChoice,
    timeout: Duration,
) -> reqwest::Client {
    http_client_builder(urls, tls, proxy, timeout)
        .build()
        .expect("reqwest client with static settings")
}

/// The settings every Sockeye HTTP client shares (TLS, TCP_NODELAY, timeouts, user agent), for
/// callers that add their own (diagnostics follow no redirects). The TLS configuration, and with
/// it the system trust store, is loaded only when one of `urls` is https; a settings file that
/// cannot be used then leaves the client without it (the save-time check names the file).
pub fn http_client_builder(
    urls: &[&Url],
    tls: &crate::tls::TlsSettings,
    proxy: &crate::proxy::ProxyChoice,
    timeout: Duration,
) -> reqwest::ClientBuilder {
    // reqwest's own reading of the proxy variables is off: the one rule in `proxy` decides,
    // for REST and polling as for the WebSocket.
    let mut builder = reqwest::Client::builder().no_proxy();
    if let Some(p) = crate::proxy::for_reqwest(proxy) {
        builder = builder.proxy(p);
    }
    builder = builder
        .tcp_nodelay(true)
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("sockeye/", env!("CARGO_PKG_VERSION")));
    if urls.iter().any(|u| crate::tls::is_tls_scheme(u.scheme())) {
        match crate::tls::client_config(tls) {
            Ok(config) => builder = builder.use_preconfigured_tls((*config).clone()),
            // Built anyway: plain http still works, and an https call fails naming the
            // certificate it could not verify.
            Err(e) => tracing::warn!("{e}"),
        }
    }
    builder
}

fn api(base: &Url, method: &str) -> Url {
    let mut u = base.clone();
    u.set_path(&format!("/api/method/{method}"));
    u
}

/// `message` of a Frappe error body, else a short excerpt.
pub fn frappe_message(status: u16, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    if let Some(v) = parsed {
        for key in ["message", "_error_message", "exc_type"] {
            if let Some(m) = v.get(key).and_then(Value::as_str).filter(|m| !m.is_empty()) {
                return m.to_string();
            }
        }
    }
    let excerpt: String = body.chars().take(120).collect();
    format!("HTTP {status}: {}", excerpt.trim())
}

/// `POST /api/method/login`; returns the `sid` cookie. Failures are the server's message.
pub async fn frappe_login(
    http: &reqwest::Client,
    base: &Url,
    origin: &str,
    user: &str,
    password: &Secret,
) -> Result<Secret, AuthError> {
    let resp = http
        .post(api(base, "login"))
        .header("Origin", origin)
        .form(&[("usr", user), ("pwd", password.expose())])
        .send()
        .await
        .map_err(|e| AuthError::Unreachable(format!("login request failed: {e}")))?;
    let status = resp.status().as_u16();
    let sid = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == "sid" && !v.is_empty() && *v != "Guest")
        .map(|(_, v)| v.to_string());
    let body = resp.text().await.unwrap_or_default();
    match (status, sid) {
        (200, Some(sid)) => Ok(Secret::new(sid)),
        (200, None) => Err(AuthError::Refused(format!(
            "login answered 200 but set no sid cookie ({})",
            frappe_message(status, &body)
        ))),
        (s, _) if s < 500 => Err(AuthError::Refused(frappe_message(s, &body))),
        (s, _) => Err(AuthError::Unreachable(frappe_message(s, &body))),
    }
}

/// `GET /api/method/frappe.auth.get_logged_user` with the connection's credentials.
pub async fn who_am_i(
    http: &reqwest::Client,
    base: &Url,
    headers: &[(String, String)],
) -> Result<WhoAmI, AuthError> {
    let req = crate::wire::http::with_headers(
        http.get(api(base, "frappe.auth.get_logged_user")),
        headers,
    );
    let resp = req.send().await.map_err(|e| AuthError::Unreachable(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    match status {
        200 => {
            let v: Value = serde_json::from_str(&body)
                .map_err(|_| AuthError::Unreachable(frappe_message(status, &body)))?;
            match v.get("message").and_then(Value::as_str) {
                Some("Guest") => Ok(WhoAmI::Guest),
                Some(u) => Ok(WhoAmI::User(u.to_string())),
                None => Err(AuthError::Unreachable(frappe_message(status, &body))),
            }
        }
        401 => Ok(WhoAmI::Rejected(frappe_message(status, &body))),
        403 => Ok(WhoAmI::Guest),
        _ => Err(AuthError::Unreachable(frappe_message(status, &body))),
    }
}

/// Ask a site its name (`raven.api.raven_mobile.get_client_id`, allowed for guests): the
/// namespace when the URL is a bare IP or localhost and tells nothing.
pub async fn discover_site(http: &reqwest::Client, base: &Url) -> Option<String> {
    let resp = http.get(api(base, "raven.api.raven_mobile.get_client_id")).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let v: Value = resp.json().await.ok()?;
    v.pointer("/message/sitename")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers() {
        let t = Credentials::ApiToken { key: "k".into(), secret: Secret::new("s") };
        assert_eq!(t.authorization().as_deref(), Some("token k:s"));
        assert_eq!(
            Credentials::Bearer(Secret::new("b")).authorization().as_deref(),
            Some("Bearer b")
        );
        assert_eq!(Credentials::Sid(Secret::new("x")).authorization(), None);
        assert!(!format!("{t:?}").contains("\"s\""), "Debug never shows secrets");
    }

    #[test]
    fn jwt_subject_is_read_for_labels() {
        // {"alg":"HS256"}.{"sub":"agent-user","exp":1}.sig
        let t = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudC11c2VyIiwiZXhwIjoxfQ.x";
        assert_eq!(Credentials::Jwt(Secret::new(t)).jwt_subject().as_deref(), Some("agent-user"));
        assert_eq!(Credentials::Jwt(Secret::new("garbage")).jwt_subject(), None);
    }

    #[test]
    fn frappe_messages_are_verbatim() {
        assert_eq!(
            frappe_message(
                401,
                r#"{"message":"Invalid login credentials","exc_type":"AuthenticationError"}"#
            ),
            "Invalid login credentials"
        );
        assert_eq!(
            frappe_message(502, "<html>bad gateway</html>"),
            "HTTP 502: <html>bad gateway</html>"
        );
    }
}
