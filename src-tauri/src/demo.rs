//! The embedded demo: with no environment configured, the app runs the simulator in-process
//! and connects a "Demo" environment to it, so a new user sees live agent runs and chat
//! within seconds. Nothing of it is written to the config file.

use std::sync::Arc;
use std::time::Duration;

use sockeye_core::auth::Credentials;
use sockeye_core::secrets::Secret;
use sockeye_core::{AuthMethod, Profile};
use sockeye_sim::{ScenarioParams, Sim, SimOptions};

use crate::app_state::Manager;

/// `SOCKEYE_DEMO_PORT` fixes the simulator's port (tests publish to it); `SOCKEYE_DEMO_PACE`
/// scales the scenario's gaps (default 1.0 = human pace); `SOCKEYE_DEMO_SCENARIO` names the
/// scenario (default `demo`; `none` for a quiet server, as the UI benchmark wants).
pub async fn start(m: &Arc<Manager>) -> Result<(), String> {
    let port: u16 =
        std::env::var("SOCKEYE_DEMO_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(0);
    let pace: f64 = std::env::var("SOCKEYE_DEMO_PACE")
        .ok()
        .and_then(|p| p.parse().ok())
        .filter(|p: &f64| *p > 0.0)
        .unwrap_or(1.0);
    let sim = Sim::start(SimOptions { addr: ([127, 0, 0, 1], port).into(), ..Default::default() })
        .await
        .map_err(|e| e.to_string())?;
    let mut p = Profile::new("Demo", &sim.url(), AuthMethod::Sid).map_err(|e| e.to_string())?;
    p.site = Some(sim.site());
    p.subscriptions.channels = vec!["general".into(), "engineering".into()];
    p.subscriptions.doctypes = vec!["Raven User".into()];
    // The simulator answers agent progress over REST too: stop its realtime side (its
    // `bad_gateway` knob) and the demo's runs keep moving, polled.
    p.progress_endpoint = Some(sockeye_sim::progress::PROGRESS_METHOD.into());
    let target = sockeye_core::target::resolve_with(
        &p,
        Credentials::Sid(Secret::new(sockeye_sim::config::DEFAULT_SID)),
    )
    .await;
    tracing::info!("demo simulator on {}", sim.url());
    m.start(p, target, true);
    let session = m.session("Demo").map_err(|e| e.to_string())?;
    let state = sim.state().clone();
    m.set_demo_sim(sim);
    // Start the scenario once the demo session listens, so the first run is seen whole.
    tauri::async_runtime::spawn(async move {
        let mut rx = session.state();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|s| s.state.is_connected()))
                .await;
        let scenario = std::env::var("SOCKEYE_DEMO_SCENARIO").unwrap_or_else(|_| "demo".into());
        if scenario != "none"
            && let Err(e) = sockeye_sim::scenarios::spawn(
                &state,
                &scenario,
                ScenarioParams { pace, ..Default::default() },
            )
        {
            tracing::error!("demo scenario: {e}");
        }
    });
    Ok(())
}
