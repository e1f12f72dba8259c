//! The connection task: owns the reader, decodes every frame (Engine.IO, then Socket.IO),
//! keeps the heartbeat, matches acks, and hands events to one bounded queue. Awaiting that
//! queue is the backpressure: a slow consumer stops the reads, and TCP slows the server.
//!
//! Lifecycle comes from packet types only: an EVENT is an event whatever its name. A bad
//! packet becomes [`Inbound::Malformed`] and the link stays up; only broken framing (a
//! polling body whose lengths do not add up) or a transport failure ends it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::engine::{self, EioPacket, EioVersion};
use super::error::{ConnectError, Disconnect, PacketError};
use super::http::Body;
use super::io::{Incoming, Out, Reader};
use super::packet::{Packet, PacketKind};
use super::payload::Payload;

/// An event as received: the name, and the arguments as one raw JSON value (the single
/// argument itself; `null` for none; an array when there are several).
#[derive(Debug)]
pub struct WireEvent {
    pub name: String,
    pub payload: Payload,
    pub arg_count: usize,
    /// Set when the server asked for an ack.
    pub ack_id: Option<u64>,
    /// Binary attachments (placeholders stay in `payload`).
    pub attachments: Vec<Vec<u8>>,
}

/// A packet that could not be used, reported and skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// The start of the packet as received (at most [`MALFORMED_EXCERPT`] bytes).
    pub raw: String,
    pub error: PacketError,
}

pub const MALFORMED_EXCERPT: usize = 300;

/// What a connection delivers, in order.
#[derive(Debug)]
pub enum Inbound {
    Event(WireEvent),
    Malformed(Malformed),
    /// The session moved from polling to WebSocket in place (same Engine.IO session: nothing
    /// lost, rooms kept); what follows comes over the WebSocket.
    Upgraded,
    /// The last item: why the connection ended.
    Closed(Disconnect),
}

pub(crate) type AckTable = Arc<Mutex<HashMap<u64, oneshot::Sender<Box<RawValue>>>>>;

/// Heartbeat and limits of one connection.
pub(crate) struct Settings {
    pub namespace: String,
    pub version: EioVersion,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub max_packet: usize,
}

/// A binary packet waiting for its attachments.
pub(crate) struct PendingBinary {
    event: Option<WireEvent>,
    ack: Option<(u64, Box<RawValue>)>,
    want: usize,
    got: usize,
    raw: String,
}

pub(crate) struct Task {
    pub settings: Settings,
    pub reader: Reader,
    pub writer: super::io::Writer,
    pub inbound: mpsc::Sender<Inbound>,
    pub acks: AckTable,
    pub cancel: CancellationToken,
    /// Answered once, when our namespace accepts (with the Engine.IO version now known) or
    /// refuses the CONNECT.
    pub connect_reply: Option<oneshot::Sender<Result<EioVersion, ConnectError>>>,
    /// Packets that came with the handshake (same polling body as the open packet).
    pub leftover: Vec<String>,
    pub pending: Option<PendingBinary>,
    /// On polling: when to try the WebSocket again ([`super::upgrade`]).
    pub retry: Option<super::upgrade::Retry>,
}

pub(crate) enum Flow {
    Go,
    End(Disconnect),
}

fn excerpt(s: &str) -> String {
    let mut end = s.len().min(MALFORMED_EXCERPT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The payload of a received event: its single argument as a slice of `source`, the text it
/// arrived in (no copy), or as [`payload_of`].
fn payload_in(source: &Arc<String>, args: &[&RawValue]) -> Payload {
    match args {
        [one] => Payload::within(source, one.get()),
        other => payload_of(other),
    }
}

/// The payload of an event: its single argument, `null`, or the arguments as an array.
pub fn payload_of(args: &[&RawValue]) -> Payload {
    match args {
        [] => Payload::own("null".into()),
        [one] => Payload::from(*one),
        many => {
            let mut s =
                String::with_capacity(many.iter().map(|a| a.get().len() + 1).sum::<usize>() + 1);
            s.push('[');
            for (i, a) in many.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(a.get());
            }
            s.push(']');
            // Checked values joined by commas in brackets: an array, checked too.
            Payload::own(s)
        }
    }
}

impl Task {
    /// Socket.IO v2 servers speak Engine.IO 3, whose heartbeat the client drives.
    fn client_pings(&self) -> bool {
        self.settings.version == EioVersion::V3
    }

    pub async fn run(mut self) {
        let end = self.serve().await;
        if let Some(reply) = self.connect_reply.take() {
            let _ = reply.send(Err(ConnectError::Closed(end.to_string())));
        }
        // Whatever ended it, the writer closes the transport (a no-op on a dead socket).
        let _ = self.writer.tx.send(Out::Close);
        let _ = self.inbound.send(Inbound::Closed(end)).await;
    }

    async fn serve(&mut self) -> Disconnect {
        let mut last_packet = Instant::now();
        let mut next_ping = Instant::now() + self.settings.ping_interval;
        let mut pong_due: Option<Instant> = None;
        for packet in std::mem::take(&mut self.leftover) {
            let packet = Arc::new(packet);
            if let Flow::End(d) = self.on_text(&packet, &packet).await {
                return d;
            }
        }
        loop {
            let liveness = last_packet + self.settings.ping_interval + self.settings.ping_timeout;
            let mut wake = liveness;
            if self.client_pings() {
                wake = wake.min(next_ping);
                if let Some(p) = pong_due {
                    wake = wake.min(p);
                }
            }
            let flow = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Disconnect::ClientDisconnect,
                _ = self.writer.failed.changed() => {
                    let why = self.writer.failed.borrow().clone().unwrap_or_else(|| "writer stopped".into());
                    return Disconnect::TransportError(why);
                }
                incoming = self.reader.next() => {
                    last_packet = Instant::now();
                    self.on_incoming(incoming, &mut pong_due).await
                }
                ws = super::upgrade::next_try(&mut self.retry), if self.retry.is_some() => {
                    self.upgrade_in_place(ws, &mut pong_due).await
                }
                _ = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if now >= liveness || pong_due.is_some_and(|p| now >= p) {
                        return Disconnect::PingTimeout(self.settings.ping_interval + self.settings.ping_timeout);
                    }
                    if self.client_pings() && now >= next_ping {
                        let _ = self.writer.tx.send(Out::Packet("2".into()));
                        next_ping = now + self.settings.ping_interval;
                        pong_due.get_or_insert(now + self.settings.ping_timeout);
                    }
                    Flow::Go
                }
                _ = self.inbound.closed() => return Disconnect::ClientDisconnect,
            };
            if let Flow::End(d) = flow {
                return d;
            }
        }
    }

    /// What the transport brought.
    pub(crate) async fn on_incoming(
        &mut self,
        incoming: Incoming,
        pong_due: &mut Option<Instant>,
    ) -> Flow {
        match incoming {
            Incoming::Text(t) => {
                let frame = Arc::new(t);
                self.on_received(&frame, &frame, pong_due).await
            }
            Incoming::Binary(b) => match engine::decode_ws_binary(self.settings.version, &b) {
                Ok(bytes) => self.on_binary(bytes).await,
                Err(e) => self.malformed(format!("<{} binary bytes>", b.len()), e.into()).await,
            },
            Incoming::Body(body) => self.on_body(body, pong_due).await,
            Incoming::Closed(reason) => Flow::End(Disconnect::TransportClose(reason)),
            Incoming::Failed(e) => Flow::End(Disconnect::TransportError(e)),
        }
    }

    async fn on_body(&mut self, body: Body, pong_due: &mut Option<Instant>) -> Flow {
        // The packets borrow from the body, and the events' payloads share it: no copy per
        // packet or per event. (A v3 binary body's packets are decoded into texts of their
        // own first.)
        match body {
            Body::Text(t) => {
                let source = Arc::new(t);
                let packets = match engine::split_payload(self.settings.version, &source) {
                    Ok(p) => p,
                    Err(e) => return Flow::End(Disconnect::ParseError(e)),
                };
                for p in packets {
                    if let Flow::End(d) = self.on_received(&source, p, pong_due).await {
                        return Flow::End(d);
                    }
                }
            }
            Body::Binary(b) => {
                let packets = match engine::split_v3_binary(&b) {
                    Ok(p) => p,
                    Err(e) => return Flow::End(Disconnect::ParseError(e)),
                };
                for p in packets.into_iter().map(Arc::new) {
                    if let Flow::End(d) = self.on_received(&p, &p, pong_due).await {
                        return Flow::End(d);
                    }
                }
            }
        }
        Flow::Go
    }

    /// One packet as received (a WebSocket frame, or one of a polling body's): a pong ends
    /// the wait for it when the client drives the heartbeat (v3).
    async fn on_received(
        &mut self,
        source: &Arc<String>,
        text: &str,
        pong_due: &mut Option<Instant>,
    ) -> Flow {
        if text.starts_with('3') && self.client_pings() {
            *pong_due = None;
        }
        self.on_text(source, text).await
    }

    /// One Engine.IO packet, `text`, a part of `source` (the body or frame it came in).
    async fn on_text(&mut self, source: &Arc<String>, text: &str) -> Flow {
        match EioPacket::decode(self.settings.version, text) {
            Err(e) => self.malformed(excerpt(text), e.into()).await,
            Ok(EioPacket::Ping(data)) => {
                // v4: the server's heartbeat. v3 servers never ping, but answering is harmless.
                let _ = self.writer.tx.send(Out::Packet(EioPacket::Pong(data).encode()));
                Flow::Go
            }
            Ok(EioPacket::Message(m)) => self.on_socketio(source, m).await,
            Ok(EioPacket::Binary(b)) => self.on_binary(b).await,
            Ok(EioPacket::Close) => Flow::End(Disconnect::TransportClose(Some(
                "the server closed the Engine.IO session".into(),
            ))),
            Ok(EioPacket::Pong(_) | EioPacket::Noop | EioPacket::Upgrade | EioPacket::Open(_)) => {
                Flow::Go
            }
        }
    }

    async fn malformed(&mut self, raw: String, error: PacketError) -> Flow {
        tracing::debug!(%error, "malformed packet skipped");
        self.deliver(Inbound::Malformed(Malformed { raw, error })).await
    }

    pub(crate) async fn deliver(&mut self, item: Inbound) -> Flow {
        if self.inbound.send(item).await.is_err() {
            return Flow::End(Disconnect::ClientDisconnect);
        }
        Flow::Go
    }

    async fn on_socketio(&mut self, source: &Arc<String>, text: &str) -> Flow {
        if text.len() > self.settings.max_packet {
            return self
                .malformed(
                    excerpt(text),
                    PacketError::Oversized { size: text.len(), limit: self.settings.max_packet },
                )
                .await;
        }
        if let Some(p) = self.pending.take()
            && let Flow::End(d) = self
                .malformed(p.raw, PacketError::IncompleteBinary { got: p.got, want: p.want })
                .await
        {
            return Flow::End(d);
        }
        let packet = match Packet::decode(text) {
            Ok(p) => p,
            Err(e) => return self.malformed(excerpt(text), e).await,
        };
        if packet.namespace != self.settings.namespace {
            // Another namespace's traffic is not ours to act on, but a root CONNECT nobody
            // asked for is the mark of a Socket.IO v2 server (it joins `/` by itself), which
            // may have accepted our `EIO=4` WebSocket while speaking Engine.IO 3.
            if packet.kind == PacketKind::Connect
                && packet.namespace == "/"
                && self.connect_reply.is_some()
            {
                self.settings.version = EioVersion::V3;
            }
            return Flow::Go;
        }
        match packet.kind {
            PacketKind::Connect => {
                if let Some(reply) = self.connect_reply.take() {
                    // v5 servers answer `{"sid":…}`; a bare CONNECT is protocol v4 (Socket.IO
                    // v2, Engine.IO 3), whose heartbeat the client drives.
                    if packet.data.is_none() {
                        self.settings.version = EioVersion::V3;
                    }
                    let _ = reply.send(Ok(self.settings.version));
                }
                Flow::Go
            }
            PacketKind::ConnectError => {
                let message = packet.refusal();
                match self.connect_reply.take() {
                    Some(reply) => {
                        let _ = reply.send(Err(ConnectError::Refused(message)));
                        Flow::End(Disconnect::ClientDisconnect)
                    }
                    None => Flow::End(Disconnect::TransportClose(Some(format!(
                        "the namespace refused us after connecting: {message}"
                    )))),
                }
            }
            PacketKind::Disconnect => Flow::End(Disconnect::ServerDisconnect),
            PacketKind::Event | PacketKind::BinaryEvent => match packet.event() {
                Err(e) => self.malformed(excerpt(text), e).await,
                Ok(args) => {
                    let event = WireEvent {
                        name: args.name.into_owned(),
                        payload: payload_in(source, &args.args),
                        arg_count: args.args.len(),
                        ack_id: packet.ack_id,
                        attachments: Vec::new(),
                    };
                    if packet.attachments > 0 {
                        self.pending = Some(PendingBinary {
                            event: Some(event),
                            ack: None,
                            want: packet.attachments,
                            got: 0,
                            raw: excerpt(text),
                        });
                        return Flow::Go;
                    }
                    self.deliver(Inbound::Event(event)).await
                }
            },
            PacketKind::Ack | PacketKind::BinaryAck => match (packet.ack_id, packet.ack_args()) {
                (Some(id), Ok(args)) => {
                    if packet.attachments > 0 {
                        self.pending = Some(PendingBinary {
                            event: None,
                            ack: Some((id, args.to_owned())),
                            want: packet.attachments,
                            got: 0,
                            raw: excerpt(text),
                        });
                        return Flow::Go;
                    }
                    self.answer_ack(id, args.to_owned(), text).await
                }
                (None, _) => self.malformed(excerpt(text), PacketError::BadAckId).await,
                (_, Err(e)) => self.malformed(excerpt(text), e).await,
            },
        }
    }

    async fn answer_ack(&mut self, id: u64, args: Box<RawValue>, text: &str) -> Flow {
        let waiting = self.acks.lock().map(|mut t| t.remove(&id)).unwrap_or(None);
        match waiting {
            Some(tx) => {
                let _ = tx.send(args);
                Flow::Go
            }
            None => self.malformed(excerpt(text), PacketError::UnknownAck(id)).await,
        }
    }

    async fn on_binary(&mut self, bytes: Vec<u8>) -> Flow {
        let Some(mut p) = self.pending.take() else {
            return self
                .malformed(format!("<{} binary bytes>", bytes.len()), PacketError::UnexpectedBinary)
                .await;
        };
        p.got += 1;
        if let Some(e) = p.event.as_mut() {
            e.attachments.push(bytes);
        }
        if p.got < p.want {
            self.pending = Some(p);
            return Flow::Go;
        }
        match (p.event, p.ack) {
            (Some(e), _) => self.deliver(Inbound::Event(e)).await,
            (None, Some((id, args))) => self.answer_ack(id, args, &p.raw).await,
            (None, None) => Flow::Go,
        }
    }
}
