//! A minimal raw Engine.IO v4 / Socket.IO v5 client for probes: every request is made by
//! hand so each step's status, headers and body can be shown as evidence. (The session uses
//! the real client; probes need to see what a client library hides.)

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
use url::Url;

/// What the handshake's open packet advertised.
#[derive(Debug, Clone, PartialEq)]
pub struct Open {
    pub sid: String,
    pub upgrades: Vec<String>,
    pub ping_interval: u64,
    pub ping_timeout: u64,
}

pub fn parse_open(body: &str) -> Option<Open> {
    let v: Value = serde_json::from_str(body.trim_start().strip_prefix('0')?.split('\u{1e}').next()?).ok()?;
    Some(Open {
        sid: v.get("sid")?.as_str()?.to_string(),
        upgrades: v.get("upgrades")?.as_array()?.iter().filter_map(|u| u.as_str().map(str::to_string)).collect(),
        ping_interval: v.get("pingInterval")?.as_u64()?,
        ping_timeout: v.get("pingTimeout")?.as_u64()?,
    })
}

/// A polling answer split into packets.
pub fn packets(body: &str) -> Vec<&str> {
    body.split('\u{1e}').filter(|p| !p.is_empty()).collect()
}

/// The namespace CONNECT packet (`40/ns,{auth}`; the root namespace has no `/ns,`).
pub fn connect_packet(namespace: &str, auth: Option<&Value>) -> String {
    let ns = if namespace == "/" { String::new() } else { format!("{namespace},") };
    match auth {
        Some(a) => format!("40{ns}{a}"),
        None => format!("40{ns}"),
    }
}

/// What came back for a namespace CONNECT.
#[derive(Debug, Clone, PartialEq)]
pub enum NsAnswer {
    Connected,
    Refused(String),
}

/// Recognise `40…` / `44…{"message"}` for `namespace` among packets.
pub fn ns_answer(namespace: &str, packet: &str) -> Option<NsAnswer> {
    let prefix = |kind: &str| if namespace == "/" { kind.to_string() } else { format!("{kind}{namespace},") };
    if let Some(rest) = packet.strip_prefix(&prefix("44")) {
        let msg = serde_json::from_str::<Value>(rest).ok().and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string)).unwrap_or_else(|| rest.to_string());
        return Some(NsAnswer::Refused(msg));
    }
    if packet.starts_with(&prefix("40")) {
        return Some(NsAnswer::Connected);
    }
    None
}

/// An event packet `42/ns,["name",…]` → its name.
pub fn event_name(namespace: &str, packet: &str) -> Option<String> {
    let body = if namespace == "/" { packet.strip_prefix("42")? } else { packet.strip_prefix(&format!("42{namespace},"))? };
    let body = body.trim_start_matches(|c: char| c.is_ascii_digit());
    let v: Value = serde_json::from_str(body).ok()?;
    v.get(0)?.as_str().map(str::to_string)
}

pub fn event_packet(namespace: &str, name: &str) -> String {
    if namespace == "/" { format!("42[\"{name}\"]") } else { format!("42{namespace},[\"{name}\"]") }
}

/// URL of the Engine.IO endpoint with the query parameters.
pub fn eio_url(socket_url: &Url, transport: &str, sid: Option<&str>) -> Url {
    let mut u = socket_url.clone();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("EIO", "4").append_pair("transport", transport);
        if let Some(s) = sid {
            q.append_pair("sid", s);
        }
    }
    u
}

/// A plain HTTP answer, body cut to a readable excerpt for evidence.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
    pub content_type: Option<String>,
}

pub async fn get(http: &reqwest::Client, url: Url, headers: &[(String, String)]) -> Result<HttpAnswer, String> {
    let mut req = http.get(url);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.send().await.map_err(|e| describe_reqwest(&e))?;
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = resp.text().await.map_err(|e| e.to_string())?;
    Ok(HttpAnswer { status, body, content_type })
}

pub async fn post(http: &reqwest::Client, url: Url, headers: &[(String, String)], body: String) -> Result<u16, String> {
    let mut req = http.post(url).header("content-type", "text/plain;charset=UTF-8").body(body);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.send().await.map_err(|e| describe_reqwest(&e))?;
    Ok(resp.status().as_u16())
}

/// reqwest's Display hides the cause ("error sending request"); the chain says what failed.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    crate::error_text::error_chain(e)
}

pub fn excerpt(s: &str, n: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > n { format!("{}…", one_line.chars().take(n).collect::<String>()) } else { one_line }
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Outcome of a WebSocket upgrade attempt.
pub enum Upgrade {
    /// 101 and the socket.
    Switched(Box<Ws>),
    /// Any other HTTP status.
    Refused(u16, String),
    /// No HTTP answer at all.
    Failed(String),
}

pub async fn ws_upgrade(url: Url, headers: &[(String, String)], accept_invalid_certs: bool, timeout: Duration) -> Upgrade {
    let ws_url = {
        let mut u = url.clone();
        let scheme = if u.scheme() == "https" { "wss" } else { "ws" };
        let _ = u.set_scheme(scheme);
        u
    };
    let mut req = match ws_url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return Upgrade::Failed(e.to_string()),
    };
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(v)) {
            req.headers_mut().insert(name, value);
        }
    }
    let connector = native_tls::TlsConnector::builder().danger_accept_invalid_certs(accept_invalid_certs).danger_accept_invalid_hostnames(accept_invalid_certs).build().ok().map(tokio_tungstenite::Connector::NativeTls);
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async_tls_with_config(req, None, false, connector)).await {
        Err(_) => Upgrade::Failed(format!("no answer within {timeout:?}")),
        Ok(Ok((ws, _))) => Upgrade::Switched(Box::new(ws)),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
            let body = resp.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            Upgrade::Refused(resp.status().as_u16(), body)
        }
        Ok(Err(e)) => Upgrade::Failed(e.to_string()),
    }
}

/// Next text frame within `timeout`, answering Engine.IO pings on the way. `Err` when the
/// socket closed (with how long it lived is the caller's business).
pub async fn ws_next(ws: &mut Ws, timeout: Duration) -> Result<Option<String>, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Ok(None),
            Ok(None) => return Err("closed".into()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(Message::Text(t)))) => {
                if t.as_str() == "2" {
                    ws.send(Message::Text("3".into())).await.map_err(|e| e.to_string())?;
                    continue;
                }
                return Ok(Some(t.to_string()));
            }
            Ok(Some(Ok(Message::Close(_)))) => return Err("closed by the peer".into()),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

pub async fn ws_send(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::Text(text.into())).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_helpers() {
        let o = parse_open(r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#).unwrap();
        assert_eq!((o.sid.as_str(), o.ping_interval), ("abc", 25000));
        assert_eq!(parse_open("<html>"), None);
        assert_eq!(connect_packet("/raven.test", None), "40/raven.test,");
        assert_eq!(connect_packet("/", Some(&serde_json::json!({"token":"t"}))), r#"40{"token":"t"}"#);
        assert_eq!(ns_answer("/raven.test", r#"44/raven.test,{"message":"Invalid origin"}"#), Some(NsAnswer::Refused("Invalid origin".into())));
        assert_eq!(ns_answer("/raven.test", r#"40/raven.test,{"sid":"x"}"#), Some(NsAnswer::Connected));
        assert_eq!(ns_answer("/", r#"44{"message":"Authentication required"}"#), Some(NsAnswer::Refused("Authentication required".into())));
        assert_eq!(event_name("/raven.test", r#"42/raven.test,["pong"]"#).as_deref(), Some("pong"));
        assert_eq!(packets("2\u{1e}40/a,{}"), vec!["2", "40/a,{}"]);
    }
}
