//! The runs a session has seen and the progress updates it has shown, so an update that
//! arrives both live and from polling is shown once, whichever came first.
//!
//! An update is recognised by its `seq` when it has one (the recommended extra: monotonic per
//! run), else by its content (type, step, message, …). Live duplicates are the server's
//! business and pass as sent; what the ledger drops is a live update already shown from
//! polling, and a polled update already shown at all, or of a run that already ended (a late
//! answer must not move a finished run back to "working"), or older than anything the run
//! showed (history from before Sockeye listened is not news). A polled update between two
//! shown ones is a hole being filled (the catch-up after a reconnect answering after realtime
//! already brought a newer one): it is shown, and the timeline folds it in as late.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use crate::events::AiProgress;

/// Runs remembered at most (finished ones are forgotten first).
const MAX_RUNS: usize = 64;
/// Updates remembered per run. A run has a few dozen; this only bounds a runaway one.
const MAX_KEYS: usize = 4096;

/// Where an update came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Live,
    Polled,
}

/// What to do with an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Show it; `runs_changed` when the set of open runs changed with it.
    Deliver { runs_changed: bool },
    /// Already shown.
    Duplicate,
    /// A polled update older than what the run already shows.
    Stale,
}

/// How an update is recognised. Content keys say whether their update had a `seq`, so an
/// update with one still matches a copy without one (and the other way round).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Seq(u64),
    SequencedContent(u64),
    UnsequencedContent(u64),
}

#[derive(Default)]
struct RunRecord {
    open: bool,
    /// When it last got an update, in ledger ticks (ordering only).
    active_at: u64,
    /// The lowest and highest `seq` shown.
    min_seq: Option<u64>,
    max_seq: Option<u64>,
    /// The highest `seq` whose key was forgotten (bounded memory): at or below it, the ledger
    /// can no longer tell a hole from an update already shown.
    forgotten_seq: Option<u64>,
    shown: HashMap<Key, Origin>,
    order: VecDeque<Key>,
}

impl RunRecord {
    fn remember(&mut self, key: Key, origin: Origin) {
        if self.shown.insert(key, origin).is_none() {
            self.order.push_back(key);
            if self.order.len() > MAX_KEYS
                && let Some(old) = self.order.pop_front()
            {
                self.shown.remove(&old);
                if let Key::Seq(s) = old {
                    self.forgotten_seq = Some(self.forgotten_seq.map_or(s, |f| f.max(s)));
                }
            }
        }
    }

    /// Shown before: by polling when `from_polling_only`, else from anywhere.
    fn shown_as(&self, key: Key, from_polling_only: bool) -> bool {
        self.shown.get(&key).is_some_and(|o| !from_polling_only || *o == Origin::Polled)
    }
}

fn content_hash(p: &AiProgress) -> u64 {
    let mut h = DefaultHasher::new();
    p.hash(&mut h);
    h.finish()
}

/// The runs of one session and what was shown of each.
#[derive(Default)]
pub struct ProgressLedger {
    runs: HashMap<String, RunRecord>,
    tick: u64,
}

impl ProgressLedger {
    /// An update of run `run` about to be shown: whether to show it.
    pub fn admit(
        &mut self,
        run: &str,
        p: &AiProgress,
        seq: Option<u64>,
        origin: Origin,
    ) -> Admission {
        let content = content_hash(p);
        let polled_only = origin == Origin::Live;
        let mut runs_changed = false;
        if !self.runs.contains_key(run) {
            self.evict_for_one_more();
            runs_changed = true;
        }
        let r = self.runs.entry(run.to_string()).or_default();
        let seen = match seq {
            Some(s) => {
                r.shown_as(Key::Seq(s), polled_only)
                    || r.shown_as(Key::UnsequencedContent(content), polled_only)
            }
            None => {
                r.shown_as(Key::SequencedContent(content), polled_only)
                    || r.shown_as(Key::UnsequencedContent(content), polled_only)
            }
        };
        if seen {
            return Admission::Duplicate;
        }
        if origin == Origin::Polled {
            let ended = !r.open && !r.shown.is_empty();
            let before_first = matches!((seq, r.min_seq), (Some(s), Some(m)) if s < m);
            let forgotten = matches!((seq, r.forgotten_seq), (Some(s), Some(f)) if s <= f);
            if ended || before_first || forgotten {
                return Admission::Stale;
            }
        }
        match seq {
            Some(s) => {
                r.remember(Key::Seq(s), origin);
                r.remember(Key::SequencedContent(content), origin);
                r.min_seq = Some(r.min_seq.map_or(s, |m| m.min(s)));
                r.max_seq = Some(r.max_seq.map_or(s, |m| m.max(s)));
            }
            None => r.remember(Key::UnsequencedContent(content), origin),
        }
        let open = !p.ends_run();
        runs_changed |= r.open != open;
        r.open = open;
        self.tick += 1;
        r.active_at = self.tick;
        Admission::Deliver { runs_changed }
    }

    /// Open runs, the most recently active first, at most `limit`.
    pub fn open_runs(&self, limit: usize) -> Vec<String> {
        let mut open: Vec<(&String, u64)> =
            self.runs.iter().filter(|(_, r)| r.open).map(|(id, r)| (id, r.active_at)).collect();
        open.sort_by_key(|(_, active_at)| std::cmp::Reverse(*active_at));
        open.into_iter().take(limit).map(|(id, _)| id.clone()).collect()
    }

    /// Make room for a new run: the least recently active finished run goes, else the least
    /// recently active open one.
    fn evict_for_one_more(&mut self) {
        if self.runs.len() < MAX_RUNS {
            return;
        }
        let victim =
            self.runs.iter().min_by_key(|(_, r)| (r.open, r.active_at)).map(|(id, _)| id.clone());
        if let Some(id) = victim {
            self.runs.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn working(step: u64) -> AiProgress {
        AiProgress::Working { step, total: 3, message: format!("step {step}") }
    }
    const DONE: AiProgress = AiProgress::Complete { message: None };

    fn delivered(a: Admission) -> bool {
        matches!(a, Admission::Deliver { .. })
    }

    #[test]
    fn each_update_is_shown_once_whichever_copy_comes_first() {
        let mut l = ProgressLedger::default();
        assert!(delivered(l.admit("r", &working(1), Some(1), Origin::Live)));
        assert_eq!(l.admit("r", &working(1), Some(1), Origin::Polled), Admission::Duplicate);
        assert!(delivered(l.admit("r", &working(2), Some(2), Origin::Polled)));
        assert_eq!(l.admit("r", &working(2), Some(2), Origin::Live), Admission::Duplicate);
        assert_eq!(l.admit("r", &working(2), Some(2), Origin::Polled), Admission::Duplicate);
        // Live repeats are the server's business.
        assert!(delivered(l.admit("r", &working(1), Some(1), Origin::Live)));
    }

    #[test]
    fn without_seq_the_content_recognises_an_update_even_against_a_sequenced_copy() {
        let mut l = ProgressLedger::default();
        assert!(delivered(l.admit("r", &working(1), None, Origin::Live)));
        assert_eq!(l.admit("r", &working(1), None, Origin::Polled), Admission::Duplicate);
        assert!(delivered(l.admit("r", &working(2), None, Origin::Polled)));
        assert_eq!(l.admit("r", &working(2), None, Origin::Live), Admission::Duplicate);
        assert_eq!(l.admit("r", &working(2), Some(7), Origin::Live), Admission::Duplicate);
        assert!(delivered(l.admit("s", &working(1), Some(4), Origin::Live)));
        assert_eq!(l.admit("s", &working(1), None, Origin::Polled), Admission::Duplicate);
    }

    #[test]
    fn late_polled_updates_fill_holes_but_never_reopen_a_run_or_bring_old_history() {
        let mut l = ProgressLedger::default();
        l.admit("r", &working(2), Some(2), Origin::Live);
        l.admit("r", &working(4), Some(4), Origin::Live);
        // The catch-up answered after realtime brought seq 4: seq 3 is the hole.
        assert!(delivered(l.admit("r", &working(3), Some(3), Origin::Polled)), "a hole");
        assert_eq!(l.admit("r", &working(3), Some(3), Origin::Polled), Admission::Duplicate);
        assert_eq!(l.admit("r", &working(1), Some(1), Origin::Polled), Admission::Stale);
        assert!(delivered(l.admit("r", &working(1), Some(1), Origin::Live)), "live passes");
        l.admit("u", &working(1), None, Origin::Live);
        l.admit("u", &DONE, None, Origin::Live);
        assert_eq!(l.admit("u", &working(2), None, Origin::Polled), Admission::Stale);
        let mut f = ProgressLedger::default();
        for s in 1..=(MAX_KEYS as u64) {
            f.admit("f", &working(s), Some(s), Origin::Live);
        }
        // Keys of the first updates are forgotten: those may have been shown, so not again.
        assert_eq!(f.admit("f", &working(2), Some(2), Origin::Polled), Admission::Stale);
    }

    #[test]
    fn open_runs_follow_activity_and_endings_and_stay_bounded() {
        let mut l = ProgressLedger::default();
        assert_eq!(
            l.admit("a", &working(1), Some(1), Origin::Live),
            Admission::Deliver { runs_changed: true }
        );
        assert_eq!(
            l.admit("a", &working(2), Some(2), Origin::Live),
            Admission::Deliver { runs_changed: false }
        );
        l.admit("b", &working(1), Some(1), Origin::Live);
        assert_eq!(l.open_runs(16), vec!["b", "a"]);
        l.admit("a", &working(3), Some(3), Origin::Live);
        assert_eq!(l.open_runs(1), vec!["a"]);
        assert_eq!(
            l.admit("a", &DONE, Some(4), Origin::Polled),
            Admission::Deliver { runs_changed: true }
        );
        assert_eq!(l.open_runs(16), vec!["b"]);
        for i in 0..(MAX_RUNS * 2) {
            l.admit(&format!("x{i}"), &working(1), None, Origin::Live);
        }
        assert_eq!(l.runs.len(), MAX_RUNS);
        assert!(!l.runs.contains_key("a"), "finished runs go first");
        let mut r = RunRecord::default();
        for s in 0..(MAX_KEYS as u64 + 10) {
            r.remember(Key::Seq(s), Origin::Live);
        }
        assert_eq!((r.shown.len(), r.order.len()), (MAX_KEYS, MAX_KEYS));
    }
}
