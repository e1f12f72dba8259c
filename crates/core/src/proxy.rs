//! Outbound HTTP proxies, one rule for every connection: polling and REST (reqwest, through
//! [`for_reqwest`]) and the WebSocket (an HTTP `CONNECT` tunnel, [`tunnel`]), so both transports
//! of a link take the same path.
//!
//! By default the environment variables decide, as curl reads them: `HTTPS_PROXY` for https/wss,
//! `HTTP_PROXY` for http/ws, `ALL_PROXY` for either, `NO_PROXY` for the hosts that go direct.
//! An environment (or `--proxy`) may name its own proxy, or none (`--no-proxy`).

use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::secrets::Secret;

/// Which proxy an environment's connections go through.
#[derive(Debug, Clone, Default)]
pub enum ProxyChoice {
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY`, minus `NO_PROXY` (curl's rules).
    #[default]
    FromEnvironment,
    /// Straight to the server, whatever the environment variables say.
    Direct,
    /// This proxy for every URL of the environment.
    Via(Proxy),
}

/// An HTTP proxy (`http://host:port`), with Basic credentials when it asks for them.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub url: Url,
    pub user: Option<String>,
    pub password: Option<Secret>,
}

/// Why a proxy URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyUrlError {
    #[error("proxy {0:?} is not a URL like http://host:3128")]
    NotAUrl(String),
    #[error("proxy {0}: only http:// proxies are supported (CONNECT tunnels carry TLS)")]
    Scheme(String),
    /// A password written into the URL would land in the config file.
    #[error("proxy {0}: keep the password out of the URL (use `env set-secret --proxy`)")]
    PasswordInUrl(String),
}

/// Why a tunnel through the proxy did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("proxy {proxy} unreachable: {reason}")]
    Unreachable { proxy: String, reason: String },
    /// 407 (or 401, as tinyproxy answers wrong ones): credentials missing or wrong.
    #[error(
        "proxy {proxy} wants credentials (HTTP {status}): set the user in the proxy URL and its password with `env set-secret NAME --proxy`"
    )]
    AuthRequired { proxy: String, status: u16 },
    /// Any other answer to CONNECT: a policy refusal (403), a bad gateway, ...
    #[error("proxy {proxy} refused the tunnel to {to}: HTTP {status} {reason}")]
    Refused { proxy: String, to: String, status: u16, reason: String },
    #[error("proxy {proxy} gave no usable answer to CONNECT: {reason}")]
    BadAnswer { proxy: String, reason: String },
}

impl Proxy {
    /// Parse `http://[user@]host:port`; the password comes from the keyring, never the URL.
    pub fn parse(s: &str, password: Option<Secret>) -> Result<Proxy, ProxyUrlError> {
        let url = Url::parse(s.trim()).map_err(|_| ProxyUrlError::NotAUrl(s.into()))?;
        if url.scheme() != "http" || url.host_str().is_none() {
            return Err(ProxyUrlError::Scheme(s.into()));
        }
        if url.password().is_some() {
            return Err(ProxyUrlError::PasswordInUrl(redacted(&url)));
        }
        let user = (!url.username().is_empty()).then(|| url.username().to_string());
        let mut bare = url;
        let _ = bare.set_username("");
        Ok(Proxy { url: bare, user, password })
    }

    fn authorization(&self) -> Option<String> {
        let user = self.user.as_deref()?;
        let pass = self.password.as_ref().map(Secret::expose).unwrap_or_default();
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        ))
    }

    fn address(&self) -> (String, u16) {
        (self.url.host_str().unwrap_or_default().to_string(), self.url.port().unwrap_or(80))
    }
}

/// A URL with its userinfo removed, for messages.
fn redacted(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// The proxy `target` goes through under `choice`, if any.
pub fn proxy_for(target: &Url, choice: &ProxyChoice) -> Option<Proxy> {
    match choice {
        ProxyChoice::Direct => None,
        ProxyChoice::Via(p) => Some(p.clone()),
        ProxyChoice::FromEnvironment => {
            let var = |names: &[&str]| {
                names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
            };
            let tls = crate::tls::is_tls_scheme(target.scheme());
            let named = if tls {
                var(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"])
            } else {
                var(&["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"])
            }?;
            let no_proxy = var(&["no_proxy", "NO_PROXY"]).unwrap_or_default();
            if bypassed(target, &no_proxy) {
                return None;
            }
            // Credentials in these variables are the user's own choice (curl takes them too).
            let url = Url::parse(&named).ok().filter(|u| u.scheme() == "http")?;
            let password = url.password().map(Secret::new);
            let user = (!url.username().is_empty()).then(|| url.username().to_string());
            let mut bare = url;
            let _ = bare.set_username("");
            let _ = bare.set_password(None);
            Some(Proxy { url: bare, user, password })
        }
    }
}

/// curl's `NO_PROXY`: `*`, or comma-separated host names (matching the host and its
/// subdomains, a leading dot optional), IP addresses, each with an optional `:port`.
pub fn bypassed(target: &Url, no_proxy: &str) -> bool {
    let host = target.host_str().unwrap_or_default().trim_matches(['[', ']']).to_ascii_lowercase();
    let port = target.port_or_known_default();
    no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let (name, entry_port) = match entry.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.parse::<u16>().ok()),
            _ => (entry, None),
        };
        if entry_port.is_some_and(|p| Some(p) != port) {
            return false;
        }
        let name = name.trim_matches(['[', ']']).trim_start_matches('.').to_ascii_lowercase();
        host == name || host.ends_with(&format!(".{name}"))
    })
}

/// The reqwest proxy rule for `choice`: the same decision as the WebSocket's, per request.
pub fn for_reqwest(choice: &ProxyChoice) -> Option<reqwest::Proxy> {
    match choice {
        ProxyChoice::Direct => None,
        choice => {
            let choice = choice.clone();
            Some(reqwest::Proxy::custom(move |url| {
                proxy_for(url, &choice).map(|p| {
                    let mut u = p.url.clone();
                    if let Some(user) = &p.user {
                        let _ = u.set_username(user);
                        let _ = u.set_password(p.password.as_ref().map(Secret::expose));
                    }
                    u
                })
            }))
        }
    }
}

/// Open a TCP tunnel to `host:port` through `proxy` (HTTP `CONNECT`).
pub async fn tunnel(
    proxy: &Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, ProxyError> {
    let name = redacted(&proxy.url);
    let unreachable =
        |reason: String| ProxyError::Unreachable { proxy: name.clone(), reason: reason.clone() };
    let (proxy_host, proxy_port) = proxy.address();
    let mut tcp = tokio::time::timeout(timeout, TcpStream::connect((proxy_host, proxy_port)))
        .await
        .map_err(|_| unreachable(format!("no answer within {timeout:?}")))?
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let to = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut request = format!("CONNECT {to} HTTP/1.1\r\nHost: {to}\r\n");
    if let Some(auth) = proxy.authorization() {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    let answer = async {
        tcp.write_all(request.as_bytes()).await?;
        read_head(&mut tcp).await
    };
    let head = tokio::time::timeout(timeout, answer)
        .await
        .map_err(|_| ProxyError::BadAnswer {
            proxy: name.clone(),
            reason: format!("no answer within {timeout:?}"),
        })?
        .map_err(|e| ProxyError::BadAnswer { proxy: name.clone(), reason: e.to_string() })?;
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let status = match (parts.next(), parts.next().and_then(|s| s.parse::<u16>().ok())) {
        (Some(v), Some(s)) if v.starts_with("HTTP/") => s,
        _ => {
            let reason = format!("not HTTP: {}", crate::wire::http::excerpt(status_line, 80));
            return Err(ProxyError::BadAnswer { proxy: name, reason });
        }
    };
    match status {
        200..=299 => Ok(tcp),
        401 | 407 => Err(ProxyError::AuthRequired { proxy: name, status }),
        _ => Err(ProxyError::Refused {
            proxy: name,
            to,
            status,
            reason: parts.next().unwrap_or_default().trim().to_string(),
        }),
    }
}

/// The answer's head, byte by byte up to the blank line (at most 8 KiB): nothing of the
/// tunnelled stream after it may be consumed here.
async fn read_head(tcp: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 || tcp.read(&mut byte).await? == 0 {
            return Err(std::io::Error::other("the proxy closed before ending its answer"));
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn no_proxy_follows_curl() {
        let u = url("https://erp.example.com/socket.io/");
        assert!(bypassed(&u, "*"));
        assert!(bypassed(&u, "localhost, example.com"));
        assert!(bypassed(&u, ".example.com"));
        assert!(bypassed(&u, "erp.example.com:443"));
        assert!(!bypassed(&u, "erp.example.com:8443"));
        assert!(!bypassed(&u, "ample.com,other.org"));
        assert!(bypassed(&url("http://127.0.0.1:9000/"), "127.0.0.1"));
        assert!(bypassed(&url("http://[::1]:9000/"), "::1"));
        assert!(!bypassed(&u, ""));
    }

    #[test]
    fn proxy_urls_keep_passwords_out() {
        let p = Proxy::parse("http://me@proxy.corp:3128", Some(Secret::new("pw"))).unwrap();
        assert_eq!(p.user.as_deref(), Some("me"));
        assert_eq!(p.url.as_str(), "http://proxy.corp:3128/");
        assert_eq!(p.authorization().unwrap(), "Basic bWU6cHc=");
        assert!(matches!(
            Proxy::parse("http://me:pw@proxy.corp:3128", None),
            Err(ProxyUrlError::PasswordInUrl(u)) if !u.contains("pw")
        ));
        assert!(matches!(Proxy::parse("socks5://p:1080", None), Err(ProxyUrlError::Scheme(_))));
        assert!(matches!(Proxy::parse("proxy:3128", None), Err(ProxyUrlError::Scheme(_))));
    }
}
