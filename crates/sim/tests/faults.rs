//! Every fault knob and control action, each shown by the symptom a real client sees, with
//! raw HTTP and WebSocket requests (no Socket.IO client library in between). Also the wire
//! basics: open packet values, protocol-version refusals and Frappe's CORS.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sockeye_sim::{Sim, SimConfig, SimOptions};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

async fn sim_with(config: SimConfig, faults: &[&str]) -> Sim {
    let mut f = sockeye_sim::Faults::default();
    for k in faults {
        f.set(k).unwrap();
    }
    Sim::start(SimOptions { config, faults: f, ..Default::default() }).await.unwrap()
}

async fn sim(faults: &[&str]) -> Sim {
    sim_with(SimConfig::default(), faults).await
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap()
}

async fn handshake(sim: &Sim) -> (u16, String) {
    let r = http()
        .get(format!("{}/socket.io/?EIO=4&transport=polling", sim.url()))
        .header("Origin", sim.url())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw Engine.IO WebSocket with the given extra headers; returns the socket after the open packet.
async fn ws(sim: &Sim, headers: &[(&str, &str)]) -> Result<(Ws, Value), String> {
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", sim.addr());
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut()
            .append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    let (mut s, _) = tokio_tungstenite::connect_async(req).await.map_err(|e| e.to_string())?;
    let open = next_text(&mut s, 2000).await.ok_or("no open packet")?;
    let v: Value =
        serde_json::from_str(open.strip_prefix('0').ok_or("not an open packet")?).unwrap();
    Ok((s, v))
}

async fn next_text(s: &mut Ws, ms: u64) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    loop {
        match tokio::time::timeout_at(deadline, s.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Next packet that is not an Engine.IO ping (answering pings so the session lives).
async fn next_packet(s: &mut Ws, ms: u64) -> Option<String> {
    loop {
        let t = next_text(s, ms).await?;
        if t == "2" {
            s.send(Message::Text("3".into())).await.ok()?;
            continue;
        }
        return Some(t);
    }
}

async fn connect_ns(sim: &Sim, extra: &[(&str, &str)]) -> (Ws, String) {
    let origin = sim.url();
    let mut headers = vec![("origin", origin.as_str())];
    headers.extend_from_slice(extra);
    let (mut s, _) = ws(sim, &headers).await.unwrap();
    s.send(Message::Text("40/raven.test,".into())).await.unwrap();
    let answer = next_packet(&mut s, 3000).await.unwrap();
    (s, answer)
}

#[tokio::test]
async fn open_packet_protocol_refusals_and_cors_match_frappe() {
    let sim = sim(&[]).await;
    let (status, body) = handshake(&sim).await;
    assert_eq!(status, 200);
    let open: Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
    assert_eq!(open["pingInterval"], 25000);
    assert_eq!(open["pingTimeout"], 20000);
    assert_eq!(open["maxPayload"], 1000000);
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert!(!open["sid"].as_str().unwrap().is_empty());
    let r = http()
        .get(format!("{}/socket.io/?EIO=3&transport=polling", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), r#"{"code":5,"message":"Unsupported protocol version"}"#);
    let r = http()
        .get(format!("{}/socket.io/?EIO=4&transport=carrier-pigeon", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), r#"{"code":0,"message":"Transport unknown"}"#);
    // CORS: any Origin echoed with credentials; preflight 204 with the headers echoed.
    let r = http()
        .get(format!("{}/socket.io/?EIO=4&transport=polling", sim.url()))
        .header("Origin", "http://anything.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "http://anything.example");
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    let r = http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/socket.io/?EIO=4&transport=polling", sim.url()),
        )
        .header("Origin", "http://a.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "x-frappe-site-name")
        .send()
        .await
        .unwrap();
    assert!(r.status() == 204 || r.status() == 200, "{}", r.status());
    assert_eq!(r.headers()["access-control-allow-origin"], "http://a.example");
    assert!(r.headers()["access-control-allow-methods"].to_str().unwrap().contains("DELETE"));
    assert_eq!(r.headers()["access-control-allow-headers"], "x-frappe-site-name");
    sim.shutdown().await;
}

#[tokio::test]
async fn http_shaped_faults() {
    let sim = sim(&["route_missing"]).await;
    let (status, body) = handshake(&sim).await;
    assert_eq!(status, 404);
    assert!(body.contains("<html") && body.contains("Page Not Found"));
    sim.set_faults(&["route_missing=false", "bad_gateway"]).unwrap();
    let (status, body) = handshake(&sim).await;
    assert_eq!(status, 502);
    assert!(body.contains("502 Bad Gateway"));
    sim.set_faults(&["bad_gateway=false", "interstitial"]).unwrap();
    let (status, body) = handshake(&sim).await;
    assert_eq!(status, 200);
    assert!(body.contains("ngrok") && !body.starts_with('0'));
    let r = http()
        .get(format!("{}/socket.io/?EIO=4&transport=polling", sim.url()))
        .header("ngrok-skip-browser-warning", "1")
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().starts_with("0{"), "the skip header passes the interstitial");
    sim.set_faults(&["interstitial=false", "eio3_only"]).unwrap();
    let (status, body) = handshake(&sim).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("96:0{"), "{body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn upgrade_refused_and_upgrade_without_probe_answer() {
    let sim = sim(&["upgrade_refused"]).await;
    let e = ws(&sim, &[]).await.unwrap_err();
    assert!(e.contains("400"), "{e}");
    assert_eq!(handshake(&sim).await.0, 200, "polling still works");
    sim.set_faults(&["upgrade_refused=false", "upgrade_no_probe"]).unwrap();
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", sim.addr());
    let (mut s, resp) = tokio_tungstenite::connect_async(url).await.expect("101");
    assert_eq!(resp.status(), 101);
    s.send(Message::Text("2probe".into())).await.unwrap();
    assert_eq!(next_text(&mut s, 1000).await, None, "no 3probe, no open packet");
    sim.shutdown().await;
}

#[tokio::test]
async fn no_sticky_sessions_answer_session_id_unknown_on_the_second_poll() {
    let sim = sim(&["no_sticky"]).await;
    let (_, body) = handshake(&sim).await;
    let open: Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap();
    let r = http()
        .get(format!("{}/socket.io/?EIO=4&transport=polling&sid={sid}", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), r#"{"code":1,"message":"Session ID unknown"}"#);
    let (_, answer) = connect_ns(&sim, &[("cookie", "sid=good-sid")]).await;
    assert!(answer.starts_with("40/raven.test,"), "websocket-only still works: {answer}");
    sim.shutdown().await;
}

#[tokio::test]
async fn idle_drop_closes_connections_on_schedule() {
    let sim = sim(&["idle_drop_secs=1"]).await;
    let (mut s, _) = connect_ns(&sim, &[("cookie", "sid=good-sid")]).await;
    let t0 = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .expect("dropped within 5 s")
        {
            Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                let _ = s.send(Message::Text("3".into())).await;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    let after = t0.elapsed();
    assert!(after < Duration::from_millis(1500), "{after:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn freeze_stops_heartbeats() {
    let config = SimConfig {
        ping_interval: Duration::from_millis(200),
        ping_timeout: Duration::from_millis(2000),
        ..SimConfig::default()
    };
    let sim = sim_with(config, &[]).await;
    let (mut s, _) = ws(&sim, &[]).await.unwrap();
    assert_eq!(next_text(&mut s, 1000).await.as_deref(), Some("2"), "pings flow normally");
    sim.set_faults(&["freeze"]).unwrap();
    let _ = s.send(Message::Text("3".into())).await;
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(800);
    while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout_at(deadline, s.next()).await {
        if t.as_str() == "2" {
            pings += 1;
        }
    }
    assert_eq!(pings, 0, "a frozen link carries nothing");
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_latency_secret_mismatch_and_behind_nginx() {
    let sim = sim(&["auth_latency_ms=300"]).await;
    let t0 = Instant::now();
    let (_, answer) = connect_ns(&sim, &[("cookie", "sid=good-sid")]).await;
    assert!(answer.starts_with("40/raven.test,"));
    assert!(t0.elapsed() >= Duration::from_millis(300), "{:?}", t0.elapsed());

    sim.set_faults(&["auth_latency_ms=0", "secret_mismatch"]).unwrap();
    let (mut s, answer) = connect_ns(&sim, &[("cookie", "sid=good-sid")]).await;
    assert!(answer.starts_with("40/raven.test,"), "connects: {answer}");
    s.send(Message::Text(r#"42/raven.test,["ping"]"#.into())).await.unwrap();
    assert_eq!(next_packet(&mut s, 600).await, None, "deaf: no pong");
    let n = sim
        .publish(
            serde_json::from_value(
                json!({"event":"ai_progress","user":"test@example.com","message":{}}),
            )
            .unwrap(),
        )
        .await
        .unwrap()
        .1;
    assert_eq!(n, 0, "no rooms");

    sim.set_faults(&["secret_mismatch=false", "behind_nginx"]).unwrap();
    let (mut s, _) =
        ws(&sim, &[("origin", "http://evil.example"), ("cookie", "sid=good-sid")]).await.unwrap();
    s.send(Message::Text("40/raven.test,".into())).await.unwrap();
    let answer = next_packet(&mut s, 3000).await.unwrap();
    assert!(answer.starts_with("40/raven.test,"), "nginx rewrote the Origin: {answer}");
    s.send(Message::Text(r#"42/raven.test,["ping"]"#.into())).await.unwrap();
    assert_eq!(next_packet(&mut s, 2000).await.as_deref(), Some(r#"42/raven.test,["pong"]"#));
    sim.shutdown().await;
}

#[tokio::test]
async fn pong_has_exactly_the_event_name() {
    let sim = sim(&[]).await;
    let (mut s, _) = connect_ns(&sim, &[("cookie", "sid=good-sid")]).await;
    s.send(Message::Text(r#"42/raven.test,["ping"]"#.into())).await.unwrap();
    assert_eq!(
        next_packet(&mut s, 2000).await.as_deref(),
        Some(r#"42/raven.test,["pong"]"#),
        "like the Node server: no null argument"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn control_actions_expire_revoke_drop_restart() {
    let sim = sim(&[]).await;
    let base = sim.url();
    // Expire a sid: the next connect is Guest.
    let r: Value = http()
        .post(format!("{base}/__sim/sessions"))
        .json(&json!({"sid": "good-sid", "expire": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["expired"], true);
    let (_s, answer) = connect_ns(&sim, &[("cookie", "sid=good-sid")]).await;
    assert!(answer.starts_with("40/raven.test,"));
    let sockets: Value =
        http().get(format!("{base}/__sim/sockets")).send().await.unwrap().json().await.unwrap();
    assert_eq!(sockets[0]["user"], "Guest");
    assert_eq!(sockets[0]["transport"], "websocket");
    // Revoke a token: the next connect is refused.
    http()
        .post(format!("{base}/__sim/tokens"))
        .json(&json!({"token": "key:secret", "revoke": true}))
        .send()
        .await
        .unwrap();
    let (_s2, answer) = connect_ns(&sim, &[("authorization", "token key:secret")]).await;
    assert_eq!(
        answer,
        r#"44/raven.test,{"message":"Unauthorized: TypeError: Cannot read properties of undefined (reading 'installed_apps')"}"#
    );
    // Drop every socket: the TCP connection closes (transport close, not a DISCONNECT packet).
    let (mut s, _) = connect_ns(&sim, &[("authorization", "Bearer good-bearer")]).await;
    http().post(format!("{base}/__sim/disconnect")).json(&json!({})).send().await.unwrap();
    let mut saw_disconnect_packet = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(3), s.next()).await.expect("closed") {
            Some(Ok(Message::Text(t))) if t.starts_with("41") => saw_disconnect_packet = true,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    assert!(!saw_disconnect_packet, "a transport close sends no DISCONNECT");
    // Restart: the port refuses connections while down, then serves again.
    http()
        .post(format!("{base}/__sim/restart"))
        .json(&json!({"down_ms": 500}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(tokio::net::TcpStream::connect(sim.addr()).await.is_err(), "down");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(handshake(&sim).await.0, 200, "back up");
    // Bad control input is refused by name.
    let r = http()
        .post(format!("{base}/__sim/faults"))
        .json(&json!({"set": ["teleport=1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("teleport"));
    let r = http().post(format!("{base}/__sim/scenario/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = http()
        .post(format!("{base}/__sim/publish"))
        .json(&json!({"event": "msgprint"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn web_endpoints_login_identity_channels_and_send_message() {
    let sim = sim(&[]).await;
    let base = sim.url();
    let r = http()
        .post(format!("{base}/api/method/login"))
        .form(&[("usr", "test@example.com"), ("pwd", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["message"], "Invalid login credentials");
    let r = http()
        .post(format!("{base}/api/method/login"))
        .form(&[("usr", "test@example.com"), ("pwd", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("sid="))
        .unwrap();
    let sid = cookie.split(';').next().unwrap().to_string();
    let who: Value = http()
        .get(format!("{base}/api/method/frappe.auth.get_logged_user"))
        .header("Cookie", &sid)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["message"], "test@example.com");
    let r = http()
        .get(format!("{base}/api/method/frappe.auth.get_logged_user"))
        .header("Cookie", "sid=nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "Guest");
    let r = http()
        .get(format!("{base}/api/method/frappe.auth.get_logged_user"))
        .header("Authorization", "token key:nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let ping: Value =
        http().get(format!("{base}/api/method/ping")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ping["message"], "pong");
    let ch: Value = http()
        .get(format!("{base}/api/method/raven.api.raven_channel.get_all_channels"))
        .header("Cookie", &sid)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ch["message"]["channels"].as_array().unwrap().len(), 3);
    // send_message publishes message_created to the channel room, exactly once.
    let (mut s, _) = connect_ns(&sim, &[("cookie", "sid=good-sid")]).await;
    s.send(Message::Text(r#"42/raven.test,["doc_subscribe","Raven Channel","general"]"#.into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r: Value = http()
        .post(format!("{base}/api/method/raven.api.raven_message.send_message"))
        .header("Cookie", &sid)
        .form(&[("channel_id", "general"), ("text", "<p>Sockeye check</p>"), ("is_reply", "0")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["message"]["name"].as_str().unwrap().to_string();
    let pkt = next_packet(&mut s, 2000).await.unwrap();
    let body: Value = serde_json::from_str(pkt.strip_prefix("42/raven.test,").unwrap()).unwrap();
    assert_eq!(body[0], "message_created");
    assert_eq!(body.as_array().unwrap().len(), 2, "exactly one argument");
    assert_eq!(body[1]["message_id"], id.as_str());
    assert_eq!(body[1]["message_details"]["content"], "Sockeye check");
    let msgs: Value = http()
        .get(format!("{base}/api/method/raven.api.chat_stream.get_messages?channel_id=general"))
        .header("Cookie", &sid)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(msgs["message"]["messages"][0]["name"], id.as_str());
    sim.shutdown().await;
}

/// Next `42` event packet named `event`, skipping others.
async fn next_event(s: &mut Ws, event: &str, ms: u64) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < deadline {
        let t = next_packet(s, ms).await?;
        if let Some(body) = t.strip_prefix("42/raven.test,") {
            let v: Value = serde_json::from_str(body).ok()?;
            if v[0] == event {
                return Some(v[1].clone());
            }
        }
    }
    None
}

#[tokio::test]
async fn viewers_and_typers_reach_the_other_sockets() {
    // Room emits in socketioxide are futures: these were once dropped unawaited, never sent.
    let mut config = SimConfig::default();
    config.add_session("bob-sid", "bob@example.com");
    let sim = sim_with(config, &[]).await;
    let (mut a, _) = connect_ns(&sim, &[("cookie", "sid=good-sid")]).await;
    let (mut b, _) = connect_ns(&sim, &[("cookie", "sid=bob-sid")]).await;
    let open = r#"42/raven.test,["doc_open","Raven Channel","general"]"#;
    a.send(Message::Text(open.into())).await.unwrap();
    b.send(Message::Text(open.into())).await.unwrap();
    let viewers =
        next_event(&mut a, "doc_viewers", 3000).await.expect("doc_viewers for the first viewer");
    assert_eq!(viewers["docname"], "general");
    let users: Vec<&str> =
        viewers["users"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(users.contains(&"bob@example.com") && users.contains(&"test@example.com"), "{users:?}");
    b.send(Message::Text(r#"42/raven.test,["raven_channel_typing","general"]"#.into()))
        .await
        .unwrap();
    let typers =
        next_event(&mut a, "raven_channel_typers", 3000).await.expect("typers in the open channel");
    assert_eq!(typers, json!({"channel": "general", "users": ["bob@example.com"]}));
    sim.shutdown().await;
}
