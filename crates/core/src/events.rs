//! The typed event model. Every event keeps its raw JSON; the typed view is a convenience
//! that never fails: a payload malformed for its type is delivered as [`EventKind::Other`]
//! with a parse note.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One step of an AI agent's `ai_progress` stream (room `user:<user>`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AiProgress {
    /// The model is reasoning.
    Thinking { message: String },
    /// The plan; steps separated by newlines.
    Plan { message: String },
    /// Step `step` of `total` is running.
    Working { step: u64, total: u64, message: String },
    /// A step finished; `error` set when it failed.
    StepComplete { step: Option<u64>, total: Option<u64>, message: String, details: Vec<String>, error: Option<String> },
    /// The run finished.
    Complete { message: Option<String> },
    /// The run failed.
    Error { message: String },
    /// A type this version does not know (tolerated, shown as is).
    Unknown { kind: String },
}

/// An `agent:*` event from a FastAPI + python-socketio agent server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentEvent {
    /// `thought`, `tool_call`, `result` or `error` (the part after `agent:`).
    pub kind: String,
    #[serde(rename = "workflowId")]
    pub workflow_id: String,
    pub data: Value,
    pub timestamp: Option<String>,
}

/// A Raven chat message as carried by `message_created` / `message_edited`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RavenMessage {
    pub channel_id: String,
    pub sender: String,
    pub message_id: String,
    /// Plain text (`content`); the HTML `text` stays in the raw payload and is never rendered.
    pub content: String,
    pub message_type: String,
    pub is_bot_message: bool,
    pub creation: Option<String>,
}

/// What an event is, once recognised.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    AiProgress(AiProgress),
    Agent(AgentEvent),
    MessageCreated(RavenMessage),
    MessageEdited(RavenMessage),
    MessageDeleted { channel_id: String, message_id: String },
    /// Raven AI is thinking in a channel.
    AiEvent { channel_id: String, text: String },
    AiEventClear { channel_id: String },
    UnreadCountUpdated { channel_id: String },
    Pong,
    /// Any other event, or a known one whose payload did not fit its type.
    Other,
}

/// An event as delivered to consumers.
#[derive(Debug, Clone, Serialize)]
pub struct RealtimeEvent {
    pub name: String,
    /// The first (normally only) argument; several arguments arrive as an array.
    pub payload: Value,
    pub kind: EventKind,
    /// The room this event was most likely published to (Socket.IO does not say).
    pub room_hint: Option<String>,
    /// Why the typed view fell back to `Other`, if it did.
    pub parse_note: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub received_at_ms: u64,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn req(v: &Value, k: &str) -> Result<String, String> {
    s(v, k).ok_or_else(|| format!("missing string field {k:?}"))
}

fn num(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(|x| x.as_u64().or_else(|| x.as_str().and_then(|s| s.parse().ok())))
}

fn parse_ai_progress(v: &Value) -> Result<AiProgress, String> {
    let kind = req(v, "type")?;
    let msg = || s(v, "message").unwrap_or_default();
    Ok(match kind.as_str() {
        "thinking" => AiProgress::Thinking { message: msg() },
        "plan" => AiProgress::Plan { message: msg() },
        "working" => AiProgress::Working {
            step: num(v, "step").ok_or("working without a numeric step")?,
            total: num(v, "total").ok_or("working without a numeric total")?,
            message: msg(),
        },
        "step_complete" => AiProgress::StepComplete {
            step: num(v, "step"),
            total: num(v, "total"),
            message: msg(),
            details: v.get("details").and_then(Value::as_array).map(|a| a.iter().map(|d| d.as_str().map(str::to_string).unwrap_or_else(|| d.to_string())).collect()).unwrap_or_default(),
            error: match v.get("error") {
                None | Some(Value::Null) | Some(Value::Bool(false)) => None,
                Some(Value::Bool(true)) => Some("failed".into()),
                Some(Value::String(e)) if e.is_empty() => None,
                Some(Value::String(e)) => Some(e.clone()),
                Some(other) => Some(other.to_string()),
            },
        },
        "complete" => AiProgress::Complete { message: s(v, "message") },
        "error" => AiProgress::Error { message: msg() },
        _ => AiProgress::Unknown { kind },
    })
}

fn parse_raven_message(v: &Value) -> Result<RavenMessage, String> {
    let details = v.get("message_details").filter(|d| d.is_object()).ok_or("missing object message_details")?;
    Ok(RavenMessage {
        channel_id: req(v, "channel_id")?,
        sender: s(v, "sender").unwrap_or_default(),
        message_id: req(v, "message_id")?,
        content: s(details, "content").unwrap_or_default(),
        message_type: s(details, "message_type").unwrap_or_else(|| "Text".into()),
        is_bot_message: num(details, "is_bot_message").unwrap_or(0) == 1,
        creation: s(details, "creation"),
    })
}

/// Recognise `name` + `payload`. `user` is who we are connected as (for the room hint).
pub fn classify(name: &str, payload: &Value, user: Option<&str>) -> (EventKind, Option<String>, Option<String>) {
    let user_room = || user.map(|u| format!("user:{u}"));
    let channel_room = |v: &Value| s(v, "channel_id").map(|c| format!("doc:Raven Channel/{c}"));
    let result: Result<(EventKind, Option<String>), String> = match name {
        "ai_progress" => parse_ai_progress(payload).map(|p| (EventKind::AiProgress(p), user_room())),
        n if n.starts_with("agent:") => {
            let kind = n.trim_start_matches("agent:").to_string();
            req(payload, "workflowId").map(|wf| {
                (
                    EventKind::Agent(AgentEvent { kind, workflow_id: wf, data: payload.get("data").cloned().unwrap_or(Value::Null), timestamp: s(payload, "timestamp") }),
                    user_room(),
                )
            })
        }
        "message_created" => parse_raven_message(payload).map(|m| (EventKind::MessageCreated(m), channel_room(payload))),
        "message_edited" => parse_raven_message(payload).map(|m| (EventKind::MessageEdited(m), channel_room(payload))),
        "message_deleted" => req(payload, "channel_id").and_then(|c| Ok((EventKind::MessageDeleted { channel_id: c, message_id: req(payload, "message_id")? }, channel_room(payload)))),
        "ai_event" => req(payload, "channel_id").map(|c| (EventKind::AiEvent { channel_id: c, text: s(payload, "text").unwrap_or_default() }, channel_room(payload))),
        "ai_event_clear" => req(payload, "channel_id").map(|c| (EventKind::AiEventClear { channel_id: c }, channel_room(payload))),
        "raven:unread_channel_count_updated" => req(payload, "channel_id").map(|c| (EventKind::UnreadCountUpdated { channel_id: c }, Some("doctype:Raven User".into()))),
        "pong" => Ok((EventKind::Pong, None)),
        "task_progress" => Ok((EventKind::Other, s(payload, "task_id").map(|t| format!("task_progress:{t}")))),
        "doc_update" | "docinfo_update" => Ok((EventKind::Other, match (s(payload, "doctype"), s(payload, "name")) {
            (Some(dt), Some(n)) => Some(format!("doc:{dt}/{n}")),
            _ => None,
        })),
        "list_update" => Ok((EventKind::Other, s(payload, "doctype").map(|d| format!("doctype:{d}")))),
        _ => Ok((EventKind::Other, None)),
    };
    match result {
        Ok((kind, room)) => (kind, room, None),
        Err(note) => (EventKind::Other, None, Some(format!("{name}: {note}"))),
    }
}

impl RealtimeEvent {
    /// The payload as a JSON tree, for the few consumers that need one (tests, tools). The
    /// event path itself works from the raw text.
    pub fn json(&self) -> Value {
        self.payload.clone()
    }

    /// Build from the Socket.IO arguments of one event packet.
    pub fn from_args(name: &str, mut args: Vec<Value>, user: Option<&str>) -> RealtimeEvent {
        let payload = match args.len() {
            0 => Value::Null,
            1 => args.pop().unwrap_or(Value::Null),
            _ => Value::Array(args),
        };
        let (kind, room_hint, parse_note) = classify(name, &payload, user);
        RealtimeEvent { name: name.to_string(), payload, kind, room_hint, parse_note, received_at_ms: now_ms() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_canonical_ai_run_parses() {
        let u = Some("u@x");
        let steps = [
            json!({"type":"thinking","message":"Analyzing request..."}),
            json!({"type":"plan","message":"1. Read file\n2. Edit file"}),
            json!({"type":"working","step":1,"total":2,"message":"Reading file"}),
            json!({"type":"step_complete","step":1,"total":2,"message":"Read file","details":["app.py (120 lines)"]}),
            json!({"type":"complete","message":"Done"}),
            json!({"type":"error","message":"Model timed out"}),
        ];
        let kinds: Vec<_> = steps.iter().map(|p| RealtimeEvent::from_args("ai_progress", vec![p.clone()], u)).collect();
        assert!(kinds.iter().all(|e| e.parse_note.is_none() && e.room_hint.as_deref() == Some("user:u@x")));
        assert_eq!(kinds[2].kind, EventKind::AiProgress(AiProgress::Working { step: 1, total: 2, message: "Reading file".into() }));
        match &kinds[3].kind {
            EventKind::AiProgress(AiProgress::StepComplete { details, error: None, .. }) => assert_eq!(details, &vec!["app.py (120 lines)".to_string()]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_types_are_tolerated_and_malformed_payloads_keep_raw() {
        let e = RealtimeEvent::from_args("ai_progress", vec![json!({"type":"showTyping"})], None);
        assert_eq!(e.kind, EventKind::AiProgress(AiProgress::Unknown { kind: "showTyping".into() }));
        let e = RealtimeEvent::from_args("ai_progress", vec![json!({"type":"working","step":"x"})], None);
        assert_eq!(e.kind, EventKind::Other);
        assert!(e.parse_note.as_deref().unwrap().contains("step"));
        assert_eq!(e.payload["step"], "x", "raw payload kept");
        let e = RealtimeEvent::from_args("message_created", vec![json!("not an object")], None);
        assert_eq!(e.kind, EventKind::Other);
        assert!(e.parse_note.is_some());
        let e = RealtimeEvent::from_args("ai_progress", vec![], None);
        assert!(e.parse_note.is_some());
    }

    #[test]
    fn step_error_flags() {
        let e = RealtimeEvent::from_args("ai_progress", vec![json!({"type":"step_complete","message":"m","error":true})], None);
        assert!(matches!(e.kind, EventKind::AiProgress(AiProgress::StepComplete { error: Some(_), .. })));
    }

    #[test]
    fn raven_and_agent_events() {
        let m = json!({"channel_id":"general","sender":"a@x","message_id":"k3j4h5g6f7","message_details":{"content":"Hello","message_type":"Text","is_bot_message":0,"text":"<p>Hello</p>"}});
        let e = RealtimeEvent::from_args("message_created", vec![m], None);
        assert_eq!(e.room_hint.as_deref(), Some("doc:Raven Channel/general"));
        assert!(matches!(e.kind, EventKind::MessageCreated(ref r) if r.content == "Hello"));
        let a = json!({"workflowId":"wf-1","type":"thought","data":{"text":"hi"},"timestamp":"2026-01-01T00:00:00Z"});
        let e = RealtimeEvent::from_args("agent:thought", vec![a], Some("u"));
        assert!(matches!(e.kind, EventKind::Agent(ref ev) if ev.workflow_id == "wf-1" && ev.kind == "thought"));
        let e = RealtimeEvent::from_args("agent:result", vec![json!({"data":1})], None);
        assert!(e.parse_note.unwrap().contains("workflowId"));
    }
}
