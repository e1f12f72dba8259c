//! A poll is answered with every packet the server holds, up to `maxPayload`, as node's
//! engine.io (Frappe's realtime server) flushes its whole write buffer into one payload.
//! socketioxide's encoder stopped at ~128 packets: tokio's cooperative budget made its
//! channel answer "not yet" mid-drain, and over polling every burst went out 128 events a
//! round trip, a limit of this simulator that no real Frappe site has. Raw HTTP, no client
//! library in between.

use std::time::Duration;

use serde_json::{Value, json};
use sockeye_sim::{Sim, SimOptions};

const COOKIE: &str = "sid=good-sid";

async fn get(http: &reqwest::Client, url: &str, origin: &str) -> String {
    let r = http.get(url).header("origin", origin).header("cookie", COOKIE).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {url}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_poll_carries_every_buffered_packet() {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let origin = sim.url();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let base = format!("{}/socket.io/?EIO=4&transport=polling", sim.url());
    let open = get(&http, &base, &origin).await;
    let open: Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let url = format!("{base}&sid={}", open["sid"].as_str().unwrap());
    let r = http
        .post(&url)
        .header("origin", &origin)
        .header("cookie", COOKIE)
        .body("40/raven.test,")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
    // The namespace's answer, maybe beside a ping the server sent meanwhile (`2\x1e40/…`).
    let connected = get(&http, &url, &origin).await;
    assert!(
        connected.split('\u{1e}').any(|p| p.starts_with("40/raven.test,")),
        "namespace joined: {connected}"
    );

    // 1,000 events of ~330 bytes, all buffered before the next poll: ~330 KB, a third of
    // the simulator's maxPayload.
    let burst = json!({"n": 1000, "event": "ai_progress", "pad": 170, "rate": 0, "channel": "", "user": "test@example.com"});
    let done: Value = http
        .post(format!("{}/__sim/burst", sim.url()))
        .json(&burst)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["delivered"], 1000, "the burst reached the socket: {done}");
    let body = get(&http, &url, &origin).await;
    let events =
        body.split('\u{1e}').filter(|p| p.starts_with(r#"42/raven.test,["ai_progress""#)).count();
    assert_eq!(events, 1000, "one poll, every buffered event ({} bytes)", body.len());
    sim.shutdown().await;
}
