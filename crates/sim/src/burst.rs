//! The events of a burst: one template serialised once, each event only fills in its
//! sequence number and emit time, and is written into its packet as it is.
//!
//! Benchmarks measure clients against this server, so the server must not be the bottleneck.
//! Building a Raven message as a `Value` tree per event held it to ~50k message_created/s.
//! Joining pre-serialised pieces and validating the result as a `RawValue` was still a
//! quarter of its time under a polling burst (perf: `skip_to_escape`,
//! `deserialize_raw_value`), on the same pinned core that answers the polls; serialising the
//! fixed members through serde instead cost as much in key and string escaping
//! (`format_escaped_str_contents`). The pieces are JSON text made by serde_json once, and
//! the only thing put between them is a number, so the text needs no second look: it is
//! written verbatim ([`Verbatim`]), and checked in debug builds (every test run).

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::json;
use serde_json::value::RawValue;

use crate::payloads::StoredMessage;
use crate::scenarios::ScenarioParams;

/// Where the sequence number goes in the template.
const SEQ: &str = "@@seq@@";

/// JSON text that is valid by construction, written into the output as it is.
///
/// serde_json writes a struct by this name, with one field by this name, verbatim: it is how
/// its own `RawValue` serialises (`serde_json/src/raw.rs`, `TOKEN`), and socketioxide writes
/// packets with serde_json. What that skips is `RawValue::from_string`'s full parse of every
/// event. `verbatim_text_is_written_as_is` fails if serde_json ever changes the name.
pub struct Verbatim<'a>(pub &'a str);

const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl Serialize for Verbatim<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut raw = s.serialize_struct(RAW_VALUE_TOKEN, 1)?;
        raw.serialize_field(RAW_VALUE_TOKEN, self.0)?;
        raw.end()
    }
}

/// A burst's event, room and payload template.
pub struct BurstTemplate {
    /// `message_created` to the channel's document room, or `ai_progress` to the user's room.
    pub event: &'static str,
    pub room: String,
    /// The payload's JSON text without its opening brace (the per-event fields are written
    /// in front), cut where the sequence number goes.
    pieces: Vec<String>,
    /// Message names are zero-padded (`b000000042`), like the names Frappe generates.
    padded: bool,
}

impl BurstTemplate {
    pub fn new(p: &ScenarioParams) -> BurstTemplate {
        let pad = "x".repeat(p.pad);
        let chat = p.event == "message_created";
        let v = if chat {
            let html = format!("<p>burst {SEQ} {pad}</p>");
            let mut m = StoredMessage::new(&p.channel, "bob@example.com", &html);
            m.name = format!("b{SEQ}");
            m.created_event()
        } else {
            json!({"type": "working", "step": SEQ, "total": p.n, "message": format!("burst step {pad}"), "task_id": "burst"})
        };
        // `step` is a number in Frappe's payloads: unquote its placeholder.
        let text = v.to_string().replace(&format!("\"{SEQ}\""), SEQ);
        BurstTemplate {
            event: if chat { "message_created" } else { "ai_progress" },
            room: if chat {
                format!("doc:Raven Channel/{}", p.channel)
            } else {
                format!("user:{}", p.user)
            },
            pieces: text[1..].split(SEQ).map(str::to_string).collect(),
            padded: chat,
        }
    }

    /// Event `seq`'s JSON text, emitted at `emitted_at_us`. Only digits go between the
    /// pieces, so the text is as valid as the template serde_json wrote.
    pub fn text(&self, seq: u64, emitted_at_us: u64) -> String {
        use std::fmt::Write;
        let seq_text = if self.padded { format!("{seq:09}") } else { seq.to_string() };
        let size = self.pieces.iter().map(String::len).sum::<usize>()
            + (self.pieces.len() - 1) * seq_text.len()
            + 64;
        let mut text = String::with_capacity(size);
        let _ = write!(text, "{{\"seq\":{seq},\"emitted_at_us\":{emitted_at_us},");
        for (i, piece) in self.pieces.iter().enumerate() {
            if i > 0 {
                text.push_str(&seq_text);
            }
            text.push_str(piece);
        }
        debug_assert!(
            RawValue::from_string(text.clone()).is_ok(),
            "burst template renders valid JSON"
        );
        text
    }

    /// Event `seq` as a checked `RawValue` (tests, and callers that keep the value).
    pub fn render(&self, seq: u64, emitted_at_us: u64) -> Box<RawValue> {
        RawValue::from_string(self.text(seq, emitted_at_us)).expect("valid JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
            channel: "quo\"te".into(),
            pad: 2,
            ..Default::default()
        });
        let a: Value = serde_json::from_str(msg.render(42, 1).get()).unwrap();
        let b: Value = serde_json::from_str(msg.render(43, 2).get()).unwrap();
        assert_eq!((a["seq"].as_u64(), a["emitted_at_us"].as_u64()), (Some(42), Some(1)));
        assert_eq!(a["message_id"], "b000000042");
        assert_eq!(b["message_id"], "b000000043");
        assert_eq!(a["channel_id"], "quo\"te");
        assert_eq!(a["message_details"]["text"], "<p>burst 000000042 xx</p>");
        assert_eq!(a["message_details"]["content"], "burst 000000042 xx");
        assert_eq!(a["message_details"]["name"], "b000000042");
        // Same members as a message built the slow way.
        let slow = StoredMessage::new("general", "bob@example.com", "<p>x</p>").created_event();
        let keys = |v: &Value| {
            v["message_details"].as_object().unwrap().keys().cloned().collect::<Vec<_>>()
        };
        assert_eq!(keys(&a), keys(&slow));
    }

    #[test]
    fn verbatim_text_is_written_as_is() {
        let text = r#"{"a":[1,"x\"y"],"b":null}"#;
        // Inside a tuple, as the burst hands it to socketioxide.
        assert_eq!(serde_json::to_string(&(Verbatim(text),)).unwrap(), format!("[{text}]"));
        assert_eq!(serde_json::value::to_raw_value(&Verbatim(text)).unwrap().get(), text);
    }
}
