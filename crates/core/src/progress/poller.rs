//! The polling task of one session. It watches the link state and the session's open runs and
//! hands what it fetched to the session, which alone decides what is shown (the ledger) and
//! shows it (the same path as live events).
//!
//! It polls only while the link is down or deaf, never while it is healthy, and not while the
//! session is Guest: the site answers Guest's REST calls with 403 as well, and that refusal
//! would say nothing about the endpoint.
//!
//! Polling stops the moment the link is healthy, and realtime replays nothing, so what a run
//! published after the last poll round would be lost. Hence the catch-up: when the link is
//! healthy again after an outage in which the fallback polled, each run still open is asked
//! exactly once more, then nothing until the next outage. Only such outages get one: a quick
//! reconnect (shorter than `start_after`) or one with no run open costs the site nothing,
//! and a link that never broke is never asked at all.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use url::Url;

use super::rest;
use super::{FallbackReport, FallbackState, ProgressOptions};
use crate::state::{LinkState, StateSnapshot};

/// Request headers (the session's own credentials and Origin).
pub type Headers = Vec<(String, String)>;

/// What the poller hands the session.
#[derive(Debug)]
pub enum Polled {
    /// A run's updates so far (the session drops those already shown); `catch_up` when they
    /// answer the one request made after the link came back.
    Updates { run: String, user: Option<String>, updates: Vec<Box<RawValue>>, catch_up: bool },
    /// Polling started, stopped or was refused (`fetched` and `caught_up` are the session's to
    /// fill in).
    Report(FallbackReport),
}

/// Everything the task needs.
pub struct Poller {
    pub options: ProgressOptions,
    pub endpoint: String,
    pub http: reqwest::Client,
    /// The site's web URL.
    pub base: Url,
    /// The session's REST headers now; `None` while a login session has no sid yet.
    pub headers: Box<dyn Fn() -> Option<Headers> + Send + Sync>,
    pub state: watch::Receiver<StateSnapshot>,
    /// The session's open runs, the most recently active first.
    pub open_runs: watch::Receiver<Vec<String>>,
    pub out: mpsc::Sender<Polled>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Healthy,
    Down,
    /// Up, but the site takes us for Guest: REST would be refused as well.
    Guest,
}

fn link_of(s: &LinkState) -> Link {
    match s {
        LinkState::Connected { .. } | LinkState::Idle => Link::Healthy,
        LinkState::Degraded { user: Some(u), .. } if u == "Guest" => Link::Guest,
        _ => Link::Down,
    }
}

/// One stretch of time with the link not healthy (a Guest stretch pauses it, it does not end
/// it: the session is usually itself again after a new login, and the catch-up is still owed).
struct Outage {
    /// A "polling" report went out (a "stopped" one is owed).
    polling: bool,
    /// At least one round was polled: the link's return owes a catch-up.
    polled: bool,
    interval: Duration,
    next_at: Instant,
    /// Per run: the length of its last answer and since when it has not grown.
    growth: HashMap<String, (usize, Instant)>,
    last_error: Option<String>,
}

impl Outage {
    fn new(o: &ProgressOptions) -> Outage {
        Outage {
            polling: false,
            polled: false,
            interval: o.first_interval,
            next_at: Instant::now() + o.start_after,
            growth: HashMap::new(),
            last_error: None,
        }
    }

    /// No news from `run` for `limit`: its agent is likely gone.
    fn idle(&self, run: &str, limit: Duration) -> bool {
        self.growth.get(run).is_some_and(|(_, since)| since.elapsed() >= limit)
    }

    /// Note an answer's length; true when it is the first or it grew.
    fn grew(&mut self, run: &str, len: usize) -> bool {
        match self.growth.get_mut(run) {
            Some((seen, _)) if *seen == len => false,
            Some(entry) => {
                *entry = (len, Instant::now());
                true
            }
            None => {
                self.growth.insert(run.to_string(), (len, Instant::now()));
                true
            }
        }
    }
}

/// How one request went.
enum Asked {
    /// Handed over; the answer's length.
    Updates(usize),
    /// Worth another try (in the next round; a catch-up makes none).
    Failed(String),
    /// The endpoint refused: reported, and never asked again.
    Refused,
    /// The session is gone.
    Gone,
}

impl Poller {
    async fn send(&self, r: FallbackReport) -> bool {
        self.out.send(Polled::Report(r)).await.is_ok()
    }

    async fn report(&self, state: FallbackState, runs: usize, reason: Option<String>) -> bool {
        let endpoint = self.endpoint.clone();
        self.send(FallbackReport { state, endpoint, runs, fetched: 0, caught_up: None, reason })
            .await
    }

    fn link(&self) -> Link {
        link_of(&self.state.borrow().state)
    }

    /// The runs a round (or the catch-up) asks for: open, not idle, at most `max_runs`.
    fn runs_to_ask(&self, o: &mut Outage) -> Vec<String> {
        let open = self.open_runs.borrow();
        o.growth.retain(|run, _| open.contains(run));
        open.iter()
            .filter(|run| !o.idle(run, self.options.run_idle_limit))
            .take(self.options.max_runs)
            .cloned()
            .collect()
    }

    /// Ask for `run`'s updates once and hand them to the session.
    async fn ask(
        &self,
        run: &str,
        headers: &[(String, String)],
        user: &Option<String>,
        catch_up: bool,
    ) -> Asked {
        let url = rest::progress_url(&self.base, &self.endpoint, run);
        let o = &self.options;
        match rest::fetch_updates(&self.http, url, headers, o.max_answer_bytes, o.request_timeout)
            .await
        {
            Ok(updates) => {
                let len = updates.len();
                let msg =
                    Polled::Updates { run: run.into(), user: user.clone(), updates, catch_up };
                if self.out.send(msg).await.is_err() { Asked::Gone } else { Asked::Updates(len) }
            }
            Err(e) if e.is_permanent() => {
                tracing::warn!("progress endpoint {}: {e}", self.endpoint);
                if self.report(FallbackState::Refused, 0, Some(e.to_string())).await {
                    Asked::Refused
                } else {
                    Asked::Gone
                }
            }
            Err(e) => {
                tracing::debug!("progress poll of {run}: {e}");
                Asked::Failed(e.to_string())
            }
        }
    }

    /// The link is healthy again after `o`: the catch-up it owes (one request per open run),
    /// then the "stopped" report with its figures. False when the session is gone.
    async fn outage_over(&self, mut o: Outage, refused: &mut bool, user: &Option<String>) -> bool {
        let mut asked = None;
        let headers = (self.headers)();
        if o.polled
            && !*refused
            && let Some(headers) = headers
        {
            let runs = self.runs_to_ask(&mut o);
            // A catch-up that asks nobody (every run ended) is none.
            asked = Some(runs.len()).filter(|n| *n > 0);
            for run in &runs {
                match self.ask(run, &headers, user, true).await {
                    Asked::Updates(_) => {}
                    Asked::Failed(e) => o.last_error = Some(e),
                    Asked::Refused => {
                        // The refusal is the report; no "stopped" after it (as in a round).
                        *refused = true;
                        return true;
                    }
                    Asked::Gone => return false,
                }
            }
        }
        if !o.polling && asked.unwrap_or(0) == 0 {
            return true;
        }
        let reason = match o.last_error {
            Some(e) => format!("realtime is back (the last request failed: {e})"),
            None => "realtime is back".to_string(),
        };
        self.send(FallbackReport {
            state: FallbackState::Stopped,
            endpoint: self.endpoint.clone(),
            runs: asked.unwrap_or(0),
            fetched: 0,
            caught_up: asked.map(|_| 0),
            reason: Some(reason),
        })
        .await
    }

    /// Run until the session ends.
    pub async fn run(mut self) {
        let mut refused = false;
        let mut outage: Option<Outage> = None;
        let mut user: Option<String> = None;
        loop {
            let link = {
                let snap = self.state.borrow_and_update();
                if let LinkState::Connected { user: Some(u), .. } = &snap.state {
                    user = Some(u.clone());
                }
                link_of(&snap.state)
            };
            match link {
                Link::Healthy => {
                    if let Some(o) = outage.take()
                        && !self.outage_over(o, &mut refused, &user).await
                    {
                        return;
                    }
                }
                Link::Guest => {
                    // Polling pauses (reported now); the catch-up waits for the session to be
                    // itself again, and says what it brought in a "stopped" report of its own.
                    if let Some(o) = outage.as_mut()
                        && o.polling
                    {
                        o.polling = false;
                        let why = "the site takes the session for Guest now";
                        let reason = match o.last_error.take() {
                            Some(e) => format!("{why} (the last poll failed: {e})"),
                            None => why.to_string(),
                        };
                        if !self.report(FallbackState::Stopped, 0, Some(reason)).await {
                            return;
                        }
                    }
                }
                Link::Down => {}
            }
            let o = match (link, &mut outage) {
                (Link::Down, o) => o.get_or_insert_with(|| Outage::new(&self.options)),
                _ => {
                    if self.state.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            if refused {
                if self.state.changed().await.is_err() {
                    return;
                }
                continue;
            }
            tokio::select! {
                changed = self.state.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(o.next_at) => {}
            }
            let runs = self.runs_to_ask(o);
            if runs.is_empty() {
                if o.polling {
                    o.polling = false;
                    let why = "no open run left".to_string();
                    if !self.report(FallbackState::Stopped, 0, Some(why)).await {
                        return;
                    }
                }
                o.next_at = Instant::now() + self.options.max_interval;
                continue;
            }
            let Some(headers) = (self.headers)() else {
                o.next_at = Instant::now() + o.interval;
                continue;
            };
            if !o.polling {
                o.polling = true;
                if !self.report(FallbackState::Polling, runs.len(), None).await {
                    return;
                }
            }
            o.polled = true;
            let mut grew = false;
            for run in &runs {
                // The link may be back already: then not one more request (the catch-up
                // asks each open run once).
                if self.link() != Link::Down {
                    break;
                }
                match self.ask(run, &headers, &user, false).await {
                    Asked::Updates(len) => grew |= o.grew(run, len),
                    Asked::Failed(e) => o.last_error = Some(e),
                    Asked::Refused => {
                        refused = true;
                        o.polling = false;
                        break;
                    }
                    Asked::Gone => return,
                }
            }
            o.interval = if grew {
                self.options.first_interval
            } else {
                (o.interval * 2).min(self.options.max_interval)
            };
            o.next_at = Instant::now() + o.interval;
        }
    }
}
