//! The symptom → probe → hint table of `client-and-diagnostics.md` §2, as pure functions.
//!
//! Each function reads what a probe saw (status code, body, refusal text) and names the row
//! with its hint. Kept apart from the I/O so every row is unit tested.

use super::net::{CertProblem, ClientCertProblem};
use serde::Serialize;

/// The rows of the table. Every variant is one way a realtime link breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Symptom {
    /// 1: nothing listens on the port.
    PortClosed,
    /// 2: `/socket.io` answered 404 with HTML: the proxy does not route it.
    RouteMissing,
    /// 3: 502/504: proxy up, realtime process down.
    UpstreamDown,
    /// 4: 200 but HTML: an interstitial (ngrok warning, SSO, WAF) answered.
    Interstitial,
    /// 5: an EIO=3 (Socket.IO v2) server.
    OldProtocol,
    /// 6: `Session ID unknown` on the second poll: no sticky sessions.
    NoStickySessions,
    /// 7: the WebSocket upgrade is refused: stuck on polling.
    UpgradeBlocked,
    /// 8: 101 but no probe answer: something buffers WebSocket frames.
    UpgradeSilent,
    /// 9: `Invalid origin`.
    InvalidOrigin,
    /// 10: `Invalid namespace`.
    InvalidNamespace,
    /// 11: no credentials reached the server.
    NoCredentials,
    /// 12: `Unauthorized: …`: credentials rejected, or the realtime server cannot reach the
    /// web process.
    Unauthorized,
    /// 13: connected and answering, but no events arrive.
    NoEvents,
    /// 14: the connection is closed after a fixed time: a proxy timeout.
    IdleDrops,
    /// 15: an https site with its socket on plain http.
    MixedContent,
    /// 16: TLS verification fails (self-signed, expired, wrong host).
    TlsError,
    /// Connected as Guest: the sid expired (Frappe accepts it silently).
    GuestSession,
    /// Connected but deaf: the socket answers nothing (socket secret mismatch).
    Deaf,
    /// No web app answers `/api/method/ping` at the site URL or the Origin.
    WebUnreachable,
    /// Anything the table does not name.
    Other,
}

impl Symptom {
    /// The catalogue cause a symptom always means, when it means only one.
    pub fn cause(self) -> Option<&'static str> {
        use Symptom::*;
        Some(match self {
            PortClosed => "C22",
            UpstreamDown => "C10",
            OldProtocol => "C12",
            NoStickySessions => "C14",
            UpgradeBlocked | IdleDrops => "C17",
            InvalidNamespace => "C3",
            NoCredentials | GuestSession => "C8",
            Deaf => "C9",
            NoEvents => "C11",
            MixedContent => "C13",
            _ => return None,
        })
    }

    /// The table row number, where there is one.
    pub fn row(self) -> Option<u8> {
        use Symptom::*;
        Some(match self {
            PortClosed => 1,
            RouteMissing => 2,
            UpstreamDown => 3,
            Interstitial => 4,
            OldProtocol => 5,
            NoStickySessions => 6,
            UpgradeBlocked => 7,
            UpgradeSilent => 8,
            InvalidOrigin => 9,
            InvalidNamespace => 10,
            NoCredentials => 11,
            Unauthorized | GuestSession | Deaf => 12,
            NoEvents => 13,
            IdleDrops => 14,
            MixedContent => 15,
            TlsError => 16,
            WebUnreachable | Other => return None,
        })
    }
}

/// A classified finding: the row, the catalogue cause and the sentence to show. The fixes
/// are filled in by the runner, which knows the detected values (`fixes.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub symptom: Symptom,
    pub hint: String,
    /// The cause in `realworld-failures.md` ("C7"), when the evidence names one.
    pub cause: Option<&'static str>,
}

impl Finding {
    pub fn new(symptom: Symptom, hint: impl Into<String>) -> Finding {
        Finding { symptom, hint: hint.into(), cause: symptom.cause() }
    }

    /// Name the catalogue cause the evidence points at.
    pub fn cause(mut self, cause: &'static str) -> Finding {
        self.cause = Some(cause);
        self
    }
}

fn f(symptom: Symptom, hint: impl Into<String>) -> Finding {
    Finding::new(symptom, hint)
}

fn looks_html(body: &str) -> bool {
    let b = body.trim_start().to_ascii_lowercase();
    b.starts_with("<!doctype")
        || b.starts_with("<html")
        || b.contains("<body")
        || b.contains("<head")
}

/// Classify the Engine.IO polling handshake (P2). `None` means it is a valid open packet.
pub fn classify_handshake(status: u16, body: &str) -> Option<Finding> {
    let trimmed = body.trim_start();
    if status == 200 && trimmed.starts_with("0{") {
        return None;
    }
    if trimmed.starts_with("96:0{")
        || (trimmed.contains(":0{")
            && trimmed
                .split(':')
                .next()
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty()))
    {
        return Some(f(
            Symptom::OldProtocol,
            "The server speaks Engine.IO v3 (Socket.IO v2): upgrade it to Socket.IO v4, or use a client that sends EIO=3.",
        ));
    }
    if status == 400 && body.contains("\"code\":5") || body.contains("\"code\":\"5\"") {
        return Some(f(
            Symptom::OldProtocol,
            "The server refuses EIO=4 (\"Unsupported protocol version\"): it is a Socket.IO v2 server; upgrade it or retry with EIO=3.",
        ));
    }
    match status {
        404 if body.contains("Cannot GET /socket.io") => Some(f(
            Symptom::RouteMissing,
            "A Node app without socket.io at this path answered (\"Cannot GET /socket.io/\"): the Socket.IO path does not match the server's.",
        )),
        404 => Some(f(
            Symptom::RouteMissing,
            "/socket.io/ is not routed to the realtime service (the request reached the web app). Add to nginx: `location /socket.io { proxy_pass http://127.0.0.1:9000; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; proxy_set_header X-Frappe-Site-Name $host; proxy_set_header Origin $scheme://$http_host; proxy_set_header Host $host; }`",
        )),
        502..=504 => Some(f(
            Symptom::UpstreamDown,
            format!(
                "The proxy answered {status}: it is up but nothing is listening behind it (the realtime process on port 9000 is down). Check `supervisorctl status` / the socketio process and its logs."
            ),
        )),
        200 if looks_html(body) => Some(f(
            Symptom::Interstitial,
            "An HTML page answered instead of Socket.IO: an interstitial such as ngrok's free-plan browser warning (send `ngrok-skip-browser-warning: 1`), an SSO/login page or a WAF challenge sits in front of /socket.io.",
        )),
        300..=399 => Some(f(
            Symptom::Interstitial,
            format!(
                "/socket.io/ redirects (HTTP {status}): a login page, SSO or an http→https rule intercepts it; exclude /socket.io from the redirect."
            ),
        )),
        _ => Some(f(
            Symptom::Other,
            format!("Unexpected answer to the Engine.IO handshake: HTTP {status}."),
        )),
    }
}

/// Classify the second poll (P3). `None` = fine.
pub fn classify_second_poll(status: u16, body: &str) -> Option<Finding> {
    if status == 200 {
        return None;
    }
    if body.contains("Session ID unknown") {
        return Some(f(
            Symptom::NoStickySessions,
            "\"Session ID unknown\" on the second request: several realtime nodes serve /socket.io without sticky sessions (Python realtime server, k8s, ALB, Traefik). Enable sticky sessions, or use WebSocket only.",
        ));
    }
    Some(f(Symptom::Other, format!("The second poll failed with HTTP {status}.")))
}

/// Classify the server's CONNECT_ERROR text (P4).
pub fn classify_refusal(message: &str) -> Finding {
    match message {
        "Invalid origin" => f(
            Symptom::InvalidOrigin,
            "\"Invalid origin\": the Origin's host differs from the Host the realtime server sees. A proxy rewrites Host (ngrok without host-header rewrite, Traefik, Cloudflare) or the Origin is wrong; pass the Host through and set `proxy_set_header Origin $scheme://$http_host`, or set this environment's Origin to the site URL.",
        ),
        "Invalid namespace" => f(
            Symptom::InvalidNamespace,
            "\"Invalid namespace\": the namespace must be /<site name> (frappe.boot.sitename, which can differ from the public host name), and multi-site benches need the proxy to send X-Frappe-Site-Name.",
        ),
        "No cookie transmitted."
        | "Missing cookie and authorization header. Either one needed for authentication."
        | "Missing cookie and authorization header. Either one needed."
        | "No authentication method used. Use cookie or authorization header." => f(
            Symptom::NoCredentials,
            format!(
                "\"{message}\": no credentials reached the server. Send `Cookie: sid=…` or `Authorization: token <key>:<secret>` (version-15 servers also demand some Cookie header)."
            ),
        ),
        m if m.starts_with("Unauthorized") => f(
            Symptom::Unauthorized,
            format!("\"{m}\": the realtime server's call to the web process failed."),
        ),
        "Authentication required" | "Invalid or expired token" | "Invalid token payload" => f(
            Symptom::Unauthorized,
            format!("\"{message}\": the server rejects the JWT; get a fresh token for this user."),
        ),
        other => f(Symptom::Other, format!("The server refused the namespace: \"{other}\".")),
    }
}

/// Refine an `Unauthorized: …` refusal with the REST identity check (P7) status.
pub fn refine_unauthorized(message: &str, rest_status: Option<u16>) -> Finding {
    match rest_status {
        Some(401) | Some(403) => f(
            Symptom::Unauthorized,
            format!(
                "\"{message}\" and the web app answers {} to our credentials: the sid expired or the token is wrong. Log in again or create a new API key.",
                rest_status.unwrap_or_default()
            ),
        ),
        Some(200) => f(
            Symptom::Unauthorized,
            format!(
                "\"{message}\" while the web app accepts our credentials: the realtime server cannot reach the web process. It calls back to the Origin URL (in developer mode with webserver_port); fix host_name / ports so that URL reaches the web server from the realtime host."
            ),
        ),
        _ => f(
            Symptom::Unauthorized,
            format!(
                "\"{message}\": the realtime server's callback to the web process failed, and the web app itself did not answer our identity check."
            ),
        ),
    }
}

/// P1 found nothing listening.
pub fn port_closed(port: u16, alternatives: &[u16]) -> Finding {
    let alt = if alternatives.is_empty() {
        String::new()
    } else {
        format!(
            " Port {} answers Socket.IO: use it.",
            alternatives.iter().map(u16::to_string).collect::<Vec<_>>().join(" and ")
        )
    };
    f(
        Symptom::PortClosed,
        format!(
            "Nothing accepts connections on port {port}. The Node realtime server defaults to 9000, the Python one to 9001; in production do not use the port at all: use the site origin (443) where nginx proxies /socket.io.{alt}"
        ),
    )
}

pub fn upgrade_blocked(status: u16) -> Finding {
    f(
        Symptom::UpgradeBlocked,
        format!(
            "The WebSocket upgrade got HTTP {status} instead of 101: the proxy does not forward `Upgrade`/`Connection: upgrade` (nginx: `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";`, Apache: mod_proxy_wstunnel). Clients fall back to polling."
        ),
    )
}

pub fn upgrade_silent() -> Finding {
    f(
        Symptom::UpgradeSilent,
        "The WebSocket upgrade returned 101 but the probe got no answer: something between client and server buffers or caches WebSocket frames (e.g. a CDN cache rule); exclude /socket.io from caching and buffering.",
    )
}

pub fn idle_drop(after_secs: f64, ping_interval_ms: u64, ping_timeout_ms: u64) -> Finding {
    f(
        Symptom::IdleDrops,
        format!(
            "The WebSocket was closed after {after_secs:.1} s without a reason from the server: a proxy timeout shorter than the heartbeat (pingInterval {} s + pingTimeout {} s). Raise nginx `proxy_read_timeout` (default 60 s) / the load balancer idle timeout, or shorten pingInterval.",
            ping_interval_ms / 1000,
            ping_timeout_ms / 1000
        ),
    )
}

pub fn mixed_content(site: &str, socket: &str) -> Finding {
    f(
        Symptom::MixedContent,
        format!(
            "The site is served over https ({site}) but its socket points at plain http ({socket}): browsers block it as mixed content. Point the socket at the https site origin, where the proxy serves /socket.io."
        ),
    )
}

pub fn tls_error(problem: &CertProblem, self_signed: bool) -> Finding {
    let (what, fix) = match problem {
        CertProblem::UnknownIssuer if self_signed => (
            "a self-signed certificate",
            "Install a certificate from a public CA, trust this one with the environment's ca_file (--ca-file), or for a sandbox turn off TLS verification for this environment only.",
        ),
        CertProblem::UnknownIssuer => (
            "a certificate from an issuer this machine does not trust (a private CA?)",
            "Set the environment's ca_file (--ca-file) to that CA's PEM bundle, or install the CA in the system trust store.",
        ),
        CertProblem::Expired => ("an expired certificate", "Renew the certificate on the server."),
        CertProblem::WrongHost => (
            "a certificate issued for another host name",
            "Use the host name the certificate was issued for, or fix the certificate.",
        ),
        CertProblem::Other(_) => (
            "a certificate that does not verify",
            "Install a valid certificate, or for a sandbox turn off TLS verification for this environment only.",
        ),
    };
    f(Symptom::TlsError, format!("TLS fails: {what} ({problem}). {fix}"))
}

pub fn client_certificate(problem: &ClientCertProblem) -> Finding {
    let fix = match problem {
        ClientCertProblem::Missing => {
            "The server wants mutual TLS: set the environment's client_cert and client_key (PEM files; --client-cert/--client-key) to a certificate its CA issued."
        }
        ClientCertProblem::Refused(_) => {
            "The server does not accept the configured client certificate: check it was issued by the CA the server trusts, has not expired, and goes with client_key."
        }
    };
    f(Symptom::TlsError, format!("TLS fails: {problem}. {fix}"))
}

pub fn guest() -> Finding {
    f(
        Symptom::GuestSession,
        "Connected, but as Guest: the sid is expired or unknown (Frappe accepts it silently, then every subscription is refused). Log in again.",
    )
}

pub fn deaf() -> Finding {
    f(
        Symptom::Deaf,
        "Connected, but the socket answers nothing (no pong): the realtime server could not get our identity from the web process (socket secret mismatch after a partial restart). Restart the realtime and web processes together.",
    )
}

pub fn no_events(secs: f64) -> Finding {
    f(
        Symptom::NoEvents,
        format!(
            "The link works (pong OK) but no events arrived in {secs:.0} s: the publisher targets another room, user or site. Check `publish_realtime(..., user=…)` and that the namespace is the site that publishes."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_rows() {
        assert_eq!(classify_handshake(200, "0{\"sid\":\"x\"}"), None);
        assert_eq!(
            classify_handshake(404, "<html><body>Page Not Found</body></html>").unwrap().symptom,
            Symptom::RouteMissing
        );
        assert!(classify_handshake(404, "Cannot GET /socket.io/").unwrap().hint.contains("path"));
        assert_eq!(
            classify_handshake(502, "<html>502</html>").unwrap().symptom,
            Symptom::UpstreamDown
        );
        assert_eq!(classify_handshake(504, "").unwrap().symptom, Symptom::UpstreamDown);
        assert_eq!(
            classify_handshake(200, "<!DOCTYPE html><html>ngrok</html>").unwrap().symptom,
            Symptom::Interstitial
        );
        assert_eq!(
            classify_handshake(400, r#"{"code":5,"message":"Unsupported protocol version"}"#)
                .unwrap()
                .symptom,
            Symptom::OldProtocol
        );
        assert_eq!(
            classify_handshake(200, "96:0{\"sid\":\"x\"}2:40").unwrap().symptom,
            Symptom::OldProtocol
        );
        assert_eq!(classify_handshake(302, "").unwrap().symptom, Symptom::Interstitial);
    }

    #[test]
    fn refusal_rows() {
        assert_eq!(classify_refusal("Invalid origin").symptom, Symptom::InvalidOrigin);
        assert_eq!(classify_refusal("Invalid namespace").symptom, Symptom::InvalidNamespace);
        assert_eq!(classify_refusal("No cookie transmitted.").symptom, Symptom::NoCredentials);
        assert_eq!(
            classify_refusal("No authentication method used. Use cookie or authorization header.")
                .symptom,
            Symptom::NoCredentials
        );
        assert_eq!(
            classify_refusal("Unauthorized: TypeError: fetch failed").symptom,
            Symptom::Unauthorized
        );
        assert!(refine_unauthorized("Unauthorized: x", Some(401)).hint.contains("Log in again"));
        assert!(
            refine_unauthorized("Unauthorized: x", Some(200))
                .hint
                .contains("cannot reach the web process")
        );
    }

    #[test]
    fn second_poll_and_others() {
        assert_eq!(
            classify_second_poll(400, r#"{"code":1,"message":"Session ID unknown"}"#)
                .unwrap()
                .symptom,
            Symptom::NoStickySessions
        );
        assert_eq!(classify_second_poll(200, "6"), None);
        assert!(port_closed(9000, &[9001]).hint.contains("Port 9001 answers"));
        assert!(tls_error(&CertProblem::UnknownIssuer, true).hint.contains("self-signed"));
        assert!(tls_error(&CertProblem::Expired, false).hint.contains("expired"));
        assert_eq!(Symptom::TlsError.row(), Some(16));
    }
}
