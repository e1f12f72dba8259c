//! From sessions to the window: a forwarder task per session folds its stream with the core's
//! [`EnvFold`] into view models and notification triggers; one pump sends the view models to
//! the window in batches over a Tauri channel. What a new window needs to look as the old one
//! did (states, runs, the latest messages and events) is kept here, bounded, and replayed
//! when it subscribes, so the webview can be destroyed while the app sits in the tray.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Serialize, Serializer};
use sockeye_core::batch::{Batch, Batcher};
use sockeye_core::fold::EnvFold;
use sockeye_core::session::Session;
use sockeye_core::views::{LinkView, MessageView, RunView};
use sockeye_core::{RealtimeEvent, StateSnapshot};
use tauri::ipc::{Channel, InvokeResponseBody};
use tokio::sync::{Notify, broadcast::error::RecvError};
use tokio::time::Instant;

use crate::notifier::Notifier;

/// Bounds of what is kept for a new window (the page says them in the UI).
pub const KEEP_EVENTS: usize = 1_000;
pub const KEEP_MESSAGES: usize = 1_000;

/// What the window receives, in batches.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UiItem {
    State { env: String, link: LinkView },
    Event { env: String, event: UiEvent },
    Run { run: Arc<RunView> },
    Message { message: Arc<MessageView> },
}

/// The fields of an event the log shows; the payload is passed through as the session got it.
#[derive(Debug, Clone)]
pub struct UiEvent(pub Arc<RealtimeEvent>);

impl Serialize for UiEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let e = &self.0;
        let mut st = s.serialize_struct("UiEvent", 9)?;
        st.serialize_field("name", &e.name)?;
        // Serialised as it is held (a JSON tree today, raw JSON text soon): never re-parsed.
        st.serialize_field("payload", &e.payload)?;
        st.serialize_field("room_hint", &e.room_hint)?;
        st.serialize_field("parse_note", &e.parse_note)?;
        st.serialize_field("received_at_ms", &e.received_at_ms)?;
        st.serialize_field("recovered", &e.recovered)?;
        st.serialize_field("polled", &e.polled)?;
        // The gap marker's line, so the log shows it as the feed does.
        st.serialize_field("gap", &sockeye_core::views::GapView::from_event(e))?;
        // A progress-fallback report's sentence ("realtime down: polling … for 2 open runs").
        let fallback = sockeye_core::progress::FallbackReport::from_event(e).map(|r| r.summary());
        st.serialize_field("fallback", &fallback)?;
        st.end()
    }
}

/// Largest channel message Tauri delivers with a single `eval` (its threshold is 8 KiB).
const UI_FRAME_BYTES: usize = 8000;

/// Sends a batch as frames of at most [`UI_FRAME_BYTES`], stopping at the first failure.
pub fn send_frames(sink: &Channel<InvokeResponseBody>, batch: &Batch<UiItem>) -> tauri::Result<()> {
    for frame in batch.json_frames(UI_FRAME_BYTES) {
        sink.send(InvokeResponseBody::Json(frame))?;
    }
    Ok(())
}

fn run_key(run: &RunView) -> String {
    format!("{}/{}", run.run.env, run.run.id)
}

/// What a new window is sent first.
#[derive(Default)]
struct Kept {
    states: BTreeMap<String, LinkView>,
    runs: BTreeMap<String, Arc<RunView>>,
    events: VecDeque<(String, UiEvent)>,
    messages: VecDeque<Arc<MessageView>>,
}

/// Shared by the forwarders and the pump. Its locks come after the manager's in the lock
/// order (see `app_state.rs`); among them: `kept`, `batcher`, `sink`.
pub struct Pipeline {
    batcher: Mutex<Batcher<UiItem>>,
    wake: Notify,
    sink: Mutex<Option<Channel<InvokeResponseBody>>>,
    kept: Mutex<Kept>,
    /// Called on every state change (the tray redraws); never under a lock of ours.
    on_state: Box<dyn Fn() + Send + Sync>,
}

impl Pipeline {
    pub fn new(on_state: Box<dyn Fn() + Send + Sync>) -> Arc<Pipeline> {
        let p = Arc::new(Pipeline {
            // One batch per display frame at most: a longer delay is pure added latency (the
            // webview paints once per frame anyway), a shorter one only adds IPC messages.
            batcher: Mutex::new(Batcher::new(500, Duration::from_millis(16), 20_000)),
            wake: Notify::new(),
            sink: Mutex::new(None),
            kept: Mutex::new(Kept::default()),
            on_state,
        });
        tauri::async_runtime::spawn(pump(p.clone()));
        p
    }

    fn push(&self, item: UiItem) {
        self.batcher.lock().expect("batcher").push(item, Instant::now());
        self.wake.notify_one();
    }

    /// A window subscribes: it gets what is kept, then the live stream.
    pub fn subscribe(&self, sink: Channel<InvokeResponseBody>) -> tauri::Result<()> {
        // Lock order: kept, then batcher, then sink. Under `kept` no forwarder can add to
        // it, so what is queued now is in the snapshot already and is dropped from the queue.
        let items: Vec<UiItem> = {
            let k = self.kept.lock().expect("kept");
            let mut items: Vec<UiItem> = k
                .states
                .iter()
                .map(|(env, link)| UiItem::State { env: env.clone(), link: link.clone() })
                .collect();
            items.extend(k.runs.values().map(|r| UiItem::Run { run: r.clone() }));
            items.extend(k.messages.iter().map(|m| UiItem::Message { message: m.clone() }));
            items.extend(
                k.events
                    .iter()
                    .map(|(env, e)| UiItem::Event { env: env.clone(), event: e.clone() }),
            );
            self.batcher.lock().expect("batcher").take(usize::MAX);
            items
        };
        send_frames(&sink, &Batch { items, dropped: 0 })?;
        *self.sink.lock().expect("sink") = Some(sink);
        self.wake.notify_one();
        Ok(())
    }

    /// The window was destroyed: stop sending until a new one subscribes.
    pub fn detach(&self) {
        *self.sink.lock().expect("sink") = None;
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
}

/// One environment's forwarder: its session's states and events through the fold.
pub async fn forward(env: String, session: Session, pipe: Arc<Pipeline>, notifier: Notifier) {
    let mut events = session.events();
    let mut states = session.state();
    let mut fold = EnvFold::new(&env);
    let on_state = |snap: StateSnapshot, fold: &mut EnvFold| {
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
    loop {
        tokio::select! {
            changed = states.changed() => {
                if changed.is_err() { return; }
                let snap = states.borrow_and_update().clone();
                on_state(snap, &mut fold);
            }
            ev = events.recv() => match ev {
                Ok(e) => {
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
                    let ui = UiEvent(e);
                    k.events.push_back((env.clone(), ui.clone()));
                    if k.events.len() > KEEP_EVENTS { k.events.pop_front(); }
                    drop(k);
                    items.push(UiItem::Event { env: env.clone(), event: ui });
                    for item in items { pipe.push(item); }
                }
                Err(RecvError::Lagged(n)) => {
                    // The session dropped events for this slow forwarder: say so in the log.
                    let note = RealtimeEvent::from_args("sockeye:lagged", vec![serde_json::json!({"dropped": n})], None);
                    pipe.push(UiItem::Event { env: env.clone(), event: UiEvent(Arc::new(note)) });
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// Sends due batches to the window. Items wait in the bounded batcher when no window listens.
async fn pump(pipe: Arc<Pipeline>) {
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
        let sink = pipe.sink.lock().expect("sink").clone();
        let Some(sink) = sink else {
            // No window: what a new one needs is kept; the live queue is not.
            pipe.batcher.lock().expect("batcher").take(usize::MAX);
            continue;
        };
        let batch = pipe.batcher.lock().expect("batcher").take_due(Instant::now());
        let Some(mut b) = batch else { continue };
        b.keep_last_by(|item| match item {
            UiItem::Run { run } => Some(run_key(run)),
            _ => None,
        });
        if send_frames(&sink, &b).is_err() {
            // The window went away (reload, closed to the tray): forget the channel until a
            // window subscribes again.
            *pipe.sink.lock().expect("sink") = None;
        }
    }
}
