//! The connection state a session publishes (tokio `watch`).

use serde::Serialize;

use crate::wire::{EioVersion, Transport};

/// Where a session's link stands. Every transition carries a timestamp in [`StateSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    /// Created, not started.
    Idle,
    /// Opening a connection (`attempt` 0 is the first).
    Connecting { attempt: u32 },
    /// Logging in or confirming who we are.
    Authenticating { step: String },
    /// Healthy: events flow, identity confirmed (or not checkable: `user` None).
    Connected {
        transport: Transport,
        user: Option<String>,
        rtt_ms: Option<u64>,
        /// The Engine.IO revision the server speaks.
        eio: EioVersion,
        /// Why this is not the first transport tried (a blocked upgrade, say).
        fallback: Option<String>,
        /// Packets from the server that were malformed and skipped on this link.
        malformed: u64,
    },
    /// Connected but not healthy: Guest fallback, deaf socket, rejected credentials.
    Degraded {
        transport: Transport,
        user: Option<String>,
        reason: String,
        eio: EioVersion,
        fallback: Option<String>,
        malformed: u64,
    },
    /// Waiting to retry after a failure.
    Reconnecting { attempt: u32, next_retry_at_ms: u64, last_error: String },
    /// The server refused our credentials; no retry until asked.
    AuthFailed { message: String },
    /// Stopped (by us, or by the server's `io server disconnect`).
    Stopped { reason: String },
}

impl LinkState {
    /// Every [`LinkState::name`], in the order of the variants (metrics export one series
    /// per name).
    pub const NAMES: [&'static str; 8] = [
        "idle",
        "connecting",
        "authenticating",
        "connected",
        "degraded",
        "reconnecting",
        "auth_failed",
        "stopped",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            LinkState::Idle => "idle",
            LinkState::Connecting { .. } => "connecting",
            LinkState::Authenticating { .. } => "authenticating",
            LinkState::Connected { .. } => "connected",
            LinkState::Degraded { .. } => "degraded",
            LinkState::Reconnecting { .. } => "reconnecting",
            LinkState::AuthFailed { .. } => "auth_failed",
            LinkState::Stopped { .. } => "stopped",
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self, LinkState::Connected { .. })
    }

    /// One line for humans.
    pub fn describe(&self) -> String {
        match self {
            LinkState::Idle => "idle".into(),
            LinkState::Connecting { attempt: 0 } => "connecting".into(),
            LinkState::Connecting { attempt } => format!("connecting (attempt {})", attempt + 1),
            LinkState::Authenticating { step } => format!("authenticating: {step}"),
            LinkState::Connected { transport, user, rtt_ms, eio, fallback, malformed } => {
                let mut s = format!("connected over {transport}");
                if *eio == EioVersion::V3 {
                    s.push_str(&format!(" to a {}", eio.server_label()));
                }
                if let Some(u) = user {
                    s.push_str(&format!(" as {u}"));
                }
                if let Some(r) = rtt_ms {
                    s.push_str(&format!(", rtt {r} ms"));
                }
                if let Some(f) = fallback {
                    s.push_str(&format!(" ({f})"));
                }
                if *malformed > 0 {
                    s.push_str(&format!(", {malformed} malformed packets skipped"));
                }
                s
            }
            LinkState::Degraded { transport, reason, .. } => {
                format!("degraded ({transport}): {reason}")
            }
            LinkState::Reconnecting { attempt, next_retry_at_ms, last_error } => {
                let wait = next_retry_at_ms.saturating_sub(crate::events::now_ms());
                format!(
                    "reconnecting (attempt {attempt}, next in {:.1} s): {last_error}",
                    wait as f64 / 1000.0
                )
            }
            LinkState::AuthFailed { message } => format!("auth failed: {message}"),
            LinkState::Stopped { reason } => format!("stopped: {reason}"),
        }
    }
}

/// A state with when it began.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateSnapshot {
    pub profile: String,
    #[serde(flatten)]
    pub state: LinkState,
    /// Milliseconds since the Unix epoch.
    pub since_ms: u64,
}
