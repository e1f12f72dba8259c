//! The REST side of backfill: Frappe's generic `GET /api/resource/Raven Message` (a read
//! with no side effects, unlike Raven's `get_newer_messages`, which marks the channel read).

use serde_json::value::RawValue;
use serde_json::{Value, json};
use url::Url;

use super::{ChannelCursor, Cursor};
use crate::auth::frappe_message;

/// The columns fetched: what `message_created` carries in `message_details` and what the
/// views render. All are fields of the Raven Message doctype.
pub const FIELDS: &[&str] = &[
    "name",
    "owner",
    "creation",
    "modified",
    "modified_by",
    "channel_id",
    "text",
    "content",
    "message_type",
    "file",
    "is_reply",
    "linked_message",
    "is_edited",
    "is_thread",
    "is_forwarded",
    "is_bot_message",
    "bot",
];

/// Why a channel's messages could not be fetched. A refusal concerns that channel only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// 403: the user may not read this channel (or Raven Message at all).
    #[error("not permitted: {0}")]
    Forbidden(String),
    /// 401: the credentials are not accepted for REST.
    #[error("the site refused our credentials: {0}")]
    Unauthorized(String),
    /// 404: no Raven Message doctype (Raven not installed) or no such endpoint.
    #[error("no Raven messages on this site: {0}")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
}

/// A site's Raven Message list, read with a session's headers.
pub struct MessageApi<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a Url,
    pub headers: &'a [(String, String)],
}

/// Messages missed on one channel, oldest first.
#[derive(Debug, Default)]
pub struct Missed {
    pub rows: Vec<Value>,
    /// More were missed than the cap; `rows` are the newest.
    pub capped: bool,
}

fn text(row: &Value, k: &str) -> Option<String> {
    row.get(k).and_then(Value::as_str).map(str::to_string)
}

impl MessageApi<'_> {
    async fn list(
        &self,
        filters: Value,
        fields: &[&str],
        order_by: &str,
        start: usize,
        len: usize,
    ) -> Result<Vec<Value>, FetchError> {
        let mut url = self.base.clone();
        url.set_path("/api/resource/Raven Message");
        url.query_pairs_mut()
            .append_pair("fields", &json!(fields).to_string())
            .append_pair("filters", &filters.to_string())
            .append_pair("order_by", order_by)
            .append_pair("limit_start", &start.to_string())
            .append_pair("limit_page_length", &len.to_string());
        let req = crate::wire::http::with_headers(self.http.get(url), self.headers);
        let resp = req.send().await.map_err(|e| FetchError::Failed(format!("request: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        let msg = || frappe_message(status, &body);
        match status {
            200 => {}
            401 => return Err(FetchError::Unauthorized(msg())),
            403 => return Err(FetchError::Forbidden(msg())),
            404 => return Err(FetchError::NotFound(msg())),
            _ => return Err(FetchError::Failed(msg())),
        }
        let v: Value = serde_json::from_str(&body).map_err(|_| FetchError::Failed(msg()))?;
        match v.get("data") {
            Some(Value::Array(rows)) => Ok(rows.clone()),
            _ => Err(FetchError::Failed(format!("no `data` list in the answer: {}", msg()))),
        }
    }

    /// The channel's newest message, to start a cursor from (one small request).
    pub async fn newest(&self, channel: &str) -> Result<ChannelCursor, FetchError> {
        let rows = self
            .list(
                json!([["channel_id", "=", channel]]),
                &["name", "creation"],
                "creation desc",
                0,
                1,
            )
            .await?;
        Ok(match rows.first() {
            Some(r) => match (text(r, "name"), text(r, "creation")) {
                (Some(message_id), Some(creation)) => ChannelCursor::At(Cursor {
                    message_id,
                    creation,
                    seen_at_ms: crate::events::now_ms(),
                }),
                _ => return Err(FetchError::Failed("a message without name or creation".into())),
            },
            None => ChannelCursor::Empty,
        })
    }

    /// What is newer than `cursor`, oldest first, at most `cap` (the newest ones). Pages
    /// newest first so a cap keeps the most recent; `creation >=` (not `>`) so a message
    /// sharing the cursor's timestamp is not lost (the cursor's own id is skipped).
    pub async fn since(
        &self,
        channel: &str,
        cursor: &ChannelCursor,
        page: usize,
        cap: usize,
    ) -> Result<Missed, FetchError> {
        let page = page.max(1);
        let (filters, skip) = match cursor {
            ChannelCursor::Empty => (json!([["channel_id", "=", channel]]), None),
            ChannelCursor::At(c) => (
                json!([["channel_id", "=", channel], ["creation", ">=", c.creation]]),
                Some(c.message_id.as_str()),
            ),
        };
        let mut rows = Vec::new();
        let mut start = 0;
        // Fetch one more than the cap to know whether it was reached.
        while rows.len() <= cap {
            let batch = self.list(filters.clone(), FIELDS, "creation desc", start, page).await?;
            let full = batch.len() == page;
            start += batch.len();
            rows.extend(batch.into_iter().filter(|r| {
                let id = r.get("name").and_then(Value::as_str);
                id.is_some() && id != skip
            }));
            if !full {
                break;
            }
        }
        let capped = rows.len() > cap;
        rows.truncate(cap);
        rows.reverse();
        Ok(Missed { rows, capped })
    }
}

/// A fetched row as the `message_created` payload Raven would have published for it.
pub fn created_payload(row: &Value) -> Option<Box<RawValue>> {
    let id = row.get("name")?.as_str()?;
    let channel = row.get("channel_id")?.as_str()?;
    let sender = row.get("owner").cloned().unwrap_or(Value::Null);
    let payload = json!({
        "channel_id": channel,
        "message_id": id,
        "sender": sender,
        "message_details": row,
    });
    serde_json::value::to_raw_value(&payload).ok()
}
