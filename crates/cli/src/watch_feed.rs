//! The sessions a watcher follows, as one stream of states and events tagged with the
//! environment's index: polled in place (no task or queue per session), so the lossless
//! queue's backpressure still reaches each socket.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::stream::{self, SelectAll, Stream};
use sockeye_core::events::RealtimeEvent;
use sockeye_core::session::Session;
use sockeye_core::state::StateSnapshot;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};

/// Where events come from. `--json` goes to files and pipes that must get every event: it
/// reads the session's lossless queue, so a slow reader slows the socket (TCP backpressure,
/// as node's client does). The human view reads the broadcast and says when it skipped.
pub enum Events {
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

/// One thing a session said.
pub enum Item {
    State(StateSnapshot),
    /// An event, and whether that session's queue is now empty (time to flush).
    Event(Arc<RealtimeEvent>, bool),
    /// Events the output was too slow for (the broadcast skipped them).
    Lagged(u64),
    /// The session ended.
    Closed,
}

struct Feed {
    index: usize,
    states: watch::Receiver<StateSnapshot>,
    events: Events,
    done: bool,
}

impl Feed {
    async fn next(mut self) -> Option<((usize, Item), Feed)> {
        if self.done {
            return None;
        }
        let item = tokio::select! {
            changed = self.states.changed() => match changed {
                Ok(()) => Item::State(self.states.borrow_and_update().clone()),
                Err(_) => Item::Closed,
            },
            ev = self.events.recv() => match ev {
                Ok(e) => Item::Event(e, self.events.is_empty()),
                Err(RecvError::Lagged(n)) => Item::Lagged(n),
                Err(RecvError::Closed) => Item::Closed,
            },
        };
        self.done = matches!(item, Item::Closed);
        Some(((self.index, item), self))
    }
}

pub type Feeds = SelectAll<Pin<Box<dyn Stream<Item = (usize, Item)>>>>;

/// Every session's states and events, as `(index, item)`.
pub fn merge(sessions: Vec<(Session, Events)>) -> Feeds {
    stream::select_all(sessions.into_iter().enumerate().map(|(index, (session, events))| {
        let feed = Feed { index, states: session.state(), events, done: false };
        Box::pin(stream::unfold(feed, Feed::next)) as Pin<Box<dyn Stream<Item = (usize, Item)>>>
    }))
}
