//! `sockeye-cli watch`: one line per state change and per event, or JSON lines.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::json;
use sockeye_core::backfill::{GAP_EVENT, GapReport};
use sockeye_core::events::{AiProgress, EventKind, RealtimeEvent};
use sockeye_core::progress::FallbackReport;
use sockeye_core::recording::{Header, Recorder, RecorderOptions, Redactor, parse_size};
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::state::{LinkState, StateSnapshot};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

use crate::CliError;
use crate::conn_args::ConnArgs;

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
    #[command(flatten)]
    pub record: RecordArgs,
}

/// Recording flags.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Also write the session to FILE as a recording (JSON lines, secrets redacted; replay it
    /// with `sockeye-cli sim --replay FILE`).
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
    /// The recorder for `target`, when asked for.
    pub fn start(
        &self,
        target: &sockeye_core::target::Target,
    ) -> Result<Option<Recorder>, CliError> {
        let Some(path) = &self.record else { return Ok(None) };
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
        Recorder::create(path, header, Redactor::for_target(target), options)
            .map(Some)
            .map_err(|e| CliError::Usage(e.to_string()))
    }
}

/// ANSI colours, only on a terminal and only without `NO_COLOR`.
pub struct Style {
    on: bool,
}

impl Style {
    pub fn detect() -> Style {
        Style {
            on: std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
    pub fn paint(&self, code: &str, s: &str) -> String {
        if self.on { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
}

fn clock(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:02}:{:02}:{:02}.{:03}", t.hour(), t.minute(), t.second(), t.millisecond())
}

fn clock_s(ms: u64) -> String {
    let mut c = clock(ms);
    c.truncate(8);
    c
}

/// A short human summary of an event.
pub fn summary(e: &RealtimeEvent) -> String {
    if e.name == GAP_EVENT
        && let Ok(r) = serde_json::from_str::<GapReport>(e.payload.get())
    {
        return r.summary(clock_s);
    }
    if let Some(r) = FallbackReport::from_event(e) {
        return r.summary();
    }
    let text = summary_of_kind(e);
    if e.recovered {
        format!("{text}  (recovered)")
    } else if e.polled {
        format!("{text}  (polled)")
    } else {
        text
    }
}

fn summary_of_kind(e: &RealtimeEvent) -> String {
    match &e.kind {
        EventKind::AiProgress(p) => match p {
            AiProgress::Thinking { message } => format!("thinking: {message}"),
            AiProgress::Plan { message } => format!("plan: {}", message.replace('\n', " | ")),
            AiProgress::Working { step, total, message } => {
                format!("working {step}/{total}: {message}")
            }
            AiProgress::StepComplete { step, message, error, .. } => {
                let mark = if error.is_some() { "✗" } else { "✓" };
                format!(
                    "{mark} step {}: {message}",
                    step.map(|s| s.to_string()).unwrap_or_default()
                )
            }
            AiProgress::Complete { message } => {
                format!("complete: {}", message.clone().unwrap_or_default())
            }
            AiProgress::Error { message } => format!("error: {message}"),
            AiProgress::Unknown { kind } => format!("({kind})"),
        },
        EventKind::Agent(a) => format!("{} {}: {}", a.workflow_id, a.kind, a.data),
        EventKind::MessageCreated(m) | EventKind::MessageEdited(m) => {
            format!("#{} {}: {}", m.channel_id, m.sender, m.content)
        }
        EventKind::MessageDeleted { channel_id, message_id } => {
            format!("#{channel_id} deleted {message_id}")
        }
        EventKind::AiEvent { channel_id, text } => format!("#{channel_id} {text}"),
        EventKind::AiEventClear { channel_id } => format!("#{channel_id} (ai cleared)"),
        EventKind::UnreadCountUpdated { channel_id } => format!("#{channel_id} unread updated"),
        EventKind::Pong => "pong".into(),
        EventKind::Other => {
            let mut s = e.payload.get().to_string();
            if s.len() > 160 {
                s.truncate(
                    s.char_indices()
                        .take_while(|(i, _)| *i < 160)
                        .last()
                        .map(|(i, _)| i)
                        .unwrap_or(0),
                );
                s.push('…');
            }
            match &e.parse_note {
                Some(n) => format!("{s}  [{n}]"),
                None => s,
            }
        }
    }
}

#[derive(Default)]
struct Stats {
    by_name: BTreeMap<String, u64>,
    reconnects: u64,
    connected_ms: u64,
    connected_since: Option<u64>,
}

impl Stats {
    fn on_state(&mut self, snap: &StateSnapshot, was_connected: bool) {
        let now = snap.since_ms;
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

    fn print(&mut self) {
        if let Some(s) = self.connected_since.take() {
            self.connected_ms += sockeye_core::events::now_ms().saturating_sub(s);
        }
        let total: u64 = self.by_name.values().sum();
        eprintln!(
            "--- {total} events, {} reconnects, connected {:.1} s",
            self.reconnects,
            self.connected_ms as f64 / 1000.0
        );
        for (name, n) in &self.by_name {
            eprintln!("  {n:>8}  {name}");
        }
    }
}

/// Where events come from. `--json` goes to files and pipes that must get every event: it
/// reads the session's lossless queue, so a slow reader slows the socket (TCP backpressure,
/// as node's client does). The human view reads the broadcast and says when it skipped.
enum Events {
    Lossless(mpsc::Receiver<Arc<RealtimeEvent>>),
    Live(broadcast::Receiver<Arc<RealtimeEvent>>),
}

impl Events {
    async fn recv(&mut self) -> Result<Arc<RealtimeEvent>, RecvError> {
        match self {
            Events::Lossless(rx) => rx.recv().await.ok_or(RecvError::Closed),
            Events::Live(rx) => rx.recv().await,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Events::Lossless(rx) => rx.is_empty(),
            Events::Live(rx) => rx.is_empty(),
        }
    }
}

pub async fn run(args: WatchArgs) -> Result<i32, CliError> {
    let (mut targets, _) = args.conn.targets(false).await?;
    if targets.len() != 1 {
        return Err(CliError::Usage("watch takes one environment".into()));
    }
    let (mut profile, target) = targets.remove(0);
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
    let mut opts = SessionOptions {
        transports: args.conn.transports(),
        ..SessionOptions::for_profile(&profile)
    };
    let mut recorder = args.record.start(&target)?;
    // A recording wants every event and every send.
    opts.echo_sent = recorder.is_some();
    let lossless = (args.json || recorder.is_some()).then(|| {
        let (tx, rx) = mpsc::channel(1024);
        opts.lossless = Some(tx);
        rx
    });
    let session = Session::spawn(target, opts);
    let mut states = session.state();
    let mut events = match lossless {
        Some(rx) => Events::Lossless(rx),
        None => Events::Live(session.events()),
    };
    let style = Style::detect();
    // Stdout is line-buffered; a BufWriter flushed when caught up turns a flood into big writes.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut stats = Stats::default();
    let mut seen: u64 = 0;
    let mut was_connected = false;
    let deadline = args.timeout.map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s));
    let timeout = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timeout);
    let mut flush_tick = tokio::time::interval(Duration::from_millis(100));
    let code = loop {
        tokio::select! {
            changed = states.changed() => {
                if changed.is_err() { break 1; }
                let snap = states.borrow_and_update().clone();
                if let Some(r) = recorder.as_mut() {
                    r.state(&snap);
                }
                stats.on_state(&snap, was_connected);
                was_connected = snap.state.is_connected();
                if args.json {
                    let mut v = serde_json::to_value(&snap).unwrap_or_default();
                    v["kind"] = json!("state");
                    let _ = writeln!(out, "{v}");
                } else {
                    let view = sockeye_core::views::LinkView::of(&snap);
                    let line = format!("{} {} {}", clock(snap.since_ms), style.paint("1", "state"), style.paint(view.tone.ansi(), &view.detail));
                    let _ = writeln!(out, "{line}");
                }
                let _ = out.flush();
                match &snap.state {
                    LinkState::AuthFailed { .. } => break 2,
                    LinkState::Stopped { .. } => break 1,
                    _ => {}
                }
            }
            ev = events.recv() => {
                match ev {
                    Ok(e) if !e.direction.is_in() => {
                        // Our own sends and their acks: for the recording only.
                        if let Some(r) = recorder.as_mut() {
                            r.event(&e);
                        }
                    }
                    Ok(e) => {
                        if let Some(r) = recorder.as_mut() {
                            r.event(&e);
                        }
                        seen += 1;
                        *stats.by_name.entry(e.name.clone()).or_default() += 1;
                        if args.json {
                            let _ = sockeye_core::event_line::write_line(&mut out, &e);
                        } else {
                            let room = e.room_hint.clone().unwrap_or_default();
                            let note = e.name == GAP_EVENT || e.name == sockeye_core::progress::PROGRESS_EVENT;
                            let name = style.paint(if note { "33" } else { "36" }, &e.name);
                            let _ = writeln!(out, "{} {} {} {}", clock(e.received_at_ms), name, style.paint("90", &room), summary(&e));
                        }
                        // Flush when caught up: line by line when events trickle, in big writes
                        // under a flood.
                        if events.is_empty() {
                            let _ = out.flush();
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        seen += n;
                        let _ = writeln!(out, "{}", if args.json { json!({"kind": "lagged", "dropped": n}).to_string() } else { format!("… {n} events dropped (output too slow)") });
                    }
                    Err(RecvError::Closed) => break 1,
                }
                if args.count.is_some_and(|n| seen >= n) {
                    break 0;
                }
            }
            _ = flush_tick.tick(), if recorder.is_some() => {
                if let Some(r) = recorder.as_mut() {
                    r.flush_if_due();
                    if let Some(e) = r.take_failure() {
                        eprintln!("sockeye-cli: {e}");
                    }
                }
            }
            _ = &mut timeout => {
                let snap = session.state().borrow().clone();
                eprintln!("timeout: {seen} events; last state: {}", snap.state.describe());
                break 1;
            }
            _ = tokio::signal::ctrl_c() => {
                stats.print();
                break 130;
            }
        }
    };
    if code == 2 && args.json {
        eprintln!("{}", session.state().borrow().state.describe());
    }
    session.stop().await;
    if let Some(mut r) = recorder {
        // The last state (stopped) goes in too.
        r.state(&session.state().borrow().clone());
        let status = r.finish(&session.state().borrow().state.describe());
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
    Ok(code)
}
