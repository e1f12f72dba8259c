//! Namespaces, the connect middleware and the client → server event handlers (spec §4–§5).
//!
//! Refused subscriptions are silent on purpose: the real server sends no ack and no error,
//! and clients must be written for that.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use socketioxide::extract::{Data, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;

use crate::auth::{self, Identity};
use crate::config::Mode;
use crate::jwt;
use crate::state::SimState;

/// Rooms of `open_doc:` documents this socket has open, to re-announce viewers on disconnect.
#[derive(Clone, Default)]
struct OpenDocs(Arc<std::sync::Mutex<BTreeSet<(String, String)>>>);

/// A positional argument as text (Frappe passes doctypes, names and ids as strings).
fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

/// Two positional arguments: `emit("doc_subscribe", doctype, docname)`. socketioxide only
/// spreads several arguments into a tuple type; a plain `Value` would get the first one.
fn pair((a, b): (Value, Value)) -> [String; 2] {
    [text(&a), text(&b)]
}

/// The first positional argument of one-argument events.
fn args(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        other => vec![text(other)],
    }
}

/// Register the namespaces for the configured mode.
///
/// A socket's rooms and event handlers are set up in the connect middleware, which runs
/// before socketioxide answers CONNECT: its connect handler is spawned as a task after the
/// answer, so a client's first emits (`doc_subscribe`, `ping`) could arrive before handlers
/// set up there exist and be dropped, which the real server (handlers registered
/// synchronously in `io.on("connection")`) never does.
pub fn register(state: &Arc<SimState>) {
    let io = &state.io;
    if state.config().mode == Mode::Jwt {
        let st = state.clone();
        io.ns(
            "/",
            (async |_: SocketRef| {}).with(move |s: SocketRef, TryData(auth): TryData<Value>| {
                let st = st.clone();
                async move { jwt_middleware(&st, &s, auth.ok()).await }
            }),
        );
        return;
    }
    // The built-in main namespace: connects without any check and hears nothing.
    io.ns("/", async |_: SocketRef| {});
    let st = state.clone();
    io.dyn_ns(
        "/{*site}",
        (async |_: SocketRef| {}).with(move |s: SocketRef| {
            let st = st.clone();
            async move { frappe_middleware(&st, &s).await }
        }),
    )
    .expect("static namespace pattern");
}

async fn frappe_middleware(state: &Arc<SimState>, s: &SocketRef) -> Result<(), String> {
    let faults = state.faults();
    if faults.auth_latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.auth_latency_ms)).await;
    }
    let headers = &s.req_parts().headers;
    let site_guess = auth::resolve_site(headers, &state.config().default_site).unwrap_or_default();
    let origins = state.web_origins(&site_guess);
    let identity =
        auth::authenticate(&state.config(), headers, s.ns(), &origins, faults.secret_mismatch)?;
    set_up_site_socket(s, state, &identity);
    s.extensions.insert(identity);
    Ok(())
}

async fn jwt_middleware(
    state: &SimState,
    s: &SocketRef,
    auth: Option<Value>,
) -> Result<(), String> {
    let secret = state.config().jwt_secret.clone();
    let user = jwt::check_handshake(auth.as_ref(), &secret)?;
    s.join(format!("user:{user}"));
    s.extensions.insert(Identity { site: String::new(), user: Some(user), user_type: None });
    Ok(())
}

/// Rooms and handlers of an accepted site socket (before its CONNECT is answered).
fn set_up_site_socket(s: &SocketRef, state: &Arc<SimState>, identity: &Identity) {
    let Some(user) = identity.user.clone() else {
        // Secret mismatch: connected, but no rooms and no handlers.
        return;
    };
    for room in auth::initial_rooms(identity) {
        s.join(room);
    }
    let (frappe, raven) = {
        let c = state.config();
        (c.has_app("frappe"), c.has_app("raven") && c.mode != Mode::V15)
    };
    if frappe {
        register_frappe(s, state, &user);
    }
    if raven {
        register_raven(s, state, &user);
    }
}

/// The realtime server's call to the web app's `has_permission`: it takes the configured
/// time, so the room is joined after the emit, as on the real server.
async fn permission_call(st: &SimState, user: &str, doctype: &str, name: &str) -> bool {
    let delay = st.config().permission_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    st.config().permitted(user, doctype, name)
}

fn register_frappe(s: &SocketRef, state: &Arc<SimState>, user: &str) {
    let open_docs = OpenDocs::default();
    let (st, first) = (state.clone(), Arc::new(std::sync::atomic::AtomicBool::new(true)));
    s.on("ping", async move |s: SocketRef| {
        let delay = st.faults().first_pong_delay_ms;
        if delay > 0 && first.swap(false, std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        // An empty array is an empty tuple to socketioxide: `["pong"]`, no arguments, as Node sends.
        let _ = s.emit("pong", &[(); 0]);
    });
    let (st, u) = (state.clone(), user.to_string());
    s.on("doctype_subscribe", async move |s: SocketRef, Data(v): Data<Value>| {
        if let Some(dt) = args(&v).first()
            && permission_call(&st, &u, dt, "*").await
        {
            s.join(format!("doctype:{dt}"));
        }
    });
    s.on("doctype_unsubscribe", async |s: SocketRef, Data(v): Data<Value>| {
        if let Some(dt) = args(&v).first() {
            s.leave(format!("doctype:{dt}"));
        }
    });
    let (st, u) = (state.clone(), user.to_string());
    s.on("doc_subscribe", async move |s: SocketRef, Data(v): Data<(Value, Value)>| {
        let [dt, dn] = pair(v);
        if permission_call(&st, &u, &dt, &dn).await {
            s.join(format!("doc:{dt}/{dn}"));
        }
    });
    s.on("doc_unsubscribe", async |s: SocketRef, Data(v): Data<(Value, Value)>| {
        let [dt, dn] = &pair(v);
        {
            s.leave(format!("doc:{dt}/{dn}"));
        }
    });
    for name in ["task_subscribe", "progress_subscribe"] {
        s.on(name, async |s: SocketRef, Data(v): Data<Value>| {
            if let Some(id) = args(&v).first() {
                s.join(format!("task_progress:{id}"));
            }
        });
    }
    s.on("task_unsubscribe", async |s: SocketRef, Data(v): Data<Value>| {
        if let Some(id) = args(&v).first() {
            s.leave(format!("task_progress:{id}"));
        }
    });
    let (st, u, docs) = (state.clone(), user.to_string(), open_docs.clone());
    s.on("doc_open", async move |s: SocketRef, Data(v): Data<(Value, Value)>| {
        let [dt, dn] = pair(v);
        if permission_call(&st, &u, &dt, &dn).await {
            s.join(format!("open_doc:{dt}/{dn}"));
            docs.0.lock().expect("open docs").insert((dt.clone(), dn.clone()));
            announce_viewers(&s, &u, &dt, &dn).await;
        }
    });
    let (u, docs) = (user.to_string(), open_docs.clone());
    s.on("doc_close", async move |s: SocketRef, Data(v): Data<(Value, Value)>| {
        let [dt, dn] = &pair(v);
        {
            s.leave(format!("open_doc:{dt}/{dn}"));
            docs.0.lock().expect("open docs").remove(&(dt.clone(), dn.clone()));
            announce_viewers(&s, &u, dt, dn).await;
        }
    });
    let u = user.to_string();
    s.on_disconnect(async move |s: SocketRef| {
        let docs: Vec<_> = open_docs.0.lock().expect("open docs").iter().cloned().collect();
        for (dt, dn) in docs {
            announce_viewers(&s, &u, &dt, &dn).await;
        }
    });
}

/// Distinct users of the sockets in `room`, excluding `except_socket`.
fn users_in(s: &SocketRef, room: &str, except_socket: Option<&SocketRef>) -> Vec<String> {
    let mut users: BTreeSet<String> = BTreeSet::new();
    for other in s.within(room.to_string()).sockets() {
        if except_socket.is_some_and(|e| e.id == other.id) {
            continue;
        }
        if let Some(Identity { user: Some(u), .. }) = other.extensions.get::<Identity>() {
            users.insert(u);
        }
    }
    users.into_iter().collect()
}

/// `doc_viewers` to the open_doc room, skipped when the only viewer is this user.
async fn announce_viewers(s: &SocketRef, user: &str, doctype: &str, docname: &str) {
    let room = format!("open_doc:{doctype}/{docname}");
    let connected = s.connected();
    let users = users_in(s, &room, if connected { None } else { Some(s) });
    if users.is_empty() || (users.len() == 1 && users[0] == user) {
        return;
    }
    let payload = json!({"doctype": doctype, "docname": docname, "users": users});
    // A room emit is a future in socketioxide 0.18: dropped unawaited, nothing is sent.
    if let Err(e) = s.within(room).emit("doc_viewers", &(payload,)).await {
        tracing::warn!("doc_viewers: {e}");
    }
}

fn register_raven(s: &SocketRef, state: &Arc<SimState>, user: &str) {
    s.on("fire", async |s: SocketRef| {
        let _ = s.emit("ice", &[(); 0]);
    });
    let (st, u) = (state.clone(), user.to_string());
    s.on("raven_channel_get_typers", async move |s: SocketRef, Data(v): Data<Value>| {
        if let Some(ch) = args(&v).first()
            && st.config().permitted(&u, "Raven Channel", ch)
        {
            let users = users_in(&s, &format!("raven_channel_typing:{ch}"), None);
            let payload = json!({"channel": ch, "users": users});
            if let Err(e) =
                s.within(format!("user:{u}")).emit("raven_channel_typers", &(payload,)).await
            {
                tracing::warn!("raven_channel_typers: {e}");
            }
        }
    });
    for (name, typing) in [("raven_channel_typing", true), ("raven_channel_typing_stopped", false)]
    {
        s.on(name, async move |s: SocketRef, Data(v): Data<Value>| {
            let Some(ch) = args(&v).first().cloned() else { return };
            let room = format!("raven_channel_typing:{ch}");
            if typing {
                s.join(room.clone());
            } else {
                s.leave(room.clone());
            }
            let users = users_in(&s, &room, None);
            let payload = json!({"channel": ch, "users": users});
            if let Err(e) = s
                .within(format!("open_doc:Raven Channel/{ch}"))
                .emit("raven_channel_typers", &(payload,))
                .await
            {
                tracing::warn!("raven_channel_typers: {e}");
            }
        });
    }
}
