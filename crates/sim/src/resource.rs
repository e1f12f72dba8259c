//! Frappe's generic list API for the simulated site's Raven messages:
//! `GET /api/resource/Raven Message?fields=[…]&filters=[…]&order_by=…&limit_start=…&limit_page_length=…`
//! answering `{"data": [...]}` like `frappe.client.get_list`, and a 403 `PermissionError` when
//! the filters name a channel the user may not read.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::state::SimState;
use crate::web::{frappe_error, require_user};

pub fn routes() -> Router<Arc<SimState>> {
    // The path arrives percent-encoded (`Raven%20Message`); the extractor decodes it.
    Router::new().route("/api/resource/{doctype}", get(list_messages))
}

/// One filter condition: `[field, op, value]` or `[doctype, field, op, value]`.
struct Cond {
    field: String,
    op: String,
    value: Value,
}

/// Frappe accepts a list of conditions or an object `{field: value}` (equality, or
/// `{field: [op, value]}`).
fn parse_filters(text: Option<&String>) -> Result<Vec<Cond>, String> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let v: Value = serde_json::from_str(text).map_err(|e| format!("filters: {e}"))?;
    let mut out = Vec::new();
    match v {
        Value::Array(list) => {
            for c in list {
                let parts = c.as_array().ok_or("filters: each condition is a list")?;
                let parts = if parts.len() == 4 { &parts[1..] } else { &parts[..] };
                let [field, op, value] = parts else {
                    return Err("filters: [field, operator, value]".into());
                };
                out.push(Cond {
                    field: field.as_str().ok_or("filters: field name")?.to_string(),
                    op: op.as_str().ok_or("filters: operator")?.to_lowercase(),
                    value: value.clone(),
                });
            }
        }
        Value::Object(map) => {
            for (field, value) in map {
                let (op, value) = match value.as_array().map(Vec::as_slice) {
                    Some([op, v]) if op.is_string() => {
                        (op.as_str().unwrap_or("=").to_lowercase(), v.clone())
                    }
                    _ => ("=".to_string(), value),
                };
                out.push(Cond { field, op, value });
            }
        }
        _ => return Err("filters: a list or an object".into()),
    }
    Ok(out)
}

fn as_text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

fn matches(row: &Map<String, Value>, c: &Cond) -> bool {
    let have = row.get(&c.field).map(as_text).unwrap_or_default();
    let want = as_text(&c.value);
    // Frappe compares datetimes and names as the database does; the formats here sort as text.
    match c.op.as_str() {
        "=" => have == want,
        "!=" => have != want,
        ">" => have > want,
        ">=" => have >= want,
        "<" => have < want,
        "<=" => have <= want,
        "in" => c.value.as_array().is_some_and(|l| l.iter().any(|v| as_text(v) == have)),
        _ => false,
    }
}

async fn list_messages(
    State(st): State<Arc<SimState>>,
    Path(doctype): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if doctype != "Raven Message" {
        return frappe_error(
            StatusCode::NOT_FOUND,
            "DoesNotExistError",
            &format!("DocType {doctype} not found"),
        );
    }
    let user = match require_user(&st, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let bad = |m: String| frappe_error(StatusCode::EXPECTATION_FAILED, "ValidationError", &m);
    let conds = match parse_filters(q.get("filters")) {
        Ok(c) => c,
        Err(e) => return bad(e),
    };
    let fields: Vec<String> = match q.get("fields") {
        Some(f) => match serde_json::from_str(f) {
            Ok(v) => v,
            Err(e) => return bad(format!("fields: {e}")),
        },
        None => vec!["name".into()],
    };
    let config = st.config();
    for c in conds.iter().filter(|c| c.field == "channel_id" && c.op == "=") {
        let channel = as_text(&c.value);
        if !config.permitted(&user, "Raven Channel", &channel) {
            return frappe_error(
                StatusCode::FORBIDDEN,
                "PermissionError",
                &format!("No permission for Raven Channel {channel}"),
            );
        }
    }
    let order = q.get("order_by").map(String::as_str).unwrap_or("creation desc");
    let (key, desc) = match order.split_whitespace().collect::<Vec<_>>()[..] {
        [k] => (k.to_string(), true),
        [k, dir] => (k.to_string(), dir.eq_ignore_ascii_case("desc")),
        _ => return bad(format!("order_by: {order}")),
    };
    let key = key.trim_start_matches("`tabRaven Message`.").trim_matches('`').to_string();
    let start: usize = q.get("limit_start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let len: usize = q.get("limit_page_length").and_then(|v| v.parse().ok()).unwrap_or(20);
    let mut rows: Vec<Map<String, Value>> = st
        .messages
        .lock()
        .expect("messages lock")
        .iter()
        .filter(|m| config.permitted(&user, "Raven Channel", &m.channel_id))
        .filter_map(|m| match m.details() {
            Value::Object(o) => Some(o),
            _ => None,
        })
        .filter(|row| conds.iter().all(|c| matches(row, c)))
        .collect();
    drop(config);
    // Stable: messages with the same key keep the order they were stored in.
    rows.sort_by_key(|r| r.get(&key).map(as_text).unwrap_or_default());
    if desc {
        rows.reverse();
    }
    let take = if len == 0 { usize::MAX } else { len };
    let all = fields.iter().any(|f| f == "*");
    let data: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(take)
        .map(|row| {
            if all {
                return Value::Object(row);
            }
            let picked: Map<String, Value> = fields
                .iter()
                .map(|f| (f.clone(), row.get(f).cloned().unwrap_or(Value::Null)))
                .collect();
            Value::Object(picked)
        })
        .collect();
    Json(json!({ "data": data })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_in_both_frappe_forms() {
        let l = parse_filters(Some(
            &r#"[["channel_id","=","general"],["Raven Message","creation",">=","2026"]]"#
                .to_string(),
        ))
        .unwrap();
        assert_eq!((l[1].field.as_str(), l[1].op.as_str()), ("creation", ">="));
        let o =
            parse_filters(Some(&r#"{"channel_id":"general","creation":[">","x"]}"#.to_string()))
                .unwrap();
        assert_eq!(o.len(), 2);
        let row: Map<String, Value> =
            serde_json::from_str(r#"{"channel_id":"general","creation":"2026-01-02"}"#).unwrap();
        assert!(l.iter().all(|c| matches(&row, c)));
        assert!(parse_filters(Some(&"[[1]]".to_string())).is_err());
    }
}
