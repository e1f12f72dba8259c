//! What can go wrong on the wire, as types the session and the probes branch on.

use std::time::Duration;

/// An Engine.IO frame or polling payload that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("empty packet")]
    Empty,
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownType(char),
    #[error("invalid base64 in a binary packet")]
    BadBase64,
    #[error("invalid length prefix in a polling payload")]
    BadLength,
    #[error("payload is not UTF-8")]
    NotUtf8,
    #[error("handshake is not the expected JSON: {0}")]
    BadHandshake(String),
}

/// A Socket.IO packet that cannot be decoded (the link carries on without it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("unknown Socket.IO packet type")]
    UnknownType,
    #[error("invalid attachment count")]
    BadAttachments,
    #[error("{0} attachments announced (limit {limit})", limit = super::packet::MAX_ATTACHMENTS)]
    TooManyAttachments(usize),
    #[error("invalid ack id")]
    BadAckId,
    #[error("no JSON where the packet type needs it")]
    MissingData,
    #[error("not a JSON array")]
    NotAnArray,
    #[error("JSON nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("invalid JSON: {0}")]
    BadJson(String),
    #[error("{size} bytes, over the {limit}-byte packet limit")]
    Oversized { size: usize, limit: usize },
    #[error("ack for id {0}, which no emit is waiting for")]
    UnknownAck(u64),
    #[error("binary attachment with no binary packet waiting for it")]
    UnexpectedBinary,
    #[error("binary packet incomplete: {got} of {want} attachments before the next packet")]
    IncompleteBinary { got: usize, want: usize },
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectError {
    /// The namespace answered CONNECT_ERROR; the server's message, verbatim.
    #[error("{0}")]
    Refused(String),
    /// An HTTP answer other than the Engine.IO one (polling request or WebSocket upgrade).
    #[error("HTTP {status} from {what}{}", body_note(body))]
    Http { what: &'static str, status: u16, body: String },
    /// The answer was not Engine.IO at all (an HTML page, a proxy's interstitial…).
    #[error("not an Engine.IO answer: {0}")]
    NotEngineIo(String),
    /// Connection-level failure (DNS, refused, TLS, reset).
    #[error("{0}")]
    Transport(String),
    /// The proxy did not open a tunnel (unreachable, 407, refused by policy).
    #[error(transparent)]
    Proxy(#[from] crate::proxy::ProxyError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection closed while we waited for the namespace.
    #[error("closed before the namespace answered: {0}")]
    Closed(String),
}

fn body_note(body: &str) -> String {
    if body.is_empty() { String::new() } else { format!(": {body}") }
}

/// Why an open connection ended (socket.io-client's disconnect reasons, typed).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Disconnect {
    /// The server sent DISCONNECT for our namespace (`io server disconnect`): not retried.
    #[error("io server disconnect")]
    ServerDisconnect,
    /// We closed it.
    #[error("io client disconnect")]
    ClientDisconnect,
    /// No packet within pingInterval + pingTimeout (or no pong to our v3 ping).
    #[error("ping timeout ({0:?} without a packet)")]
    PingTimeout(Duration),
    /// The server closed the Engine.IO session (`1`) or the socket ended cleanly.
    #[error("transport close{}", close_note(.0))]
    TransportClose(Option<String>),
    /// The transport failed: a read error, an HTTP error on a poll, a failed send.
    #[error("transport error: {0}")]
    TransportError(String),
    /// The Engine.IO framing could not be decoded; the stream cannot be trusted.
    #[error("parse error: {0}")]
    ParseError(FrameError),
}

fn close_note(reason: &Option<String>) -> String {
    reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
}

/// An emit that could not be completed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmitError {
    #[error("the connection is closed")]
    Closed,
    #[error("no ack within {0:?}")]
    AckTimeout(Duration),
    #[error("arguments are not valid JSON: {0}")]
    BadArgs(String),
}
