//! The session's side of backfill (see [`crate::backfill`]): noticing gaps, holding live
//! Raven messages while the gap is fetched, and delivering recovered messages, the gap
//! marker and then the held live ones, in that order, each message once.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::supervisor::Supervisor;
use crate::backfill::rest::{MessageApi, Missed, created_payload};
use crate::backfill::{
    BackfillOptions, ChannelCursor, ChannelGap, FetchError, GAP_EVENT, GapReport, Ledger, store,
};
use crate::events::{EventKind, RealtimeEvent, now_ms};
use crate::session::Subscription;

/// Live messages held while a gap is fetched, at most (beyond, they pass at once).
const HOLD_MAX: usize = 10_000;
/// Cursor writes to the state file, at most this often.
const SAVE_EVERY: Duration = Duration::from_secs(5);

/// A stretch of time the session was not listening.
#[derive(Debug, Clone)]
pub(super) struct OpenGap {
    pub from_ms: u64,
    pub cause: &'static str,
}

/// What one backfill burst found.
pub(super) struct Fetched {
    primed: Vec<(String, Result<ChannelCursor, FetchError>)>,
    missed: Vec<(String, Result<Missed, FetchError>)>,
    /// The whole burst failed (timed out).
    error: Option<String>,
}

/// Backfill state of one session.
pub(super) struct Backfill {
    pub options: BackfillOptions,
    pub ledger: Ledger,
    pub gap: Option<OpenGap>,
    /// Live `message_created` events waiting for the gap's messages (only while a gap is open).
    pub held: Vec<RealtimeEvent>,
    pub fetch: Option<(JoinHandle<Fetched>, u64)>,
    /// A priming burst (no gap) cut short by the link ending: its answers are still good
    /// (asked before the gap began) and are applied at the next connect.
    pending_prime: Option<JoinHandle<Fetched>>,
    /// The burst for this connection has been started (or was not needed).
    pub started: bool,
    fetch_fills_gap: bool,
    last_save: Option<Instant>,
}

impl Backfill {
    /// Load remembered cursors; when there are any, the time the app was closed is a gap.
    pub(super) fn new(options: BackfillOptions) -> Backfill {
        let remembered = options
            .state_file
            .as_deref()
            .filter(|_| options.enabled)
            .and_then(|p| store::load(p, options.startup_lookback, now_ms()));
        let (ledger, gap) = match remembered {
            Some(r) => (
                Ledger::with_cursors(r.channels),
                Some(OpenGap { from_ms: r.saved_at_ms, cause: "startup" }),
            ),
            None => (Ledger::default(), None),
        };
        Backfill {
            options,
            ledger,
            gap,
            held: Vec::new(),
            fetch: None,
            pending_prime: None,
            started: false,
            fetch_fills_gap: false,
            last_save: None,
        }
    }

    /// The link ended: from now on events may be missed.
    pub(super) fn link_lost(&mut self) {
        self.gap.get_or_insert(OpenGap { from_ms: now_ms(), cause: "reconnect" });
    }

    /// Write the cursors when they changed (throttled unless `now`).
    pub(super) fn save(&mut self, force: bool) {
        let Some(path) = self.options.state_file.clone() else { return };
        if !force && self.last_save.is_some_and(|t| t.elapsed() < SAVE_EVERY) {
            return;
        }
        if self.ledger.take_dirty() {
            self.last_save = Some(Instant::now());
            if let Err(e) = store::save(&path, self.ledger.cursors(), now_ms()) {
                tracing::warn!("cannot keep message cursors in {}: {e}", path.display());
            }
        }
    }
}

async fn fetch(
    api_parts: (reqwest::Client, url::Url, Vec<(String, String)>),
    channels: Vec<(String, Option<ChannelCursor>)>,
    gap: bool,
    options: BackfillOptions,
) -> Fetched {
    let (http, base, headers) = api_parts;
    let api = MessageApi { http: &http, base: &base, headers: &headers };
    let mut out = Fetched { primed: Vec::new(), missed: Vec::new(), error: None };
    let work = async {
        for (channel, cursor) in channels {
            match cursor {
                None => out.primed.push((channel.clone(), api.newest(&channel).await)),
                Some(c) if gap => {
                    let r = api.since(&channel, &c, options.page_size, options.max_per_gap).await;
                    out.missed.push((channel, r));
                }
                Some(_) => {}
            }
        }
    };
    if tokio::time::timeout(options.timeout, work).await.is_err() {
        out.error = Some(format!("the site did not answer within {:?}", options.timeout));
    }
    out
}

impl Supervisor {
    fn channels(&self) -> Vec<String> {
        self.subscriptions
            .iter()
            .filter_map(|s| match s {
                Subscription::Channel(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    /// The link is settled (identity known): start this connection's burst. `refused` is why
    /// REST cannot work with our credentials (Guest), if so.
    pub(super) async fn start_backfill(&mut self, refused: Option<String>, user: Option<&str>) {
        self.bf.started = true;
        if let Some(task) = self.bf.pending_prime.take()
            && let Ok(Ok(f)) = tokio::time::timeout(self.bf.options.timeout, task).await
        {
            for (channel, r) in f.primed {
                if let Ok(c) = r {
                    self.bf.ledger.prime(&channel, c);
                }
            }
        }
        let channels = self.channels();
        let usable = self.bf.options.enabled && self.target.frappe && refused.is_none();
        let unknown = channels.iter().any(|c| self.bf.ledger.cursor(c).is_none());
        if !usable || (self.bf.gap.is_none() && !unknown) || channels.is_empty() {
            if self.bf.gap.is_some() {
                let why = if !self.bf.options.enabled {
                    Some("backfill is off".to_string())
                } else if !self.target.frappe {
                    Some("not a Frappe site: it keeps no history Sockeye can read".into())
                } else {
                    refused
                };
                self.finish_backfill(Fetched { primed: vec![], missed: vec![], error: why }, user)
                    .await;
            }
            return;
        }
        let work: Vec<(String, Option<ChannelCursor>)> = channels
            .into_iter()
            .map(|c| {
                let cursor = self.bf.ledger.cursor(&c).cloned();
                (c, cursor)
            })
            .collect();
        let parts = (
            self.http.clone(),
            self.target.base_url.clone(),
            self.target.headers(self.sid(), self.cookie_shim),
        );
        let gap = self.bf.gap.is_some();
        let task = tokio::spawn(fetch(parts, work, gap, self.bf.options.clone()));
        self.bf.fetch = Some((task, now_ms()));
        self.bf.fetch_fills_gap = gap;
    }

    /// Deliver a burst's result: cursors primed, then (for a gap) the marker, the recovered
    /// messages oldest first, and the live ones held meanwhile.
    pub(super) async fn finish_backfill(&mut self, f: Fetched, user: Option<&str>) {
        let down_to_ms = self.bf.fetch.take().map(|(_, at)| at).unwrap_or_else(now_ms);
        let mut channels = Vec::new();
        for (channel, r) in f.primed {
            let error = match r {
                Ok(c) => {
                    self.bf.ledger.prime(&channel, c);
                    // Seen for the first time after the gap: nothing to compare with.
                    "no earlier message known on this channel; missed ones cannot be told apart"
                        .to_string()
                }
                Err(e) => e.to_string(),
            };
            channels.push(ChannelGap {
                channel_id: channel,
                recovered: 0,
                capped: false,
                error: Some(error),
            });
        }
        let gap = self.bf.gap.take();
        if let Some(gap) = gap {
            for e in &self.bf.held {
                if let EventKind::MessageCreated(m) = &e.kind {
                    self.bf.ledger.note_live(m);
                }
            }
            let mut recovered = Vec::new();
            for (channel, r) in f.missed {
                let mut cg =
                    ChannelGap { channel_id: channel, recovered: 0, capped: false, error: None };
                match r {
                    Ok(m) => {
                        cg.capped = m.capped;
                        for row in &m.rows {
                            let Some(p) = created_payload(row) else { continue };
                            let mut e = RealtimeEvent::from_raw("message_created", p, user);
                            let EventKind::MessageCreated(msg) = &e.kind else { continue };
                            if self.bf.ledger.recovered(msg, now_ms()) {
                                e.recovered = true;
                                cg.recovered += 1;
                                recovered.push(e);
                            }
                        }
                    }
                    Err(e) => cg.error = Some(e.to_string()),
                }
                channels.push(cg);
            }
            channels.sort_by(|a, b| a.channel_id.cmp(&b.channel_id));
            let creation = |e: &RealtimeEvent| match &e.kind {
                EventKind::MessageCreated(m) => m.creation.clone(),
                _ => None,
            };
            recovered.sort_by_key(|e| creation(e));
            let report = GapReport {
                down_from_ms: gap.from_ms,
                down_to_ms,
                cause: gap.cause.to_string(),
                recovered: recovered.len(),
                capped: channels.iter().any(|c| c.capped),
                error: f.error,
                channels,
            };
            let json = serde_json::to_value(&report).expect("gap report serialises");
            self.publish(RealtimeEvent::from_args(GAP_EVENT, vec![json], None)).await;
            for e in recovered {
                self.publish(e).await;
            }
        }
        self.release_held(true).await;
        self.bf.save(false);
    }

    /// Publish the live messages held back; `advance` moves the cursors (not when the gap
    /// is still open: its messages would be skipped next time).
    pub(super) async fn release_held(&mut self, advance: bool) {
        for e in std::mem::take(&mut self.bf.held) {
            if let EventKind::MessageCreated(m) = &e.kind
                && !self.bf.ledger.live(m, now_ms(), advance)
            {
                continue;
            }
            self.publish(e).await;
        }
    }

    /// A live event: Raven messages are deduplicated against recovered ones (and held while
    /// a gap is being fetched), agent progress against polled updates; everything else is
    /// published as is.
    pub(super) async fn deliver_live(&mut self, e: RealtimeEvent) {
        if !self.admit_live_progress(&e) {
            return;
        }
        if let EventKind::MessageCreated(m) = &e.kind {
            if self.bf.gap.is_some() && self.bf.held.len() < HOLD_MAX {
                self.bf.held.push(e);
                return;
            }
            if !self.bf.ledger.live(m, now_ms(), self.bf.gap.is_none()) {
                return;
            }
        }
        self.publish(e).await;
    }

    /// A connection ended: abandon its burst, let the held messages through, keep the gap.
    pub(super) async fn link_ended(&mut self, stopping: bool) {
        if let Some((task, _)) = self.bf.fetch.take() {
            if self.bf.fetch_fills_gap {
                // Asked again, whole, at the next connect.
                task.abort();
            } else {
                self.bf.pending_prime = Some(task);
            }
        }
        self.release_held(false).await;
        self.bf.started = false;
        if !stopping {
            self.bf.link_lost();
        }
        self.bf.save(true);
    }
}

impl Fetched {
    pub(super) fn failed(error: String) -> Fetched {
        Fetched { primed: Vec::new(), missed: Vec::new(), error: Some(error) }
    }
}
