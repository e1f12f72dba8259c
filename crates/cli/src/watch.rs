//! `sockeye-cli watch`: one line per state change and per event, or JSON lines; for one
//! environment or several (`--env A --env B`, `--all`), optionally exporting metrics
//! (`--metrics`). Without `--json` and without a terminal it runs as a service: state changes
//! are log lines with levels on stderr, events stay on stdout, SIGTERM stops it cleanly.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use futures_util::StreamExt;
use serde_json::json;
use sockeye_core::backfill::GAP_EVENT;
use sockeye_core::diagnose::DiagnoseOptions;
use sockeye_core::events::now_ms;
use sockeye_core::metrics::FleetMetrics;
use sockeye_core::recording::{Header, Recorder, RecorderOptions, Redactor, parse_size};
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::state::{LinkState, StateSnapshot};
use tokio::sync::mpsc;

use crate::CliError;
use crate::conn_args::ConnArgs;
use crate::metrics_serve::{self, SharedMetrics};
use crate::watch_feed::{self, Events, Item};
use crate::watch_text::{Style, clock, summary};

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Exit 0 after this many events were received (events the output was too slow to print
    /// count too: they arrived, and a `lagged` line says how many were skipped).
    #[arg(long)]
    pub count: Option<u64>,
    /// Exit 1 with the last state if `--count` was not reached in this many seconds.
    #[arg(long)]
    pub timeout: Option<f64>,
    /// After a reconnect, do not fetch the Raven messages missed while the link was down
    /// (the gap is still marked). Default: the environment's setting (on).
    #[arg(long)]
    pub no_backfill: bool,
    /// At most this many missed messages per channel per gap (the newest are kept).
    /// Default: the environment's setting (200).
    #[arg(long, value_name = "N")]
    pub backfill_max: Option<usize>,
    /// Poll this method (`ai_assistant.api.get_progress`) for open agent runs while realtime
    /// is down. Default: the environment's setting (none).
    #[arg(long, value_name = "METHOD")]
    pub progress_endpoint: Option<String>,
    /// Every saved environment.
    #[arg(long, conflicts_with = "url")]
    pub all: bool,
    /// Serve Prometheus metrics (OpenMetrics) at http://ADDR/metrics, e.g. 127.0.0.1:9464.
    /// With metrics the watcher keeps running when a link fails for good (the state is
    /// exported) instead of exiting.
    #[arg(long, value_name = "ADDR", value_parser = metrics_serve::parse_addr)]
    pub metrics: Option<SocketAddr>,
    /// Diagnose every environment now and then at this interval (`10m`, `1h`; at least 1m)
    /// and export each probe's result and duration.
    #[arg(long, value_name = "INTERVAL", requires = "metrics", value_parser = metrics_serve::parse_interval)]
    pub diagnose_every: Option<Duration>,
    #[command(flatten)]
    pub record: RecordArgs,
}

/// Recording flags.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Also write the session to FILE as a recording (JSON lines, secrets redacted; replay it
    /// with `sockeye-cli sim --replay FILE`). With several environments, one file each:
    /// FILE's name gets the environment's (`prod.jsonl` → `prod.sandbox.jsonl`).
    #[arg(long, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,
    /// Rotate the recording past this size (FILE.1, FILE.2, …; 0: never).
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size, requires = "record")]
    pub record_max_size: u64,
    /// Rotated recording files kept.
    #[arg(long, value_name = "N", default_value_t = 3, requires = "record")]
    pub record_keep: usize,
}

impl RecordArgs {
    /// The recorder for `target`, when asked for; `many`: one file per environment.
    pub fn start(
        &self,
        target: &sockeye_core::target::Target,
        many: bool,
    ) -> Result<Option<Recorder>, CliError> {
        let Some(path) = &self.record else { return Ok(None) };
        let path = if many { per_environment(path, &target.name) } else { path.clone() };
        let header = Header::new(
            "watch",
            Some(&target.name),
            Some(&target.base_url),
            Some(&target.namespace),
        );
        let options = RecorderOptions {
            max_bytes: self.record_max_size,
            keep: self.record_keep,
            ..Default::default()
        };
        Recorder::create(&path, header, Redactor::for_target(target), options)
            .map(Some)
            .map_err(|e| CliError::Usage(e.to_string()))
    }
}

/// `dir/prod.jsonl` for environment `sandbox` → `dir/prod.sandbox.jsonl`.
fn per_environment(path: &std::path::Path, env: &str) -> std::path::PathBuf {
    let safe: String = env
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{safe}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{safe}"),
    };
    path.with_file_name(name)
}

impl WatchArgs {
    /// Service mode: state changes as log lines on stderr (with levels), not on stdout.
    pub fn logs_states(&self) -> bool {
        !self.json && !std::io::stdout().is_terminal()
    }
}

#[derive(Default)]
struct Stats {
    by_name: BTreeMap<String, u64>,
    reconnects: u64,
    connected_ms: u64,
    connected_since: Option<u64>,
    was_connected: bool,
}

impl Stats {
    fn on_state(&mut self, snap: &StateSnapshot) {
        let now = snap.since_ms;
        let was_connected = std::mem::replace(&mut self.was_connected, snap.state.is_connected());
        if snap.state.is_connected() && !was_connected {
            self.connected_since = Some(now);
        } else if !snap.state.is_connected() && was_connected {
            if let Some(s) = self.connected_since.take() {
                self.connected_ms += now.saturating_sub(s);
            }
            if matches!(snap.state, LinkState::Reconnecting { .. } | LinkState::Connecting { .. }) {
                self.reconnects += 1;
            }
        }
    }

    fn print(&mut self, env: Option<&str>) {
        if let Some(s) = self.connected_since.take() {
            self.connected_ms += now_ms().saturating_sub(s);
        }
        let total: u64 = self.by_name.values().sum();
        let env = env.map(|e| format!("{e}: ")).unwrap_or_default();
        eprintln!(
            "--- {env}{total} events, {} reconnects, connected {:.1} s",
            self.reconnects,
            self.connected_ms as f64 / 1000.0
        );
        for (name, n) in &self.by_name {
            eprintln!("  {n:>8}  {name}");
        }
    }
}

/// A state change as a service log line: its level says how bad it is.
fn log_state(snap: &StateSnapshot) {
    let (env, what) = (&snap.profile, snap.state.describe());
    match snap.state {
        LinkState::AuthFailed { .. } => tracing::error!("{env}: {what}"),
        LinkState::Degraded { .. } | LinkState::Reconnecting { .. } | LinkState::Stopped { .. } => {
            tracing::warn!("{env}: {what}")
        }
        _ => tracing::info!("{env}: {what}"),
    }
}

/// SIGTERM (systemd's stop), or never where there is no such signal.
async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        s.recv().await;
        return;
    }
    std::future::pending::<()>().await
}

pub async fn run(args: WatchArgs) -> Result<i32, CliError> {
    let (targets, config) = args.conn.targets(args.all).await?;
    let mut prepared = Vec::new();
    for (mut profile, target) in targets {
        // The flags override the environment's settings; the profile's rules check them.
        if args.no_backfill {
            profile.backfill.enabled = false;
        }
        if let Some(n) = args.backfill_max {
            profile.backfill.max_per_gap = n;
        }
        if let Some(e) = &args.progress_endpoint {
            profile.progress_endpoint = Some(e.clone()).filter(|e| !e.is_empty());
        }
        profile.validate().map_err(|e| CliError::Usage(e.to_string()))?;
        prepared.push((profile, target));
    }
    let names: Vec<String> = prepared.iter().map(|(_, t)| t.name.clone()).collect();
    let many = names.len() > 1;
    // One link of one environment ends the watch when it fails for good; a fleet, or an
    // exporter, keeps watching the others and shows the failure.
    let service = many || args.metrics.is_some();
    let metrics: Option<SharedMetrics> = match args.metrics {
        Some(addr) => {
            let m = FleetMetrics::new(names.iter().map(String::as_str), now_ms());
            let m = Arc::new(Mutex::new(m));
            let bound = metrics_serve::serve(addr, m.clone()).await?;
            tracing::info!("metrics at http://{bound}/metrics");
            Some(m)
        }
        None => None,
    };
    if let (Some(every), Some(m)) = (args.diagnose_every, &metrics) {
        let runs = prepared
            .iter()
            .map(|(p, t)| {
                let deployment = p.deployment_type(&config.settings.production_hosts);
                (t.clone(), DiagnoseOptions { deployment, ..Default::default() })
            })
            .collect();
        metrics_serve::diagnose_every(runs, every, m.clone());
    }
    let mut sessions = Vec::new();
    let mut recorders = Vec::new();
    for (profile, target) in prepared {
        let mut opts = SessionOptions {
            transports: args.conn.transports(),
            ..SessionOptions::for_profile(&profile)
        };
        let recorder = args.record.start(&target, many)?;
        // A recording wants every event and every send.
        opts.echo_sent = recorder.is_some();
        let lossless = (args.json || recorder.is_some()).then(|| {
            let (tx, rx) = mpsc::channel(1024);
            opts.lossless = Some(tx);
            rx
        });
        let session = Session::spawn(target, opts);
        let events = match lossless {
            Some(rx) => Events::Lossless(rx),
            None => Events::Live(session.events()),
        };
        sessions.push((session, events));
        recorders.push(recorder);
    }
    let recording = recorders.iter().any(Option::is_some);
    let mut flush_tick = tokio::time::interval(Duration::from_millis(100));
    let handles: Vec<Session> = sessions.iter().map(|(s, _)| s.clone()).collect();
    let mut feeds = watch_feed::merge(sessions);
    let mut open = handles.len();
    let style = Style::detect();
    let log_states = args.logs_states();
    // Stdout is line-buffered; a BufWriter flushed when caught up turns a flood into big writes.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut stats: Vec<Stats> = names.iter().map(|_| Stats::default()).collect();
    let mut seen: u64 = 0;
    let deadline = args.timeout.map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s));
    let timeout = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timeout);
    let term = terminated();
    tokio::pin!(term);
    let code = loop {
        tokio::select! {
            item = feeds.next() => {
                let Some((i, item)) = item else { break 1 };
                let env = names[i].as_str();
                match item {
                    Item::State(snap) => {
                        if let Some(r) = recorders[i].as_mut() {
                            r.state(&snap);
                        }
                        if let Some(m) = &metrics && let Ok(mut m) = m.lock() {
                            m.on_state(&snap);
                        }
                        stats[i].on_state(&snap);
                        if args.json {
                            let mut v = serde_json::to_value(&snap).unwrap_or_default();
                            v["kind"] = json!("state");
                            let _ = writeln!(out, "{v}");
                        } else if log_states {
                            log_state(&snap);
                        } else {
                            let view = sockeye_core::views::LinkView::of(&snap);
                            let who = if many { format!("{env} ") } else { String::new() };
                            let line = format!("{} {who}{} {}", clock(snap.since_ms), style.paint("1", "state"), style.paint(view.tone.ansi(), &view.detail));
                            let _ = writeln!(out, "{line}");
                        }
                        let _ = out.flush();
                        match &snap.state {
                            LinkState::AuthFailed { .. } if !service => break 2,
                            LinkState::Stopped { .. } if !service => break 1,
                            _ => {}
                        }
                    }
                    Item::Event(e, _) if !e.direction.is_in() => {
                        // Our own sends and their acks: for the recording only.
                        if let Some(r) = recorders[i].as_mut() {
                            r.event(&e);
                        }
                    }
                    Item::Event(e, caught_up) => {
                        if let Some(r) = recorders[i].as_mut() {
                            r.event(&e);
                        }
                        seen += 1;
                        if let Some(m) = &metrics && let Ok(mut m) = m.lock() {
                            m.on_event(env, &e);
                        }
                        *stats[i].by_name.entry(e.name.clone()).or_default() += 1;
                        if args.json {
                            let _ = sockeye_core::event_line::write_line_of(&mut out, &e, many.then_some(env));
                        } else {
                            let room = e.room_hint.clone().unwrap_or_default();
                            let note = e.name == GAP_EVENT || e.name == sockeye_core::progress::PROGRESS_EVENT;
                            let name = style.paint(if note { "33" } else { "36" }, &e.name);
                            let who = if many { format!("{env} ") } else { String::new() };
                            let _ = writeln!(out, "{} {who}{} {} {}", clock(e.received_at_ms), name, style.paint("90", &room), summary(&e));
                        }
                        // Flush when caught up: line by line when events trickle, in big writes
                        // under a flood.
                        if caught_up {
                            let _ = out.flush();
                        }
                    }
                    Item::Lagged(n) => {
                        seen += n;
                        let _ = writeln!(out, "{}", if args.json { json!({"kind": "lagged", "env": env, "dropped": n}).to_string() } else { format!("… {n} events dropped (output too slow)") });
                    }
                    Item::Closed => {
                        open -= 1;
                        if open == 0 {
                            break 1;
                        }
                    }
                }
                if args.count.is_some_and(|n| seen >= n) {
                    break 0;
                }
            }
            _ = flush_tick.tick(), if recording => {
                for r in recorders.iter_mut().flatten() {
                    r.flush_if_due();
                    if let Some(e) = r.take_failure() {
                        eprintln!("sockeye-cli: {e}");
                    }
                }
            }
            _ = &mut timeout => {
                for s in &handles {
                    let snap = s.state().borrow().clone();
                    let who = if many { format!(" of {}", snap.profile) } else { String::new() };
                    eprintln!("timeout: {seen} events; last state{who}: {}", snap.state.describe());
                }
                break 1;
            }
            _ = tokio::signal::ctrl_c() => {
                for (s, name) in stats.iter_mut().zip(&names) {
                    s.print(many.then_some(name.as_str()));
                }
                break 130;
            }
            _ = &mut term => {
                tracing::info!("SIGTERM: closing {} session(s)", handles.len());
                break 0;
            }
        }
    };
    let _ = out.flush();
    if code == 2 && args.json {
        for s in &handles {
            eprintln!("{}", s.state().borrow().state.describe());
        }
    }
    futures_util::future::join_all(handles.iter().map(Session::stop)).await;
    for (r, session) in recorders.into_iter().zip(&handles) {
        let Some(mut r) = r else { continue };
        // The last state (stopped) goes in too.
        let last = session.state().borrow().clone();
        r.state(&last);
        let status = r.finish(&last.state.describe());
        match &status.error {
            Some(e) => eprintln!("sockeye-cli: {e}"),
            None => eprintln!(
                "recorded {} events ({} bytes) to {}",
                status.events,
                status.bytes,
                status.path.display()
            ),
        }
    }
    if log_states && code == 0 {
        tracing::info!("stopped");
    }
    Ok(code)
}
