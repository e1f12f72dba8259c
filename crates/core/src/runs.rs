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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
        if run.status != RunStatus::Running && source != "raven_ai" {
            // A keyed run that already finished and gets more events: reopen it.
            run.status = RunStatus::Running;
        }
        run.events += 1;
        run.updated_ms = at;
        if let Some(seq) = e.seq {
            if let Some(last) = run.last_seq
                && seq > last + 1
            {
                run.gaps += seq - last - 1;
            }
            run.last_seq = Some(seq);
        }
        let mut finished = false;
        match &e.kind {
            EventKind::AiProgress(p) => match p {
                AiProgress::Thinking { message } => run.headline = message.clone(),
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
        let snapshot = run.clone();
        Some(if finished { RunChange::Finished(snapshot) } else { RunChange::Updated(snapshot) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(name: &str, v: Value) -> RealtimeEvent {
        RealtimeEvent::from_args(name, vec![v], Some("u@x"))
    }

    #[test]
    fn a_canonical_run_becomes_one_card() {
        let mut t = RunTracker::new("demo", 50);
        let seq = [
            json!({"type":"thinking","message":"Analyzing request..."}),
            json!({"type":"plan","message":"1. Read file\n2. Edit file"}),
            json!({"type":"working","step":1,"total":2,"message":"Reading file"}),
            json!({"type":"step_complete","step":1,"total":2,"message":"Read file","details":["app.py (120 lines)"]}),
            json!({"type":"working","step":2,"total":2,"message":"Editing"}),
            json!({"type":"step_complete","step":2,"total":2,"message":"Edit file","error":"disk full"}),
            json!({"type":"complete","message":"Done"}),
        ];
        let changes: Vec<_> =
            seq.iter().map(|v| t.apply(&ev("ai_progress", v.clone())).unwrap()).collect();
        assert_eq!(t.runs().count(), 1);
        let last = changes.last().unwrap();
        assert!(matches!(last, RunChange::Finished(_)));
        let r = last.run();
        assert_eq!(r.status, RunStatus::Complete);
        assert_eq!(r.steps.len(), 2);
        assert_eq!(r.steps[0].label, "Read file", "plan numbering stripped");
        assert_eq!(r.steps[0].done, Some(true));
        assert_eq!(r.steps[1].done, Some(false), "✗ on error");
        assert_eq!(r.progress, Some((2, 2)));
        assert_eq!(r.events, 7);
    }

    #[test]
    fn absurd_step_numbers_and_endless_tool_loops_stay_bounded() {
        let mut t = RunTracker::new("e", 50);
        let c = t.apply(&ev("ai_progress", json!({"type":"step_complete","step":4_000_000_000u64,"total":4_000_000_000u64,"message":"far away","task_id":"T"}))).unwrap();
        assert!(c.run().steps.is_empty(), "no row for step 4e9, and no 4e9 empty rows");
        assert_eq!(c.run().headline, "✓ far away");
        assert_eq!(c.run().progress, Some((4_000_000_000, 4_000_000_000)));
        let c = t
            .apply(&ev(
                "ai_progress",
                json!({"type":"step_complete","step":3,"message":"near","task_id":"T"}),
            ))
            .unwrap();
        assert_eq!(c.run().steps.len(), 3);
        let plan = (0..1000).map(|i| format!("{i}. step")).collect::<Vec<_>>().join("\n");
        let c = t
            .apply(&ev("ai_progress", json!({"type":"plan","message":plan,"task_id":"P"})))
            .unwrap();
        assert_eq!(c.run().steps.len(), MAX_STEPS);
        for _ in 0..(MAX_STEPS + 50) {
            t.apply(&ev("agent:tool_call", json!({"workflowId":"W","data":{"tool":"grep"}})));
        }
        assert_eq!(t.runs().find(|r| r.id == "W").unwrap().steps.len(), MAX_STEPS);
    }

    #[test]
    fn keyed_runs_interleave_and_unkeyed_ones_follow_sequence() {
        let mut t = RunTracker::new("e", 50);
        t.apply(&ev("ai_progress", json!({"type":"thinking","message":"a","task_id":"A"})));
        t.apply(&ev("ai_progress", json!({"type":"thinking","message":"b","task_id":"B"})));
        t.apply(&ev("ai_progress", json!({"type":"complete","task_id":"A"})));
        let ids: Vec<_> = t.runs().map(|r| (r.id.clone(), r.status)).collect();
        assert_eq!(ids, vec![("A".into(), RunStatus::Complete), ("B".into(), RunStatus::Running)]);
        let mut t = RunTracker::new("e", 50);
        for v in [
            json!({"type":"thinking","message":"1"}),
            json!({"type":"complete"}),
            json!({"type":"thinking","message":"2"}),
            json!({"type":"working","step":1,"total":3,"message":"w"}),
        ] {
            t.apply(&ev("ai_progress", v));
        }
        let runs: Vec<_> = t.runs().collect();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1].progress, Some((1, 3)));
    }

    #[test]
    fn agent_events_and_gaps_and_bounds() {
        let mut t = RunTracker::new("e", 3);
        t.apply(&ev(
            "agent:thought",
            json!({"workflowId":"wf","type":"thought","data":{"text":"hmm"}}),
        ));
        let c = t
            .apply(&ev(
                "agent:error",
                json!({"workflowId":"wf","type":"error","data":{"message":"boom"}}),
            ))
            .unwrap();
        assert!(
            matches!(c, RunChange::Finished(ref r) if r.status == RunStatus::Failed && r.headline == "boom")
        );
        t.apply(&ev(
            "ai_progress",
            json!({"type":"working","step":1,"total":9,"message":"x","task_id":"T","seq":1}),
        ));
        let c = t
            .apply(&ev(
                "ai_progress",
                json!({"type":"working","step":2,"total":9,"message":"x","task_id":"T","seq":5}),
            ))
            .unwrap();
        assert_eq!(c.run().gaps, 3);
        for i in 0..10 {
            t.apply(&ev("ai_progress", json!({"type":"complete","task_id":format!("k{i}")})));
        }
        assert_eq!(t.runs().count(), 3, "bounded");
        assert!(t.apply(&ev("message_created", json!({}))).is_none());
    }
}
