//! The events of a burst, built once and serialised straight into each packet.
//!
//! Benchmarks measure clients against this server, so the server must not be the bottleneck.
//! Building a Raven message as a `Value` tree per event held it to ~50k message_created/s;
//! rendering the text and validating it as a `RawValue` per event was still a quarter of its
//! time under a polling burst. Now the template keeps every member that does not change as
//! JSON validated once, and an event serialises as a map that writes those verbatim and only
//! formats what carries the sequence number (`seq`, `step`, the message name, its text).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::payloads::StoredMessage;
use crate::scenarios::ScenarioParams;

/// Where the sequence number goes in the template.
const SEQ: &str = "@@seq@@";

/// One member's value in the template.
enum Piece {
    /// Never changes: written as is.
    Fixed(Box<RawValue>),
    /// The sequence number as a JSON number (`step`).
    Seq,
    /// A string with the sequence number between these parts.
    Text(Vec<String>),
    /// An object with members that change.
    Object(Vec<(String, Piece)>),
}

impl Piece {
    fn of(v: Value) -> Piece {
        match v {
            Value::String(s) if s == SEQ => Piece::Seq,
            Value::String(s) if s.contains(SEQ) => {
                Piece::Text(s.split(SEQ).map(str::to_string).collect())
            }
            Value::Object(m) if m.values().any(mentions_seq) => {
                Piece::Object(m.into_iter().map(|(k, v)| (k, Piece::of(v))).collect())
            }
            fixed => Piece::Fixed(serde_json::value::to_raw_value(&fixed).expect("JSON")),
        }
    }
}

fn mentions_seq(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(SEQ),
        Value::Object(m) => m.values().any(mentions_seq),
        Value::Array(a) => a.iter().any(mentions_seq),
        _ => false,
    }
}

/// A burst's event, room and payload template.
pub struct BurstTemplate {
    /// `message_created` to the channel's document room, or `ai_progress` to the user's room.
    pub event: &'static str,
    pub room: String,
    members: Vec<(String, Piece)>,
    /// Message names are zero-padded (`b000000042`), like the names Frappe generates.
    padded: bool,
}

impl BurstTemplate {
    pub fn new(p: &ScenarioParams) -> BurstTemplate {
        let pad = "x".repeat(p.pad);
        let chat = p.event == "message_created";
        let v = if chat {
            let mut m = StoredMessage::new(
                &p.channel,
                "bob@example.com",
                &format!("<p>burst {SEQ} {pad}</p>"),
            );
            m.name = format!("b{SEQ}");
            m.created_event()
        } else {
            json!({"type": "working", "step": SEQ, "total": p.n, "message": format!("burst step {pad}"), "task_id": "burst"})
        };
        let Piece::Object(members) = Piece::of(v) else {
            unreachable!("the template mentions seq")
        };
        BurstTemplate {
            event: if chat { "message_created" } else { "ai_progress" },
            room: if chat {
                format!("doc:Raven Channel/{}", p.channel)
            } else {
                format!("user:{}", p.user)
            },
            members,
            padded: chat,
        }
    }

    /// Event `seq`, emitted at `emitted_at_us`: serialise it where it goes.
    pub fn event(&self, seq: u64, emitted_at_us: u64) -> BurstEvent<'_> {
        let seq_text = if self.padded { format!("{seq:09}") } else { seq.to_string() };
        BurstEvent { tmpl: self, seq, seq_text, emitted_at_us }
    }

    /// Event `seq` as JSON text (tests, and callers that need the text).
    pub fn render(&self, seq: u64, emitted_at_us: u64) -> Box<RawValue> {
        serde_json::value::to_raw_value(&self.event(seq, emitted_at_us)).expect("JSON")
    }
}

/// One event of a burst: `{"seq":…,"emitted_at_us":…, <the template's members>}`.
pub struct BurstEvent<'a> {
    tmpl: &'a BurstTemplate,
    seq: u64,
    seq_text: String,
    emitted_at_us: u64,
}

impl Serialize for BurstEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.tmpl.members.len() + 2))?;
        map.serialize_entry("seq", &self.seq)?;
        map.serialize_entry("emitted_at_us", &self.emitted_at_us)?;
        for (k, piece) in &self.tmpl.members {
            map.serialize_entry(k, &Filled { piece, event: self })?;
        }
        map.end()
    }
}

/// A template piece with this event's number in it.
struct Filled<'a> {
    piece: &'a Piece,
    event: &'a BurstEvent<'a>,
}

impl Serialize for Filled<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.piece {
            Piece::Fixed(raw) => raw.serialize(s),
            Piece::Seq => s.serialize_u64(self.event.seq),
            Piece::Text(parts) => s.collect_str(&Joined { parts, seq: &self.event.seq_text }),
            Piece::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, piece) in members {
                    map.serialize_entry(k, &Filled { piece, event: self.event })?;
                }
                map.end()
            }
        }
    }
}

/// Parts of a string joined by the sequence number, written without a copy of its own.
struct Joined<'a> {
    parts: &'a [String],
    seq: &'a str,
}

impl std::fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(self.seq)?;
            }
            f.write_str(part)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_carries_its_own_fields() {
        let ai = BurstTemplate::new(&ScenarioParams {
            event: "ai_progress".into(),
            n: 7,
            pad: 3,
            ..Default::default()
        });
        let v: Value = serde_json::from_str(ai.render(5, 1234).get()).unwrap();
        assert_eq!(
            v,
            json!({"seq": 5, "emitted_at_us": 1234, "type": "working", "step": 5, "total": 7, "message": "burst step xxx", "task_id": "burst"})
        );

        let msg = BurstTemplate::new(&ScenarioParams {
            event: "message_created".into(),
            channel: "general".into(),
            pad: 2,
            ..Default::default()
        });
        let a: Value = serde_json::from_str(msg.render(42, 1).get()).unwrap();
        let b: Value = serde_json::from_str(msg.render(43, 2).get()).unwrap();
        assert_eq!((a["seq"].as_u64(), a["emitted_at_us"].as_u64()), (Some(42), Some(1)));
        assert_eq!(a["message_id"], "b000000042");
        assert_eq!(b["message_id"], "b000000043");
        assert_eq!(a["channel_id"], "general");
        assert_eq!(a["message_details"]["text"], "<p>burst 000000042 xx</p>");
        assert_eq!(a["message_details"]["content"], "burst 000000042 xx");
        assert_eq!(a["message_details"]["name"], "b000000042");
        // Same members, in the same order, as a message built the slow way.
        let slow = StoredMessage::new("general", "bob@example.com", "<p>x</p>").created_event();
        let keys = |v: &Value| {
            v["message_details"].as_object().unwrap().keys().cloned().collect::<Vec<_>>()
        };
        assert_eq!(keys(&a), keys(&slow));
    }

    #[test]
    fn text_that_needs_escaping_is_escaped() {
        let msg = BurstTemplate::new(&ScenarioParams {
            event: "message_created".into(),
            channel: "quo\"te".into(),
            ..Default::default()
        });
        let a: Value = serde_json::from_str(msg.render(1, 1).get()).unwrap();
        assert_eq!(a["channel_id"], "quo\"te");
        // A string that carries the number and needs escaping around it.
        let t = BurstTemplate {
            event: "x",
            room: "r".into(),
            members: vec![("a".into(), Piece::of(json!(format!("say \"{SEQ}\"\n\\"))))],
            padded: false,
        };
        let v: Value = serde_json::from_str(t.render(7, 1).get()).unwrap();
        assert_eq!(v["a"], "say \"7\"\n\\");
    }
}
