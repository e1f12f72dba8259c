//! What waits for the window: batches as JSON frames, taken by the page's long poll
//! (`next_batch`).
//!
//! The page pulls rather than being pushed to. Every message over a Tauri channel or event is
//! an `eval` of a script that holds the data, and WebKitGTK kept about 1 KB per event of those
//! scripts: the web process grew by ~130 MB per 100,000 events and never gave it back. The
//! answer to a pull is read with `JSON.parse` and nothing of it stays. A page busy drawing asks
//! later and gets everything queued since in one answer, so a flood cannot pile up inside the
//! webview.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// What may wait for a page that does not ask (a frozen window): beyond it the oldest frames
/// go, and the page is told how many items it missed.
const MAX_BYTES: usize = 4 << 20;

#[derive(Default)]
struct Inner {
    /// The window pulling now. A new window gets a new number, so an answer meant for a page
    /// that is gone is never handed to the next one.
    window: u64,
    open: bool,
    frames: VecDeque<(String, usize)>,
    bytes: usize,
    dropped_items: u64,
}

#[derive(Default)]
pub struct Outbox {
    inner: Mutex<Inner>,
    ready: Notify,
}

impl Outbox {
    /// A new window: what was queued for the old one is forgotten; `first` (the replay of
    /// what the app kept) goes first. Returns the window's number.
    pub fn open(&self, first: Option<(String, usize)>) -> u64 {
        let mut inner = self.inner.lock().expect("outbox");
        let window = inner.window + 1;
        *inner = Inner { window, open: true, ..Inner::default() };
        if let Some((frame, items)) = first {
            inner.bytes = frame.len();
            inner.frames.push_back((frame, items));
        }
        drop(inner);
        self.ready.notify_waiters();
        window
    }

    /// The window is gone: drop what waits, and end its pending poll.
    pub fn close(&self) {
        let mut inner = self.inner.lock().expect("outbox");
        let next = inner.window + 1;
        *inner = Inner { window: next, open: false, ..Inner::default() };
        drop(inner);
        self.ready.notify_waiters();
    }

    /// Queue a frame of `items` items for the window. Returns false when no window listens.
    pub fn push(&self, frame: String, items: usize) -> bool {
        let mut inner = self.inner.lock().expect("outbox");
        if !inner.open {
            return false;
        }
        inner.bytes += frame.len();
        inner.frames.push_back((frame, items));
        while inner.bytes > MAX_BYTES && inner.frames.len() > 1 {
            if let Some((old, n)) = inner.frames.pop_front() {
                inner.bytes -= old.len();
                inner.dropped_items += n as u64;
            }
        }
        drop(inner);
        self.ready.notify_waiters();
        true
    }

    /// What waits for `window`, as a JSON array of frames, as soon as there is something (or
    /// `[]` after `wait`); `None` when `window` is not the current one.
    pub async fn take(&self, window: u64, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a push between the look and the wait is not missed.
            let ready = self.ready.notified();
            {
                let mut inner = self.inner.lock().expect("outbox");
                if inner.window != window || !inner.open {
                    return None;
                }
                if !inner.frames.is_empty() || inner.dropped_items > 0 {
                    let mut out = String::with_capacity(inner.bytes + 64);
                    out.push('[');
                    if inner.dropped_items > 0 {
                        out.push_str(&format!(
                            "{{\"items\":[],\"dropped\":{}}}",
                            inner.dropped_items
                        ));
                        inner.dropped_items = 0;
                    }
                    for (frame, _) in inner.frames.drain(..) {
                        if out.len() > 1 {
                            out.push(',');
                        }
                        out.push_str(&frame);
                    }
                    inner.bytes = 0;
                    out.push(']');
                    return Some(out);
                }
            }
            if tokio::time::timeout_at(deadline, ready).await.is_err() {
                return Some("[]".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_window_takes_what_was_queued_in_order_and_only_its_own() {
        let out = Outbox::default();
        assert!(!out.push("{\"a\":0}".into(), 1), "no window yet");
        let w = out.open(Some(("{\"replay\":1}".into(), 3)));
        assert!(out.push("{\"a\":1}".into(), 1));
        assert!(out.push("{\"a\":2}".into(), 1));
        let got = out.take(w, Duration::from_secs(1)).await.unwrap();
        assert_eq!(got, "[{\"replay\":1},{\"a\":1},{\"a\":2}]");
        assert_eq!(out.take(w, Duration::from_millis(10)).await.unwrap(), "[]", "nothing new");
        assert_eq!(out.take(w + 7, Duration::from_millis(10)).await, None, "not this window");
    }

    #[tokio::test]
    async fn a_waiting_poll_is_answered_by_a_push_and_ended_by_close() {
        let out = std::sync::Arc::new(Outbox::default());
        let w = out.open(None);
        let waiting = tokio::spawn({
            let out = out.clone();
            async move { out.take(w, Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        out.push("{\"a\":1}".into(), 1);
        assert_eq!(waiting.await.unwrap().unwrap(), "[{\"a\":1}]");

        let waiting = tokio::spawn({
            let out = out.clone();
            async move { out.take(w, Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        out.close();
        assert_eq!(waiting.await.unwrap(), None, "the closed window's poll ends");
        assert!(!out.push("{\"a\":2}".into(), 1), "nothing is queued without a window");
    }

    #[tokio::test]
    async fn a_page_that_does_not_ask_is_told_what_it_missed() {
        let out = Outbox::default();
        let w = out.open(None);
        let big = "x".repeat(MAX_BYTES / 3);
        for _ in 0..5 {
            out.push(format!("\"{big}\""), 10);
        }
        let got = out.take(w, Duration::from_secs(1)).await.unwrap();
        assert!(got.starts_with("[{\"items\":[],\"dropped\":"), "{}", &got[..60]);
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        let kept = v.as_array().unwrap().len() - 1;
        assert_eq!(v[0]["dropped"], (5 - kept as u64) * 10);
    }
}
