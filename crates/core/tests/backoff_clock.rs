//! A server that is gone for good, on tokio's paused clock: 15 minutes of reconnects run in
//! about a second. The delays grow to socket.io-client's 5 s cap and stay there (4–5 s with
//! the jitter); nothing turns into a hot loop, and the session never gives up.

mod common;

use std::time::Duration;

use common::*;
use sockeye_core::AuthMethod;
use sockeye_core::auth::Credentials;
use sockeye_core::secrets::Secret;
use sockeye_core::session::Session;
use sockeye_core::state::LinkState;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_server_gone_for_good_is_retried_every_5_s_for_15_minutes_and_more() {
    // A port below the ephemeral range with nothing listening (no self-connect possible).
    let port = (20000..32000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port");
    let url = format!("http://127.0.0.1:{port}");
    let t = target(&url, AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), &[]).await;
    let s = Session::spawn(t, fast_options());
    let mut states = s.state();
    let start = Instant::now();
    let end = start + Duration::from_secs(15 * 60);
    let mut attempts_at = Vec::new();
    while Instant::now() < end {
        tokio::select! {
            changed = states.changed() => {
                changed.expect("the session runs");
                if matches!(states.borrow_and_update().state, LinkState::Connecting { .. }) {
                    attempts_at.push(Instant::now());
                }
            }
            _ = tokio::time::sleep_until(end) => {}
        }
    }
    let gaps: Vec<f64> =
        attempts_at.windows(2).map(|w| w[1].duration_since(w[0]).as_secs_f64()).collect();
    let n = attempts_at.len();
    // Past the third delay every wait is the cap with its jitter: 4–5 s (plus the failed
    // attempt's own few milliseconds).
    let late: Vec<f64> = gaps.iter().skip(3).copied().collect();
    assert!(
        late.iter().all(|g| (4.0..=5.5).contains(g)),
        "{n} attempts; gaps past the third outside 4–5.5 s: {:?}",
        late.iter().filter(|g| !(4.0..=5.5).contains(*g)).collect::<Vec<_>>()
    );
    // 15 minutes at 4–5 s: 180–225 attempts. A hot loop would be thousands; giving up, a few.
    assert!((170..=235).contains(&n), "{n} attempts in 15 minutes: {gaps:?}");
    assert!(matches!(s.state().borrow().state, LinkState::Reconnecting { .. }));
    eprintln!(
        "{n} attempts in 15 virtual minutes; first gaps {:?}; late gaps {:.2}–{:.2} s",
        &gaps[..3.min(gaps.len())],
        late.iter().cloned().fold(f64::MAX, f64::min),
        late.iter().cloned().fold(0.0, f64::max)
    );
    s.stop().await;
}
