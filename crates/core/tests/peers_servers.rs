//! The same session scenarios against independent servers: node `socket.io` 4.7 with a
//! Frappe-style middleware, and a python-socketio AsyncServer with JWT auth. What works
//! against the simulator must work against these unchanged.

mod common;

use std::time::{Duration, Instant};

use common::peers::{free_port, node_frappe, python_agent};
use common::*;
use serde_json::json;
use sockeye_core::auth::Credentials;
use sockeye_core::events::EventKind;
use sockeye_core::secrets::Secret;
use sockeye_core::session::Session;
use sockeye_core::state::LinkState;
use sockeye_core::{AuthMethod, Transport};

async fn post(url: String, body: serde_json::Value) -> serde_json::Value {
    reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn node_frappe_style_server_full_cycle() {
    let port = free_port();
    let peer = node_frappe(port);
    let url = peer.url();
    let mut p = sockeye_core::Profile::new("node", &url, AuthMethod::Sid).unwrap();
    p.site = Some("raven.test".into());
    p.subscriptions.channels = vec!["general".into()];
    let t = sockeye_core::target::resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    let s = Session::spawn(t, fast_options());
    let mut events = s.events();
    match connected(&s).await {
        LinkState::Connected { transport, user, .. } => {
            assert_eq!(transport, Transport::Websocket);
            assert_eq!(user.as_deref(), Some(USER));
        }
        other => panic!("{other:?}"),
    }
    let r = post(format!("{url}/__test/publish"), json!({"room": "doc:Raven Channel/general", "event": "message_created", "message": {"channel_id": "general", "sender": "a@x", "message_id": "m1", "message_details": {"content": "from node"}}})).await;
    assert_eq!(r["delivered_to"], 1, "the subscription reached the node server");
    let e = next_named(&mut events, "message_created", 5).await;
    assert!(matches!(&e.kind, EventKind::MessageCreated(m) if m.content == "from node"));
    post(format!("{url}/__test/publish"), json!({"room": "user:test@example.com", "event": "ai_progress", "message": {"type": "thinking", "message": "node says hi"}})).await;
    let e = next_named(&mut events, "ai_progress", 5).await;
    assert_eq!(e.json()["message"], "node says hi");

    // Crash the server and bring it back on the same port.
    peer.kill();
    wait_state(&s, "link lost", 10, |s| !s.is_connected()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = Instant::now();
    let peer = node_frappe(port);
    connected(&s).await;
    eprintln!("node server: back online {:?} after it started listening again", t0.elapsed());
    let r = post(format!("{url}/__test/publish"), json!({"room": "doc:Raven Channel/general", "event": "message_created", "message": {"channel_id": "general", "sender": "a@x", "message_id": "m2", "message_details": {"content": "after restart"}}})).await;
    assert_eq!(r["delivered_to"], 1, "resubscribed after the restart");
    let e = next_named(&mut events, "message_created", 5).await;
    assert_eq!(e.json()["message_id"], "m2");
    s.stop().await;
    drop(peer);
}

#[tokio::test]
async fn node_server_refusals_and_guest_fallback() {
    let peer = node_frappe(0);
    let url = peer.url();
    let cases: Vec<(&str, Credentials, Option<&str>)> = vec![
        (
            "bad token",
            Credentials::ApiToken { key: "key".into(), secret: Secret::new("nope") },
            None,
        ),
        ("no credentials", Credentials::None, None),
        ("wrong origin", Credentials::Sid(Secret::new("good-sid")), Some("http://evil.example")),
    ];
    let expected = [
        "Unauthorized: TypeError: Cannot read properties of undefined (reading 'installed_apps')",
        "Missing cookie and authorization header. Either one needed for authentication.",
        "Invalid origin",
    ];
    for ((label, creds, origin), want) in cases.into_iter().zip(expected) {
        let method = match &creds {
            Credentials::ApiToken { key, .. } => AuthMethod::ApiToken { key: key.clone() },
            Credentials::Sid(_) => AuthMethod::Sid,
            _ => AuthMethod::None,
        };
        let mut p = sockeye_core::Profile::new("node", &url, method).unwrap();
        p.site = Some("raven.test".into());
        p.origin = origin.map(String::from);
        let t = sockeye_core::target::resolve_with(&p, creds).await;
        let s = Session::spawn(t, fast_options());
        let st = wait_state(&s, label, 10, |s| matches!(s, LinkState::AuthFailed { .. })).await;
        assert_eq!(st, LinkState::AuthFailed { message: want.into() }, "{label}");
        s.stop().await;
    }
    // Expired sid: connects, but as Guest — degraded, never healthy.
    let mut p = sockeye_core::Profile::new("node", &url, AuthMethod::Sid).unwrap();
    p.site = Some("raven.test".into());
    let t = sockeye_core::target::resolve_with(&p, Credentials::Sid(Secret::new("expired"))).await;
    let s = Session::spawn(t, fast_options());
    let st = wait_state(&s, "degraded", 10, |s| matches!(s, LinkState::Degraded { .. })).await;
    assert!(
        matches!(st, LinkState::Degraded { ref user, .. } if user.as_deref() == Some("Guest")),
        "{st:?}"
    );
    s.stop().await;
    // Frappe login against the node server.
    let t = target(
        &url,
        AuthMethod::Login { user: USER.into() },
        Credentials::Login { user: USER.into(), password: Secret::new("admin") },
        &[],
    )
    .await;
    let mut t = t;
    t.namespace = "/raven.test".into();
    let s = Session::spawn(t, fast_options());
    assert!(
        matches!(connected(&s).await, LinkState::Connected { user: Some(ref u), .. } if u == USER)
    );
    s.stop().await;
}

#[tokio::test]
async fn python_socketio_jwt_agent_server() {
    let secret = "agent-secret";
    let port = free_port();
    let peer = python_agent(port, secret);
    let url = peer.url();
    let good = sockeye_sim::jwt::mint(Some("agent-user"), secret, 3600);
    let t = target(&url, AuthMethod::Jwt, Credentials::Jwt(Secret::new(good.clone())), &[]).await;
    let s = Session::spawn(t, fast_options());
    let mut events = s.events();
    assert!(
        matches!(connected(&s).await, LinkState::Connected { user: Some(ref u), .. } if u == "agent-user")
    );
    for kind in ["thought", "tool_call", "result"] {
        post(format!("{url}/__test/emit"), json!({"user": "agent-user", "event": kind, "workflowId": "wf-42", "data": {"k": kind}})).await;
        let e = next_named(&mut events, &format!("agent:{kind}"), 5).await;
        assert!(
            matches!(&e.kind, EventKind::Agent(a) if a.workflow_id == "wf-42" && a.kind == kind),
            "{:?}",
            e.kind
        );
    }
    // Restart: reconnects with the same auth payload, events flow again.
    peer.kill();
    wait_state(&s, "link lost", 10, |s| !s.is_connected()).await;
    let peer = python_agent(port, secret);
    connected(&s).await;
    post(
        format!("{url}/__test/emit"),
        json!({"user": "agent-user", "event": "error", "data": {"message": "boom"}}),
    )
    .await;
    next_named(&mut events, "agent:error", 5).await;
    s.stop().await;

    // The three refusals, verbatim.
    let no_sub = sockeye_sim::jwt::mint(None, secret, 3600);
    let wrong_key = sockeye_sim::jwt::mint(Some("u"), "other", 3600);
    for (tok, want) in [(wrong_key, "Invalid or expired token"), (no_sub, "Invalid token payload")]
    {
        let t = target(&url, AuthMethod::Jwt, Credentials::Jwt(Secret::new(tok)), &[]).await;
        let s = Session::spawn(t, fast_options());
        let st = wait_state(&s, want, 10, |s| matches!(s, LinkState::AuthFailed { .. })).await;
        assert_eq!(st, LinkState::AuthFailed { message: want.into() });
        s.stop().await;
    }
    let mut t = target(&url, AuthMethod::Jwt, Credentials::None, &[]).await;
    t.frappe = false;
    t.namespace = "/".into();
    let s = Session::spawn(t, fast_options());
    let st =
        wait_state(&s, "auth required", 10, |s| matches!(s, LinkState::AuthFailed { .. })).await;
    assert_eq!(st, LinkState::AuthFailed { message: "Authentication required".into() });
    s.stop().await;
    drop(peer);
}
