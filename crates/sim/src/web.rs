//! The web-process endpoints a realtime client needs, on the same port as `/socket.io/`
//! (as a site behind nginx serves them): login, identity, ping, Raven channels and messages.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::auth;
use crate::payloads::{StoredMessage, random_name};
use crate::state::SimState;

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/api/method/login", post(login))
        .route("/api/method/logout", get(logout).post(logout))
        .route("/api/method/ping", get(ping))
        .route("/api/method/frappe.auth.get_logged_user", get(get_logged_user))
        .route("/api/method/raven.api.raven_mobile.get_client_id", get(get_client_id))
        .route("/api/method/raven.api.raven_channel.get_all_channels", get(get_all_channels))
        .route("/api/method/raven.api.chat_stream.get_messages", get(get_messages))
        .route("/api/method/raven.api.raven_message.send_message", post(send_message))
        .route("/api/method/frappe.realtime.has_permission", get(has_permission))
        .route("/app", get(desk_page))
}

/// The check the realtime server makes before joining a doc room; as slow as configured.
async fn has_permission(
    State(st): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let user = auth::rest_user(&st.config(), &headers).unwrap_or_else(|_| "Guest".into());
    let delay = st.config().permission_delay;
    tokio::time::sleep(delay).await;
    let (dt, name) = (q.get("doctype").cloned().unwrap_or_default(), q.get("name").cloned());
    if st.config().permitted(&user, &dt, name.as_deref().unwrap_or("*")) {
        Json(json!({"message": true})).into_response()
    } else {
        frappe_error(StatusCode::FORBIDDEN, "PermissionError", "Not permitted")
    }
}

/// The desk page: a browser session's CSRF token is in it, as `frappe.csrf_token`.
async fn desk_page(State(st): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    if require_user(&st, &headers).is_err() {
        return (StatusCode::FOUND, [(header::LOCATION, "/login")]).into_response();
    }
    let token = auth::cookie_sid_of(&headers)
        .and_then(|sid| st.config().csrf_tokens.get(&sid).cloned())
        .map(|t| format!("frappe.csrf_token = \"{t}\";"))
        .unwrap_or_default();
    let page =
        format!("<!DOCTYPE html><html><head><script>{token}</script></head><body></body></html>");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// Browser sessions must send their CSRF token on unsafe calls (Frappe's
/// `validate_csrf_token`); token auth and API logins need none.
fn csrf_refused(st: &SimState, headers: &HeaderMap) -> Option<Response> {
    if headers.contains_key(header::AUTHORIZATION) {
        return None;
    }
    let expected =
        auth::cookie_sid_of(headers).and_then(|sid| st.config().csrf_tokens.get(&sid).cloned())?;
    let sent = headers.get("x-frappe-csrf-token").and_then(|v| v.to_str().ok());
    (sent != Some(expected.as_str())).then(|| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "exc_type": "CSRFTokenError",
                "exception": "frappe.exceptions.CSRFTokenError: Invalid Request",
                "_server_messages": "[\"{\\\"message\\\": \\\"Invalid Request\\\"}\"]",
            })),
        )
            .into_response()
    })
}

pub(crate) fn frappe_error(status: StatusCode, exc_type: &str, message: &str) -> Response {
    (status, Json(json!({"exc_type": exc_type, "message": message}))).into_response()
}

/// Form or JSON body, as Frappe accepts both.
fn fields(headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    }
}

async fn login(
    State(st): State<Arc<SimState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = fields(&headers, &body);
    let (Some(usr), Some(pwd)) = (f.get("usr"), f.get("pwd")) else {
        return frappe_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationError",
            "Incomplete login details",
        );
    };
    let full_name = {
        let c = st.config();
        match c.users.get(usr) {
            Some(u) if u.password.as_deref() == Some(pwd.as_str()) => u.full_name.clone(),
            _ => {
                return frappe_error(
                    StatusCode::UNAUTHORIZED,
                    "AuthenticationError",
                    "Invalid login credentials",
                );
            }
        }
    };
    let sid = format!("{}{}", random_name(), random_name());
    st.config.write().expect("config lock").add_session(&sid, usr);
    let cookie = format!("sid={sid}; Max-Age=864000; Path=/; HttpOnly; SameSite=Lax");
    (
        axum::response::AppendHeaders([
            (header::SET_COOKIE, cookie),
            (header::SET_COOKIE, format!("user_id={}; Path=/", usr.replace('@', "%40"))),
        ]),
        Json(json!({"message": "Logged In", "home_page": "/desk", "full_name": full_name})),
    )
        .into_response()
}

async fn logout(State(st): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    if let Some(c) = auth::header_joined(&headers, "cookie")
        && let Some(sid) = c
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == "sid")
            .map(|(_, v)| v.to_string())
    {
        st.config.write().expect("config lock").sessions.remove(&sid);
    }
    Json(json!({})).into_response()
}

async fn ping() -> Json<Value> {
    Json(json!({"message": "pong"}))
}

/// Resolve the caller or answer like Frappe: 401 for a bad token, 403 for Guest on a
/// method that does not allow guests.
// The error is the response itself, returned as is by every handler: boxing it would only
// add a deref at each call.
#[allow(clippy::result_large_err)]
pub(crate) fn require_user(st: &SimState, headers: &HeaderMap) -> Result<String, Response> {
    match auth::rest_user(&st.config(), headers) {
        Err(auth::Unauthorized) => Err(frappe_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationError",
            "Invalid API key or secret",
        )),
        Ok(u) if u == "Guest" => {
            Err(frappe_error(StatusCode::FORBIDDEN, "PermissionError", "Not permitted"))
        }
        Ok(u) => Ok(u),
    }
}

async fn get_logged_user(State(st): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    match require_user(&st, &headers) {
        Ok(u) => Json(json!({"message": u})).into_response(),
        Err(r) => r,
    }
}

async fn get_client_id(State(st): State<Arc<SimState>>) -> Json<Value> {
    let site = st.config().default_site.clone();
    Json(json!({"message": {"client_id": "sockeye-sim", "sitename": site}}))
}

async fn get_all_channels(State(st): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    let user = match require_user(&st, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = st.config();
    let channels: Vec<Value> = c
        .channels
        .iter()
        .filter(|ch| c.permitted(&user, "Raven Channel", &ch.name))
        .map(|ch| serde_json::to_value(ch).expect("channel serialises"))
        .collect();
    Json(json!({"message": {"channels": channels, "dm_channels": []}})).into_response()
}

async fn get_messages(
    State(st): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let user = match require_user(&st, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(channel) = q.get("channel_id") else {
        return frappe_error(
            StatusCode::EXPECTATION_FAILED,
            "ValidationError",
            "channel_id is required",
        );
    };
    if !st.config().permitted(&user, "Raven Channel", channel) {
        return frappe_error(StatusCode::FORBIDDEN, "PermissionError", "Not permitted");
    }
    let limit = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(20usize).min(500);
    let messages: Vec<Value> =
        st.recent_messages(channel, limit).iter().map(StoredMessage::details).collect();
    Json(json!({"message": {"messages": messages, "has_old_messages": false}})).into_response()
}

async fn send_message(
    State(st): State<Arc<SimState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let user = match require_user(&st, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Some(refused) = csrf_refused(&st, &headers) {
        return refused;
    }
    let f = fields(&headers, &body);
    let (Some(channel), Some(text)) = (f.get("channel_id"), f.get("text")) else {
        return frappe_error(
            StatusCode::EXPECTATION_FAILED,
            "ValidationError",
            "channel_id and text are required",
        );
    };
    if !st.config().permitted(&user, "Raven Channel", channel) {
        return frappe_error(StatusCode::FORBIDDEN, "PermissionError", "Not permitted");
    }
    let mut m = StoredMessage::new(channel, &user, text);
    m.is_reply = u8::from(f.get("is_reply").is_some_and(|v| v == "1" || v == "true"));
    m.linked_message = f.get("linked_message").cloned().filter(|s| !s.is_empty());
    let site = st.config().default_site.clone();
    let details = m.details();
    st.store_message(m.clone());
    publish_message(&st, &site, &m).await;
    Json(json!({"message": details})).into_response()
}

/// What `RavenMessage.on_update` publishes for a new text message.
pub async fn publish_message(st: &SimState, site: &str, m: &StoredMessage) -> usize {
    let room = format!("doc:Raven Channel/{}", m.channel_id);
    let n = st.emit(Some(site), Some(&room), "message_created", &m.created_event()).await;
    st.emit(
        Some(site),
        Some("doctype:Raven User"),
        "raven:unread_channel_count_updated",
        &m.unread_event(),
    )
    .await;
    n
}
