//! Notification policy: which events become desktop notifications, and how often.
//!
//! The shell (tray app, CLI) only displays what [`NotifyPolicy`] returns. The policy applies
//! per-kind toggles and mute, coalesces chat messages per channel ("5 new messages in
//! #general"), sends mentions first, and caps each environment at `max_per_minute`, so a
//! flood can never become a flood of notifications.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// User settings (stored in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifySettings {
    pub muted: bool,
    pub run_complete: bool,
    pub run_error: bool,
    pub messages: bool,
    pub link_lost: bool,
    pub link_restored: bool,
    /// At most this many notifications per minute per environment.
    pub max_per_minute: u32,
    /// Messages in one channel within this window become one notification.
    pub coalesce_ms: u64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            muted: false,
            run_complete: true,
            run_error: true,
            messages: true,
            link_lost: true,
            link_restored: true,
            max_per_minute: 6,
            coalesce_ms: 2500,
        }
    }
}

/// Something that may deserve a notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    RunComplete {
        env: String,
        run: String,
        summary: String,
    },
    RunError {
        env: String,
        run: String,
        message: String,
    },
    Message {
        env: String,
        channel: String,
        sender: String,
        text: String,
        mention: bool,
    },
    LinkLost {
        env: String,
        reason: String,
    },
    /// `detail`: what the backfill after it found ("3 messages recovered").
    LinkRestored {
        env: String,
        detail: Option<String>,
    },
}

impl Trigger {
    fn env(&self) -> &str {
        match self {
            Trigger::RunComplete { env, .. }
            | Trigger::RunError { env, .. }
            | Trigger::Message { env, .. }
            | Trigger::LinkLost { env, .. }
            | Trigger::LinkRestored { env, .. } => env,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Normal,
    Critical,
}

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub env: String,
    pub title: String,
    pub body: String,
    pub urgency: Urgency,
}

#[derive(Debug)]
struct Bucket {
    first_at: Instant,
    senders: Vec<String>,
    last_text: String,
    count: usize,
}

/// A mention that met a spent rate limit: held, and shown first when the budget frees.
#[derive(Debug)]
struct HeldMention {
    channel: String,
    sender: String,
    text: String,
}

/// The stateful policy for all environments.
#[derive(Debug)]
pub struct NotifyPolicy {
    pub settings: NotifySettings,
    sent: HashMap<String, VecDeque<Instant>>,
    buckets: BTreeMap<(String, String), Bucket>,
    /// Per environment, mentions waiting for the budget (never dropped: a mention is the one
    /// notification a user must not miss).
    held: BTreeMap<String, Vec<HeldMention>>,
    suppressed: u64,
}

fn clip(s: &str, n: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

impl NotifyPolicy {
    pub fn new(settings: NotifySettings) -> Self {
        NotifyPolicy {
            settings,
            sent: HashMap::new(),
            buckets: BTreeMap::new(),
            held: BTreeMap::new(),
            suppressed: 0,
        }
    }

    /// How many notifications the rate limit has swallowed so far.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// Admit `n` through the per-environment rate limit.
    fn admit(&mut self, n: Notification, now: Instant) -> Option<Notification> {
        let window = self.sent.entry(n.env.clone()).or_default();
        while window.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            window.pop_front();
        }
        if window.len() as u32 >= self.settings.max_per_minute {
            self.suppressed += 1;
            return None;
        }
        window.push_back(now);
        Some(n)
    }

    /// Offer a trigger; returns what to show now. Messages are held for coalescing and come
    /// out of [`NotifyPolicy::flush`].
    pub fn offer(&mut self, t: Trigger, now: Instant) -> Vec<Notification> {
        let s = &self.settings;
        if s.muted {
            return Vec::new();
        }
        let env = t.env().to_string();
        let n = match t {
            Trigger::RunComplete { run, summary, .. } if s.run_complete => Notification {
                env,
                title: format!("Agent run finished · {run}"),
                body: clip(&summary, 200),
                urgency: Urgency::Normal,
            },
            Trigger::RunError { run, message, .. } if s.run_error => Notification {
                env,
                title: format!("Agent run failed · {run}"),
                body: clip(&message, 200),
                urgency: Urgency::Critical,
            },
            Trigger::LinkLost { reason, .. } if s.link_lost => Notification {
                env: env.clone(),
                title: format!("Realtime link lost · {env}"),
                body: clip(&reason, 200),
                urgency: Urgency::Critical,
            },
            Trigger::LinkRestored { detail, .. } if s.link_restored => Notification {
                env: env.clone(),
                title: format!("Realtime link restored · {env}"),
                body: match detail {
                    Some(d) => clip(&format!("Events are flowing again · {d}"), 200),
                    None => "Events are flowing again.".into(),
                },
                urgency: Urgency::Normal,
            },
            Trigger::Message { channel, sender, text, mention: true, .. } if s.messages => {
                // Behind mentions already held, or over the budget: held, not dropped.
                if self.held.contains_key(&env) || self.budget_free_at(&env, now) > now {
                    let m = HeldMention { channel, sender, text };
                    self.held.entry(env).or_default().push(m);
                    return Vec::new();
                }
                Notification {
                    env,
                    title: format!("{sender} mentioned you in #{channel}"),
                    body: clip(&text, 200),
                    urgency: Urgency::Critical,
                }
            }
            Trigger::Message { channel, sender, text, mention: false, .. } if s.messages => {
                let b = self.buckets.entry((env, channel)).or_insert_with(|| Bucket {
                    first_at: now,
                    senders: Vec::new(),
                    last_text: String::new(),
                    count: 0,
                });
                b.count += 1;
                b.last_text = text;
                if !b.senders.contains(&sender) {
                    b.senders.push(sender);
                }
                return Vec::new();
            }
            _ => return Vec::new(),
        };
        self.admit(n, now).into_iter().collect()
    }

    /// When `env` may show a notification again (now, or when its oldest one leaves the
    /// one-minute window).
    fn budget_free_at(&mut self, env: &str, now: Instant) -> Instant {
        let window = self.sent.entry(env.to_string()).or_default();
        while window.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            window.pop_front();
        }
        if (window.len() as u32) < self.settings.max_per_minute {
            now
        } else {
            window.front().map(|t| *t + Duration::from_secs(60)).unwrap_or(now)
        }
    }

    /// Release coalesced message notifications whose window has passed. A bucket that meets
    /// a spent rate limit is kept (and keeps absorbing messages) until the budget frees, so a
    /// burst is summarised late rather than lost.
    pub fn flush(&mut self, now: Instant) -> Vec<Notification> {
        // Held mentions first, one notification per environment for all of them.
        let mut out = Vec::new();
        let envs: Vec<String> = self.held.keys().cloned().collect();
        for env in envs {
            if self.budget_free_at(&env, now) > now {
                continue;
            }
            let held = self.held.remove(&env).unwrap_or_default();
            let Some(last) = held.last() else { continue };
            let n = if held.len() == 1 {
                Notification {
                    env,
                    title: format!("{} mentioned you in #{}", last.sender, last.channel),
                    body: clip(&last.text, 200),
                    urgency: Urgency::Critical,
                }
            } else {
                let mut channels: Vec<&str> = held.iter().map(|m| m.channel.as_str()).collect();
                channels.sort_unstable();
                channels.dedup();
                Notification {
                    env,
                    title: format!("{} mentions in #{}", held.len(), channels.join(", #")),
                    body: format!("Latest from {}: {}", last.sender, clip(&last.text, 160)),
                    urgency: Urgency::Critical,
                }
            };
            out.extend(self.admit(n, now));
        }
        let window = Duration::from_millis(self.settings.coalesce_ms);
        let due: Vec<(String, String)> = self
            .buckets
            .iter()
            .filter(|(_, b)| now.duration_since(b.first_at) >= window)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let free_at = self.budget_free_at(&key.0, now);
            if free_at > now {
                if let Some(b) = self.buckets.get_mut(&key) {
                    b.first_at = free_at.checked_sub(window).unwrap_or(free_at);
                }
                continue;
            }
            let b = self.buckets.remove(&key).expect("key just listed");
            let (env, channel) = key;
            let n = if b.count == 1 {
                Notification {
                    env,
                    title: format!("{} in #{channel}", b.senders[0]),
                    body: clip(&b.last_text, 200),
                    urgency: Urgency::Normal,
                }
            } else {
                let who = if b.senders.len() <= 3 {
                    b.senders.join(", ")
                } else {
                    format!("{} and {} others", b.senders[..2].join(", "), b.senders.len() - 2)
                };
                Notification {
                    env,
                    title: format!("{} new messages in #{channel}", b.count),
                    body: format!("From {who}. Latest: {}", clip(&b.last_text, 160)),
                    urgency: Urgency::Normal,
                }
            };
            out.extend(self.admit(n, now));
        }
        out
    }

    /// When the next coalesced notification is due, if any.
    pub fn next_flush(&self) -> Option<Instant> {
        let coalesced = self
            .buckets
            .values()
            .map(|b| b.first_at + Duration::from_millis(self.settings.coalesce_ms));
        // Held mentions: when the oldest notification of their environment leaves the window.
        let held = self.held.keys().filter_map(|env| {
            self.sent.get(env).and_then(|w| w.front()).map(|t| *t + Duration::from_secs(60))
        });
        coalesced.chain(held).min()
    }
}

/// The trigger for a Raven message: a mention when the TipTap HTML carries a userMention of
/// `me` (`data-id="<me>"`) or the plain text says `@<me>`.
pub fn message_trigger(env: &str, m: &crate::events::RavenMessage, me: Option<&str>) -> Trigger {
    let html = m.html.as_deref().unwrap_or_default();
    let mention = me.is_some_and(|me| {
        let local = me.split('@').next().unwrap_or(me);
        (html.contains("userMention") && html.contains(&format!("data-id=\"{me}\"")))
            || m.content.contains(&format!("@{me}"))
            || m.content.contains(&format!("@{local}"))
    });
    Trigger::Message {
        env: env.into(),
        channel: m.channel_id.to_string(),
        sender: m.sender.to_string(),
        text: m.content.to_string(),
        mention,
    }
}

/// The trigger for a finished run.
pub fn run_trigger(run: &crate::runs::Run) -> Option<Trigger> {
    match run.status {
        crate::runs::RunStatus::Complete => Some(Trigger::RunComplete {
            env: run.env.clone(),
            run: run.id.clone(),
            summary: run.headline.clone(),
        }),
        crate::runs::RunStatus::Failed => Some(Trigger::RunError {
            env: run.env.clone(),
            run: run.id.clone(),
            message: run.headline.clone(),
        }),
        crate::runs::RunStatus::Running => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ch: &str, sender: &str, mention: bool) -> Trigger {
        Trigger::Message {
            env: "prod".into(),
            channel: ch.into(),
            sender: sender.into(),
            text: format!("hi from {sender}"),
            mention,
        }
    }

    #[test]
    fn a_burst_of_messages_coalesces_per_channel() {
        let mut p = NotifyPolicy::new(NotifySettings::default());
        let t0 = Instant::now();
        for i in 0..500 {
            assert!(p.offer(msg("general", &format!("u{}", i % 4), false), t0).is_empty());
        }
        p.offer(msg("random", "bob", false), t0);
        assert!(p.flush(t0 + Duration::from_millis(100)).is_empty(), "window not over yet");
        let out = p.flush(t0 + Duration::from_secs(3));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].title, "500 new messages in #general");
        assert!(out[0].body.contains("and 2 others"), "{}", out[0].body);
        assert_eq!(out[1].title, "bob in #random");
    }

    #[test]
    fn mentions_come_first_and_rate_limit_caps_per_env() {
        let mut p = NotifyPolicy::new(NotifySettings { max_per_minute: 3, ..Default::default() });
        let t0 = Instant::now();
        let mut shown = 0;
        for _ in 0..10 {
            shown += p.offer(msg("general", "alice", true), t0).len();
        }
        assert_eq!(shown, 3);
        // The other 7 are held (not suppressed), and plain messages wait behind them.
        assert_eq!(p.suppressed(), 0);
        p.offer(msg("random", "bob", false), t0);
        // Another environment has its own budget.
        let other = Trigger::LinkLost { env: "sandbox".into(), reason: "transport close".into() };
        assert_eq!(p.offer(other, t0).len(), 1);
        assert_eq!(p.next_flush(), Some(t0 + Duration::from_millis(2500)));
        assert!(p.flush(t0 + Duration::from_secs(3)).is_empty(), "budget spent");
        assert_eq!(p.next_flush(), Some(t0 + Duration::from_secs(60)), "no busy loop");
        // A minute later: the held mentions first, as one, then the plain message.
        let out = p.flush(t0 + Duration::from_secs(61));
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].title, "7 mentions in #general");
        assert_eq!(out[0].urgency, Urgency::Critical);
        assert_eq!(out[1].title, "bob in #random");
        assert_eq!(p.next_flush(), None);
    }

    #[test]
    fn a_spent_budget_drops_no_mention_and_caps_the_rest() {
        let mut p = NotifyPolicy::new(NotifySettings { max_per_minute: 1, ..Default::default() });
        let t0 = Instant::now();
        let lost = |r: &str| Trigger::LinkLost { env: "prod".into(), reason: r.into() };
        assert_eq!(p.offer(lost("a"), t0).len(), 1);
        // Over the budget: a link notification is dropped (counted), a mention is held.
        assert!(p.offer(lost("b"), t0).is_empty());
        assert_eq!(p.suppressed(), 1);
        assert!(p.offer(msg("ops", "carol", true), t0).is_empty());
        let out = p.flush(t0 + Duration::from_secs(60));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].title, "carol mentioned you in #ops");
    }

    #[test]
    fn mentions_are_detected_from_html_or_text() {
        let html =
            "<p>hey <span data-type=\"userMention\" data-id=\"test@example.com\">@Test</span></p>";
        let m = crate::events::RavenMessage {
            channel_id: "general".into(),
            sender: "a@x".into(),
            message_id: "1".into(),
            content: "hey @Test".into(),
            html: Some(html.into()),
            message_type: "Text".into(),
            is_bot_message: false,
            creation: None,
        };
        assert!(matches!(
            message_trigger("e", &m, Some("test@example.com")),
            Trigger::Message { mention: true, .. }
        ));
        let plain = crate::events::RavenMessage { html: None, ..m };
        assert!(matches!(
            message_trigger("e", &plain, Some("bob@example.com")),
            Trigger::Message { mention: false, .. }
        ));
        // Plain text only (no TipTap HTML): `@user` or `@user@host` is a mention.
        for content in ["ping @bob please", "cc @bob@example.com"] {
            let text = crate::events::RavenMessage { content: content.into(), ..plain.clone() };
            assert!(
                matches!(
                    message_trigger("e", &text, Some("bob@example.com")),
                    Trigger::Message { mention: true, .. }
                ),
                "{content}"
            );
        }
    }

    #[test]
    fn a_burst_meeting_the_rate_limit_is_summarised_late_not_lost() {
        let mut p = NotifyPolicy::new(NotifySettings { max_per_minute: 2, ..Default::default() });
        let t0 = Instant::now();
        assert_eq!(
            p.offer(Trigger::LinkLost { env: "prod".into(), reason: "x".into() }, t0).len(),
            1
        );
        assert_eq!(
            p.offer(Trigger::LinkRestored { env: "prod".into(), detail: None }, t0).len(),
            1
        );
        for _ in 0..50 {
            p.offer(msg("general", "bob", false), t0);
        }
        assert!(p.flush(t0 + Duration::from_secs(3)).is_empty(), "budget spent");
        let due = p.next_flush().unwrap();
        assert!(due >= t0 + Duration::from_secs(57), "waits for the budget, no busy loop");
        p.offer(msg("general", "bob", false), t0 + Duration::from_secs(10));
        let out = p.flush(t0 + Duration::from_secs(61));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].title, "51 new messages in #general");
    }

    #[test]
    fn toggles_and_mute() {
        let mut p = NotifyPolicy::new(NotifySettings { run_complete: false, ..Default::default() });
        let t0 = Instant::now();
        assert!(
            p.offer(
                Trigger::RunComplete { env: "e".into(), run: "r".into(), summary: "s".into() },
                t0
            )
            .is_empty()
        );
        assert_eq!(
            p.offer(
                Trigger::RunError { env: "e".into(), run: "r".into(), message: "boom".into() },
                t0
            )[0]
            .urgency,
            Urgency::Critical
        );
        p.settings.muted = true;
        assert!(p.offer(Trigger::LinkRestored { env: "e".into(), detail: None }, t0).is_empty());
    }
}
