//! rust_socketio 0.6's async polling transport lost everything past the first ~8 KiB of a
//! poll response (a 10,000-event burst delivered 122). With the in-tree patch
//! (`patches/rust_engineio`) polling must be lossless: every event, in order, no reconnect.

mod common;

use std::time::Duration;

use common::*;
use sockeye_core::auth::Credentials;
use sockeye_core::secrets::Secret;
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::state::LinkState;
use sockeye_core::{AuthMethod, Transport};
use sockeye_sim::ScenarioParams;

#[tokio::test]
async fn ten_thousand_events_over_polling_only_arrive_complete_and_in_order() {
    let sim = sim().await;
    let t =
        target(&sim.url(), AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), &[]).await;
    let opts = SessionOptions {
        transports: vec![Transport::Polling],
        event_buffer: 20_000,
        ..fast_options()
    };
    let s = Session::spawn(t, opts);
    let mut events = s.events();
    match connected(&s).await {
        LinkState::Connected { transport, .. } => assert_eq!(transport, Transport::Polling),
        other => panic!("{other:?}"),
    }
    let since = s.state().borrow().since_ms;
    const N: u64 = 10_000;
    // ~300-byte events, so poll responses are far over 8 KiB.
    sim.run_scenario("burst", ScenarioParams { n: N, pad: 200, ..Default::default() }).unwrap();
    let mut expected = 1;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while expected <= N {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {N} arrived", expected - 1))
            .expect("no lag with a 20,000 buffer");
        if e.name != "ai_progress" {
            continue;
        }
        assert_eq!(e.json()["seq"].as_u64(), Some(expected), "out of order or lost");
        expected += 1;
    }
    let st = s.state().borrow().clone();
    assert!(st.state.is_connected(), "{st:?}");
    assert_eq!(st.since_ms, since, "the connection never dropped during the burst");
    s.stop().await;
    sim.shutdown().await;
}
