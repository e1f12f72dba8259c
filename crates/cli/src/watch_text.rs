//! How `watch` writes for people: colours on a terminal, clock times, one-line summaries.

use std::io::IsTerminal;

use sockeye_core::backfill::{GAP_EVENT, GapReport};
use sockeye_core::events::{AiProgress, EventKind, RealtimeEvent};
use sockeye_core::progress::FallbackReport;

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

pub fn clock(ms: u64) -> String {
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
