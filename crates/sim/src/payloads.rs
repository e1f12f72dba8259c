//! Payload builders in the exact shapes the real servers deliver (spec §8).
//!
//! `serde_json::Map` is a `BTreeMap` here (no `preserve_order`), so keys come out sorted like
//! Frappe's `as_json(sort_keys=True)`.

use rand::Rng;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Frappe's datetime text: `YYYY-MM-DD HH:MM:SS.ffffff`.
pub fn frappe_now() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]"
        ))
        .expect("static format")
}

/// ISO-8601 timestamp, as the agent server and our `ai_progress` extras use.
pub fn iso_now() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).expect("rfc3339")
}

/// Raven message names are random 10-character hashes.
pub fn random_name() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..10).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// Plain text of a TipTap HTML body, the way Raven fills `content`.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    decode_entities(&out).trim().to_string()
}

/// HTML character references: the named ones TipTap emits and numeric ones (`&#128077;`).
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &tail[1..e];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "amp" => Some('&'),
                "nbsp" => Some('\u{a0}'),
                n if n.starts_with("#x") || n.starts_with("#X") => {
                    u32::from_str_radix(&n[2..], 16).ok().and_then(char::from_u32)
                }
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &tail[e + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A stored Raven message; `message_details` of `message_created` is built from it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredMessage {
    pub name: String,
    pub channel_id: String,
    pub owner: String,
    pub text: String,
    pub content: String,
    pub is_reply: u8,
    pub linked_message: Option<String>,
    pub is_bot_message: u8,
    pub bot: Option<String>,
    pub creation: String,
}

impl StoredMessage {
    pub fn new(channel_id: &str, owner: &str, html: &str) -> Self {
        StoredMessage {
            name: random_name(),
            channel_id: channel_id.into(),
            owner: owner.into(),
            text: html.into(),
            content: html_to_text(html),
            is_reply: 0,
            linked_message: None,
            is_bot_message: 0,
            bot: None,
            creation: frappe_now(),
        }
    }

    /// `message_details` exactly as `RavenMessage.on_update` publishes it.
    pub fn details(&self) -> Value {
        json!({
            "name": self.name, "channel_id": self.channel_id, "text": self.text,
            "content": self.content, "message_type": "Text", "file": null,
            "file_thumbnail": null, "thumbnail_width": null, "thumbnail_height": null,
            "image_width": null, "image_height": null, "blurhash": null, "poll_id": null,
            "is_edited": 0, "is_thread": 0, "is_forwarded": 0, "is_reply": self.is_reply,
            "linked_message": self.linked_message, "replied_message_details": null,
            "link_doctype": null, "link_document": null, "message_reactions": null,
            "is_bot_message": self.is_bot_message, "bot": self.bot, "hide_link_preview": 0,
            "owner": self.owner, "modified_by": self.owner,
            "creation": self.creation, "modified": self.creation,
        })
    }

    /// The `message_created` payload.
    pub fn created_event(&self) -> Value {
        json!({
            "channel_id": self.channel_id,
            "sender": self.owner,
            "message_id": self.name,
            "message_details": self.details(),
        })
    }

    /// `raven:unread_channel_count_updated` for a normal channel (room `doctype:Raven User`).
    pub fn unread_event(&self) -> Value {
        json!({
            "channel_id": self.channel_id, "play_sound": false, "sent_by": self.owner,
            "is_dm_channel": false, "is_thread": 0, "last_message_timestamp": self.creation,
        })
    }
}

/// One `ai_progress` message with the recommended extras (`task_id`, `seq`, `ts`).
pub fn ai_progress(task_id: &str, seq: u64, body: Value) -> Value {
    let mut v = body;
    if let Value::Object(map) = &mut v {
        map.insert("task_id".into(), task_id.into());
        map.insert("seq".into(), seq.into());
        map.insert("ts".into(), iso_now().into());
    }
    v
}

/// An `agent:*` event of the FastAPI + python-socketio agent server (camelCase `workflowId`).
pub fn agent_event(workflow_id: &str, kind: &str, data: Value) -> Value {
    json!({"workflowId": workflow_id, "type": kind, "data": data, "timestamp": iso_now()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_created_has_the_real_shape() {
        let m =
            StoredMessage::new("general", "test@example.com", "<p>Hello &amp; <b>welcome</b></p>");
        let v = m.created_event();
        assert_eq!(v["message_id"], v["message_details"]["name"]);
        assert_eq!(v["message_details"]["content"], "Hello & welcome");
        assert_eq!(
            html_to_text("<p>ok &#128077; &#x41;&amp;&lt;b&gt; & done</p>"),
            "ok 👍 A&<b> & done"
        );
        assert_eq!(v["message_details"]["is_edited"], 0);
        assert_eq!(
            v["message_details"].as_object().unwrap().len(),
            29,
            "the 29 fields of the real example"
        );
        assert_eq!(m.name.len(), 10);
        assert_eq!(m.creation.len(), "2026-06-18 10:41:18.123456".len());
    }
}
