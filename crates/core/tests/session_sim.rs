//! The session against the simulator: every auth method, the Frappe traps (Guest fallback,
//! deaf sockets, refused subscriptions, rooms lost on reconnect) and the supervisor's
//! reconnect behaviour.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use sockeye_core::auth::Credentials;
use sockeye_core::events::{AiProgress, EventKind};
use sockeye_core::secrets::Secret;
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::state::LinkState;
use sockeye_core::{AuthMethod, Transport};
use sockeye_sim::{Mode, SimConfig};

#[tokio::test]
async fn sid_connects_verifies_identity_and_receives_both_event_kinds() {
    let sim = sim().await;
    let s = sid_session(&sim, "good-sid", &["general"]).await;
    let mut events = s.events();
    match connected(&s).await {
        LinkState::Connected { transport, user, rtt_ms, .. } => {
            assert_eq!(transport, Transport::Websocket);
            assert_eq!(user.as_deref(), Some(USER));
            assert!(rtt_ms.is_some());
        }
        other => panic!("{other:?}"),
    }
    let (room, n) = sim.publish(publish(json!({"event":"ai_progress","user":USER,"message":{"type":"working","step":1,"total":2,"message":"Reading"}}))).await.unwrap();
    assert_eq!((room.as_deref(), n), (Some("user:test@example.com"), 1));
    let e = next_named(&mut events, "ai_progress", 5).await;
    assert_eq!(
        e.kind,
        EventKind::AiProgress(AiProgress::Working { step: 1, total: 2, message: "Reading".into() })
    );
    assert_eq!(e.room_hint.as_deref(), Some("user:test@example.com"));

    // The channel subscription was emitted on connect: message_created reaches us.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/method/raven.api.raven_message.send_message", sim.url()))
        .header("Authorization", "token key:secret")
        .form(&[
            ("channel_id", "general"),
            ("text", "<p>Hello <b>there</b></p>"),
            ("is_reply", "0"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let e = next_named(&mut events, "message_created", 5).await;
    match &e.kind {
        EventKind::MessageCreated(m) => {
            assert_eq!(m.content, "Hello there");
            assert_eq!(m.channel_id, "general");
        }
        other => panic!("{other:?}"),
    }
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn token_bearer_and_login_all_connect_as_the_user() {
    let sim = sim().await;
    let cases = [
        (
            AuthMethod::ApiToken { key: "key".into() },
            Credentials::ApiToken { key: "key".into(), secret: Secret::new("secret") },
        ),
        (AuthMethod::Bearer, Credentials::Bearer(Secret::new("good-bearer"))),
        (
            AuthMethod::Login { user: USER.into() },
            Credentials::Login { user: USER.into(), password: Secret::new("admin") },
        ),
    ];
    for (method, creds) in cases {
        let name = method.name();
        let t = target(&sim.url(), method, creds, &[]).await;
        let s = Session::spawn(t, fast_options());
        match connected(&s).await {
            LinkState::Connected { user, .. } => assert_eq!(user.as_deref(), Some(USER), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        s.stop().await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn refusals_show_the_servers_exact_words_and_are_not_retried() {
    let sim = sim().await;
    // Wrong password: the login refusal, verbatim.
    let t = target(
        &sim.url(),
        AuthMethod::Login { user: USER.into() },
        Credentials::Login { user: USER.into(), password: Secret::new("nope") },
        &[],
    )
    .await;
    let s = Session::spawn(t, fast_options());
    let st = wait_state(&s, "auth failed", 10, |s| matches!(s, LinkState::AuthFailed { .. })).await;
    assert_eq!(st, LinkState::AuthFailed { message: "Invalid login credentials".into() });
    s.stop().await;

    // Bad token: the namespace refusal, verbatim.
    let t = target(
        &sim.url(),
        AuthMethod::ApiToken { key: "key".into() },
        Credentials::ApiToken { key: "key".into(), secret: Secret::new("wrong") },
        &[],
    )
    .await;
    let s = Session::spawn(t, fast_options());
    let st = wait_state(&s, "auth failed", 10, |s| matches!(s, LinkState::AuthFailed { .. })).await;
    assert_eq!(st, LinkState::AuthFailed { message: "Unauthorized: TypeError: Cannot read properties of undefined (reading 'installed_apps')".into() });
    // Not retried: it stays auth-failed.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(matches!(s.state().borrow().state, LinkState::AuthFailed { .. }));
    s.stop().await;

    // A wrong Origin.
    let mut p = sockeye_core::Profile::new("o", &sim.url(), AuthMethod::Sid).unwrap();
    p.origin = Some("http://evil.example".into());
    p.site = Some("raven.test".into());
    let t = sockeye_core::target::resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    let s = Session::spawn(t, fast_options());
    let st = wait_state(&s, "auth failed", 10, |s| matches!(s, LinkState::AuthFailed { .. })).await;
    assert_eq!(st, LinkState::AuthFailed { message: "Invalid origin".into() });
    s.stop().await;

    // Wrong namespace.
    let mut p = sockeye_core::Profile::new("n", &sim.url(), AuthMethod::Sid).unwrap();
    p.site = Some("other.site".into());
    let t = sockeye_core::target::resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    let s = Session::spawn(t, fast_options());
    let st = wait_state(&s, "auth failed", 10, |s| matches!(s, LinkState::AuthFailed { .. })).await;
    assert_eq!(st, LinkState::AuthFailed { message: "Invalid namespace".into() });
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn expired_sid_is_degraded_as_guest_never_healthy() {
    let sim = sim().await;
    let s = sid_session(&sim, "expired-sid", &["general"]).await;
    let st = wait_state(&s, "degraded", 10, |s| matches!(s, LinkState::Degraded { .. })).await;
    match st {
        LinkState::Degraded { user, reason, .. } => {
            assert_eq!(user.as_deref(), Some("Guest"));
            assert!(reason.contains("Guest"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn secret_mismatch_is_degraded_as_deaf() {
    let sim = sim_with(SimConfig::default(), &["secret_mismatch"]).await;
    let s = sid_session(&sim, "good-sid", &[]).await;
    let st = wait_state(&s, "degraded", 10, |s| matches!(s, LinkState::Degraded { .. })).await;
    match st {
        LinkState::Degraded { reason, .. } => assert!(reason.contains("deaf"), "{reason}"),
        other => panic!("{other:?}"),
    }
    s.stop().await;
    sim.shutdown().await;
}

/// A first pong later than the timeout shows as deaf, then heals when the pong (or the answer
/// to the next ping) comes: a busy server is not a secret mismatch for ever.
#[tokio::test]
async fn a_late_first_pong_heals_a_deaf_link() {
    let sim = sim_with(SimConfig::default(), &["first_pong_delay_ms=2500"]).await;
    let mut p = sockeye_core::Profile::new("late", &sim.url(), AuthMethod::Sid).unwrap();
    p.site = Some("raven.test".into());
    let t = sockeye_core::target::resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    let opts = sockeye_core::SessionOptions {
        pong_timeout: Duration::from_millis(1000),
        ping_every: Duration::from_millis(500),
        ..fast_options()
    };
    let s = Session::spawn(t, opts);
    let st = wait_state(&s, "deaf", 10, |s| matches!(s, LinkState::Degraded { .. })).await;
    assert!(
        matches!(st, LinkState::Degraded { ref reason, .. } if reason.contains("deaf")),
        "{st:?}"
    );
    match connected(&s).await {
        LinkState::Connected { user, .. } => assert_eq!(user.as_deref(), Some(USER)),
        other => panic!("{other:?}"),
    }
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn login_session_expiry_logs_in_again_by_itself() {
    let sim = sim().await;
    let t = target(
        &sim.url(),
        AuthMethod::Login { user: USER.into() },
        Credentials::Login { user: USER.into(), password: Secret::new("admin") },
        &[],
    )
    .await;
    let s = Session::spawn(t, fast_options());
    connected(&s).await;
    // Expire every session the login created, then drop the link.
    let sids: Vec<String> = sim
        .state()
        .config()
        .sessions
        .iter()
        .filter(|(k, v)| *v == USER && *k != "good-sid" && *k != sockeye_sim::config::BROWSER_SID)
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(sids.len(), 1);
    sim.state().config.write().unwrap().sessions.remove(&sids[0]);
    sim.drop_connections();
    wait_state(&s, "reconnecting", 10, |s| !s.is_connected()).await;
    match connected(&s).await {
        LinkState::Connected { user, .. } => assert_eq!(user.as_deref(), Some(USER)),
        other => panic!("{other:?}"),
    }
    let new_sids = sim
        .state()
        .config()
        .sessions
        .iter()
        .filter(|(k, v)| *v == USER && *k != "good-sid" && *k != sockeye_sim::config::BROWSER_SID)
        .count();
    assert_eq!(new_sids, 1, "exactly one new login");
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn restart_reconnects_resubscribes_and_events_flow_again() {
    let sim = sim().await;
    let s = sid_session(&sim, "good-sid", &["general"]).await;
    let mut events = s.events();
    connected(&s).await;
    let down = Duration::from_millis(300);
    let t0 = Instant::now();
    sim.restart(down);
    wait_state(&s, "link lost", 10, |s| !s.is_connected()).await;
    connected(&s).await;
    let back = t0.elapsed();
    eprintln!("reconnected {:?} after the restart began ({:?} of it down)", back, down);
    assert!(back < Duration::from_secs(6), "reconnect took {back:?}");
    // Subscriptions were re-emitted: the channel room hears messages again.
    let sockets = sim.state().socket_infos();
    assert!(
        sockets.iter().any(|s| s.rooms.contains(&"doc:Raven Channel/general".to_string())),
        "{sockets:?}"
    );
    let (_, n) = sim.publish(publish(json!({"event":"message_created","doctype":"Raven Channel","docname":"general","message":{"channel_id":"general","sender":"a","message_id":"m1","message_details":{"content":"after restart"}}}))).await.unwrap();
    assert_eq!(n, 1);
    let e = next_named(&mut events, "message_created", 5).await;
    assert_eq!(e.json()["message_id"], "m1");
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn first_connect_failure_is_retried_until_the_server_appears() {
    // Reserve a port, close it, start the session against it, then start the simulator there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let mut p = sockeye_core::Profile::new("late", &url, AuthMethod::Sid).unwrap();
    p.site = Some("raven.test".into());
    let t = sockeye_core::target::resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    let s = Session::spawn(t, fast_options());
    let st =
        wait_state(&s, "reconnecting", 10, |s| matches!(s, LinkState::Reconnecting { .. })).await;
    match st {
        LinkState::Reconnecting { attempt, last_error, .. } => {
            assert_eq!(attempt, 1);
            assert!(!last_error.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let sim = sockeye_sim::Sim::start(sockeye_sim::SimOptions {
        addr: ([127, 0, 0, 1], port).into(),
        ..Default::default()
    })
    .await
    .unwrap();
    s.reconnect_now();
    connected(&s).await;
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn server_disconnect_stops_until_asked() {
    let sim = sim().await;
    let s = sid_session(&sim, "good-sid", &[]).await;
    connected(&s).await;
    let r = reqwest::Client::new()
        .post(format!("{}/__sim/disconnect", sim.url()))
        .json(&json!({"user": USER, "reason": "server disconnect"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let st = wait_state(&s, "stopped", 10, |s| matches!(s, LinkState::Stopped { .. })).await;
    assert!(
        matches!(st, LinkState::Stopped { ref reason } if reason.contains("io server disconnect")),
        "{st:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(matches!(s.state().borrow().state, LinkState::Stopped { .. }), "no automatic retry");
    s.reconnect_now();
    connected(&s).await;
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_frozen_link_is_detected_dead_and_replaced() {
    let config = SimConfig {
        ping_interval: Duration::from_millis(500),
        ping_timeout: Duration::from_millis(500),
        ..SimConfig::default()
    };
    let sim = sim_with(config, &[]).await;
    let s = sid_session(&sim, "good-sid", &[]).await;
    connected(&s).await;
    sim.set_faults(&["freeze"]).unwrap();
    let t0 = Instant::now();
    wait_state(&s, "link declared dead", 10, |s| !s.is_connected()).await;
    let detected = t0.elapsed();
    eprintln!("frozen link detected after {detected:?} (pingInterval+pingTimeout = 1 s)");
    sim.set_faults(&["freeze=false"]).unwrap();
    connected(&s).await;
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn upgrade_refused_falls_back_to_polling_and_says_so() {
    let sim = sim_with(SimConfig::default(), &["upgrade_refused"]).await;
    let s = sid_session(&sim, "good-sid", &["general"]).await;
    let mut events = s.events();
    match connected(&s).await {
        LinkState::Connected { transport, .. } => assert_eq!(transport, Transport::Polling),
        other => panic!("{other:?}"),
    }
    sim.publish(publish(json!({"event":"ai_progress","user":USER,"message":{"type":"thinking","message":"over polling"}}))).await.unwrap();
    let e = next_named(&mut events, "ai_progress", 5).await;
    assert_eq!(e.json()["message"], "over polling");
    s.stop().await;
    sim.shutdown().await;
}

/// A quiet polling link stays up: the server holds each GET until its heartbeat (25 s), far
/// beyond the HTTP client's own request timeout (here 2 s), which must not cut the long poll.
#[tokio::test]
async fn a_quiet_polling_link_outlives_the_http_timeout() {
    let sim = sim_with(SimConfig::default(), &["upgrade_refused"]).await;
    let t =
        target(&sim.url(), AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), &[]).await;
    let opts = SessionOptions { connect_timeout: Duration::from_secs(2), ..fast_options() };
    let s = Session::spawn(t, opts);
    let mut events = s.events();
    connected(&s).await;
    let mut states = s.state();
    states.borrow_and_update();
    // Nothing is sent for 6 s: three client timeouts.
    let changed = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            states.changed().await.unwrap();
            let now = states.borrow_and_update().state.clone();
            if !now.is_connected() {
                return now;
            }
        }
    })
    .await;
    assert!(changed.is_err(), "the quiet polling link dropped: {changed:?}");
    sim.publish(publish(json!({"event":"ai_progress","user":USER,"message":{"type":"thinking","message":"still here"}}))).await.unwrap();
    let e = next_named(&mut events, "ai_progress", 5).await;
    assert_eq!(e.json()["message"], "still here");
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn version_15_token_auth_gets_the_cookie_it_demands() {
    let sim = sim_with(SimConfig { mode: Mode::V15, ..SimConfig::default() }, &[]).await;
    let t = target(
        &sim.url(),
        AuthMethod::ApiToken { key: "key".into() },
        Credentials::ApiToken { key: "key".into(), secret: Secret::new("secret") },
        &[],
    )
    .await;
    let s = Session::spawn(t, fast_options());
    match connected(&s).await {
        LinkState::Connected { user, .. } => assert_eq!(user.as_deref(), Some(USER)),
        other => panic!("{other:?}"),
    }
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn jwt_servers_connect_with_the_auth_payload_and_refuse_bad_tokens() {
    let config = SimConfig { mode: Mode::Jwt, ..SimConfig::default() };
    let secret = config.jwt_secret.clone();
    let sim = sim_with(config, &[]).await;
    let good = sockeye_sim::jwt::mint(Some("agent-user"), &secret, 3600);
    let t = target(&sim.url(), AuthMethod::Jwt, Credentials::Jwt(Secret::new(good)), &[]).await;
    let s = Session::spawn(t, fast_options());
    let mut events = s.events();
    match connected(&s).await {
        LinkState::Connected { user, .. } => assert_eq!(user.as_deref(), Some("agent-user")),
        other => panic!("{other:?}"),
    }
    sim.run_scenario(
        "agent_run",
        sockeye_sim::ScenarioParams { user: "agent-user".into(), pace: 0.01, ..Default::default() },
    )
    .unwrap();
    let e = next_named(&mut events, "agent:result", 10).await;
    assert!(
        matches!(&e.kind, EventKind::Agent(a) if a.kind == "result" && a.workflow_id.starts_with("wf-")),
        "{:?}",
        e.kind
    );
    s.stop().await;

    let expired = sockeye_sim::jwt::mint(Some("agent-user"), &secret, -60);
    let t = target(&sim.url(), AuthMethod::Jwt, Credentials::Jwt(Secret::new(expired)), &[]).await;
    let s = Session::spawn(t, fast_options());
    let st = wait_state(&s, "auth failed", 10, |s| matches!(s, LinkState::AuthFailed { .. })).await;
    assert_eq!(st, LinkState::AuthFailed { message: "Invalid or expired token".into() });
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn refused_subscriptions_are_silent_and_user_room_still_works() {
    let sim = sim().await;
    let s = sid_session(&sim, "good-sid", &["secret-room"]).await;
    let mut events = s.events();
    connected(&s).await;
    let (_, n) = sim.publish(publish(json!({"event":"message_created","doctype":"Raven Channel","docname":"secret-room","message":{}}))).await.unwrap();
    assert_eq!(n, 0, "not permitted: never joined");
    none_named(&mut events, "message_created", 300).await;
    sim.publish(publish(json!({"event":"ai_progress","user":USER,"message":{"type":"complete"}})))
        .await
        .unwrap();
    next_named(&mut events, "ai_progress", 5).await;
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn slow_consumers_lose_the_oldest_and_are_told_how_many() {
    let sim = sim().await;
    let t =
        target(&sim.url(), AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), &[]).await;
    let opts = sockeye_core::SessionOptions { event_buffer: 64, ..fast_options() };
    let s = Session::spawn(t, opts);
    let mut slow = s.events();
    connected(&s).await;
    // Wait for the last event on a second consumer, without reading `slow`.
    let mut fast = s.events();
    sim.run_scenario("burst", sockeye_sim::ScenarioParams { n: 500, ..Default::default() })
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let e = tokio::time::timeout_at(deadline, fast.recv())
            .await
            .unwrap_or_else(|_| panic!("burst incomplete; state {:?}", s.state().borrow().state));
        match e {
            Ok(e) if e.json()["seq"] == 500 => break,
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    match slow.recv().await {
        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => assert!(n >= 400, "lagged {n}"),
        other => panic!("expected Lagged, got {other:?}"),
    }
    let next = slow.recv().await.unwrap();
    assert!(next.json()["seq"].as_u64().unwrap() > 400);
    s.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_flood_that_delays_the_pong_is_not_a_dead_link() {
    let sim = sim().await;
    let t =
        target(&sim.url(), AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), &[]).await;
    // Ping often and expect pongs fast, so pongs queued behind the burst would be "late".
    let opts = sockeye_core::SessionOptions {
        ping_every: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(300),
        event_buffer: 400_000,
        ..fast_options()
    };
    let s = Session::spawn(t, opts);
    let mut events = s.events();
    connected(&s).await;
    let since = s.state().borrow().since_ms;
    const N: u64 = 200_000;
    sim.run_scenario("burst", sockeye_sim::ScenarioParams { n: N, pad: 200, ..Default::default() })
        .unwrap();
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while got < N {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(e)) if e.name == "ai_progress" => got += 1,
            Ok(Ok(_)) => {}
            other => panic!("after {got} events: {other:?}; state {:?}", s.state().borrow().state),
        }
    }
    let st = s.state().borrow().clone();
    assert!(st.state.is_connected(), "{st:?}");
    assert_eq!(st.since_ms, since, "never declared dead during the flood");
    s.stop().await;
    sim.shutdown().await;
}
