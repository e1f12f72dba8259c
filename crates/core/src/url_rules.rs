//! URL rules: turn what a user pastes into the site's base URL, and infer the deployment type.
//!
//! People paste `wss://site/socket.io/`, `https://site/`, `site:8000`… The base URL Sockeye
//! keeps is always `http(s)://host[:port]` with no path: the site origin. The Socket.IO path
//! and port are separate profile fields.

use serde::{Deserialize, Serialize};
use url::Url;

/// Why a URL was refused; every variant names the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the URL is empty")]
    Empty,
    #[error("unsupported scheme {0:?}: use http, https, ws or wss")]
    Scheme(String),
    #[error("the URL {0:?} has no host")]
    NoHost(String),
    #[error("cannot parse {input:?} as a URL: {reason}")]
    Garbage { input: String, reason: String },
    #[error(
        "the URL {input:?} has a path {path:?}; give the site origin (the Socket.IO path is a separate setting)"
    )]
    Path { input: String, path: String },
}

/// Normalise a pasted URL to the site base URL.
///
/// `wss://h/socket.io` → `https://h`; `ws://` → `http://`; a trailing `/socket.io` or
/// `/socket.io/` and trailing `/` are stripped; explicit ports are kept; a bare `host[:port]`
/// gets `https://` (or `http://` for loopback hosts).
pub fn normalize_base_url(input: &str) -> Result<Url, UrlError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(UrlError::Empty);
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        let host = trimmed.split(['/', ':']).next().unwrap_or("");
        let scheme = if is_loopback_host(host) { "http" } else { "https" };
        format!("{scheme}://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| match e {
        url::ParseError::EmptyHost => UrlError::NoHost(trimmed.into()),
        other => UrlError::Garbage { input: trimmed.into(), reason: other.to_string() },
    })?;
    let scheme = match url.scheme() {
        "http" | "ws" => "http",
        "https" | "wss" => "https",
        other => return Err(UrlError::Scheme(other.into())),
    };
    match url.host_str() {
        None | Some("") => return Err(UrlError::NoHost(trimmed.into())),
        Some(h) if h.chars().any(char::is_whitespace) => {
            return Err(UrlError::Garbage {
                input: trimmed.into(),
                reason: format!("bad host {h:?}"),
            });
        }
        Some(_) => {}
    }
    // `Url::set_scheme` refuses ws→http (special-scheme rules allow it; keep it explicit).
    if url.scheme() != scheme {
        let port = url.port();
        let rebuilt = format!(
            "{scheme}://{}{}{}",
            url.host_str().unwrap_or_default(),
            port.map(|p| format!(":{p}")).unwrap_or_default(),
            url.path()
        );
        url = Url::parse(&rebuilt)
            .map_err(|e| UrlError::Garbage { input: trimmed.into(), reason: e.to_string() })?;
    }
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/socket.io").unwrap_or(path).trim_end_matches('/').to_string();
    if !path.is_empty() {
        return Err(UrlError::Path { input: trimmed.into(), path });
    }
    url.set_path("");
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok(url)
}

/// `scheme://host[:port]` of a base URL: the value of the `Origin` header.
pub fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost" || h == "127.0.0.1" || h == "::1" || h.starts_with("127.")
}

/// Where an environment runs, which decides the defaults and the hints diagnostics give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentType {
    /// A configured production host (behind nginx on 443).
    VpsProd,
    /// A sandbox behind ngrok.
    Sandbox,
    /// A local bench (`localhost`, `127.0.0.1`, `::1`).
    Local,
    /// Anything else.
    Custom,
}

impl DeploymentType {
    /// Infer from the host; `production_hosts` come from the config file's settings.
    pub fn infer(host: &str, production_hosts: &[String]) -> DeploymentType {
        let h = host.to_ascii_lowercase();
        if production_hosts.iter().any(|p| p.eq_ignore_ascii_case(&h)) {
            return DeploymentType::VpsProd;
        }
        const NGROK: &[&str] = &[".ngrok.io", ".ngrok-free.app", ".ngrok.app", ".ngrok.dev"];
        if NGROK.iter().any(|suffix| h.ends_with(suffix)) {
            return DeploymentType::Sandbox;
        }
        if h == "localhost" || h == "127.0.0.1" || h == "::1" || h == "[::1]" {
            return DeploymentType::Local;
        }
        DeploymentType::Custom
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentType::VpsProd => "vps_prod",
            DeploymentType::Sandbox => "sandbox",
            DeploymentType::Local => "local",
            DeploymentType::Custom => "custom",
        }
    }
}

impl std::fmt::Display for DeploymentType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize_base_url(s).unwrap().to_string().trim_end_matches('/').to_string()
    }

    #[test]
    fn wss_with_socket_io_path_becomes_https_origin() {
        assert_eq!(n("wss://h.example/socket.io"), "https://h.example");
    }

    #[test]
    fn ws_becomes_http() {
        assert_eq!(n("ws://h.example"), "http://h.example");
    }

    #[test]
    fn trailing_socket_io_and_slashes_are_stripped() {
        assert_eq!(n("https://h.example/socket.io/"), "https://h.example");
        assert_eq!(n("https://h.example/"), "https://h.example");
        assert_eq!(n("https://h.example//"), "https://h.example");
    }

    #[test]
    fn explicit_ports_are_kept() {
        assert_eq!(n("http://127.0.0.1:9000/socket.io/"), "http://127.0.0.1:9000");
        assert_eq!(n("wss://h.example:8443/socket.io"), "https://h.example:8443");
    }

    #[test]
    fn bare_hosts_get_a_scheme() {
        assert_eq!(n("h.example"), "https://h.example");
        assert_eq!(n("localhost:8000"), "http://localhost:8000");
    }

    #[test]
    fn other_schemes_are_refused_by_name() {
        assert_eq!(normalize_base_url("ftp://h.example"), Err(UrlError::Scheme("ftp".into())));
        assert!(normalize_base_url("file:///etc/passwd").unwrap_err().to_string().contains("file"));
    }

    #[test]
    fn empty_hosts_and_garbage_are_refused_clearly() {
        assert_eq!(normalize_base_url(""), Err(UrlError::Empty));
        assert!(matches!(normalize_base_url("https://"), Err(UrlError::NoHost(_))));
        assert!(matches!(normalize_base_url("http://:9000"), Err(UrlError::NoHost(_))));
        let e = normalize_base_url("http://exa mple.com").unwrap_err();
        assert!(matches!(e, UrlError::Garbage { .. }), "{e:?}");
        let e = normalize_base_url("https://h.example/app/desk").unwrap_err();
        assert!(e.to_string().contains("/app/desk"), "{e}");
    }

    #[test]
    fn origin_has_no_trailing_slash() {
        assert_eq!(
            origin_of(&normalize_base_url("http://127.0.0.1:9000").unwrap()),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            origin_of(&normalize_base_url("https://h.example").unwrap()),
            "https://h.example"
        );
    }

    #[test]
    fn deployment_type_from_host() {
        let prod = vec!["erp.example.com".to_string()];
        assert_eq!(DeploymentType::infer("erp.example.com", &prod), DeploymentType::VpsProd);
        for h in ["a.ngrok.io", "b.ngrok-free.app", "c.ngrok.app", "d.ngrok.dev"] {
            assert_eq!(DeploymentType::infer(h, &prod), DeploymentType::Sandbox, "{h}");
        }
        for h in ["localhost", "127.0.0.1", "::1"] {
            assert_eq!(DeploymentType::infer(h, &prod), DeploymentType::Local, "{h}");
        }
        assert_eq!(DeploymentType::infer("other.example.com", &prod), DeploymentType::Custom);
        assert_eq!(DeploymentType::infer("ngrok.io.evil.com", &prod), DeploymentType::Custom);
    }
}
