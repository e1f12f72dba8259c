//! The embedded demo: with no environment configured, the app runs the simulator in-process
//! and connects a "Demo" environment to it, so a new user sees live agent runs and chat
//! within seconds. Nothing of it is written to the config file.

use std::sync::Arc;
use std::time::Duration;

use sockeye_core::auth::Credentials;
use sockeye_core::recording::Recording;
use sockeye_core::secrets::Secret;
use sockeye_core::{AuthMethod, Profile};
use sockeye_sim::replay::{ReplayEvent, ReplayOptions};
use sockeye_sim::{ScenarioParams, Sim, SimOptions};

use crate::app_state::Manager;

/// The recording the demo replays instead of its scenarios: `SOCKEYE_DEMO_RECORDING`, else
/// the setting. Its events, looped, as recorded (sandbox vs prod side by side: two
/// recordings, two app windows).
fn recording(m: &Manager) -> Result<Option<(Vec<ReplayEvent>, String)>, String> {
    let path = std::env::var_os("SOCKEYE_DEMO_RECORDING")
        .map(std::path::PathBuf::from)
        .or_else(|| m.with_config(|c| c.settings.demo_recording.clone()));
    let Some(path) = path else { return Ok(None) };
    let rec = Recording::open(&path, true).map_err(|e| format!("{}: {e}", path.display()))?;
    let about = format!("{}: {}", path.display(), rec.describe());
    Ok(Some((rec.replay_events().into_iter().map(Into::into).collect(), about)))
}

/// `SOCKEYE_DEMO_PORT` fixes the simulator's port (tests publish to it); `SOCKEYE_DEMO_PACE`
/// scales the scenario's gaps (default 1.0 = human pace); `SOCKEYE_DEMO_SCENARIO` names the
/// scenario (default `demo`; `none` for a quiet server, as the UI benchmark wants);
/// `SOCKEYE_DEMO_RECORDING` (or the setting) replays a recording instead.
pub async fn start(m: &Arc<Manager>) -> Result<(), String> {
    let replay = recording(m)?;
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
    if let Some((events, about)) = replay {
        tracing::info!("demo replays {about}");
        // The replay waits for the session to connect and join the recording's rooms.
        // Looped: it never answers; the receiver is not needed.
        drop(sim.replay(events, ReplayOptions { looped: true, ..Default::default() }));
        m.set_demo_sim(sim);
        return Ok(());
    }
    m.set_demo_sim(sim);
    // Start the scenario once the demo session listens, so the first run is seen whole.
    tokio::spawn(async move {
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
