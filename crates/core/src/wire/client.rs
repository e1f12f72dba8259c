//! Opening a connection: handshake (Engine.IO 4, or 3 when the server says so), the
//! transport plan (WebSocket, polling, or polling upgraded to WebSocket as browsers do), the
//! namespace CONNECT; and the [`Handle`] to emit, emit with ack, and close.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::connection::{AckTable, Inbound, Settings, Task};
use super::engine::{self, EioPacket, EioVersion, Handshake};
use super::error::{ConnectError, EmitError};
use super::http::{self, Body, HttpFailure};
use super::io::{self, Out, PollTarget, Reader};
use super::packet;
use super::upgrade;
use super::websocket::{self, FRAME_CEILING, Ws};

/// The Engine.IO transport a connection runs on.
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

/// How to open the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportPlan {
    /// A WebSocket straight away (no sticky sessions needed).
    Websocket,
    /// Long-polling only.
    Polling,
    /// Polling handshake, then upgrade (`2probe`/`3probe`/`5`), as socket.io-client does;
    /// stays on polling, saying why, when the upgrade fails.
    PollingThenUpgrade,
}

/// Everything needed to open one connection. `headers` and `auth` may hold credentials:
/// this type has no `Debug` on purpose.
#[derive(Clone)]
pub struct ConnectOptions {
    /// The Engine.IO endpoint including its path, e.g. `https://h/socket.io/`.
    pub socket_url: Url,
    pub namespace: String,
    /// Sent on every HTTP request and on the WebSocket upgrade.
    pub headers: Vec<(String, String)>,
    /// The CONNECT `auth` payload (Socket.IO v5 servers; v2 servers take none).
    pub auth: Option<Box<RawValue>>,
    pub plan: TransportPlan,
    /// A version seen before; `None` tries 4, then 3 if the server asks.
    pub version: Option<EioVersion>,
    /// Verification, private CA, client certificate (WebSocket; polling uses `http`'s).
    pub tls: crate::tls::TlsSettings,
    /// The WebSocket's proxy (polling's is in `http`).
    pub proxy: crate::proxy::ProxyChoice,
    /// For the whole open: handshake, upgrade and namespace answer.
    pub timeout: Duration,
    /// Socket.IO packets larger than this are reported and skipped.
    pub max_packet: usize,
    /// The HTTP client for polling (its TLS settings apply).
    pub http: reqwest::Client,
    /// Items the connection may queue ahead of its consumer.
    pub queue: usize,
    /// A session left on polling by a failed or refused upgrade tries the WebSocket again
    /// after this long, then at doubling intervals (at most five minutes), and switches in
    /// place when it works ([`super::upgrade`]). `None`: polling stays polling.
    pub retry_upgrade: Option<Duration>,
}

/// What a live connection runs on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkInfo {
    pub transport: Transport,
    pub eio: EioVersion,
    pub ping_interval_ms: u64,
    pub ping_timeout_ms: u64,
    /// Why the planned upgrade to WebSocket did not happen (polling kept).
    pub upgrade_failed: Option<String>,
}

/// A live connection: what it runs on, what it receives, and how to send.
pub struct Connection {
    pub info: LinkInfo,
    pub inbound: mpsc::Receiver<Inbound>,
    pub handle: Handle,
}

/// Sends on a connection. Cheap to clone.
#[derive(Clone)]
pub struct Handle {
    namespace: Arc<str>,
    out: mpsc::UnboundedSender<Out>,
    acks: AckTable,
    next_ack: Arc<AtomicU64>,
    cancel: CancellationToken,
    writer_done: watch::Receiver<bool>,
}

impl Handle {
    fn send(&self, sio: String) -> Result<(), EmitError> {
        let mut text = String::with_capacity(sio.len() + 1);
        text.push('4');
        text.push_str(&sio);
        self.out.send(Out::Packet(text)).map_err(|_| EmitError::Closed)
    }

    /// Emit `name` with `args` (each a JSON value's text). Queued; never waits.
    pub fn emit(&self, name: &str, args: &[&RawValue]) -> Result<(), EmitError> {
        self.send(packet::encode_event(&self.namespace, None, name, args))
    }

    /// Emit and wait for the server's ack: its arguments as one raw JSON array.
    pub async fn emit_with_ack(
        &self,
        name: &str,
        args: &[&RawValue],
        timeout: Duration,
    ) -> Result<Box<RawValue>, EmitError> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut t) = self.acks.lock() {
            t.insert(id, tx);
        }
        self.send(packet::encode_event(&self.namespace, Some(id), name, args))?;
        let answer = tokio::time::timeout(timeout, rx).await;
        if let Ok(mut t) = self.acks.lock() {
            t.remove(&id);
        }
        match answer {
            Ok(Ok(args)) => Ok(args),
            Ok(Err(_)) => Err(EmitError::Closed),
            Err(_) => Err(EmitError::AckTimeout(timeout)),
        }
    }

    /// Leave the namespace (DISCONNECT), close the transport, and wait (at most 2 s) until
    /// what was queued before has been sent.
    pub async fn close(&self) {
        let _ = self.send(packet::encode_disconnect(&self.namespace));
        let _ = self.out.send(Out::Close);
        self.cancel.cancel();
        let mut done = self.writer_done.clone();
        let _ = tokio::time::timeout(Duration::from_secs(2), done.wait_for(|d| *d)).await;
    }
}

fn network(e: HttpFailure) -> ConnectError {
    ConnectError::Transport(e.to_string())
}

/// Open a connection and join `opts.namespace`. Returns once the namespace accepted us.
pub async fn connect(opts: &ConnectOptions) -> Result<Connection, ConnectError> {
    let deadline = Instant::now() + opts.timeout;
    match tokio::time::timeout_at(deadline, open(opts, deadline)).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout(opts.timeout)),
    }
}

struct Opened {
    reader: Reader,
    writer: io::Writer,
    handshake: Handshake,
    version: EioVersion,
    transport: Transport,
    upgrade_failed: Option<String>,
    leftover: Vec<String>,
    retry: Option<super::upgrade::Retry>,
}

async fn open(opts: &ConnectOptions, deadline: Instant) -> Result<Connection, ConnectError> {
    let mut version = opts.version.unwrap_or(EioVersion::V4);
    let opened = loop {
        let tried = match opts.plan {
            TransportPlan::Websocket => open_websocket(opts, version, deadline).await,
            _ => open_polling(opts, version, deadline).await,
        };
        match tried {
            // `{"code":5,"message":"Unsupported protocol version"}`: a Socket.IO v2 server.
            Err(ConnectError::Http { status: 400, ref body, .. })
                if version == EioVersion::V4
                    && opts.version.is_none()
                    && http::engine_error_code(body) == Some(5) =>
            {
                version = EioVersion::V3;
            }
            other => break other?,
        }
    };
    start(opts, opened, deadline).await
}

async fn open_websocket(
    opts: &ConnectOptions,
    version: EioVersion,
    deadline: Instant,
) -> Result<Opened, ConnectError> {
    let url = http::eio_url(&opts.socket_url, version, "websocket", None);
    let mut ws = websocket::connect(
        &url,
        &opts.headers,
        &opts.tls,
        &opts.proxy,
        deadline.saturating_duration_since(Instant::now()),
    )
    .await?;
    let first = next_text(&mut ws).await?;
    let handshake = match EioPacket::decode(version, &first) {
        Ok(EioPacket::Open(data)) => {
            Handshake::parse(data).map_err(|e| ConnectError::NotEngineIo(e.to_string()))?
        }
        _ => {
            return Err(ConnectError::NotEngineIo(format!(
                "first frame was {}",
                http::excerpt(&first, 100)
            )));
        }
    };
    Ok(on_websocket(ws, handshake, version, Vec::new()))
}

/// A WebSocket that completed its handshake (directly or by upgrade), split into its halves.
fn on_websocket(
    ws: Ws,
    handshake: Handshake,
    version: EioVersion,
    leftover: Vec<String>,
) -> Opened {
    let (sink, stream) = ws.split();
    let (writer, parts) = io::Writer::channel();
    io::spawn_ws_writer(sink, parts);
    Opened {
        reader: Reader::Ws(stream),
        writer,
        handshake,
        version,
        transport: Transport::Websocket,
        upgrade_failed: None,
        leftover,
        retry: None,
    }
}

pub(crate) async fn next_text(ws: &mut Ws) -> Result<String, ConnectError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(f))) => {
                return Err(ConnectError::Closed(
                    f.map(|f| f.reason.to_string()).unwrap_or_else(|| "WebSocket closed".into()),
                ));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(network_ws(e)),
            None => return Err(ConnectError::Closed("WebSocket closed".into())),
        }
    }
}

async fn open_polling(
    opts: &ConnectOptions,
    mut version: EioVersion,
    deadline: Instant,
) -> Result<Opened, ConnectError> {
    let url = http::eio_url(&opts.socket_url, version, "polling", None);
    let answer =
        http::get(&opts.http, url, &opts.headers, FRAME_CEILING, None).await.map_err(network)?;
    let text = answer.body.text().into_owned();
    if answer.status != 200 {
        return Err(ConnectError::Http {
            what: "the polling handshake",
            status: answer.status,
            body: http::excerpt(&text, 300),
        });
    }
    if version == EioVersion::V4
        && (engine::looks_like_v3(&text) || matches!(answer.body, Body::Binary(_)))
    {
        // An engine.io 3 server ignores `EIO=4` and answers in its own framing.
        version = EioVersion::V3;
    }
    let mut packets: Vec<String> = match &answer.body {
        Body::Text(t) => engine::split_payload(version, t)
            .map_err(|e| ConnectError::NotEngineIo(format!("{e}: {}", http::excerpt(t, 100))))?
            .into_iter()
            .map(str::to_owned)
            .collect(),
        Body::Binary(b) => {
            engine::split_v3_binary(b).map_err(|e| ConnectError::NotEngineIo(e.to_string()))?
        }
    };
    let handshake = match packets.first().map(|p| EioPacket::decode(version, p)) {
        Some(Ok(EioPacket::Open(data))) => {
            Handshake::parse(data).map_err(|e| ConnectError::NotEngineIo(e.to_string()))?
        }
        _ => return Err(ConnectError::NotEngineIo(http::excerpt(&text, 120))),
    };
    packets.remove(0);
    let target = PollTarget {
        http: opts.http.clone(),
        socket_url: opts.socket_url.clone(),
        version,
        sid: handshake.sid.clone(),
        headers: opts.headers.clone(),
        // The server answers a poll at the latest with its ping (v4) or our ping's pong (v3).
        hold: Duration::from_millis(handshake.ping_interval + handshake.ping_timeout)
            + Duration::from_secs(5),
    };
    let mut upgrade_failed = None;
    let offered = handshake.upgrades.iter().any(|u| u == "websocket");
    if opts.plan == TransportPlan::PollingThenUpgrade {
        if offered {
            match upgrade::probe(opts, version, &handshake.sid, deadline).await {
                Ok(mut ws) => {
                    // Nothing is polling yet: the upgrade completes at once.
                    ws.send(Message::Text("5".into())).await.map_err(network_ws)?;
                    return Ok(on_websocket(ws, handshake, version, packets));
                }
                Err(why) => upgrade_failed = Some(why),
            }
        } else {
            upgrade_failed = Some("the server offers no upgrade to websocket".into());
        }
    }
    let retry = offered.then(|| upgrade::Retry::new(opts, version, &handshake.sid)).flatten();
    let (writer, parts) = io::Writer::channel();
    io::spawn_poll_writer(target.clone(), parts);
    Ok(Opened {
        reader: io::spawn_poller(target, 4),
        writer,
        handshake,
        version,
        transport: Transport::Polling,
        upgrade_failed,
        leftover: packets,
        retry,
    })
}

/// A WebSocket failure while opening, with its causes.
fn network_ws(e: tokio_tungstenite::tungstenite::Error) -> ConnectError {
    ConnectError::Transport(crate::error_text::error_chain(&e))
}

async fn start(
    opts: &ConnectOptions,
    o: Opened,
    deadline: Instant,
) -> Result<Connection, ConnectError> {
    let (inbound_tx, inbound) = mpsc::channel(opts.queue.max(1));
    let (reply_tx, reply_rx) = oneshot::channel();
    let cancel = CancellationToken::new();
    let acks = AckTable::default();
    let handle = Handle {
        namespace: opts.namespace.as_str().into(),
        out: o.writer.tx.clone(),
        acks: acks.clone(),
        next_ack: Arc::new(AtomicU64::new(0)),
        cancel: cancel.clone(),
        writer_done: o.writer.done.clone(),
    };
    let settings = Settings {
        namespace: opts.namespace.clone(),
        version: o.version,
        ping_interval: Duration::from_millis(o.handshake.ping_interval),
        ping_timeout: Duration::from_millis(o.handshake.ping_timeout),
        max_packet: opts.max_packet,
    };
    // v2 servers take no auth payload in CONNECT (protocol v4 has none).
    let auth = if o.version == EioVersion::V4 { opts.auth.as_deref() } else { None };
    let connect = packet::encode_connect(&opts.namespace, auth);
    let task = Task {
        settings,
        reader: o.reader,
        writer: o.writer,
        inbound: inbound_tx,
        acks,
        cancel: cancel.clone(),
        connect_reply: Some(reply_tx),
        leftover: o.leftover,
        pending: None,
        retry: o.retry,
    };
    tokio::spawn(task.run());
    let _ = handle.send(connect);
    match tokio::time::timeout_at(deadline, reply_rx).await {
        Ok(Ok(Ok(version))) => Ok(Connection {
            info: LinkInfo {
                transport: o.transport,
                eio: version,
                ping_interval_ms: o.handshake.ping_interval,
                ping_timeout_ms: o.handshake.ping_timeout,
                upgrade_failed: o.upgrade_failed,
            },
            inbound,
            handle,
        }),
        Ok(Ok(Err(e))) => {
            cancel.cancel();
            Err(e)
        }
        Ok(Err(_)) => Err(ConnectError::Closed("the connection task ended".into())),
        Err(_) => {
            handle.close().await;
            Err(ConnectError::Timeout(opts.timeout))
        }
    }
}
