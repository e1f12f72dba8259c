//! The polling task of one session. It watches the link state and the session's open runs and
//! hands what it fetched to the session, which alone decides what is shown (the ledger) and
//! shows it (the same path as live events).
//!
//! It polls only while the link is down or deaf, never while it is healthy, and not while the
//! session is Guest: the site answers Guest's REST calls with 403 as well, and that refusal
//! would say nothing about the endpoint.

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
    /// A run's updates so far (the session drops those already shown).
    Updates { run: String, user: Option<String>, updates: Vec<Box<RawValue>> },
    /// Polling started, stopped or was refused (`fetched` is the session's to fill in).
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

/// One stretch of time with the link down.
struct Outage {
    /// A "polling" report went out (a "stopped" one is owed).
    polling: bool,
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

impl Poller {
    async fn report(&self, state: FallbackState, runs: usize, reason: Option<String>) -> bool {
        let r = FallbackReport { state, endpoint: self.endpoint.clone(), runs, fetched: 0, reason };
        self.out.send(Polled::Report(r)).await.is_ok()
    }

    fn link(&self) -> Link {
        link_of(&self.state.borrow().state)
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
            if link != Link::Down {
                if let Some(o) = outage.take()
                    && o.polling
                {
                    let why = match link {
                        Link::Guest => "the site takes the session for Guest now",
                        _ => "realtime is back",
                    };
                    let reason = match o.last_error {
                        Some(e) => format!("{why} (the last poll failed: {e})"),
                        None => why.to_string(),
                    };
                    if !self.report(FallbackState::Stopped, 0, Some(reason)).await {
                        return;
                    }
                }
                if self.state.changed().await.is_err() {
                    return;
                }
                continue;
            }
            let o = outage.get_or_insert_with(|| Outage::new(&self.options));
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
            let runs: Vec<String> = {
                let open = self.open_runs.borrow();
                o.growth.retain(|run, _| open.contains(run));
                open.iter()
                    .filter(|run| !o.idle(run, self.options.run_idle_limit))
                    .take(self.options.max_runs)
                    .cloned()
                    .collect()
            };
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
            let mut grew = false;
            for run in &runs {
                // The link may be back already: then not one more request.
                if self.link() != Link::Down {
                    break;
                }
                let url = rest::progress_url(&self.base, &self.endpoint, run);
                let answer = rest::fetch_updates(
                    &self.http,
                    url,
                    &headers,
                    self.options.max_answer_bytes,
                    self.options.request_timeout,
                )
                .await;
                match answer {
                    Ok(updates) => {
                        grew |= o.grew(run, updates.len());
                        let user = user.clone();
                        let msg = Polled::Updates { run: run.clone(), user, updates };
                        if self.out.send(msg).await.is_err() {
                            return;
                        }
                    }
                    Err(e) if e.is_permanent() => {
                        refused = true;
                        o.polling = false;
                        tracing::warn!("progress endpoint {}: {e}", self.endpoint);
                        if !self.report(FallbackState::Refused, 0, Some(e.to_string())).await {
                            return;
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::debug!("progress poll of {run}: {e}");
                        o.last_error = Some(e.to_string());
                    }
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
