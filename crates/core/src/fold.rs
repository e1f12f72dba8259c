//! The fold of one environment's stream: states and events in, view models and notification
//! triggers out. Pure (no I/O, no clock), so every shell folds the same way and it is tested
//! without a window.

use crate::events::RealtimeEvent;
use crate::notify::{self, Trigger};
use crate::runs::{RunChange, RunTracker};
use crate::state::{LinkState, StateSnapshot};
use crate::views::{GapView, LinkView, MessageView, RunView};

/// Runs kept per environment (the oldest finished ones go first).
pub const RUNS_KEPT: usize = 200;

/// What one event produced.
#[derive(Debug, Default)]
pub struct EventOut {
    pub run: Option<RunView>,
    pub message: Option<MessageView>,
    pub triggers: Vec<Trigger>,
}

/// One environment's fold.
pub struct EnvFold {
    env: String,
    runs: RunTracker,
    /// The user the site confirmed (for mentions).
    user: Option<String>,
    was_connected: bool,
    lost_notified: bool,
}

impl EnvFold {
    pub fn new(env: &str) -> EnvFold {
        EnvFold {
            env: env.into(),
            runs: RunTracker::new(env, RUNS_KEPT),
            user: None,
            was_connected: false,
            lost_notified: false,
        }
    }

    /// A new state: its view, and a link lost/restored trigger when the link went down after
    /// being up (not while it logs in again) or came back after a loss was announced.
    pub fn on_state(&mut self, snap: &StateSnapshot) -> (LinkView, Option<Trigger>) {
        let connected = snap.state.is_connected();
        if let LinkState::Connected { user, .. } = &snap.state {
            self.user = user.clone();
        }
        let mut trigger = None;
        if self.was_connected
            && !connected
            && !matches!(snap.state, LinkState::Authenticating { .. })
        {
            trigger =
                Some(Trigger::LinkLost { env: self.env.clone(), reason: snap.state.describe() });
            self.lost_notified = true;
        }
        // "Restored" waits for the gap marker the session publishes once the link is
        // settled, so it can say how many missed messages were recovered.
        if connected
            || matches!(
                snap.state,
                LinkState::Reconnecting { .. }
                    | LinkState::AuthFailed { .. }
                    | LinkState::Stopped { .. }
                    | LinkState::Degraded { .. }
            )
        {
            self.was_connected = connected;
        }
        (LinkView::of(snap), trigger)
    }

    /// An event: the run it moved, the message it carries, the notifications it asks for.
    pub fn on_event(&mut self, e: &RealtimeEvent) -> EventOut {
        let mut out = EventOut::default();
        if let Some(gap) = GapView::from_event(e) {
            if self.lost_notified {
                self.lost_notified = false;
                out.triggers.push(Trigger::LinkRestored {
                    env: self.env.clone(),
                    detail: Some(gap.detail.clone()),
                });
            }
            out.message = Some(MessageView::gap(&self.env, e, gap));
            return out;
        }
        if let Some(change) = self.runs.apply(e) {
            if let RunChange::Finished(r) = &change
                && let Some(t) = notify::run_trigger(r)
            {
                out.triggers.push(t);
            }
            out.run = Some(RunView::of(change.run().clone()));
        }
        if let Some(m) = MessageView::of(&self.env, e) {
            if let crate::events::EventKind::MessageCreated(raven) = &e.kind {
                let t = notify::message_trigger(&self.env, raven, self.user.as_deref());
                // Recovered messages are counted in "link restored"; only mentions notify.
                if !e.recovered || matches!(t, Trigger::Message { mention: true, .. }) {
                    out.triggers.push(t);
                }
            }
            out.message = Some(m);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Transport;

    fn snap(state: LinkState) -> StateSnapshot {
        StateSnapshot { profile: "p".into(), state, since_ms: 0 }
    }

    #[test]
    fn lost_once_restored_once_and_not_during_a_relogin() {
        let mut f = EnvFold::new("prod");
        let up = || {
            snap(LinkState::Connected {
                transport: Transport::Websocket,
                user: Some("u".into()),
                rtt_ms: None,
                eio: crate::wire::EioVersion::V4,
                fallback: None,
                malformed: 0,
            })
        };
        assert!(f.on_state(&snap(LinkState::Connecting { attempt: 0 })).1.is_none());
        assert!(f.on_state(&up()).1.is_none());
        assert!(
            f.on_state(&snap(LinkState::Authenticating { step: "x".into() })).1.is_none(),
            "a re-login is not a loss"
        );
        assert!(f.on_state(&up()).1.is_none());
        let lost = f
            .on_state(&snap(LinkState::Reconnecting {
                attempt: 1,
                next_retry_at_ms: 0,
                last_error: "reset".into(),
            }))
            .1;
        assert!(matches!(lost, Some(Trigger::LinkLost { .. })), "{lost:?}");
        assert!(f.on_state(&snap(LinkState::Connecting { attempt: 1 })).1.is_none());
        assert!(f.on_state(&up()).1.is_none(), "restored waits for the gap marker");
        let gap = RealtimeEvent::from_args(
            crate::backfill::GAP_EVENT,
            vec![serde_json::json!({"down_from_ms": 1, "down_to_ms": 2, "cause": "reconnect",
                "recovered": 3, "capped": false, "channels": []})],
            None,
        );
        let out = f.on_event(&gap);
        match out.triggers.as_slice() {
            [Trigger::LinkRestored { detail: Some(d), .. }] => {
                assert_eq!(d, "3 messages recovered")
            }
            other => panic!("{other:?}"),
        }
        let item = out.message.expect("the marker is a feed item");
        assert_eq!(item.content, "link down · 3 messages recovered");
        assert!(f.on_event(&gap).triggers.is_empty(), "restored once");
    }

    #[test]
    fn events_become_runs_messages_and_triggers() {
        let mut f = EnvFold::new("prod");
        let ev =
            |name: &str, v: serde_json::Value| RealtimeEvent::from_args(name, vec![v], Some("u"));
        let out = f.on_event(&ev(
            "ai_progress",
            serde_json::json!({"type": "thinking", "message": "hmm", "task_id": "t1"}),
        ));
        assert_eq!(out.run.as_ref().map(|r| r.status_label), Some("running"));
        let out = f.on_event(&ev(
            "ai_progress",
            serde_json::json!({"type": "complete", "message": "done", "task_id": "t1"}),
        ));
        assert_eq!(out.run.as_ref().map(|r| r.status_label), Some("✓ complete"));
        assert!(matches!(out.triggers.as_slice(), [Trigger::RunComplete { .. }]));
        let msg = serde_json::json!({"channel_id": "general", "sender": "a@x", "message_id": "m1", "message_details": {"content": "hi", "text": "<p>hi</p>"}});
        let out = f.on_event(&ev("message_created", msg));
        assert_eq!(out.message.as_ref().map(|m| m.content.as_str()), Some("hi"));
        assert!(matches!(out.triggers.as_slice(), [Trigger::Message { .. }]));
    }
}
