//! Agent progress when realtime is down. Realtime delivery is at most once and Frappe keeps no
//! replay, so an agent run that goes on while the link is down (or deaf) would look frozen.
//! When a profile names a progress endpoint (`ai_assistant.api.get_progress`, answering
//! `{"message": {"updates": [...]}}` for a `conversation_id`), the session polls it for the
//! runs still open, and only then: after the link has been down for a few seconds, every
//! second backing off to five, until the link is healthy again or the run ends. When the
//! link is back after such an outage, each run still open is asked once more (the catch-up:
//! what was published after the last round would be lost otherwise). Polled updates go
//! through the same path as live ones, marked `polled`, each shown once.
//!
//! - [`ledger`]: the runs a session has seen and the updates already shown (live or polled).
//! - [`rest`]: the one REST call and what its answers mean.
//! - [`poller`]: the task that decides when to poll, driven by the link state.
//!
//! An endpoint that refuses (404, 403, 417, not JSON) is not asked again in that session; a
//! [`PROGRESS_EVENT`] says why, as it says when polling starts and stops.

pub mod ledger;
pub mod poller;
pub mod rest;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::events::RealtimeEvent;

/// The synthetic event that reports what the fallback does (in the same stream as live events).
pub const PROGRESS_EVENT: &str = "sockeye:progress_fallback";

/// Progress fallback settings. Off unless `endpoint` is set.
#[derive(Debug, Clone)]
pub struct ProgressOptions {
    /// The whitelisted method polled as `GET /api/method/<endpoint>?conversation_id=<run>`.
    pub endpoint: Option<String>,
    /// The link must have been down this long before the first poll (a quick reconnect
    /// costs the site nothing).
    pub start_after: Duration,
    /// The first interval between rounds; doubled while nothing new comes, up to `max_interval`.
    pub first_interval: Duration,
    pub max_interval: Duration,
    /// Runs polled at most (the most recently active ones).
    pub max_runs: usize,
    /// A run whose answer has not grown for this long is left alone for the rest of the outage
    /// (an agent that died never sends `complete`).
    pub run_idle_limit: Duration,
    /// Answers larger than this are refused (and the endpoint with them).
    pub max_answer_bytes: usize,
    pub request_timeout: Duration,
}

impl ProgressOptions {
    /// Polling `endpoint` with the default pacing and bounds; `None` turns the fallback off.
    pub fn for_endpoint(endpoint: Option<String>) -> ProgressOptions {
        ProgressOptions {
            endpoint,
            start_after: Duration::from_secs(3),
            first_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(5),
            max_runs: 16,
            run_idle_limit: Duration::from_secs(15 * 60),
            max_answer_bytes: 1 << 20,
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl Default for ProgressOptions {
    fn default() -> Self {
        ProgressOptions::for_endpoint(None)
    }
}

/// What the fallback is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackState {
    /// The link is down and runs are open: polling began.
    Polling,
    /// Polling ended (the link is back, or no run is left open).
    Stopped,
    /// The endpoint refused; it is not asked again in this session.
    Refused,
}

/// The payload of a [`PROGRESS_EVENT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackReport {
    pub state: FallbackState,
    pub endpoint: String,
    /// Runs being polled (when polling starts); runs asked once more on the catch-up (when
    /// it stops because the link is back).
    #[serde(default)]
    pub runs: usize,
    /// Updates shown from polling since it started, the catch-up's included (when it stops).
    #[serde(default)]
    pub fetched: usize,
    /// When it stops because the link is back and a catch-up was made: how many of `fetched`
    /// it brought (updates published after the last poll round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caught_up: Option<usize>,
    /// Why it stopped or was refused; the last failed poll, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl FallbackReport {
    /// One line for people (event log, `watch`).
    pub fn summary(&self) -> String {
        let why = self.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        match self.state {
            FallbackState::Polling => format!(
                "realtime down: polling {} for {} open run{}",
                self.endpoint,
                self.runs,
                if self.runs == 1 { "" } else { "s" }
            ),
            FallbackState::Stopped => format!(
                "progress polling stopped{why} · {} update{} fetched{}",
                self.fetched,
                if self.fetched == 1 { "" } else { "s" },
                self.caught_up.map(|n| format!(", {n} on catch-up")).unwrap_or_default()
            ),
            FallbackState::Refused => {
                format!("progress endpoint {} refused{why}; not polled again", self.endpoint)
            }
        }
    }

    /// The report a [`PROGRESS_EVENT`] carries.
    pub fn from_event(e: &RealtimeEvent) -> Option<FallbackReport> {
        if e.name != PROGRESS_EVENT {
            return None;
        }
        serde_json::from_str(e.payload.get()).ok()
    }

    pub fn to_event(&self) -> RealtimeEvent {
        let json = serde_json::to_value(self).expect("a report serialises");
        RealtimeEvent::from_args(PROGRESS_EVENT, vec![json], None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_as_sentences_and_round_trip_through_the_event() {
        let r = FallbackReport {
            state: FallbackState::Polling,
            endpoint: "ai.get_progress".into(),
            runs: 1,
            fetched: 0,
            caught_up: None,
            reason: None,
        };
        assert_eq!(r.summary(), "realtime down: polling ai.get_progress for 1 open run");
        assert_eq!(FallbackReport::from_event(&r.to_event()), Some(r));
        let stopped = FallbackReport {
            state: FallbackState::Stopped,
            endpoint: "ai.get_progress".into(),
            runs: 0,
            fetched: 3,
            caught_up: None,
            reason: Some("realtime is back".into()),
        };
        assert_eq!(
            stopped.summary(),
            "progress polling stopped: realtime is back · 3 updates fetched"
        );
        let caught = FallbackReport { runs: 2, caught_up: Some(1), ..stopped.clone() };
        assert_eq!(
            caught.summary(),
            "progress polling stopped: realtime is back · 3 updates fetched, 1 on catch-up"
        );
        assert_eq!(FallbackReport::from_event(&caught.to_event()), Some(caught));
        let refused = FallbackReport {
            state: FallbackState::Refused,
            reason: Some("HTTP 404: Not Found".into()),
            ..stopped
        };
        assert_eq!(
            refused.summary(),
            "progress endpoint ai.get_progress refused: HTTP 404: Not Found; not polled again"
        );
    }
}
