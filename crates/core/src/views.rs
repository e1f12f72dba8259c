//! View models: labels, tones (colours) and counts for a link state, a run and a message,
//! computed once here and shown as they are by the page, the tray and the CLI.

use serde::Serialize;

use crate::backfill::{GAP_EVENT, GapReport};
use crate::events::{EventKind, RealtimeEvent};
use crate::rich_text::{self, RichNode};
use crate::runs::{Run, RunStatus};
use crate::state::{LinkState, StateSnapshot};

/// The colour family of a state. The page maps it to CSS, the tray to an icon, the CLI to an
/// ANSI colour; worst last, so the aggregate of several is the `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// Healthy (green).
    Ok,
    /// Notifications muted while healthy (grey).
    Muted,
    /// Connecting, logging in (amber).
    Busy,
    /// Connected but not healthy (purple).
    Degraded,
    /// Down, auth failed, stopped (red).
    Down,
}

impl Tone {
    /// SGR colour for terminals.
    pub fn ansi(self) -> &'static str {
        match self {
            Tone::Ok => "32",
            Tone::Busy => "33",
            Tone::Degraded => "35",
            Tone::Down => "31",
            Tone::Muted => "90",
        }
    }
}

/// A link state as every shell shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkView {
    /// `connected`, `reconnecting`, … (the state's name, for styling and tests).
    pub state: &'static str,
    pub tone: Tone,
    /// Short: `connected · websocket · 12 ms · user` (menus, pills).
    pub label: String,
    /// One full line (`LinkState::describe`).
    pub detail: String,
    /// When reconnecting: when the next attempt is due (the page shows a countdown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<u64>,
    pub since_ms: u64,
}

impl LinkView {
    pub fn of(snap: &StateSnapshot) -> LinkView {
        let s = &snap.state;
        let tone = match s {
            LinkState::Connected { .. } => Tone::Ok,
            LinkState::Idle | LinkState::Connecting { .. } | LinkState::Authenticating { .. } => {
                Tone::Busy
            }
            LinkState::Degraded { .. } => Tone::Degraded,
            LinkState::Reconnecting { .. }
            | LinkState::AuthFailed { .. }
            | LinkState::Stopped { .. } => Tone::Down,
        };
        let label = match s {
            LinkState::Connected { transport, user, rtt_ms, eio, .. } => {
                let mut l = format!("connected · {transport}");
                if *eio == crate::wire::EioVersion::V3 {
                    l.push_str(" (Socket.IO v2)");
                }
                if let Some(r) = rtt_ms {
                    l.push_str(&format!(" · {r} ms"));
                }
                if let Some(u) = user {
                    l.push_str(&format!(" · {u}"));
                }
                l
            }
            LinkState::Degraded { reason, .. } => format!("degraded · {reason}"),
            LinkState::AuthFailed { message } => format!("auth failed · {message}"),
            LinkState::Reconnecting { attempt, last_error, .. } => {
                format!("reconnecting · attempt {attempt} · {last_error}")
            }
            LinkState::Connecting { attempt: 0 } => "connecting".into(),
            LinkState::Connecting { attempt } => format!("connecting · attempt {}", attempt + 1),
            LinkState::Authenticating { step } => format!("authenticating · {step}"),
            LinkState::Stopped { reason } => format!("stopped · {reason}"),
            LinkState::Idle => "idle".into(),
        };
        let retry_at_ms = match s {
            LinkState::Reconnecting { next_retry_at_ms, .. } => Some(*next_retry_at_ms),
            _ => None,
        };
        LinkView {
            state: s.name(),
            tone,
            label,
            detail: s.describe(),
            retry_at_ms,
            since_ms: snap.since_ms,
        }
    }

    /// The short label for a tray menu line (the state name with its transport when up).
    pub fn short(&self) -> String {
        match self.state {
            "connected" => self.label.split(" · ").take(3).collect::<Vec<_>>().join(" · "),
            other => other.replace('_', " "),
        }
    }
}

/// The tone of several environments together: the worst; `Muted` for healthy-but-muted.
pub fn aggregate<'a>(tones: impl IntoIterator<Item = &'a LinkView>, muted: bool) -> Tone {
    let worst = tones.into_iter().map(|v| v.tone).max().unwrap_or(Tone::Busy);
    if muted && worst == Tone::Ok { Tone::Muted } else { worst }
}

/// A run card with its labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunView {
    #[serde(flatten)]
    pub run: Run,
    /// `running`, `✓ complete`, `✗ failed`.
    pub status_label: &'static str,
    /// `working k/n`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_label: Option<String>,
    /// One mark per step: `✓` done, `✗` failed, `•` pending.
    pub step_marks: Vec<&'static str>,
    /// A fingerprint of `steps` (and so of `step_marks`): equal fingerprints, equal steps.
    pub steps_sig: u64,
    /// `steps` and `step_marks` were left out (`without_steps`): the receiver keeps the ones
    /// it has for `steps_sig`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub steps_omitted: bool,
}

impl RunView {
    pub fn of(run: Run) -> RunView {
        let status_label = match run.status {
            RunStatus::Running => "running",
            RunStatus::Complete => "✓ complete",
            RunStatus::Failed => "✗ failed",
        };
        let progress_label = run.progress.map(|(k, n)| format!("working {k}/{n}"));
        let step_marks = run
            .steps
            .iter()
            .map(|s| match s.done {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "•",
            })
            .collect();
        let steps_sig = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            run.steps.hash(&mut h);
            h.finish()
        };
        RunView { run, status_label, progress_label, step_marks, steps_sig, steps_omitted: false }
    }

    /// This view without its steps and their marks. A running agent moves its headline and
    /// progress on every event while its plan (up to `crate::runs::MAX_STEPS` rows) stays put; sent whole
    /// each time, the plan was most of the bytes and nearly all the objects a window parsed.
    pub fn without_steps(&self) -> RunView {
        RunView {
            run: self.run.without_steps(),
            status_label: self.status_label,
            progress_label: self.progress_label.clone(),
            step_marks: Vec::new(),
            steps_sig: self.steps_sig,
            steps_omitted: true,
        }
    }
}

/// A Raven message ready to show: sanitised rich text plus the plain `content` fallback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    pub env: String,
    pub channel: String,
    pub sender: String,
    pub id: String,
    pub at_ms: u64,
    pub bot: bool,
    pub edited: bool,
    /// Raven's plain `content` (search, notifications, the fallback when `rich` is empty).
    pub content: String,
    /// The sanitised `text` (see [`rich_text`]); empty when the message had no HTML text.
    pub rich: Vec<RichNode>,
    /// Fetched after a gap in the link, not received live.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
    /// Set on the gap marker, an item of every channel's feed of the environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<GapView>,
}

/// A gap marker as the feed and the log show it: "link down 10:31:02–10:31:09 · 3 messages
/// recovered" (the page formats the times in the user's zone).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapView {
    pub what: &'static str,
    pub down_from_ms: u64,
    pub down_to_ms: u64,
    pub detail: String,
    /// Warn when something could not be recovered.
    pub tone: Tone,
}

impl GapView {
    pub fn of(r: &GapReport) -> GapView {
        let failed = r.error.is_some() || r.capped || r.channels.iter().any(|c| c.error.is_some());
        GapView {
            what: r.what(),
            down_from_ms: r.down_from_ms,
            down_to_ms: r.down_to_ms,
            detail: r.detail(),
            tone: if failed { Tone::Degraded } else { Tone::Ok },
        }
    }

    /// The gap report a `sockeye:gap` event carries.
    pub fn from_event(e: &RealtimeEvent) -> Option<GapView> {
        if e.name != GAP_EVENT {
            return None;
        }
        serde_json::from_str::<GapReport>(e.payload.get()).ok().map(|r| GapView::of(&r))
    }
}

impl MessageView {
    /// The view of a `message_created` / `message_edited` event; `None` for anything else.
    pub fn of(env: &str, e: &RealtimeEvent) -> Option<MessageView> {
        let (m, edited) = match &e.kind {
            EventKind::MessageCreated(m) => (m, false),
            EventKind::MessageEdited(m) => (m, true),
            _ => return None,
        };
        let html = m.html.as_deref().unwrap_or_default();
        let rich = if html.trim().is_empty() { Vec::new() } else { rich_text::render(html) };
        let content =
            if m.content.is_empty() { rich_text::plain(&rich) } else { m.content.to_string() };
        Some(MessageView {
            env: env.into(),
            channel: m.channel_id.to_string(),
            sender: m.sender.to_string(),
            id: m.message_id.to_string(),
            at_ms: e.received_at_ms,
            bot: m.is_bot_message,
            edited,
            content,
            rich,
            recovered: e.recovered,
            gap: None,
        })
    }

    /// The feed item of a gap marker (channel empty: it belongs to every channel).
    pub fn gap(env: &str, e: &RealtimeEvent, gap: GapView) -> MessageView {
        MessageView {
            env: env.into(),
            channel: String::new(),
            sender: String::new(),
            id: format!("gap-{}", gap.down_from_ms),
            at_ms: e.received_at_ms,
            bot: false,
            edited: false,
            content: format!("{} · {}", gap.what, gap.detail),
            rich: Vec::new(),
            recovered: false,
            gap: Some(gap),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Transport;

    fn snap(state: LinkState) -> StateSnapshot {
        StateSnapshot { profile: "p".into(), state, since_ms: 1 }
    }

    #[test]
    fn link_labels_and_tones() {
        let up = LinkView::of(&snap(LinkState::Connected {
            transport: Transport::Websocket,
            user: Some("u@x".into()),
            rtt_ms: Some(12),
            eio: crate::wire::EioVersion::V4,
            fallback: None,
            malformed: 0,
        }));
        assert_eq!(
            (up.tone, up.label.as_str(), up.short().as_str()),
            (Tone::Ok, "connected · websocket · 12 ms · u@x", "connected · websocket · 12 ms")
        );
        let down = LinkView::of(&snap(LinkState::Reconnecting {
            attempt: 2,
            next_retry_at_ms: 99,
            last_error: "refused".into(),
        }));
        assert_eq!(
            (down.tone, down.retry_at_ms, down.short().as_str()),
            (Tone::Down, Some(99), "reconnecting")
        );
        let bad = LinkView::of(&snap(LinkState::AuthFailed {
            message: "Invalid login credentials".into(),
        }));
        assert_eq!(bad.label, "auth failed · Invalid login credentials");
        assert_eq!(aggregate([&up, &down], false), Tone::Down);
        assert_eq!(aggregate([&up], true), Tone::Muted);
        assert_eq!(aggregate([], false), Tone::Busy);
    }

    #[test]
    fn a_run_without_its_steps_keeps_the_rest_and_the_steps_fingerprint() {
        use crate::runs::RunTracker;
        let mut t = RunTracker::new("e", 5);
        let mut view = |v: serde_json::Value| {
            let e = RealtimeEvent::from_args("ai_progress", vec![v], Some("u@x"));
            RunView::of(t.apply(&e).unwrap().run().clone())
        };
        let planned = view(serde_json::json!({"type":"plan","message":"1. Read\n2. Edit"}));
        let working =
            view(serde_json::json!({"type":"working","step":1,"total":2,"message":"Reading"}));
        let done =
            view(serde_json::json!({"type":"step_complete","step":1,"total":2,"message":"Read"}));
        assert_eq!(
            planned.steps_sig, working.steps_sig,
            "progress alone leaves the steps as they were"
        );
        assert_ne!(working.steps_sig, done.steps_sig, "a step marked done is a new fingerprint");

        let head = working.without_steps();
        let json = serde_json::to_value(&head).unwrap();
        assert_eq!(json["steps"], serde_json::json!([]));
        assert_eq!(json["step_marks"], serde_json::json!([]));
        assert_eq!(json["steps_omitted"], true);
        assert_eq!(json["steps_sig"], serde_json::json!(working.steps_sig));
        let whole = serde_json::to_value(&working).unwrap();
        assert!(whole.get("steps_omitted").is_none());
        for key in [
            "env",
            "id",
            "source",
            "status",
            "headline",
            "progress",
            "events",
            "status_label",
            "progress_label",
        ] {
            assert_eq!(json[key], whole[key], "{key}");
        }
    }

    #[test]
    fn a_raven_message_is_sanitised_with_its_plain_fallback() {
        let e = RealtimeEvent::from_args(
            "message_created",
            vec![serde_json::json!({"channel_id": "general", "sender": "a@x", "message_id": "m1",
                "message_details": {"content": "hi 👍", "text": "<p>hi &#128077; <img src=x onerror=alert(1)></p>", "is_bot_message": 0}})],
            None,
        );
        let v = MessageView::of("prod", &e).unwrap();
        assert_eq!(v.content, "hi 👍");
        assert_eq!(
            serde_json::to_value(&v.rich).unwrap(),
            serde_json::json!([{"tag": "p", "children": ["hi 👍 "]}])
        );
    }
}
