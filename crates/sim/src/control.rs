//! The control API under `/__sim/`: publish, inspect, change identities, run scenarios, set
//! faults. Nothing a Frappe client would probe lives under this prefix.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::publish::{self, PublishRequest, RawPublish};
use crate::scenarios::{self, ScenarioParams};
use crate::state::SimState;

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/__sim/info", get(info))
        .route("/__sim/publish", post(publish))
        .route("/__sim/sockets", get(sockets))
        .route("/__sim/sessions", post(sessions))
        .route("/__sim/tokens", post(tokens))
        .route("/__sim/disconnect", post(disconnect))
        .route("/__sim/scenario/{name}", post(scenario))
        .route("/__sim/burst", post(burst_now))
        .route("/__sim/faults", get(get_faults).post(set_faults))
        .route("/__sim/restart", post(restart))
        .route("/__sim/message", post(message))
        .route("/__sim/progress", post(progress))
        .route("/__sim/stats", get(stats))
}

fn bad_request(msg: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg.to_string()}))).into_response()
}

async fn info(State(st): State<Arc<SimState>>) -> Json<Value> {
    let c = st.config();
    Json(json!({
        "mode": c.mode, "sites": c.sites, "default_site": c.default_site,
        "origins": *st.own_origins.read().expect("origins lock"),
        "sessions": c.sessions.keys().collect::<Vec<_>>(),
        "users": c.users.keys().collect::<Vec<_>>(),
        "channels": c.channels.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
    }))
}

/// `publish_realtime` fields, or the raw Redis `events` message when `namespace` is present.
async fn publish(State(st): State<Arc<SimState>>, Json(body): Json<Value>) -> Response {
    if body.get("namespace").is_some() {
        let raw: RawPublish = match serde_json::from_value(body) {
            Ok(r) => r,
            Err(e) => return bad_request(format!("bad raw publish: {e}")),
        };
        let room = raw.room.filter(|r| !r.is_empty());
        // Like realtime/index.js: no room means every site namespace, whatever `namespace` says.
        let site = room.as_ref().and(raw.namespace.as_deref());
        let n = st.emit(site, room.as_deref(), &raw.event, &raw.message).await;
        return Json(json!({"room": room, "delivered_to": n})).into_response();
    }
    let req: PublishRequest = match serde_json::from_value(body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("bad publish body: {e}")),
    };
    let resolved = match publish::resolve(&req) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let site = req.site.clone().unwrap_or_else(|| st.config().default_site.clone());
    if let Some(ms) = req.delay_ms {
        let st2 = st.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            st2.emit(Some(&site), resolved.room.as_deref(), &resolved.event, &resolved.message)
                .await;
        });
        return Json(json!({"room": req.room, "delivered_to": null, "delayed_ms": ms}))
            .into_response();
    }
    let n =
        st.emit(Some(&site), resolved.room.as_deref(), &resolved.event, &resolved.message).await;
    Json(json!({"room": resolved.room, "delivered_to": n})).into_response()
}

async fn sockets(State(st): State<Arc<SimState>>) -> Json<Value> {
    Json(json!(st.socket_infos()))
}

#[derive(Deserialize)]
struct SessionChange {
    sid: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    expire: bool,
}

/// Add a sid for a user, or expire one (its next connect becomes Guest).
async fn sessions(State(st): State<Arc<SimState>>, Json(c): Json<SessionChange>) -> Response {
    let mut config = st.config.write().expect("config lock");
    if c.expire {
        let existed = config.sessions.remove(&c.sid).is_some();
        return Json(json!({"expired": existed})).into_response();
    }
    let Some(user) = c.user else { return bad_request("user is required to add a session") };
    if !config.users.contains_key(&user) {
        return bad_request(format!("unknown user {user:?}"));
    }
    config.add_session(&c.sid, &user);
    Json(json!({"added": c.sid})).into_response()
}

#[derive(Deserialize)]
struct TokenChange {
    /// `key:secret` for API tokens, the bare token for Bearer.
    token: String,
    #[serde(default)]
    bearer: bool,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    revoke: bool,
}

async fn tokens(State(st): State<Arc<SimState>>, Json(c): Json<TokenChange>) -> Response {
    let mut config = st.config.write().expect("config lock");
    let map = if c.bearer { &mut config.bearer_tokens } else { &mut config.api_tokens };
    if c.revoke {
        let existed = map.remove(&c.token).is_some();
        return Json(json!({"revoked": existed})).into_response();
    }
    let Some(user) = c.user else { return bad_request("user is required to add a token") };
    map.insert(c.token, user);
    Json(json!({"added": true})).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DisconnectRequest {
    user: Option<String>,
    socket: Option<String>,
    /// `transport close` (TCP dropped, clients reconnect) or `server disconnect` (a
    /// DISCONNECT packet: `io server disconnect`, clients stay down).
    reason: Option<String>,
}

async fn disconnect(State(st): State<Arc<SimState>>, Json(r): Json<DisconnectRequest>) -> Response {
    let reason = r.reason.as_deref().unwrap_or("transport close");
    if reason == "transport close" && r.user.is_none() && r.socket.is_none() {
        let n = st.all_sockets().len();
        st.hub.kill_sockets();
        return Json(json!({"dropped": n, "reason": reason})).into_response();
    }
    if reason != "server disconnect" && reason != "transport close" {
        return bad_request(format!(
            "unknown reason {reason:?}: use \"transport close\" or \"server disconnect\""
        ));
    }
    let mut n = 0;
    for s in st.all_sockets() {
        let id = s.extensions.get::<crate::auth::Identity>();
        let user_match =
            r.user.as_ref().is_none_or(|u| id.as_ref().and_then(|i| i.user.as_ref()) == Some(u));
        let socket_match = r.socket.as_ref().is_none_or(|sid| &s.id.to_string() == sid);
        if user_match && socket_match {
            n += 1;
            // A single socket's TCP cannot be singled out under polling, so a targeted drop
            // is delivered as a server disconnect.
            let _ = s.disconnect();
        }
    }
    Json(json!({"dropped": n, "reason": "server disconnect"})).into_response()
}

async fn scenario(
    State(st): State<Arc<SimState>>,
    Path(name): Path<String>,
    body: Option<Json<ScenarioParams>>,
) -> Response {
    let params = body.map(|Json(p)| p).unwrap_or_default();
    match scenarios::spawn(&st, &name, params) {
        Ok(()) => Json(json!({"started": name})).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()}))).into_response(),
    }
}

/// Run a burst to completion and say how fast the server emitted it (benchmarks use this to
/// show the server is not the bottleneck).
async fn burst_now(State(st): State<Arc<SimState>>, Json(p): Json<ScenarioParams>) -> Json<Value> {
    let started = std::time::Instant::now();
    let n = p.n;
    let delivered = scenarios::burst(st, p).await;
    let secs = started.elapsed().as_secs_f64();
    Json(
        json!({"events": n, "delivered": delivered, "elapsed_ms": secs * 1000.0, "emit_rate": n as f64 / secs.max(1e-9)}),
    )
}

async fn get_faults(State(st): State<Arc<SimState>>) -> Json<Faults> {
    Json(st.faults())
}

#[derive(Deserialize)]
struct FaultChange {
    /// `K=V` strings; `reset: true` first returns to a healthy server.
    #[serde(default)]
    set: Vec<String>,
    #[serde(default)]
    reset: bool,
}

async fn set_faults(State(st): State<Arc<SimState>>, Json(c): Json<FaultChange>) -> Response {
    match st.update_faults(c.reset, &c.set) {
        Ok(f) => Json(json!(f)).into_response(),
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RestartRequest {
    down_ms: u64,
}

/// Drop every connection and every socket (rooms and subscriptions with them), refuse
/// connections for `down_ms`, then serve again: what a `supervisorctl restart` looks like.
async fn restart(State(st): State<Arc<SimState>>, body: Option<Json<RestartRequest>>) -> Response {
    let down = body.map(|Json(r)| r.down_ms).unwrap_or(0);
    let _ = st.restart_tx.send(Duration::from_millis(down));
    Json(json!({"restarting": true, "down_ms": down})).into_response()
}

#[derive(Deserialize)]
struct NewMessage {
    channel_id: String,
    text: String,
    #[serde(default)]
    sender: Option<String>,
}

/// A Raven message as the site would create it: stored (so REST lists it) and published to
/// the channel's room (to whoever is connected; nobody, while realtime is down).
async fn message(State(st): State<Arc<SimState>>, Json(m): Json<NewMessage>) -> Response {
    let sender = m.sender.unwrap_or_else(|| crate::config::DEFAULT_USER.to_string());
    let stored = crate::payloads::StoredMessage::new(&m.channel_id, &sender, &m.text);
    let site = st.config().default_site.clone();
    // Stored first: a client that hears the event and asks REST at once finds it.
    st.store_message(stored.clone());
    let n = crate::web::publish_message(&st, &site, &stored).await;
    Json(json!({"message_id": stored.name, "creation": stored.creation, "delivered_to": n}))
        .into_response()
}

#[derive(Deserialize)]
struct NewProgress {
    /// The run (published as `task_id`).
    task_id: String,
    /// The update without `task_id`/`seq`/`ts` (added, as for scripted runs).
    update: Value,
    #[serde(default)]
    user: Option<String>,
}

/// The next update of an agent run: recorded (the progress endpoint lists it) and published
/// to the user's room (to whoever is connected; nobody, while realtime is down).
async fn progress(State(st): State<Arc<SimState>>, Json(p): Json<NewProgress>) -> Response {
    if !p.update.is_object() {
        return bad_request(
            "update must be an object such as {\"type\": \"thinking\", \"message\": \"…\"}",
        );
    }
    let user = p.user.unwrap_or_else(|| crate::config::DEFAULT_USER.to_string());
    let (payload, n) = crate::progress::publish_progress(&st, &user, &p.task_id, p.update).await;
    Json(json!({"task_id": p.task_id, "seq": payload["seq"], "delivered_to": n})).into_response()
}

/// Request counters a well-behaved client keeps low.
async fn stats(State(st): State<Arc<SimState>>) -> Json<Value> {
    let polls = st.progress_polls.load(std::sync::atomic::Ordering::Relaxed);
    Json(json!({"progress_polls": polls}))
}
