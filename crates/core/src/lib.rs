//! Sockeye's core: everything that is not GUI.
//!
//! - [`url_rules`], [`profile`], [`config_file`], [`secrets`], [`credentials_file`]:
//!   environments and where they live.
//! - [`auth`], [`target`]: credentials and what a connection sends.
//! - [`wire`]: our own Engine.IO / Socket.IO client (codec, transports, connection).
//! - [`session`], [`state`], [`backoff`]: the supervisor that connects, verifies, subscribes
//!   and reconnects.
//! - [`events`]: the typed event model (raw JSON always kept); [`event_log`]: the bounded log
//!   the app shows, searches and exports.
//! - [`recording`]: a link's history as a file (record, export, replay), secrets redacted.
//! - [`diagnose`]: the probe chain that names what is broken and how to fix it.
//! - [`runs`]: agent runs correlated into cards; [`batch`]: batching for the UI.
//! - [`backfill`], [`progress`]: what REST recovers of what the realtime link missed.
//! - [`notify`]: the notification policy; [`metrics`]: the OpenMetrics exposition.

pub mod auth;
pub mod backfill;
pub mod backoff;
pub mod batch;
pub mod config_file;
pub mod credentials_file;
pub mod diagnose;
pub mod emit;
pub mod error_text;
pub mod event_line;
pub mod event_log;
pub mod events;
pub mod fold;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod private_file;
pub mod profile;
pub mod profile_edit;
pub mod progress;
pub mod proxy;
pub mod raven_api;
pub mod recording;
pub mod rich_text;
pub mod runs;
pub mod secrets;
pub mod session;
pub mod session_rest;
pub mod state;
pub mod target;
pub mod tls;
pub mod url_rules;
pub mod views;
pub mod window_link;
pub mod wire;

pub use events::{EventKind, RealtimeEvent};
pub use profile::{AuthMethod, Profile};
pub use session::{Session, SessionOptions, Subscription};
pub use state::{LinkState, StateSnapshot};
pub use wire::Transport;
