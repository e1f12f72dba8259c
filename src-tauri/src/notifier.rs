//! Desktop notifications: the core's [`NotifyPolicy`] decides, notify-rust displays.
//!
//! One task owns the policy; triggers arrive on a channel, so a flood of events costs a
//! channel send each and at most `max_per_minute` D-Bus calls.

use std::time::Duration;

use sockeye_core::notify::{Notification, NotifyPolicy, NotifySettings, Trigger, Urgency};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub enum NotifierMsg {
    Trigger(Trigger),
    Settings(NotifySettings),
}

#[derive(Clone)]
pub struct Notifier(mpsc::UnboundedSender<NotifierMsg>);

impl Notifier {
    pub fn spawn(settings: NotifySettings) -> Notifier {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(NotifyPolicy::new(settings), rx));
        Notifier(tx)
    }

    pub fn trigger(&self, t: Trigger) {
        let _ = self.0.send(NotifierMsg::Trigger(t));
    }

    pub fn settings(&self, s: NotifySettings) {
        let _ = self.0.send(NotifierMsg::Settings(s));
    }
}

fn show(n: Notification) {
    // notify-rust's D-Bus call blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        let mut note = notify_rust::Notification::new();
        note.appname(crate::APP_NAME).summary(&n.title).body(&n.body).icon("network-wireless");
        #[cfg(all(unix, not(target_os = "macos")))]
        note.urgency(match n.urgency {
            Urgency::Critical => notify_rust::Urgency::Critical,
            Urgency::Normal => notify_rust::Urgency::Normal,
        });
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        let _ = n.urgency;
        if let Err(e) = note.show() {
            tracing::warn!("notification not shown: {e}");
        }
    });
}

async fn run(mut policy: NotifyPolicy, mut rx: mpsc::UnboundedReceiver<NotifierMsg>) {
    loop {
        let next = policy.next_flush();
        let msg = match next {
            Some(at) => tokio::select! {
                m = rx.recv() => m,
                _ = tokio::time::sleep_until(at) => {
                    for n in policy.flush(Instant::now()) { show(n); }
                    continue;
                }
            },
            None => rx.recv().await,
        };
        match msg {
            None => return,
            Some(NotifierMsg::Trigger(t)) => {
                for n in policy.offer(t, Instant::now()) {
                    show(n);
                }
            }
            Some(NotifierMsg::Settings(s)) => policy.settings = s,
        }
        // Anything already due goes out now (a burst that ended exactly at a window edge).
        for n in policy.flush(Instant::now() - Duration::ZERO) {
            show(n);
        }
    }
}
