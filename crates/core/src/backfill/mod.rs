//! Never miss a Raven message: Frappe's realtime server keeps no replay, so whatever was
//! published while the link was down is gone from the socket. The session remembers, per
//! channel, the newest message it has seen (the cursor) and, after a gap, fetches what is
//! newer over REST (`GET /api/resource/Raven Message`, no side effects: Raven's
//! `get_newer_messages` would mark the channel read) in one bounded burst, then delivers it
//! through the same path as live events, marked `recovered`, exactly once, after a gap
//! marker ([`GAP_EVENT`]) that says what happened.
//!
//! - [`ledger`]: cursors and the ids already delivered (dedupe of live against recovered).
//! - [`rest`]: the REST calls (priming a cursor, paging a gap, capping it).
//! - [`store`]: cursors kept across app restarts (a small JSON file, no secrets).

pub mod ledger;
pub mod rest;
pub mod store;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use ledger::Ledger;
pub use rest::FetchError;

use crate::profile::BackfillSettings;

/// The synthetic event that marks a gap in the link (in the same stream as live events).
pub const GAP_EVENT: &str = "sockeye:gap";

/// Backfill settings.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Fetch what was missed after a gap (the gap marker is published either way).
    pub enabled: bool,
    /// At most this many messages per channel per gap; the newest are kept and the marker
    /// says it was capped (a day-long outage must not flood the feed or the site).
    pub max_per_gap: usize,
    /// Rows per REST page.
    pub page_size: usize,
    /// At start, remembered cursors older than this are not used (nothing is fetched for the
    /// time the app was closed beyond it).
    pub startup_lookback: Duration,
    /// The whole burst of REST calls after one reconnect is bounded by this.
    pub timeout: Duration,
    /// Where cursors survive restarts (the app sets it; the CLI does not).
    pub state_file: Option<PathBuf>,
}

impl BackfillOptions {
    /// The options a profile's settings ask for (page size, timeout and state file fixed).
    pub fn from_settings(s: &BackfillSettings) -> BackfillOptions {
        BackfillOptions {
            enabled: s.enabled,
            max_per_gap: s.max_per_gap,
            page_size: 100,
            startup_lookback: Duration::from_secs(u64::from(s.startup_window_hours) * 3600),
            timeout: Duration::from_secs(20),
            state_file: None,
        }
    }
}

impl Default for BackfillOptions {
    /// The defaults of a profile's settings: one place says them.
    fn default() -> Self {
        BackfillOptions::from_settings(&BackfillSettings::default())
    }
}

/// The newest message seen on a channel: its id and `creation` in the site's own format and
/// time zone (compared by the site, never with our clock), and when we saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub message_id: String,
    pub creation: String,
    pub seen_at_ms: u64,
}

/// What we know about a channel's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChannelCursor {
    /// The channel had no messages when we looked: everything is new.
    Empty,
    At(Cursor),
}

/// One channel's part of a gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelGap {
    pub channel_id: String,
    pub recovered: usize,
    /// More messages were missed than `max_per_gap`; only the newest were recovered.
    pub capped: bool,
    /// Why this channel could not be recovered (403, …); the link itself is fine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The payload of a [`GAP_EVENT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapReport {
    /// When the link was lost (or, at start, when the app last saw it).
    pub down_from_ms: u64,
    /// When it was back.
    pub down_to_ms: u64,
    /// `reconnect`, or `startup` for the time the app was not running.
    pub cause: String,
    /// Messages delivered as recovered, over all channels.
    pub recovered: usize,
    pub capped: bool,
    /// Why nothing could be recovered at all (no credentials, timed out, backfill off…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub channels: Vec<ChannelGap>,
}

impl GapReport {
    /// One line for people: "link down 10:31:02–10:31:09 · 3 messages recovered".
    pub fn summary(&self, clock: impl Fn(u64) -> String) -> String {
        format!(
            "{} {}–{} · {}",
            self.what(),
            clock(self.down_from_ms),
            clock(self.down_to_ms),
            self.detail()
        )
    }

    /// What the window was: the link was down, or the app was not running.
    pub fn what(&self) -> &'static str {
        if self.cause == "startup" { "not watching" } else { "link down" }
    }

    /// The outcome without the window: "3 messages recovered", "could not recover: …".
    pub fn detail(&self) -> String {
        if let Some(e) = &self.error {
            return format!("could not recover: {e}");
        }
        let n = self.recovered;
        let mut s = format!("{n} message{} recovered", if n == 1 { "" } else { "s" });
        if self.capped {
            s.push_str(" (capped: older ones skipped)");
        }
        for c in &self.channels {
            if let Some(e) = &c.error {
                s.push_str(&format!(" · #{}: could not recover: {e}", c.channel_id));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> GapReport {
        GapReport {
            down_from_ms: 1000,
            down_to_ms: 8000,
            cause: "reconnect".into(),
            recovered: 3,
            capped: false,
            error: None,
            channels: vec![
                ChannelGap {
                    channel_id: "general".into(),
                    recovered: 3,
                    capped: false,
                    error: None,
                },
                ChannelGap {
                    channel_id: "secret".into(),
                    recovered: 0,
                    capped: false,
                    error: Some("not permitted".into()),
                },
            ],
        }
    }

    #[test]
    fn summary_names_the_window_the_count_and_per_channel_refusals() {
        let clock = |ms: u64| format!("t{}", ms / 1000);
        assert_eq!(
            report().summary(clock),
            "link down t1–t8 · 3 messages recovered · #secret: could not recover: not permitted"
        );
        let mut r = report();
        r.error = Some("timed out".into());
        assert_eq!(r.summary(clock), "link down t1–t8 · could not recover: timed out");
        let mut r = report();
        r.channels.truncate(1);
        r.recovered = 1;
        r.capped = true;
        assert_eq!(
            r.summary(clock),
            "link down t1–t8 · 1 message recovered (capped: older ones skipped)"
        );
    }
}
