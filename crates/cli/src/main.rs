//! `sockeye-cli`: Sockeye without a GUI — watch a realtime link, diagnose it, manage
//! environments, run the simulator. Exit codes: 0 ok, 1 warnings / not reached, 2 failure,
//! 3 bad arguments or config.

mod conn_args;
mod diagnose_cmd;
mod emit_cmd;
mod env_cmd;
mod metrics_serve;
mod sim_cmd;
mod watch;
mod watch_feed;
mod watch_text;

use clap::{Parser, Subcommand};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] sockeye_core::config_file::ConfigError),
    #[error(transparent)]
    Target(#[from] sockeye_core::target::TargetError),
    #[error(transparent)]
    Secret(#[from] sockeye_core::secrets::SecretError),
    #[error(transparent)]
    Credentials(#[from] sockeye_core::credentials_file::CredentialsFileError),
    #[error("--metrics: cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
}

#[derive(Debug, Parser)]
#[command(
    name = "sockeye-cli",
    version,
    about = "Watch and diagnose Frappe / Socket.IO realtime links"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Connect and print state changes and events as they arrive.
    Watch(watch::WatchArgs),
    /// Say exactly what is broken in a realtime link, and how to fix it.
    Diagnose(diagnose_cmd::DiagnoseArgs),
    /// Emit one event (optionally with an ack) and print the answer.
    Emit(emit_cmd::EmitArgs),
    /// Manage saved environments.
    #[command(subcommand)]
    Env(env_cmd::EnvCmd),
    /// Run the Frappe-compatible simulator.
    Sim(sim_cmd::SimArgs),
}

fn main() {
    let cli = Cli::parse();
    // A watcher run as a service logs its state changes at info; everything else only warns.
    let default_filter = match &cli.cmd {
        Cmd::Watch(a) if a.logs_states() => "warn,sockeye_cli=info",
        _ => "warn",
    };
    sockeye_core::logging::init(default_filter);
    // A watcher is one connection: a single-threaded runtime does all its work without
    // cross-thread wake-ups and keeps the process small (it is meant to sit on a server for
    // days). The simulator serves many sockets and gets every core.
    let rt = match cli.cmd {
        Cmd::Sim(_) => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sockeye-cli: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    let result = rt.block_on(async move {
        match cli.cmd {
            Cmd::Watch(a) => watch::run(a).await,
            Cmd::Diagnose(a) => diagnose_cmd::run(a).await,
            Cmd::Emit(a) => emit_cmd::run(a).await,
            Cmd::Env(c) => env_cmd::run(c).map(|()| 0),
            Cmd::Sim(a) => sim_cmd::run(a).await,
        }
    });
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sockeye-cli: {e}");
            3
        }
    };
    std::process::exit(code);
}
