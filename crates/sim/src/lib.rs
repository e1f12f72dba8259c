//! A Frappe-compatible realtime simulator.
//!
//! Speaks Engine.IO v4 / Socket.IO v5 through socketioxide with the Frappe auth pipeline
//! ([`auth`]), rooms and handlers ([`handlers`]), the web endpoints a client needs ([`web`],
//! [`resource`], [`progress`]),
//! `publish_realtime` semantics ([`publish`]), a control API ([`control`]), scenarios
//! ([`scenarios`]), recordings replayed ([`replay`]) and fault knobs acting at the HTTP ([`proxy_faults`]), TCP ([`conn`]) and
//! auth levels ([`faults`]). The behavioural spec is `simulator-spec.md`.

pub mod auth;
pub mod burst;
pub mod config;
pub mod conn;
pub mod control;
pub mod faults;
pub mod handlers;
pub mod jwt;
pub mod payloads;
pub mod progress;
pub mod proxy_faults;
pub mod publish;
pub mod replay;
pub mod resource;
pub mod scenarios;
pub mod server;
pub mod state;
pub mod web;

pub use config::{Mode, SimConfig};
pub use faults::Faults;
pub use publish::PublishRequest;
pub use scenarios::ScenarioParams;
pub use server::{Sim, SimError, SimOptions};
