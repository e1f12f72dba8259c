//! The typed event model. Every event keeps its raw JSON; the typed view is a convenience
//! that never fails: a payload malformed for its type is delivered as [`EventKind::Other`]
//! with a parse note.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

mod json_walk;
mod payload_fields;
use payload_fields::{AgentWire, AiWire, Loose, Meta, RavenWire};

pub use crate::wire::{Payload, Text};

/// One step of an AI agent's `ai_progress` stream (room `user:<user>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AiProgress {
    /// The model is reasoning.
    Thinking { message: String },
    /// The plan; steps separated by newlines.
    Plan { message: String },
    /// Step `step` of `total` is running.
    Working { step: u64, total: u64, message: String },
    /// A step finished; `error` set when it failed.
    StepComplete {
        step: Option<u64>,
        total: Option<u64>,
        message: String,
        details: Vec<String>,
        error: Option<String>,
    },
    /// The run finished.
    Complete { message: Option<String> },
    /// The run failed.
    Error { message: String },
    /// A type this version does not know (tolerated, shown as is).
    Unknown { kind: String },
}

impl AiProgress {
    /// The run is over after this step (complete or failed): nothing more will come.
    pub fn ends_run(&self) -> bool {
        matches!(self, AiProgress::Complete { .. } | AiProgress::Error { .. })
    }
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

/// A Raven chat message as carried by `message_created` / `message_edited`. Its strings
/// share the event's payload text where the JSON had no escapes ([`Text`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RavenMessage {
    pub channel_id: Text,
    pub sender: Text,
    pub message_id: Text,
    /// Plain text (`content`), the fallback wherever HTML is not rendered.
    pub content: Text,
    /// Raven's HTML (`text`), unsanitised: render only after sanitising.
    pub html: Option<Text>,
    pub message_type: Text,
    pub is_bot_message: bool,
    pub creation: Option<Text>,
}

impl RavenMessage {
    /// The same message with every string its own, sharing nothing with the payload.
    pub fn detached(&self) -> RavenMessage {
        RavenMessage {
            channel_id: self.channel_id.detached(),
            sender: self.sender.detached(),
            message_id: self.message_id.detached(),
            content: self.content.detached(),
            html: self.html.as_ref().map(Text::detached),
            message_type: self.message_type.detached(),
            is_bot_message: self.is_bot_message,
            creation: self.creation.as_ref().map(Text::detached),
        }
    }
}

/// What an event is, once recognised.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    AiProgress(AiProgress),
    Agent(AgentEvent),
    MessageCreated(RavenMessage),
    MessageEdited(RavenMessage),
    MessageDeleted {
        channel_id: String,
        message_id: String,
    },
    /// Raven AI is thinking in a channel.
    AiEvent {
        channel_id: String,
        text: String,
    },
    AiEventClear {
        channel_id: String,
    },
    UnreadCountUpdated {
        channel_id: String,
    },
    Pong,
    /// Any other event, or a known one whose payload did not fit its type.
    Other,
}

/// An event as delivered to consumers.
#[derive(Debug, Clone, Serialize)]
pub struct RealtimeEvent {
    pub name: String,
    /// The first (normally only) argument exactly as received; several arguments arrive as
    /// an array, none as `null`. Shared with the body or frame it arrived in.
    pub payload: Payload,
    pub kind: EventKind,
    /// The room this event was most likely published to (Socket.IO does not say).
    pub room_hint: Option<String>,
    /// Why the typed view fell back to `Other`, if it did.
    pub parse_note: Option<String>,
    /// The run this event belongs to (`task_id`, `conversation_id`, `workflowId`, `run_id`),
    /// for events that carry one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_key: Option<String>,
    /// The payload's `seq`, when it has one (gap detection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Milliseconds since the Unix epoch.
    pub received_at_ms: u64,
    /// Fetched over REST after a gap in the link (backfill), not received live.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
    /// Fetched by polling a progress endpoint while the link was down, not received live.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub polled: bool,
    /// Received (the default), sent by us, or the ack of one of our emits.
    #[serde(skip_serializing_if = "Direction::is_in")]
    pub direction: Direction,
    /// How many arguments the packet carried (`payload` is their one value, `null` or an
    /// array): what a recording needs to write them back exactly.
    #[serde(skip)]
    pub arg_count: usize,
}

/// Which way an event went over the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the server.
    #[default]
    In,
    /// Emitted by us (subscriptions, the user's emits).
    Out,
    /// The server's ack of one of our emits (`name` is the emitted event's).
    Ack,
}

impl Direction {
    pub fn is_in(&self) -> bool {
        *self == Direction::In
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Ack => "ack",
        }
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn required(v: &Loose<'_>, k: &str) -> Result<String, String> {
    v.string().ok_or_else(|| format!("missing string field {k:?}"))
}

fn parse_ai_progress(w: &AiWire<'_>) -> Result<AiProgress, String> {
    let kind = required(&w.kind, "type")?;
    let msg = || w.message.as_str().unwrap_or_default().to_string();
    Ok(match kind.as_str() {
        "thinking" => AiProgress::Thinking { message: msg() },
        "plan" => AiProgress::Plan { message: msg() },
        "working" => AiProgress::Working {
            step: w.step.as_u64().ok_or("working without a numeric step")?,
            total: w.total.as_u64().ok_or("working without a numeric total")?,
            message: msg(),
        },
        "step_complete" => AiProgress::StepComplete {
            step: w.step.as_u64(),
            total: w.total.as_u64(),
            message: msg(),
            details: w
                .details
                .as_ref()
                .map(|d| d.iter().map(Loose::text).collect())
                .unwrap_or_default(),
            error: match &w.error {
                Loose::Absent | Loose::Null | Loose::Bool(false) => None,
                Loose::Bool(true) => Some("failed".into()),
                Loose::Str(e) if e.is_empty() => None,
                other => Some(other.text()),
            },
        },
        "complete" => AiProgress::Complete { message: w.message.string() },
        "error" => AiProgress::Error { message: msg() },
        _ => AiProgress::Unknown { kind },
    })
}

fn parse_raven_message(w: &RavenWire<'_>, p: &Payload) -> Result<RavenMessage, String> {
    let d = w.message_details.as_ref().ok_or("missing object message_details")?;
    let text = |v: &Loose<'_>| v.as_str().map(|s| p.text(s));
    let required = |v: &Loose<'_>, k: &str| required(v, k).map(|_| text(v).unwrap_or_default());
    Ok(RavenMessage {
        channel_id: required(&w.channel_id, "channel_id")?,
        sender: text(&w.sender).unwrap_or_default(),
        message_id: required(&w.message_id, "message_id")?,
        content: text(&d.content).unwrap_or_default(),
        html: text(&d.text),
        message_type: text(&d.message_type).unwrap_or_else(|| "Text".into()),
        is_bot_message: d.is_bot_message.as_u64() == Some(1),
        creation: text(&d.creation),
    })
}

/// The typed view of one event.
struct Classified {
    kind: EventKind,
    room: Option<String>,
    run_key: Option<String>,
    seq: Option<u64>,
}

fn decode<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, String> {
    payload_fields::serde_decode(raw.get())
}

fn classify_raw(name: &str, payload: &Payload, user: Option<&str>) -> Result<Classified, String> {
    let raw = payload.raw();
    let user_room = || user.map(|u| format!("user:{u}"));
    let plain = |kind, room| Ok(Classified { kind, room, run_key: None, seq: None });
    match name {
        "ai_progress" => {
            let (w, meta): (AiWire<'_>, Meta<'_>) = payload_fields::read_both(raw.get())?;
            let kind = EventKind::AiProgress(parse_ai_progress(&w)?);
            Ok(Classified {
                kind,
                room: user_room(),
                run_key: meta.run_key(),
                seq: meta.seq.as_plain_u64(),
            })
        }
        n if n.starts_with("agent:") => {
            let w: AgentWire<'_> = decode(raw)?;
            let meta: Meta<'_> = decode(raw)?;
            let workflow_id = required(&w.workflow_id, "workflowId")?;
            let data = w
                .data
                .as_deref()
                .map(|d| serde_json::from_str(d.get()).unwrap_or(Value::Null))
                .unwrap_or(Value::Null);
            let kind = EventKind::Agent(AgentEvent {
                kind: n.trim_start_matches("agent:").to_string(),
                workflow_id: workflow_id.clone(),
                data,
                timestamp: w.timestamp.string(),
            });
            Ok(Classified {
                kind,
                room: user_room(),
                run_key: Some(workflow_id),
                seq: meta.seq.as_plain_u64(),
            })
        }
        "message_created" | "message_edited" => {
            let w: RavenWire<'_> = payload_fields::read(raw.get())?;
            let m = parse_raven_message(&w, payload)?;
            let room = Some(format!("doc:Raven Channel/{}", m.channel_id));
            plain(
                if name == "message_created" {
                    EventKind::MessageCreated(m)
                } else {
                    EventKind::MessageEdited(m)
                },
                room,
            )
        }
        "message_deleted"
        | "ai_event"
        | "ai_event_clear"
        | "raven:unread_channel_count_updated" => {
            #[derive(Deserialize)]
            struct W<'a> {
                #[serde(borrow, default)]
                channel_id: Loose<'a>,
                #[serde(borrow, default)]
                message_id: Loose<'a>,
                #[serde(borrow, default)]
                text: Loose<'a>,
            }
            let w: W<'_> = decode(raw)?;
            let channel_id = required(&w.channel_id, "channel_id")?;
            let room = Some(format!("doc:Raven Channel/{channel_id}"));
            match name {
                "message_deleted" => plain(
                    EventKind::MessageDeleted {
                        message_id: required(&w.message_id, "message_id")?,
                        channel_id,
                    },
                    room,
                ),
                "ai_event" => plain(
                    EventKind::AiEvent { text: w.text.string().unwrap_or_default(), channel_id },
                    room,
                ),
                "ai_event_clear" => plain(EventKind::AiEventClear { channel_id }, room),
                _ => plain(
                    EventKind::UnreadCountUpdated { channel_id },
                    Some("doctype:Raven User".into()),
                ),
            }
        }
        "pong" => plain(EventKind::Pong, None),
        "task_progress" | "doc_update" | "docinfo_update" | "list_update" => {
            #[derive(Deserialize)]
            struct W<'a> {
                #[serde(borrow, default)]
                task_id: Loose<'a>,
                #[serde(borrow, default)]
                doctype: Loose<'a>,
                #[serde(borrow, default)]
                name: Loose<'a>,
            }
            // Room hints only: a payload that does not fit is still a plain event.
            let Ok(w) = decode::<W<'_>>(raw) else { return plain(EventKind::Other, None) };
            let room = match name {
                "task_progress" => w.task_id.as_str().map(|t| format!("task_progress:{t}")),
                "list_update" => w.doctype.as_str().map(|d| format!("doctype:{d}")),
                _ => match (w.doctype.as_str(), w.name.as_str()) {
                    (Some(dt), Some(n)) => Some(format!("doc:{dt}/{n}")),
                    _ => None,
                },
            };
            plain(EventKind::Other, room)
        }
        _ => plain(EventKind::Other, None),
    }
}

impl RealtimeEvent {
    /// Build from an event's name and raw payload. `user` is who we are connected as (for
    /// the room hint). Never fails: a payload that does not fit its type is `Other` with a
    /// note, its raw text kept.
    pub fn from_raw(
        name: impl Into<String>,
        payload: impl Into<Payload>,
        user: Option<&str>,
    ) -> RealtimeEvent {
        let (name, payload) = (name.into(), payload.into());
        let (kind, room_hint, parse_note, run_key, seq) = match classify_raw(&name, &payload, user)
        {
            Ok(c) => (c.kind, c.room, None, c.run_key, c.seq),
            Err(note) => (EventKind::Other, None, Some(format!("{name}: {note}")), None, None),
        };
        RealtimeEvent {
            name,
            payload,
            kind,
            room_hint,
            parse_note,
            run_key,
            seq,
            received_at_ms: now_ms(),
            recovered: false,
            polled: false,
            direction: Direction::In,
            arg_count: 1,
        }
    }

    /// A copy holding only its own bytes, for a consumer that keeps events long (the event
    /// log): the payload and the view's texts no longer share the polling body they came
    /// in, which a kept event would otherwise pin whole. `None` when it holds nothing more.
    pub fn compact(&self) -> Option<RealtimeEvent> {
        let payload = self.payload.compact()?;
        let kind = match &self.kind {
            EventKind::MessageCreated(m) => EventKind::MessageCreated(m.detached()),
            EventKind::MessageEdited(m) => EventKind::MessageEdited(m.detached()),
            other => other.clone(),
        };
        Some(RealtimeEvent { payload, kind, ..self.clone() })
    }

    /// The same event with its argument count (`payload` built from `n` arguments).
    pub fn with_arg_count(mut self, n: usize) -> RealtimeEvent {
        self.arg_count = n;
        self
    }

    /// An event we sent (or the ack of one), for consumers that show or record sends. Not
    /// classified: what we send is not what the site tells us.
    pub fn sent(name: &str, args: &[&RawValue], direction: Direction) -> RealtimeEvent {
        let payload = crate::wire::connection::payload_of(args);
        let mut e = RealtimeEvent::from_raw("", payload, None).with_arg_count(args.len());
        e.name = name.to_string();
        e.direction = direction;
        e
    }

    /// Build from JSON values (tests, synthetic events such as `sockeye:lagged`).
    pub fn from_args(name: &str, mut args: Vec<Value>, user: Option<&str>) -> RealtimeEvent {
        let count = args.len();
        let payload = match count {
            0 => Value::Null,
            1 => args.pop().unwrap_or(Value::Null),
            _ => Value::Array(args),
        };
        let raw = serde_json::value::to_raw_value(&payload)
            .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON"));
        RealtimeEvent::from_raw(name, raw, user).with_arg_count(count)
    }

    /// The payload as a JSON tree, for the few consumers that need one (tests, tools). The
    /// event path itself works from the raw text.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.payload.get()).unwrap_or(Value::Null)
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
        let kinds: Vec<_> = steps
            .iter()
            .map(|p| RealtimeEvent::from_args("ai_progress", vec![p.clone()], u))
            .collect();
        assert!(
            kinds
                .iter()
                .all(|e| e.parse_note.is_none() && e.room_hint.as_deref() == Some("user:u@x"))
        );
        assert_eq!(
            kinds[2].kind,
            EventKind::AiProgress(AiProgress::Working {
                step: 1,
                total: 2,
                message: "Reading file".into()
            })
        );
        match &kinds[3].kind {
            EventKind::AiProgress(AiProgress::StepComplete { details, error: None, .. }) => {
                assert_eq!(details, &vec!["app.py (120 lines)".to_string()])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_types_are_tolerated_and_malformed_payloads_keep_raw() {
        let e = RealtimeEvent::from_args("ai_progress", vec![json!({"type":"showTyping"})], None);
        assert_eq!(
            e.kind,
            EventKind::AiProgress(AiProgress::Unknown { kind: "showTyping".into() })
        );
        let e = RealtimeEvent::from_args(
            "ai_progress",
            vec![json!({"type":"working","step":"x"})],
            None,
        );
        assert_eq!(e.kind, EventKind::Other);
        assert!(e.parse_note.as_deref().unwrap().contains("step"));
        assert_eq!(e.json()["step"], "x", "raw payload kept");
        let e = RealtimeEvent::from_args("message_created", vec![json!("not an object")], None);
        assert_eq!(e.kind, EventKind::Other);
        assert!(e.parse_note.is_some());
        let e = RealtimeEvent::from_args("ai_progress", vec![], None);
        assert!(e.parse_note.is_some());
    }

    #[test]
    fn step_error_flags() {
        let e = RealtimeEvent::from_args(
            "ai_progress",
            vec![json!({"type":"step_complete","message":"m","error":true})],
            None,
        );
        assert!(matches!(
            e.kind,
            EventKind::AiProgress(AiProgress::StepComplete { error: Some(_), .. })
        ));
    }

    #[test]
    fn raven_and_agent_events() {
        let m = json!({"channel_id":"general","sender":"a@x","message_id":"k3j4h5g6f7","message_details":{"content":"Hello","message_type":"Text","is_bot_message":0,"text":"<p>Hello</p>"}});
        let e = RealtimeEvent::from_args("message_created", vec![m], None);
        assert_eq!(e.room_hint.as_deref(), Some("doc:Raven Channel/general"));
        assert!(matches!(e.kind, EventKind::MessageCreated(ref r) if r.content == "Hello"));
        let a = json!({"workflowId":"wf-1","type":"thought","data":{"text":"hi"},"timestamp":"2026-01-01T00:00:00Z"});
        let e = RealtimeEvent::from_args("agent:thought", vec![a], Some("u"));
        assert!(
            matches!(e.kind, EventKind::Agent(ref ev) if ev.workflow_id == "wf-1" && ev.kind == "thought")
        );
        let e = RealtimeEvent::from_args("agent:result", vec![json!({"data":1})], None);
        assert!(e.parse_note.unwrap().contains("workflowId"));
    }
}
