//! `sockeye-cli emit`: connect as an environment, emit one event (optionally waiting for its
//! ack), print what came back and what arrived while listening. The only command that writes
//! to a site, and only what the user typed.

use std::time::Duration;

use clap::Args;
use sockeye_core::emit::{EmitOutcome, parse_each};
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::state::LinkState;

use crate::CliError;
use crate::conn_args::ConnArgs;

#[derive(Debug, Args)]
pub struct EmitArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The event name.
    pub event: String,
    /// Arguments, each one JSON value (`'"text"'`, `42`, `'{"a":1}'`).
    pub args: Vec<String>,
    /// Ask for an ack and wait this many seconds for it; exit 1 when none comes.
    #[arg(long, value_name = "SECS")]
    pub ack: Option<f64>,
    /// After emitting, print the events that arrive for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pub listen: f64,
    /// How long to wait for the link before giving up.
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    pub connect_timeout: f64,
}

fn secs(s: f64, what: &str) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| CliError::Usage(format!("{what}: {s} is not a duration")))
}

pub async fn run(a: EmitArgs) -> Result<i32, CliError> {
    let args = parse_each(&a.args).map_err(|e| CliError::Usage(e.to_string()))?;
    let ack = a.ack.map(|s| secs(s, "--ack")).transpose()?;
    let listen = secs(a.listen, "--listen")?;
    let (mut targets, _) = a.conn.targets(false).await?;
    if targets.len() != 1 {
        return Err(CliError::Usage("emit takes one environment".into()));
    }
    let (_, target) = targets.remove(0);
    let opts = SessionOptions { transports: a.conn.transports(), ..Default::default() };
    let session = Session::spawn(target, opts);
    let mut events = session.events();
    let mut states = session.state();
    // Only whether the state came: `wait_for`'s guard would block the session's next state.
    let up = tokio::time::timeout(
        secs(a.connect_timeout, "--connect-timeout")?,
        states.wait_for(|s| {
            matches!(
                s.state,
                LinkState::Connected { .. }
                    | LinkState::Degraded { .. }
                    | LinkState::AuthFailed { .. }
                    | LinkState::Stopped { .. }
            )
        }),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let state = session.state().borrow().state.clone();
    if !up || !matches!(state, LinkState::Connected { .. } | LinkState::Degraded { .. }) {
        eprintln!("not connected: {}", state.describe());
        session.stop().await;
        return Ok(2);
    }
    let outcome = EmitOutcome::of(session.emit(&a.event, args, ack).await);
    match &outcome {
        EmitOutcome::Failed { .. } => eprintln!("{}", outcome.summary(&a.event)),
        _ => println!("{}", outcome.summary(&a.event)),
    }
    let code = outcome.exit_code();
    let deadline = tokio::time::Instant::now() + listen;
    while let Ok(Ok(e)) = tokio::time::timeout_at(deadline, events.recv()).await {
        println!("{} {}", e.name, e.payload.get());
    }
    session.stop().await;
    Ok(code)
}
