//! `sockeye-cli sim`: run the Frappe-compatible simulator in the foreground.

use clap::Args;
use sockeye_core::recording::Recording;
use sockeye_sim::config::User;
use sockeye_sim::replay::{ReplayEvent, ReplayOptions};
use sockeye_sim::{Mode, ScenarioParams, Sim, SimConfig, SimOptions};

use crate::CliError;

#[derive(Debug, Args)]
pub struct SimArgs {
    #[arg(long, default_value_t = 9000)]
    pub port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// v16 (Frappe develop), v15, or jwt (FastAPI + python-socketio agent server).
    #[arg(long, default_value = "v16")]
    pub mode: Mode,
    /// Site name (namespace `/<site>`).
    #[arg(long, default_value = sockeye_sim::config::DEFAULT_SITE)]
    pub site: String,
    /// Accept this sid (as test@example.com). Repeatable.
    #[arg(long)]
    pub sid: Vec<String>,
    /// Accept this API token KEY:SECRET. Repeatable.
    #[arg(long)]
    pub token: Vec<String>,
    /// Accept this login USER:PASSWORD. Repeatable.
    #[arg(long)]
    pub login: Vec<String>,
    /// Scenario to start: ai_run, ai_error, raven_chat, agent_run, burst, demo. Repeatable.
    #[arg(long)]
    pub scenario: Vec<String>,
    /// Multiplies the scenarios' human-paced gaps.
    #[arg(long, default_value_t = 1.0)]
    pub pace: f64,
    /// Fault knob K=V. Repeatable.
    #[arg(long)]
    pub fault: Vec<String>,
    /// How long the permission check before a room join takes, as the real realtime server's
    /// call to has_permission (joins are asynchronous: a post made at once misses the room).
    #[arg(long, default_value_t = 150)]
    pub permission_delay_ms: u64,
    #[command(flatten)]
    pub replay: ReplayArgs,
}

/// Serving a recording.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Serve the events of this recording (`watch --record`, the app's Record or export) to
    /// the clients that connect, into the rooms they were recorded in.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<std::path::PathBuf>,
    /// Play N times faster (0.5: twice as slow).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1.0,
        requires = "replay",
        conflicts_with = "max_speed"
    )]
    pub speed: f64,
    /// No gaps: every event as fast as possible.
    #[arg(long, requires = "replay")]
    pub max_speed: bool,
    /// Start again after the last event.
    #[arg(long = "loop", requires = "replay")]
    pub looped: bool,
    /// Start at once, not when the first client has connected and joined its rooms.
    #[arg(long, requires = "replay")]
    pub now: bool,
    /// Skip damaged lines (each is named on stderr) instead of refusing the file.
    #[arg(long, requires = "replay")]
    pub skip_bad: bool,
}

impl ReplayArgs {
    /// The recording's events and how to serve them, or a clear error naming the line.
    fn load(&self) -> Result<Option<(Vec<ReplayEvent>, ReplayOptions, String)>, CliError> {
        let Some(path) = &self.replay else { return Ok(None) };
        if !(self.speed > 0.0 && self.speed.is_finite()) {
            return Err(CliError::Usage(format!("--speed {}: give a number above 0", self.speed)));
        }
        let rec = Recording::open(path, self.skip_bad)
            .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
        for line in &rec.skipped {
            eprintln!("{}: line {line}: damaged, skipped", path.display());
        }
        let events: Vec<ReplayEvent> = rec.replay_events().into_iter().map(Into::into).collect();
        let about = rec.describe();
        let opts = ReplayOptions {
            speed: (!self.max_speed).then_some(self.speed),
            looped: self.looped,
            now: self.now,
            ..Default::default()
        };
        Ok(Some((events, opts, about)))
    }
}

pub async fn run(a: SimArgs) -> Result<i32, CliError> {
    let replay = a.replay.load()?;
    let mut config = SimConfig {
        mode: a.mode,
        sites: vec![a.site.clone()],
        default_site: a.site.clone(),
        permission_delay: std::time::Duration::from_millis(a.permission_delay_ms),
        ..SimConfig::default()
    };
    let user = sockeye_sim::config::DEFAULT_USER;
    for sid in &a.sid {
        config.add_session(sid, user);
    }
    for t in &a.token {
        if !t.contains(':') {
            return Err(CliError::Usage(format!("--token {t:?}: write KEY:SECRET")));
        }
        config.api_tokens.insert(t.clone(), user.into());
    }
    for l in &a.login {
        let (u, p) = l
            .split_once(':')
            .ok_or_else(|| CliError::Usage(format!("--login {l:?}: write USER:PASSWORD")))?;
        let entry = config.users.entry(u.to_string()).or_insert_with(|| User {
            user_type: "System User".into(),
            full_name: u.into(),
            password: None,
        });
        entry.password = Some(p.into());
        let perms = config.permissions.get(user).cloned().unwrap_or_default();
        config.permissions.entry(u.to_string()).or_insert(perms);
    }
    let mut faults = sockeye_sim::Faults::default();
    for f in &a.fault {
        faults.set(f).map_err(|e| CliError::Usage(e.to_string()))?;
    }
    let jwt_secret = config.jwt_secret.clone();
    let sim =
        Sim::start(SimOptions { addr: (a.bind, a.port).into(), config: config.clone(), faults })
            .await
            .map_err(|e| CliError::Usage(e.to_string()))?;
    let url = sim.url();
    println!("Sockeye simulator ({:?} mode) listening on {url}", a.mode);
    println!("  site (namespace)  /{}", a.site);
    println!("  valid Origin      {url}");
    match a.mode {
        Mode::Jwt => {
            let token = sockeye_sim::jwt::mint(Some("agent-user"), &jwt_secret, 24 * 3600);
            println!("  JWT (24 h)        {token}");
            println!("  try               sockeye-cli watch --url {url} --jwt {token}");
        }
        _ => {
            for sid in config.sessions.keys() {
                println!("  sid               {sid}");
            }
            for t in config.api_tokens.keys() {
                println!("  token             {t}");
            }
            for t in config.bearer_tokens.keys() {
                println!("  bearer            {t}");
            }
            for (u, rec) in &config.users {
                if let Some(p) = &rec.password {
                    println!("  login             {u}:{p}");
                }
            }
            println!(
                "  channels          {}",
                config.channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            );
            println!(
                "  try               sockeye-cli watch --url {url} --sid {} --channel general",
                config.sessions.keys().next().map(String::as_str).unwrap_or("good-sid")
            );
        }
    }
    println!("  control API       {url}/__sim/info, POST {url}/__sim/publish");
    for s in &a.scenario {
        sim.run_scenario(s, ScenarioParams { pace: a.pace, ..Default::default() })
            .map_err(|e| CliError::Usage(e.to_string()))?;
        println!("  scenario          {s} started");
    }
    if let Some((events, opts, about)) = replay {
        let wait =
            if opts.now { "now" } else { "when a client has connected and joined its rooms" };
        println!("  replay            {about}, starting {wait}");
        let done = sim.replay(events, opts);
        tokio::spawn(async move {
            if let Ok(n) = done.await {
                println!("replay done: {n} events served");
            }
        });
    }
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    Ok(0)
}
