//! Agent progress over REST for the simulated site's runs. Every `ai_progress` update of a
//! run is recorded before it is published (as a message is stored before it is sent), so
//! `GET /api/method/ai_assistant.api.get_progress?conversation_id=<run>` answers
//! `{"message": {"updates": [...]}}` with the updates so far, carrying the same `seq` as their
//! realtime copies. Runs keep going, and being recorded, while the realtime side is down
//! (`bad_gateway`, a restart): that is what a client's polling fallback reads.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::payloads::ai_progress;
use crate::state::SimState;
use crate::web::{frappe_error, require_user};

/// The whitelisted method the simulated site answers (the VS Code integration guide's name).
pub const PROGRESS_METHOD: &str = "ai_assistant.api.get_progress";
/// Runs kept (oldest dropped first) and updates kept per run.
const MAX_RUNS: usize = 256;
const MAX_UPDATES: usize = 1_000;

struct RecordedRun {
    user: String,
    updates: Vec<Value>,
}

/// The updates of the site's runs.
#[derive(Default)]
pub struct RunLog {
    runs: HashMap<String, RecordedRun>,
    order: VecDeque<String>,
}

impl RunLog {
    /// Record `body` as the next update of `run` for `user`: `task_id`, `seq` (1, 2, … per
    /// run) and `ts` are added. Returns the payload as published.
    pub fn record(&mut self, user: &str, run: &str, body: Value) -> Value {
        if !self.runs.contains_key(run) {
            if self.order.len() == MAX_RUNS
                && let Some(old) = self.order.pop_front()
            {
                self.runs.remove(&old);
            }
            self.order.push_back(run.to_string());
            self.runs.insert(run.into(), RecordedRun { user: user.into(), updates: Vec::new() });
        }
        let r = self.runs.get_mut(run).expect("inserted above");
        let payload = ai_progress(run, r.updates.len() as u64 + 1, body);
        if r.updates.len() < MAX_UPDATES {
            r.updates.push(payload.clone());
        }
        payload
    }

    /// The runs kept, oldest first.
    pub fn run_ids(&self) -> Vec<String> {
        self.order.iter().cloned().collect()
    }

    /// Who owns `run` and its updates so far.
    pub fn updates(&self, run: &str) -> Option<(&str, &[Value])> {
        self.runs.get(run).map(|r| (r.user.as_str(), r.updates.as_slice()))
    }
}

/// Record an update of `run` and publish it to `user:<user>`. Returns the payload and how
/// many sockets got it (none, while realtime is down).
pub async fn publish_progress(st: &SimState, user: &str, run: &str, body: Value) -> (Value, usize) {
    let payload = st.runs.lock().expect("runs lock").record(user, run, body);
    let site = st.config().default_site.clone();
    let room = format!("user:{user}");
    let n = st.emit(Some(&site), Some(&room), "ai_progress", &payload).await;
    (payload, n)
}

pub fn routes() -> Router<Arc<SimState>> {
    Router::new().route(&format!("/api/method/{PROGRESS_METHOD}"), get(get_progress))
}

/// Like a whitelisted Frappe method: 401 for a bad token, 403 for Guest and for another
/// user's run, 417 without `conversation_id`; a run the site never had has no updates.
async fn get_progress(
    State(st): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    st.progress_polls.fetch_add(1, Ordering::Relaxed);
    if st.faults().progress_missing {
        return crate::proxy_faults::not_found_page();
    }
    let user = match require_user(&st, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(run) = q.get("conversation_id") else {
        return frappe_error(
            StatusCode::EXPECTATION_FAILED,
            "ValidationError",
            "conversation_id is required",
        );
    };
    let log = st.runs.lock().expect("runs lock");
    let updates = match log.updates(run) {
        Some((owner, _)) if owner != user => {
            return frappe_error(StatusCode::FORBIDDEN, "PermissionError", "Not permitted");
        }
        Some((_, updates)) => updates.to_vec(),
        None => Vec::new(),
    };
    Json(json!({"message": {"updates": updates}})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_numbered_per_run_and_bounded() {
        let mut log = RunLog::default();
        let a = log.record("u", "r1", json!({"type": "thinking", "message": "x"}));
        log.record("u", "r2", json!({"type": "thinking", "message": "y"}));
        let b = log.record("u", "r1", json!({"type": "complete"}));
        assert_eq!((a["seq"].as_u64(), b["seq"].as_u64()), (Some(1), Some(2)));
        assert_eq!(b["task_id"], "r1");
        let (owner, updates) = log.updates("r1").unwrap();
        assert_eq!((owner, updates.len()), ("u", 2));
        assert_eq!(updates[1], b, "the recorded copy is the published one");
        for i in 0..(MAX_RUNS + 5) {
            log.record("u", &format!("x{i}"), json!({"type": "thinking"}));
        }
        assert_eq!(log.runs.len(), MAX_RUNS);
        assert!(log.updates("r1").is_none(), "the oldest runs go first");
    }
}
