//! The session's side of the progress fallback (see [`crate::progress`]): the ledger of runs
//! and of the updates shown, the polling task, and delivering what it fetched through the
//! same path as live events. The session stays the one publisher: the task only fetches.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::Shared;
use super::supervisor::Supervisor;
use crate::events::{AiProgress, EventKind, RealtimeEvent};
use crate::progress::ledger::{Admission, Origin, ProgressLedger};
use crate::progress::poller::{Polled, Poller};
use crate::progress::{FallbackState, ProgressOptions};
use crate::state::StateSnapshot;
use crate::target::Target;

/// What the poller may have fetched and not yet handed over.
const QUEUE: usize = 64;

/// The fallback of one session; dropping it stops the polling task.
pub(super) struct Fallback {
    ledger: ProgressLedger,
    polled: mpsc::Receiver<Polled>,
    open_runs: watch::Sender<Vec<String>>,
    max_runs: usize,
    /// Polled updates shown since polling started, and how many of them the catch-up brought.
    fetched: usize,
    caught_up: usize,
    poller: JoinHandle<()>,
}

impl Drop for Fallback {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

impl Fallback {
    /// The fallback `options` ask for, polling with the session's own credentials; `None`
    /// when no endpoint is set or the target is not a Frappe site.
    pub(super) fn start(
        options: &ProgressOptions,
        target: &Arc<Target>,
        shared: &Arc<Shared>,
        http: reqwest::Client,
        state: watch::Receiver<StateSnapshot>,
    ) -> Option<Fallback> {
        let endpoint = options.endpoint.clone().filter(|_| target.frappe)?;
        let (open_tx, open_rx) = watch::channel(Vec::new());
        let (tx, rx) = mpsc::channel(QUEUE);
        let (t, s) = (target.clone(), shared.clone());
        let poller = Poller {
            options: options.clone(),
            endpoint,
            http,
            base: target.base_url.clone(),
            headers: Box::new(move || s.rest_credentials(&t)),
            state,
            open_runs: open_rx,
            out: tx,
        };
        Some(Fallback {
            ledger: ProgressLedger::default(),
            polled: rx,
            open_runs: open_tx,
            max_runs: options.max_runs,
            fetched: 0,
            caught_up: 0,
            poller: tokio::spawn(poller.run()),
        })
    }

    fn admit(&mut self, run: &str, p: &AiProgress, seq: Option<u64>, origin: Origin) -> bool {
        match self.ledger.admit(run, p, seq, origin) {
            Admission::Deliver { runs_changed } => {
                if runs_changed {
                    self.open_runs.send_replace(self.ledger.open_runs(self.max_runs));
                }
                true
            }
            Admission::Duplicate | Admission::Stale => false,
        }
    }

    /// The polled updates of `run` not shown yet, marked polled. The catch-up's answer is
    /// read like any other: what realtime delivered since the reconnect is already shown.
    fn fresh(
        &mut self,
        run: &str,
        user: Option<&str>,
        updates: Vec<Box<serde_json::value::RawValue>>,
        catch_up: bool,
    ) -> Vec<RealtimeEvent> {
        let mut fresh = Vec::new();
        for raw in updates {
            let mut e = RealtimeEvent::from_raw("ai_progress", raw, user);
            // An update without a typed view could not be recognised at the next poll: it
            // would be shown again every time, so it is not shown at all.
            let EventKind::AiProgress(p) = &e.kind else { continue };
            if e.run_key.as_deref().is_some_and(|k| k != run) {
                continue;
            }
            if self.admit(run, p, e.seq, Origin::Polled) {
                e.polled = true;
                e.run_key.get_or_insert_with(|| run.to_string());
                fresh.push(e);
            }
        }
        self.fetched += fresh.len();
        if catch_up {
            self.caught_up += fresh.len();
        }
        fresh
    }
}

/// The poller's next message; never, for a session without a fallback (for `select!`).
pub(super) async fn next_polled(fallback: &mut Option<Fallback>) -> Polled {
    if let Some(f) = fallback
        && let Some(msg) = f.polled.recv().await
    {
        return msg;
    }
    std::future::pending().await
}

impl Supervisor {
    /// A live `ai_progress` of a known run: false when polling showed it already.
    pub(super) fn admit_live_progress(&mut self, e: &RealtimeEvent) -> bool {
        let (Some(f), EventKind::AiProgress(p), Some(run)) =
            (self.progress.as_mut(), &e.kind, e.run_key.as_deref())
        else {
            return true;
        };
        f.admit(run, p, e.seq, Origin::Live)
    }

    /// Show what the poller fetched (what was not shown yet) or reported.
    pub(super) async fn deliver_polled(&mut self, msg: Polled) {
        let Some(f) = self.progress.as_mut() else { return };
        match msg {
            Polled::Updates { run, user, updates, catch_up } => {
                for e in f.fresh(&run, user.as_deref(), updates, catch_up) {
                    self.publish(e).await;
                }
            }
            Polled::Report(mut r) => {
                match r.state {
                    FallbackState::Polling => (f.fetched, f.caught_up) = (0, 0),
                    FallbackState::Stopped => {
                        r.fetched = std::mem::take(&mut f.fetched);
                        let caught_up = std::mem::take(&mut f.caught_up);
                        // Filled in only when the poller made a catch-up.
                        if let Some(n) = r.caught_up.as_mut() {
                            *n = caught_up;
                        }
                    }
                    FallbackState::Refused => {}
                }
                self.publish(r.to_event()).await;
            }
        }
    }
}
