//! From sessions to the window: a forwarder task per session folds its stream with the core's
//! [`EnvFold`] into view models and notification triggers; one pump queues the view models in
//! batches for the window, which pulls them (see `outbox.rs` for why it pulls). What a new window needs to look as the old one
//! did (states, runs, the latest messages, the event log) is kept here, bounded, and replayed
//! when it subscribes, so the webview can be destroyed while the app sits in the tray.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Serialize, Serializer};
use sockeye_core::batch::{Batch, Batcher};
use sockeye_core::event_log::{self, EventLog, LogEntry, LogPage, LogQuery};
use sockeye_core::fold::EnvFold;
use sockeye_core::session::Session;
use sockeye_core::views::{LinkView, MessageView, RunView};
use sockeye_core::{RealtimeEvent, StateSnapshot};
use tokio::sync::{Notify, broadcast::error::RecvError};
use tokio::time::Instant;

use crate::notifier::Notifier;
use crate::outbox::Outbox;

/// Bounds of what is kept for a new window (the page says them in the UI).
pub const KEEP_MESSAGES: usize = 1_000;
/// Log rows a window draws, at most (what one `query_log` returns).
pub const LOG_ROWS: usize = 300;

/// What the window receives, in batches.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UiItem {
    State { env: String, link: LinkView },
    Event { event: UiEvent },
    Run { run: Arc<RunView> },
    Message { message: Arc<MessageView> },
}

/// The fields of a log entry the log shows. `seq` orders it in the app's event log (see
/// `query_log`).
#[derive(Debug, Clone)]
pub struct UiEvent(pub LogEntry);

impl Serialize for UiEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let e = &self.0.event;
        let mut st = s.serialize_struct("UiEvent", 13)?;
        st.serialize_field("seq", &self.0.seq)?;
        // How many entries the log held with this one in (see `KEEP_BYTES`).
        st.serialize_field("kept", &self.0.kept)?;
        st.serialize_field("env", &*self.0.env)?;
        st.serialize_field("name", &e.name)?;
        // The payload as text (compact, as the log's search reads it), not as JSON: the page
        // shows a line of it and parses it only when the line is opened, so a flood leaves a
        // string per event to collect rather than a tree of objects.
        st.serialize_field("payload_json", &event_log::compact_json(e.payload.get()))?;
        // What is absent, false or `in` is left out: the page reads a missing field as that,
        // and every value a frame carries is one more for the webview to parse and collect
        // (WebKitGTK's web process grew with the number of values parsed, not their bytes).
        let gap = sockeye_core::views::GapView::from_event(e);
        // A progress-fallback report's sentence ("realtime down: polling … for 2 open runs").
        let fallback = sockeye_core::progress::FallbackReport::from_event(e).map(|r| r.summary());
        put(&mut st, "room_hint", &e.room_hint, e.room_hint.is_some())?;
        put(&mut st, "parse_note", &e.parse_note, e.parse_note.is_some())?;
        st.serialize_field("received_at_ms", &e.received_at_ms)?;
        put(&mut st, "recovered", &e.recovered, e.recovered)?;
        put(&mut st, "polled", &e.polled, e.polled)?;
        // `out` for what we sent, `ack` for the answer to it (the log marks them).
        put(&mut st, "direction", &e.direction, !e.direction.is_in())?;
        // The gap marker's line, so the log shows it as the feed does.
        put(&mut st, "gap", &gap, gap.is_some())?;
        put(&mut st, "fallback", &fallback, fallback.is_some())?;
        st.end()
    }
}

/// Serialize `value` as `key` when `present`, else skip the field.
fn put<S: serde::ser::SerializeStruct, T: Serialize + ?Sized>(
    st: &mut S,
    key: &'static str,
    value: &T,
    present: bool,
) -> Result<(), S::Error> {
    match present {
        true => st.serialize_field(key, value),
        false => st.skip_field(key),
    }
}

/// A page of the event log, as the log's search asks for it.
#[derive(Debug, Serialize)]
pub struct LogPageView {
    /// Newest first.
    pub entries: Vec<UiEvent>,
    pub matched: usize,
    pub kept: usize,
    pub dropped: u64,
}

impl From<LogPage> for LogPageView {
    fn from(p: LogPage) -> Self {
        LogPageView {
            entries: p.entries.into_iter().map(UiEvent).collect(),
            matched: p.matched,
            kept: p.kept,
            dropped: p.dropped,
        }
    }
}

/// A batch as the JSON frame the page reads. With the UI benchmark on, the frame says when
/// it was made (`sent_us`, wall clock), so the page can split emit → rendered into the app's
/// share and the webview's.
fn frame(batch: &Batch<UiItem>, bench: bool) -> Option<(String, usize)> {
    let frame = batch.json_frames(usize::MAX).pop()?;
    let frame = match bench {
        true => format!("{{\"sent_us\":{},{}", now_us(), &frame[1..]),
        false => frame,
    };
    Some((frame, batch.items.len()))
}

fn now_us() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// A run's key among the kept ones: `env/id`, as the page keys its cards.
fn run_key(run: &RunView) -> String {
    key_of(&run.run.env, &run.run.id)
}

fn key_of(env: &str, id: &str) -> String {
    format!("{env}/{id}")
}

/// What a new window is sent first, and the event log (which it queries).
struct Kept {
    states: BTreeMap<String, LinkView>,
    runs: BTreeMap<String, Arc<RunView>>,
    log: EventLog,
    messages: VecDeque<Arc<MessageView>>,
}

/// Shared by the forwarders and the pump. Its locks come after the manager's in the lock
/// order (see `app_state.rs`); among them: `kept`, `batcher`, the outbox's; `view` alone.
pub struct Pipeline {
    batcher: Mutex<Batcher<UiItem>>,
    wake: Notify,
    /// Batches waiting for the window's pull.
    pub outbox: Outbox,
    kept: Mutex<Kept>,
    /// The page's own view state (tab, selected channel, filters), opaque here, handed back
    /// to the next window so Show brings it back as it was.
    view: Mutex<serde_json::Value>,
    /// Called on every state change (the tray redraws); never under a lock of ours.
    on_state: Box<dyn Fn() + Send + Sync>,
    /// `SOCKEYE_UI_BENCH`: frames carry their send time.
    bench: bool,
    /// The Record buttons' recordings, fed by the forwarders.
    pub recordings: crate::recordings::Recordings,
}

impl Pipeline {
    pub fn new(on_state: Box<dyn Fn() + Send + Sync>) -> Arc<Pipeline> {
        let p = Arc::new(Pipeline {
            // Half a display frame: a batch is ready before the webview's next paint. A page
            // busy drawing pulls later and gets several batches at once (see `outbox.rs`).
            // At most 5,000 items wait for a slow window (the oldest go, counted): it draws 300
            // lines, and the log it searches is kept apart.
            batcher: Mutex::new(Batcher::new(500, Duration::from_millis(8), 5_000)),
            wake: Notify::new(),
            outbox: Outbox::default(),
            kept: Mutex::new(Kept {
                states: BTreeMap::new(),
                runs: BTreeMap::new(),
                log: EventLog::new(event_log::KEEP),
                messages: VecDeque::new(),
            }),
            view: Mutex::new(serde_json::Value::Null),
            on_state,
            bench: std::env::var_os("SOCKEYE_UI_BENCH").is_some(),
            recordings: Default::default(),
        });
        tokio::spawn(pump(p.clone()));
        p
    }

    fn push(&self, item: UiItem) {
        self.batcher.lock().expect("batcher").push(item, Instant::now());
        self.wake.notify_one();
    }

    /// A window subscribes: it is sent what is kept (one frame), then the live stream. Returns
    /// the window's number for its pulls (`Outbox::take`).
    pub fn subscribe(&self) -> u64 {
        // Lock order: kept, then batcher, then the outbox. Under `kept` no forwarder can add
        // to it, so the states, runs and messages queued now are in the snapshot already and
        // are dropped from the queue; queued events follow it (the log is not in it).
        let k = self.kept.lock().expect("kept");
        let mut items: Vec<UiItem> = k
            .states
            .iter()
            .map(|(env, link)| UiItem::State { env: env.clone(), link: link.clone() })
            .collect();
        items.extend(k.runs.values().map(|r| UiItem::Run { run: r.clone() }));
        items.extend(k.messages.iter().map(|m| UiItem::Message { message: m.clone() }));
        // The log is not replayed: the page asks for the rows it draws (`query_log`).
        let queued = self.batcher.lock().expect("batcher").take(usize::MAX);
        items.extend(queued.items.into_iter().filter(|i| matches!(i, UiItem::Event { .. })));
        // Always one frame, even empty: the page knows it is restored once it has it.
        let replay = frame(&Batch { items, dropped: 0 }, self.bench)
            .unwrap_or_else(|| ("{\"items\":[],\"dropped\":0}".into(), 0));
        let window = self.outbox.open(Some(replay));
        drop(k);
        self.wake.notify_one();
        window
    }

    /// The window was destroyed: stop queueing for it until a new one subscribes.
    pub fn detach(&self) {
        self.outbox.close();
    }

    /// The run `env`/`id` as kept (whole, with its steps).
    pub fn run(&self, env: &str, id: &str) -> Option<Arc<RunView>> {
        self.kept.lock().expect("kept").runs.get(&key_of(env, id)).cloned()
    }

    /// The latest link view of every environment.
    pub fn links(&self) -> BTreeMap<String, LinkView> {
        self.kept.lock().expect("kept").states.clone()
    }

    /// An environment went away: forget its state (its runs and messages stay until pushed
    /// out by newer ones).
    pub fn forget(&self, env: &str) {
        self.kept.lock().expect("kept").states.remove(env);
    }

    pub fn state_changed(&self) {
        (self.on_state)();
    }

    /// The newest `limit` log entries matching `q`, with the counts the page shows.
    pub fn query_log(&self, q: &LogQuery, limit: usize) -> LogPageView {
        self.kept.lock().expect("kept").log.query(q, limit).into()
    }

    /// Empty the log; returns the number of the last entry it held.
    pub fn clear_log(&self) -> u64 {
        self.kept.lock().expect("kept").log.clear()
    }

    /// How many events the log keeps.
    pub fn log_cap(&self) -> usize {
        self.kept.lock().expect("kept").log.cap()
    }

    /// Write the kept log as a recording (the lock is held only to copy the entry handles);
    /// `redactor` knows the environments' secrets.
    pub fn export_log(
        &self,
        redactor: &sockeye_core::recording::Redactor,
        out: impl std::io::Write,
    ) -> std::io::Result<usize> {
        let entries = self.kept.lock().expect("kept").log.snapshot();
        event_log::write_jsonl(&entries, redactor, out)
    }

    pub fn view_state(&self) -> serde_json::Value {
        self.view.lock().expect("view").clone()
    }

    pub fn set_view_state(&self, v: serde_json::Value) {
        *self.view.lock().expect("view") = v;
    }
}

/// One environment's forwarder: its session's states and events through the fold.
pub async fn forward(env: String, session: Session, pipe: Arc<Pipeline>, notifier: Notifier) {
    let env_name: Arc<str> = env.as_str().into();
    let mut events = session.events();
    let mut states = session.state();
    let mut fold = EnvFold::new(&env);
    let on_state = |snap: StateSnapshot, fold: &mut EnvFold| {
        pipe.recordings.state(&env, &snap);
        let (link, trigger) = fold.on_state(&snap);
        if let Some(t) = trigger {
            notifier.trigger(t);
        }
        pipe.kept.lock().expect("kept").states.insert(env.clone(), link.clone());
        pipe.push(UiItem::State { env: env.clone(), link });
        pipe.state_changed();
    };
    let first = states.borrow_and_update().clone();
    on_state(first, &mut fold);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => pipe.recordings.tick(&env),
            changed = states.changed() => {
                if changed.is_err() { return; }
                let snap = states.borrow_and_update().clone();
                on_state(snap, &mut fold);
            }
            ev = events.recv() => match ev {
                Ok(e) if !e.direction.is_in() => {
                    // What we sent (and its ack): the log and a recording, never the fold.
                    pipe.recordings.event(&env, &e);
                    let entry = pipe.kept.lock().expect("kept").log.push(env_name.clone(), e);
                    pipe.push(UiItem::Event { event: UiEvent(entry) });
                }
                Ok(e) => {
                    pipe.recordings.event(&env, &e);
                    let out = fold.on_event(&e);
                    for t in out.triggers {
                        notifier.trigger(t);
                    }
                    let mut k = pipe.kept.lock().expect("kept");
                    let mut items = Vec::with_capacity(3);
                    if let Some(run) = out.run {
                        let run = Arc::new(run);
                        k.runs.insert(run_key(&run), run.clone());
                        if k.runs.len() > sockeye_core::fold::RUNS_KEPT * 4 {
                            let oldest = k.runs.iter().min_by_key(|(_, r)| r.run.updated_ms).map(|(key, _)| key.clone());
                            if let Some(key) = oldest { k.runs.remove(&key); }
                        }
                        items.push(UiItem::Run { run });
                    }
                    if let Some(m) = out.message {
                        let m = Arc::new(m);
                        k.messages.push_back(m.clone());
                        if k.messages.len() > KEEP_MESSAGES { k.messages.pop_front(); }
                        items.push(UiItem::Message { message: m });
                    }
                    let entry = k.log.push(env_name.clone(), e);
                    drop(k);
                    items.push(UiItem::Event { event: UiEvent(entry) });
                    for item in items { pipe.push(item); }
                }
                Err(RecvError::Lagged(n)) => {
                    // The session dropped events for this slow forwarder: say so in the log.
                    let note = RealtimeEvent::from_args("sockeye:lagged", vec![serde_json::json!({"dropped": n})], None);
                    let entry = pipe.kept.lock().expect("kept").log.push(env_name.clone(), Arc::new(note));
                    pipe.push(UiItem::Event { event: UiEvent(entry) });
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// Moves due batches to the window's outbox. Items wait in the bounded batcher meanwhile.
async fn pump(pipe: Arc<Pipeline>) {
    // The steps fingerprint last sent per run: a run whose steps did not change since goes
    // without them (`RunView::without_steps`). The page checks the fingerprint against the
    // steps it holds and asks for the whole run (`run_view`) when they differ (a new window,
    // frames dropped for a page that did not ask), so this map only has to be a good guess.
    let mut sent: HashMap<String, u64> = HashMap::new();
    loop {
        let deadline = pipe.batcher.lock().expect("batcher").deadline();
        match deadline {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(d) => {}
                    _ = pipe.wake.notified() => {}
                }
            }
            None => pipe.wake.notified().await,
        }
        let batch = pipe.batcher.lock().expect("batcher").take_due(Instant::now());
        let Some(mut b) = batch else { continue };
        b.keep_last_by(|item| match item {
            UiItem::Run { run } => Some(run_key(run)),
            _ => None,
        });
        if sent.len() > sockeye_core::fold::RUNS_KEPT * 4 {
            sent.clear();
        }
        for item in &mut b.items {
            if let UiItem::Run { run } = item {
                match sent.insert(run_key(run), run.steps_sig) {
                    Some(sig) if sig == run.steps_sig && !run.run.steps.is_empty() => {
                        *run = Arc::new(run.without_steps());
                    }
                    _ => {}
                }
            }
        }
        // No window: what a new one needs is kept; the live queue is not.
        if let Some((frame, items)) = frame(&b, pipe.bench) {
            pipe.outbox.push(frame, items);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(e: RealtimeEvent) -> serde_json::Value {
        let mut log = EventLog::new(10);
        serde_json::to_value(UiEvent(log.push("prod".into(), Arc::new(e)))).unwrap()
    }

    #[test]
    fn a_log_line_leaves_out_what_is_absent_false_or_incoming() {
        let plain = RealtimeEvent::from_args("tick", vec![serde_json::json!({"a": 1})], None);
        let v = line(plain);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["env", "kept", "name", "payload_json", "received_at_ms", "seq"]);
        assert_eq!(v["payload_json"], r#"{"a":1}"#);

        let mut marked = RealtimeEvent::from_args("tick", vec![serde_json::json!(1)], None);
        marked.room_hint = Some("raven:general".into());
        marked.recovered = true;
        let v = line(marked);
        assert_eq!(
            (v["room_hint"].as_str(), v["recovered"].as_bool()),
            (Some("raven:general"), Some(true))
        );
        assert!(v.get("polled").is_none() && v.get("direction").is_none());
    }
}
