//! Agent run correlation: fold `ai_progress`, `agent:*` and Raven `ai_event` events into one
//! card per run, so every shell (tray app, CLI, notifications) shows runs the same way.
//!
//! Runs are keyed by `task_id` / `conversation_id` / `workflowId` when the publisher sends
//! one; otherwise events in a user room are taken in sequence: a `thinking` (or any event
//! after the previous run finished) opens a new run.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::Value;

use crate::events::{AiProgress, EventKind, RealtimeEvent};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Complete,
    Failed,
}

/// Steps kept per run. Real plans have a few dozen; the cap keeps a payload with `step: 4e9`
/// (or an endless tool loop) from allocating without bound — later steps still move the
/// headline and the progress, they just get no row of their own.
pub const MAX_STEPS: usize = 200;

/// One step of a run's plan.
#[derive(Debug, Clone, PartialEq, Hash, Serialize)]
pub struct Step {
    pub label: String,
    /// `None` pending, `Some(true)` done, `Some(false)` failed.
    pub done: Option<bool>,
    pub details: Vec<String>,
}

/// A run as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub env: String,
    pub id: String,
    /// `ai_progress`, `agent` or `raven_ai`.
    pub source: &'static str,
    pub status: RunStatus,
    /// The latest line (thinking text, working step message, final message).
    pub headline: String,
    pub steps: Vec<Step>,
    /// `working k/n`.
    pub progress: Option<(u64, u64)>,
    pub started_ms: u64,
    pub updated_ms: u64,
    pub events: u64,
    /// Sequence gaps seen (`seq` extras), i.e. events lost in delivery.
    pub gaps: u64,
    #[serde(skip)]
    last_seq: Option<u64>,
}

impl Run {
    /// The run without its steps: what a window that already shows them is sent again when
    /// only the headline, the progress or the counts moved (see `RunView::without_steps`).
    pub fn without_steps(&self) -> Run {
        Run {
            env: self.env.clone(),
            id: self.id.clone(),
            source: self.source,
            status: self.status,
            headline: self.headline.clone(),
            steps: Vec::new(),
            progress: self.progress,
            started_ms: self.started_ms,
            updated_ms: self.updated_ms,
            events: self.events,
            gaps: self.gaps,
            last_seq: self.last_seq,
        }
    }
}

/// How a run changed with one event.
#[derive(Debug, Clone, PartialEq)]
pub enum RunChange {
    Updated(Run),
    /// The run just finished (complete or failed); carries the final state.
    Finished(Run),
}

impl RunChange {
    pub fn run(&self) -> &Run {
        match self {
            RunChange::Updated(r) | RunChange::Finished(r) => r,
        }
    }
}

/// `"1. Read file"` → `"Read file"`: the UI numbers the steps itself.
fn strip_number(line: &str) -> &str {
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    match line[digits..].strip_prefix(". ").or_else(|| line[digits..].strip_prefix(") ")) {
        Some(rest) if digits > 0 => rest,
        _ => line,
    }
}

/// Tracks runs of one environment. Keeps at most `max_runs` (oldest finished dropped first).
#[derive(Debug)]
pub struct RunTracker {
    env: String,
    runs: BTreeMap<String, Run>,
    order: VecDeque<String>,
    /// The open run of the un-keyed stream per room.
    current_unkeyed: BTreeMap<String, String>,
    counter: u64,
    max_runs: usize,
}

impl RunTracker {
    pub fn new(env: &str, max_runs: usize) -> Self {
        RunTracker {
            env: env.into(),
            runs: BTreeMap::new(),
            order: VecDeque::new(),
            current_unkeyed: BTreeMap::new(),
            counter: 0,
            max_runs: max_runs.max(1),
        }
    }

    pub fn runs(&self) -> impl Iterator<Item = &Run> {
        self.order.iter().filter_map(|id| self.runs.get(id))
    }

    fn open(&mut self, id: String, source: &'static str, at: u64) -> &mut Run {
        if !self.runs.contains_key(&id) {
            if self.order.len() >= self.max_runs {
                let victim = self
                    .order
                    .iter()
                    .position(|i| self.runs.get(i).is_some_and(|r| r.status != RunStatus::Running))
                    .unwrap_or(0);
                if let Some(old) = self.order.remove(victim) {
                    self.runs.remove(&old);
                }
            }
            self.order.push_back(id.clone());
            self.runs.insert(
                id.clone(),
                Run {
                    env: self.env.clone(),
                    id: id.clone(),
                    source,
                    status: RunStatus::Running,
                    headline: String::new(),
                    steps: Vec::new(),
                    progress: None,
                    started_ms: at,
                    updated_ms: at,
                    events: 0,
                    gaps: 0,
                    last_seq: None,
                },
            );
        }
        self.runs.get_mut(&id).expect("just inserted")
    }

    /// The run id for an event without a key: continue the room's open run, or start one.
    fn unkeyed_id(&mut self, room: &str, starts_new: bool) -> String {
        let open = self
            .current_unkeyed
            .get(room)
            .filter(|id| self.runs.get(*id).is_some_and(|r| r.status == RunStatus::Running))
            .cloned();
        match open {
            Some(id) if !starts_new => id,
            _ => {
                self.counter += 1;
                let id = format!("run-{}", self.counter);
                self.current_unkeyed.insert(room.into(), id.clone());
                id
            }
        }
    }

    /// Fold one event in; `None` when it is not about a run.
    pub fn apply(&mut self, e: &RealtimeEvent) -> Option<RunChange> {
        let at = e.received_at_ms;
        let room = e.room_hint.clone().unwrap_or_default();
        let (id, source) = match &e.kind {
            EventKind::AiProgress(p) => {
                let starts_new = matches!(p, AiProgress::Thinking { .. });
                let id = match e.run_key.clone() {
                    Some(k) => k,
                    None => self.unkeyed_id(&room, starts_new),
                };
                (id, "ai_progress")
            }
            EventKind::Agent(a) => (a.workflow_id.clone(), "agent"),
            EventKind::AiEvent { channel_id, .. } | EventKind::AiEventClear { channel_id } => {
                (format!("raven-ai:{channel_id}"), "raven_ai")
            }
            _ => return None,
        };
        let run = self.open(id, source, at);
        // Older than an event already folded in: a hole filled late (the progress fallback's
        // catch-up answering after realtime brought a newer update) or a reordering. It
        // completes its step but moves nothing back: headline, progress, status and the plan
        // stay those of the newest.
        let late = matches!((e.seq, run.last_seq), (Some(s), Some(l)) if s < l);
        let newest =
            late.then(|| (run.headline.clone(), run.progress, run.status, run.steps.is_empty()));
        if run.status != RunStatus::Running && source != "raven_ai" && !late {
            // A keyed run that already finished and gets more events: reopen it.
            run.status = RunStatus::Running;
        }
        run.events += 1;
        run.updated_ms = at;
        if let Some(seq) = e.seq {
            if late {
                // A polled update is shown only if it never was (the ledger): one hole less.
                // A live one may be a server's duplicate, so it fills nothing.
                if e.polled {
                    run.gaps = run.gaps.saturating_sub(1);
                }
            } else {
                if let Some(last) = run.last_seq
                    && seq > last + 1
                {
                    run.gaps += seq - last - 1;
                }
                run.last_seq = Some(seq);
            }
        }
        let mut finished = false;
        match &e.kind {
            EventKind::AiProgress(p) => match p {
                AiProgress::Thinking { message } => run.headline = message.clone(),
                AiProgress::Plan { .. }
                    if newest.as_ref().is_some_and(|(.., no_plan)| !no_plan) => {}
                AiProgress::Plan { message } => {
                    run.steps = message
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .take(MAX_STEPS)
                        .map(|l| Step {
                            label: strip_number(l).to_string(),
                            done: None,
                            details: Vec::new(),
                        })
                        .collect();
                    run.headline = "Plan ready".into();
                }
                AiProgress::Working { step, total, message } => {
                    run.progress = Some((*step, *total));
                    run.headline = message.clone();
                }
                AiProgress::StepComplete { step, total, message, details, error } => {
                    let ok = error.is_none();
                    let index = step
                        .map(|s| s.saturating_sub(1).min(usize::MAX as u64) as usize)
                        .unwrap_or_else(|| {
                            run.steps
                                .iter()
                                .position(|s| s.done.is_none())
                                .unwrap_or(run.steps.len())
                        });
                    if index < MAX_STEPS {
                        while run.steps.len() <= index {
                            run.steps.push(Step {
                                label: String::new(),
                                done: None,
                                details: Vec::new(),
                            });
                        }
                        let st = &mut run.steps[index];
                        if st.label.is_empty() {
                            st.label = message.clone();
                        }
                        st.done = Some(ok);
                        st.details = details.clone();
                    }
                    if let Some(t) = total {
                        run.progress = Some((step.unwrap_or(index as u64 + 1), *t));
                    }
                    run.headline = match error {
                        Some(e) => format!("✗ {message}: {e}"),
                        None => format!("✓ {message}"),
                    };
                }
                AiProgress::Complete { message } => {
                    run.status = RunStatus::Complete;
                    run.headline = message.clone().unwrap_or_else(|| "Done".into());
                    finished = true;
                }
                AiProgress::Error { message } => {
                    run.status = RunStatus::Failed;
                    run.headline = message.clone();
                    finished = true;
                }
                AiProgress::Unknown { kind } => run.headline = format!("({kind})"),
            },
            EventKind::Agent(a) => {
                let text = a
                    .data
                    .get("text")
                    .or_else(|| a.data.get("message"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| a.data.to_string());
                match a.kind.as_str() {
                    "thought" => run.headline = text,
                    "tool_call" => {
                        let tool = a.data.get("tool").and_then(Value::as_str).unwrap_or("tool");
                        if run.steps.len() < MAX_STEPS {
                            run.steps.push(Step {
                                label: format!("call {tool}"),
                                done: Some(true),
                                details: vec![
                                    a.data.get("args").map(|v| v.to_string()).unwrap_or_default(),
                                ],
                            });
                        }
                        run.headline = format!("calling {tool}");
                    }
                    "result" => {
                        run.status = RunStatus::Complete;
                        run.headline = text;
                        finished = true;
                    }
                    "error" => {
                        run.status = RunStatus::Failed;
                        run.headline = text;
                        finished = true;
                    }
                    other => run.headline = format!("{other}: {text}"),
                }
            }
            EventKind::AiEvent { text, .. } => {
                run.status = RunStatus::Running;
                run.headline = text.clone();
            }
            EventKind::AiEventClear { .. } => {
                run.status = RunStatus::Complete;
                run.headline = "Raven AI answered".into();
                finished = true;
            }
            _ => {}
        }
        if let Some((headline, progress, status, _)) = newest {
            (run.headline, run.progress, run.status) = (headline, progress, status);
            finished = false;
        }
        let snapshot = run.clone();
        Some(if finished { RunChange::Finished(snapshot) } else { RunChange::Updated(snapshot) })
    }
}

#[cfg(test)]
mod tests;
