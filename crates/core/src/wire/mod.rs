//! Sockeye's own Engine.IO (v3, v4) and Socket.IO (v4, v5) client: one implementation for
//! the session, the probes, the recorder and the emitter.
//!
//! Layers, lowest first (after mini-redis' connection / frame / parse split):
//! - [`engine`]: Engine.IO packets and polling payload framing. No I/O.
//! - [`json_check`]: one-pass JSON validation for the raw text packets keep. No I/O.
//! - [`packet`]: Socket.IO packets; arguments stay raw JSON, the event name is borrowed. No I/O.
//! - [`payload`]: an event's raw JSON, shared with the body or frame it came in. No I/O.
//! - [`http`], [`websocket`]: the two transports' requests, with typed refusals.
//! - [`io`]: reader and writer halves of a running transport.
//! - [`connection`]: the task that owns a connection: decoding, heartbeat, acks, one queue.
//! - [`client`]: opening a connection (version detection, upgrade, namespace) and its handle.
//! - [`upgrade`]: polling to WebSocket, at the handshake and later in place.
//!
//! Why our own client and not rust_socketio: `docs/wire.md`.

pub mod client;
pub mod connection;
pub mod engine;
pub mod error;
pub mod http;
pub mod io;
pub mod json_check;
pub mod packet;
pub mod payload;
pub mod upgrade;
pub mod websocket;

pub use client::{ConnectOptions, Connection, Handle, LinkInfo, Transport, TransportPlan, connect};
pub use connection::{Inbound, Malformed, WireEvent};
pub use engine::EioVersion;
pub use error::{ConnectError, Disconnect, EmitError, FrameError, PacketError};
pub use payload::{Payload, Text};
