//! The Socket.IO client behind a small trait, so the session never touches rust_socketio
//! directly and the client can be swapped.
//!
//! What the trait hides about rust_socketio 0.6 (see `rust-socketio.md`): `connect()` returns
//! Ok before the namespace answered, so the outcome arrives as the first [`Inbound`]; "open"
//! is its connect event; a refused CONNECT is an `error` carrying the server's message;
//! transport loss is one opaque `error` and no `close`. Its own reconnect is turned off (the
//! session owns reconnection) and callbacks only forward into a channel.

use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use url::Url;

/// Which Engine.IO transport a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Websocket,
    Polling,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Websocket => "websocket",
            Transport::Polling => "polling",
        })
    }
}

/// Everything needed to open one connection. `headers` may hold credentials: this type has
/// no `Debug` on purpose.
#[derive(Clone)]
pub struct ConnectSpec {
    /// Full Engine.IO URL including the path, e.g. `https://h/socket.io/`.
    pub url: Url,
    pub namespace: String,
    /// Sent on the first Engine.IO request (polling handshake or WebSocket upgrade).
    pub headers: Vec<(String, String)>,
    /// Handshake `auth` payload (JWT servers); Frappe ignores it.
    pub auth: Option<Value>,
    pub transport: Transport,
    pub accept_invalid_certs: bool,
}

/// What arrives from a connection, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// The namespace CONNECT was accepted.
    Open,
    /// The namespace CONNECT was refused with this message (`44{"message":…}`).
    Refused(String),
    /// An event with its arguments.
    Event { name: String, args: Vec<Value> },
    /// The server sent DISCONNECT (`io server disconnect`).
    ServerDisconnect,
    /// The transport failed (connection reset, ping timeout, unreadable payload…).
    Error(String),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransportError {
    #[error("{0}")]
    Failed(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// One live connection.
pub trait Link: Send + Sync {
    fn emit(&self, event: &str, args: Vec<Value>) -> BoxFuture<'_, Result<(), TransportError>>;
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// Opens connections; everything they receive goes into `inbound`.
pub trait Connector: Send + Sync + 'static {
    fn connect(&self, spec: ConnectSpec, inbound: mpsc::Sender<Inbound>) -> BoxFuture<'static, Result<Box<dyn Link>, TransportError>>;
}

/// Pull the server's text out of rust_socketio's `Received an ConnectError frame: {json}`.
pub fn refusal_message(error: &str) -> Option<String> {
    let raw = error.strip_prefix("Received an ConnectError frame: ")?;
    let parsed: Option<Value> = serde_json::from_str(raw).ok();
    Some(match parsed {
        Some(Value::Object(m)) => m.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| raw.to_string()),
        Some(Value::String(s)) => s,
        _ => raw.to_string(),
    })
}

/// The rust_socketio (async) implementation.
#[derive(Debug, Default, Clone)]
pub struct RustSocketIo;

struct RustSocketIoLink(Client);

impl Link for RustSocketIoLink {
    fn emit(&self, event: &str, args: Vec<Value>) -> BoxFuture<'_, Result<(), TransportError>> {
        let event = event.to_string();
        async move { self.0.emit(event, Payload::Text(args)).await.map_err(|e| TransportError::Failed(e.to_string())) }.boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        async move {
            let _ = self.0.disconnect().await;
        }
        .boxed()
    }
}

fn forward(tx: &mpsc::Sender<Inbound>, item: Inbound) -> BoxFuture<'static, ()> {
    let tx = tx.clone();
    // Awaiting the send applies backpressure to the socket instead of dropping events.
    async move {
        let _ = tx.send(item).await;
    }
    .boxed()
}

fn payload_args(p: Payload) -> Vec<Value> {
    match p {
        Payload::Text(v) => v,
        Payload::Binary(b) => vec![Value::String(format!("<{} bytes of binary>", b.len()))],
        #[allow(deprecated)]
        Payload::String(s) => vec![serde_json::from_str(&s).unwrap_or(Value::String(s))],
    }
}

impl Connector for RustSocketIo {
    fn connect(&self, spec: ConnectSpec, inbound: mpsc::Sender<Inbound>) -> BoxFuture<'static, Result<Box<dyn Link>, TransportError>> {
        async move {
            let mut b = ClientBuilder::new(spec.url.as_str())
                .namespace(spec.namespace.clone())
                .transport_type(match spec.transport {
                    Transport::Websocket => TransportType::Websocket,
                    Transport::Polling => TransportType::Polling,
                })
                .reconnect(false)
                .reconnect_on_disconnect(false);
            for (k, v) in &spec.headers {
                b = b.opening_header(k.as_str(), v.as_str());
            }
            if let Some(auth) = spec.auth.clone() {
                b = b.auth(auth);
            }
            if spec.accept_invalid_certs {
                let tls = native_tls::TlsConnector::builder()
                    .danger_accept_invalid_certs(true)
                    .danger_accept_invalid_hostnames(true)
                    .build()
                    .map_err(|e| TransportError::Failed(format!("TLS setup: {e}")))?;
                b = b.tls_config(tls);
            }
            let tx = inbound;
            let (t1, t2, t3, t4) = (tx.clone(), tx.clone(), tx.clone(), tx.clone());
            b = b
                .on("open", move |_, _| forward(&t1, Inbound::Open))
                .on("error", move |p, _| {
                    let text = payload_args(p).into_iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect::<Vec<_>>().join(" ");
                    let item = match refusal_message(&text) {
                        Some(msg) => Inbound::Refused(msg),
                        None => Inbound::Error(text),
                    };
                    forward(&t2, item)
                })
                .on("close", move |_, _| forward(&t3, Inbound::ServerDisconnect))
                .on_any(move |event, p, _| {
                    let name = match event {
                        Event::Custom(n) => n,
                        other => other.as_str().to_string(),
                    };
                    forward(&t4, Inbound::Event { name, args: payload_args(p) })
                });
            let client = b.connect().await.map_err(|e| TransportError::Failed(crate::error_text::error_chain(&e)))?;
            Ok(Box::new(RustSocketIoLink(client)) as Box<dyn Link>)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_text_is_extracted_verbatim() {
        assert_eq!(refusal_message(r#"Received an ConnectError frame: {"message":"Invalid origin"}"#).as_deref(), Some("Invalid origin"));
        assert_eq!(refusal_message("EngineIO Error"), None);
        assert_eq!(refusal_message(r#"Received an ConnectError frame: "No error message provided""#).as_deref(), Some("No error message provided"));
    }
}
