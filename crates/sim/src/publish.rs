//! `frappe.publish_realtime` semantics: which event name and room a publish resolves to.
//!
//! The resolution is pure (unit tested against `frappe/realtime.py`'s rules); the emitting is
//! done by [`crate::state::SimState::emit`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of `POST /__sim/publish`: `publish_realtime`'s fields plus the site.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PublishRequest {
    pub event: Option<String>,
    pub message: Value,
    pub room: Option<String>,
    pub user: Option<String>,
    pub doctype: Option<String>,
    pub docname: Option<String>,
    pub task_id: Option<String>,
    pub site: Option<String>,
    /// Stand-in for `after_commit`: publish after this many milliseconds.
    pub delay_ms: Option<u64>,
}

/// Where a publish goes. `room: None` means every socket of every site namespace (the Node
/// server's behaviour for a Redis message without a room).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    pub event: String,
    pub room: Option<String>,
    pub message: Value,
}

/// A publish that Frappe itself would refuse.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PublishError {
    #[error("msgprint needs a user (Frappe would use the session user; the simulator has none)")]
    MsgprintWithoutUser,
    #[error("list_update needs a doctype (field doctype or message.doctype)")]
    ListUpdateWithoutDoctype,
    #[error("docinfo_update needs doctype and docname")]
    DocinfoWithoutDoc,
}

/// Resolve event and room exactly as `publish_realtime` does.
pub fn resolve(req: &PublishRequest) -> Result<Resolved, PublishError> {
    let mut message = req.message.clone();
    let event = match &req.event {
        Some(e) => e.clone(),
        None if req.task_id.is_some() => "task_progress".into(),
        None => "global".into(),
    };
    let mut room = req.room.clone().filter(|r| !r.is_empty());
    if room.is_none() {
        match event.as_str() {
            "msgprint" if req.user.is_none() => return Err(PublishError::MsgprintWithoutUser),
            "list_update" => {
                let doctype = req
                    .doctype
                    .clone()
                    .or_else(|| message.get("doctype").and_then(Value::as_str).map(String::from))
                    .ok_or(PublishError::ListUpdateWithoutDoctype)?;
                room = Some(format!("doctype:{doctype}"));
            }
            "docinfo_update" => match (&req.doctype, &req.docname) {
                (Some(dt), Some(dn)) => room = Some(format!("doc:{dt}/{dn}")),
                _ => return Err(PublishError::DocinfoWithoutDoc),
            },
            _ => {}
        }
    }
    if room.is_none() {
        room = Some(if let Some(task) = &req.task_id {
            if let Value::Object(map) = &mut message {
                map.entry("task_id").or_insert_with(|| Value::String(task.clone()));
            }
            format!("task_progress:{task}")
        } else if let Some(user) = &req.user {
            format!("user:{user}")
        } else if let (Some(dt), Some(dn)) = (&req.doctype, &req.docname) {
            format!("doc:{dt}/{dn}")
        } else {
            "all".into()
        });
    }
    Ok(Resolved { event, room, message })
}

/// The raw Redis `events` contract: `{event, message, room|null, namespace}`; a null or empty
/// room goes to every site.
#[derive(Debug, Clone, Deserialize)]
pub struct RawPublish {
    pub event: String,
    #[serde(default)]
    pub message: Value,
    #[serde(default)]
    pub room: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> PublishRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn rules_in_frappe_order() {
        let r = resolve(&req(
            json!({"event":"ai_progress","message":{"type":"thinking"},"user":"u@x"}),
        ))
        .unwrap();
        assert_eq!(r.room.as_deref(), Some("user:u@x"));
        let r = resolve(&req(
            json!({"event":"message_created","doctype":"Raven Channel","docname":"general"}),
        ))
        .unwrap();
        assert_eq!(r.room.as_deref(), Some("doc:Raven Channel/general"));
        let r = resolve(&req(json!({"message":{"p":1},"task_id":"t1","user":"u@x"}))).unwrap();
        assert_eq!(
            (r.event.as_str(), r.room.as_deref()),
            ("task_progress", Some("task_progress:t1"))
        );
        assert_eq!(r.message["task_id"], "t1");
        let r = resolve(&req(json!({"event":"x"}))).unwrap();
        assert_eq!((r.event.as_str(), r.room.as_deref()), ("x", Some("all")));
        assert_eq!(resolve(&req(json!({}))).unwrap().event, "global");
        let r =
            resolve(&req(json!({"event":"list_update","message":{"doctype":"ToDo"},"user":"u@x"})))
                .unwrap();
        assert_eq!(r.room.as_deref(), Some("doctype:ToDo"));
        let r = resolve(&req(json!({"event":"docinfo_update","doctype":"ToDo","docname":"1"})))
            .unwrap();
        assert_eq!(r.room.as_deref(), Some("doc:ToDo/1"));
        let r = resolve(&req(json!({"event":"e","room":"website","user":"u@x"}))).unwrap();
        assert_eq!(r.room.as_deref(), Some("website"), "an explicit room wins");
    }

    #[test]
    fn refusals_are_named() {
        assert_eq!(
            resolve(&req(json!({"event":"msgprint"}))),
            Err(PublishError::MsgprintWithoutUser)
        );
        assert_eq!(
            resolve(&req(json!({"event":"list_update"}))),
            Err(PublishError::ListUpdateWithoutDoctype)
        );
    }
}
