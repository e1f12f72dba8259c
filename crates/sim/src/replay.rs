//! Replaying a recording: its events served to the clients that connect, into the rooms
//! they were recorded in, with the recorded timing scaled. Reading the file is the core's
//! (`sockeye_core::recording`); this module only needs each event's time, room, name and
//! arguments.
//!
//! Rooms: a `user:<someone>` room of the recording goes to the user room of every user
//! connected now (the replay's client is rarely the recorded user); an event without a known
//! room goes to every socket; any other room (`doc:Raven Channel/general`, …) as recorded.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::state::SimState;

/// One event to serve.
#[derive(Debug, Clone)]
pub struct ReplayEvent {
    /// Milliseconds from the recording's start.
    pub t_ms: u64,
    pub room: Option<String>,
    pub name: String,
    pub args: Vec<Box<RawValue>>,
}

/// From a recording's `(t_ms, room, name, arguments)` (`Recording::replay_events` in the
/// core).
impl From<(u64, Option<String>, String, Vec<Box<RawValue>>)> for ReplayEvent {
    fn from((t_ms, room, name, args): (u64, Option<String>, String, Vec<Box<RawValue>>)) -> Self {
        ReplayEvent { t_ms, room, name, args }
    }
}

/// How to serve them.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Recorded gaps divided by this; `None`: as fast as possible.
    pub speed: Option<f64>,
    /// Start again after the last event (the first event's gap again in between).
    pub looped: bool,
    /// Start at once instead of waiting for a client to connect and join its rooms.
    pub now: bool,
    /// After the first client connected, how long to wait for it to join the recording's
    /// rooms before starting anyway.
    pub join_grace: Duration,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            speed: Some(1.0),
            looped: false,
            now: false,
            join_grace: Duration::from_secs(5),
        }
    }
}

/// The rooms a client has to join (by subscribing) to hear the recording: all but user rooms.
fn rooms_to_join(events: &[ReplayEvent]) -> BTreeSet<String> {
    events.iter().filter_map(|e| e.room.clone()).filter(|r| !r.starts_with("user:")).collect()
}

/// Until some client with an identity is connected and (bounded by `grace`) every room in
/// `rooms` has a socket in it.
async fn wait_for_audience(st: &SimState, rooms: &BTreeSet<String>, grace: Duration) {
    let mut first_seen: Option<Instant> = None;
    loop {
        let infos = st.socket_infos();
        if infos.iter().any(|s| s.user.is_some()) {
            let since = *first_seen.get_or_insert_with(Instant::now);
            let joined = rooms.iter().all(|r| infos.iter().any(|s| s.rooms.contains(r)));
            if joined || since.elapsed() >= grace {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Serve one event; how many sockets it reached.
async fn serve(st: &SimState, e: &ReplayEvent) -> usize {
    let args: Vec<&RawValue> = e.args.iter().map(|a| a.as_ref()).collect();
    match e.room.as_deref() {
        Some(r) if r.starts_with("user:") => {
            let users: BTreeSet<String> =
                st.socket_infos().into_iter().filter_map(|s| s.user).collect();
            let mut n = 0;
            for u in users {
                n += st.emit_args(None, Some(&format!("user:{u}")), &e.name, &args).await;
            }
            n
        }
        room => st.emit_args(None, room, &e.name, &args).await,
    }
}

/// Serve `events` (in recorded order) as `opts` says; returns the events served. Runs until
/// the end (or forever with `looped`); abort the task to stop it.
pub async fn run(st: Arc<SimState>, events: Vec<ReplayEvent>, opts: ReplayOptions) -> u64 {
    let mut served = 0;
    if events.is_empty() {
        return 0;
    }
    if !opts.now {
        wait_for_audience(&st, &rooms_to_join(&events), opts.join_grace).await;
    }
    tracing::debug!(events = events.len(), "replay starts");
    let first = events[0].t_ms;
    loop {
        let start = Instant::now();
        for e in &events {
            if let Some(speed) = opts.speed.filter(|s| *s > 0.0) {
                let at =
                    Duration::from_secs_f64((e.t_ms.saturating_sub(first)) as f64 / 1000.0 / speed);
                tokio::time::sleep_until(start + at).await;
            } else if served % 256 == 0 {
                tokio::task::yield_now().await;
            }
            let reached = serve(&st, e).await;
            tracing::debug!(event = %e.name, room = ?e.room, reached, "replayed");
            served += 1;
        }
        if !opts.looped {
            return served;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_rooms_are_not_waited_for() {
        let e = |room: Option<&str>| ReplayEvent {
            t_ms: 0,
            room: room.map(str::to_string),
            name: "x".into(),
            args: vec![],
        };
        let rooms = rooms_to_join(&[
            e(Some("user:a@b")),
            e(Some("doc:Raven Channel/general")),
            e(None),
            e(Some("doc:Raven Channel/general")),
        ]);
        assert_eq!(rooms.into_iter().collect::<Vec<_>>(), ["doc:Raven Channel/general"]);
    }
}
