//! The WebSocket transport: the upgrade request (headers, TLS only for `wss`, TCP_NODELAY)
//! and typed refusals. Reading and writing frames is the connection task's business.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, protocol::WebSocketConfig};
use url::Url;

use super::error::ConnectError;

pub type Ws = tokio_tungstenite::WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Frames larger than this break the WebSocket stream itself (tungstenite refuses them).
/// Packets between the client's packet limit and this ceiling are read, reported and skipped.
pub const FRAME_CEILING: usize = 64 << 20;

/// Why an upgrade did not switch protocols.
#[derive(Debug, Clone, PartialEq)]
pub enum UpgradeError {
    /// An HTTP answer other than 101: status and the start of the body.
    Refused {
        status: u16,
        body: String,
    },
    /// No HTTP answer at all.
    Failed(String),
    Timeout(Duration),
    /// The proxy would not tunnel to the server.
    Proxy(crate::proxy::ProxyError),
}

impl From<UpgradeError> for ConnectError {
    fn from(e: UpgradeError) -> ConnectError {
        match e {
            UpgradeError::Refused { status, body } => {
                ConnectError::Http { what: "the WebSocket upgrade", status, body }
            }
            UpgradeError::Failed(m) => ConnectError::Transport(m),
            UpgradeError::Timeout(d) => ConnectError::Timeout(d),
            UpgradeError::Proxy(e) => ConnectError::Proxy(e),
        }
    }
}

impl std::fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", ConnectError::from(self.clone()))
    }
}

/// `http(s)` → `ws(s)`; ws URLs are kept.
pub fn ws_url(url: &Url) -> Url {
    let mut u = url.clone();
    let scheme = match u.scheme() {
        "https" | "wss" => "wss",
        _ => "ws",
    };
    let _ = u.set_scheme(scheme);
    u
}

/// Open a WebSocket to `url` (an Engine.IO URL with `transport=websocket`) sending `headers`.
pub async fn connect(
    url: &Url,
    headers: &[(String, String)],
    tls: &crate::tls::TlsSettings,
    proxy: &crate::proxy::ProxyChoice,
    timeout: Duration,
) -> Result<Ws, UpgradeError> {
    let url = ws_url(url);
    let mut req =
        url.as_str().into_client_request().map_err(|e| UpgradeError::Failed(e.to_string()))?;
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(v))
        {
            req.headers_mut().insert(name, value);
        }
    }
    // The TLS configuration (and the system trust store) is loaded only when the URL needs it.
    let tls_config = if crate::tls::is_tls_scheme(url.scheme()) {
        Some(crate::tls::client_config(tls).map_err(|e| UpgradeError::Failed(e.to_string()))?)
    } else {
        None
    };
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(FRAME_CEILING);
    config.max_frame_size = Some(FRAME_CEILING);
    let connecting = async {
        match crate::proxy::proxy_for(&url, proxy) {
            None => {
                let connector = Some(match tls_config {
                    Some(c) => tokio_tungstenite::Connector::Rustls(c),
                    None => tokio_tungstenite::Connector::Plain,
                });
                let tcp = direct_tcp(&url).await?;
                tokio_tungstenite::client_async_tls_with_config(req, tcp, Some(config), connector)
                    .await
                    .map_err(refusal)
            }
            Some(p) => {
                let stream = through_proxy(&url, &p, tls_config, timeout).await?;
                tokio_tungstenite::client_async_with_config(req, stream, Some(config))
                    .await
                    .map_err(refusal)
            }
        }
    };
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(UpgradeError::Timeout(timeout)),
        Ok(result) => result.map(|(ws, _)| ws),
    }
}

/// A TCP connection straight to the URL's host, refusing a connection to itself.
///
/// Connecting on loopback to a port in the ephemeral range where nothing listens can make
/// the kernel pick that very port as the source: the socket connects to itself (TCP
/// simultaneous open). Besides failing, it then holds the port, so a server restarting
/// there cannot bind again for a minute. Go's net package drops these too.
async fn direct_tcp(url: &Url) -> Result<TcpStream, UpgradeError> {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let port = url.port_or_known_default().unwrap_or(80);
    let io = |e: std::io::Error| UpgradeError::Failed(format!("IO error: {e}"));
    let tcp = TcpStream::connect((host, port)).await.map_err(io)?;
    if tcp.local_addr().map_err(io)? == tcp.peer_addr().map_err(io)? {
        let why = "Connection refused (the socket connected to itself: nothing listens)";
        return Err(io(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, why)));
    }
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// An upgrade's failure: the server's HTTP answer when it gave one.
fn refusal(e: tungstenite::Error) -> UpgradeError {
    match e {
        tungstenite::Error::Http(resp) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            UpgradeError::Refused {
                status: resp.status().as_u16(),
                body: super::http::excerpt(&body, 300),
            }
        }
        e => UpgradeError::Failed(crate::error_text::error_chain(&e)),
    }
}

/// A `CONNECT` tunnel through `proxy` to the server, with TLS inside it for wss.
async fn through_proxy(
    url: &Url,
    proxy: &crate::proxy::Proxy,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> Result<MaybeTlsStream<TcpStream>, UpgradeError> {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let tcp =
        crate::proxy::tunnel(proxy, &host, port, timeout).await.map_err(UpgradeError::Proxy)?;
    let Some(config) = tls else { return Ok(MaybeTlsStream::Plain(tcp)) };
    let name = rustls::pki_types::ServerName::try_from(host)
        .map_err(|e| UpgradeError::Failed(format!("TLS: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| UpgradeError::Failed(format!("TLS through the proxy: {e}")))?;
    Ok(MaybeTlsStream::Rustls(stream))
}
