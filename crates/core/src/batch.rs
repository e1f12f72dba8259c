//! Batching for the UI: under a flood the webview gets a few large messages per second, not
//! one IPC message per socket event, and never more than it can hold.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Collects items and says when a batch is due: when `max_items` are waiting or `max_delay`
/// passed since the first one. Beyond `capacity` waiting items the oldest are dropped and
/// counted (the UI shows the count).
#[derive(Debug)]
pub struct Batcher<T> {
    items: VecDeque<T>,
    first_at: Option<Instant>,
    pub max_items: usize,
    pub max_delay: Duration,
    pub capacity: usize,
    dropped: u64,
}

/// A batch ready to send.
#[derive(Debug, PartialEq)]
pub struct Batch<T> {
    pub items: Vec<T>,
    /// Items dropped since the previous batch because the consumer fell behind.
    pub dropped: u64,
}

impl<T> Batcher<T> {
    pub fn new(max_items: usize, max_delay: Duration, capacity: usize) -> Self {
        Batcher {
            items: VecDeque::new(),
            first_at: None,
            max_items: max_items.max(1),
            max_delay,
            capacity: capacity.max(max_items.max(1)),
            dropped: 0,
        }
    }

    pub fn push(&mut self, item: T, now: Instant) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back(item);
        self.first_at.get_or_insert(now);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// When the current batch is due, if anything waits.
    pub fn deadline(&self) -> Option<Instant> {
        self.first_at.map(|t| t + self.max_delay)
    }

    /// Take a batch if one is due at `now` (full, or the delay passed).
    pub fn take_due(&mut self, now: Instant) -> Option<Batch<T>> {
        let due = self.items.len() >= self.max_items || self.deadline().is_some_and(|d| now >= d);
        if !due || (self.items.is_empty() && self.dropped == 0) {
            return None;
        }
        Some(self.take(self.max_items))
    }

    /// Take up to `n` items regardless of timing.
    pub fn take(&mut self, n: usize) -> Batch<T> {
        let k = n.min(self.items.len());
        let items: Vec<T> = self.items.drain(..k).collect();
        self.first_at = if self.items.is_empty() { None } else { Some(Instant::now()) };
        Batch { items, dropped: std::mem::take(&mut self.dropped) }
    }
}

impl<T> Batch<T> {
    /// Keeps only the last item for each key, where the order stays that of those last items;
    /// items without a key are all kept. Under a flood one agent run changes with every event,
    /// and only its latest state is worth sending.
    pub fn keep_last_by<K: Ord>(&mut self, key: impl Fn(&T) -> Option<K>) {
        let mut seen = std::collections::BTreeSet::new();
        let mut keep = vec![true; self.items.len()];
        for (i, item) in self.items.iter().enumerate().rev() {
            if let Some(k) = key(item) {
                keep[i] = seen.insert(k);
            }
        }
        let mut flags = keep.into_iter();
        self.items.retain(|_| flags.next().unwrap_or(true));
    }

    /// The batch as JSON envelopes `{"items":[...],"dropped":n}` of at most `max_bytes` each
    /// (an item larger than that travels alone), in order; `dropped` rides on the first.
    /// Tauri hands a channel message under 8 KiB to the page in one `eval`, while a larger one
    /// costs an extra IPC round trip through a fetch — measured as most of the UI's latency.
    pub fn json_frames(&self, max_bytes: usize) -> Vec<String>
    where
        T: serde::Serialize,
    {
        let mut frames = Vec::new();
        let mut dropped = self.dropped;
        let mut cur = String::new();
        let close = |cur: &mut String, dropped: &mut u64, frames: &mut Vec<String>| {
            cur.push_str(&format!("],\"dropped\":{dropped}}}"));
            *dropped = 0;
            frames.push(std::mem::take(cur));
        };
        for item in &self.items {
            let json = match serde_json::to_string(item) {
                Ok(j) => j,
                Err(e) => serde_json::json!({"type": "error", "message": format!("could not encode an item: {e}")}).to_string(),
            };
            // 32 bytes covers the envelope around the items.
            if !cur.is_empty() && cur.len() + json.len() + 32 > max_bytes {
                close(&mut cur, &mut dropped, &mut frames);
            }
            cur.push_str(if cur.is_empty() { "{\"items\":[" } else { "," });
            cur.push_str(&json);
        }
        if !cur.is_empty() || dropped > 0 {
            if cur.is_empty() {
                cur.push_str("{\"items\":[");
            }
            close(&mut cur, &mut dropped, &mut frames);
        }
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_last_by_key_keeps_the_latest_of_each_and_everything_unkeyed() {
        let mut b = Batch {
            items: vec![("run", 1), ("ev", 1), ("run", 2), ("other", 1), ("ev", 2), ("run", 3)],
            dropped: 0,
        };
        b.keep_last_by(|(kind, _)| (*kind == "run" || *kind == "other").then_some(*kind));
        assert_eq!(b.items, vec![("ev", 1), ("other", 1), ("ev", 2), ("run", 3)]);
    }

    #[test]
    fn json_frames_split_under_the_size_and_keep_order_and_dropped() {
        let items: Vec<String> = (0..100).map(|i| format!("{i:0>50}")).collect();
        let b = Batch { items: items.clone(), dropped: 7 };
        let frames = b.json_frames(1000);
        assert!(frames.len() > 1);
        let mut back = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            assert!(f.len() <= 1000, "frame {i} is {} bytes", f.len());
            let v: serde_json::Value = serde_json::from_str(f).unwrap();
            assert_eq!(v["dropped"], if i == 0 { 7 } else { 0 });
            back.extend(
                v["items"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()),
            );
        }
        assert_eq!(back, items);
        // An item bigger than the limit goes alone; a batch with only a drop count still says so.
        let big = Batch { items: vec!["x".repeat(5000), "y".into()], dropped: 0 }.json_frames(1000);
        assert_eq!(big.len(), 2);
        let only_dropped = Batch::<String> { items: vec![], dropped: 3 }.json_frames(1000);
        assert_eq!(only_dropped, vec!["{\"items\":[],\"dropped\":3}".to_string()]);
    }

    #[test]
    fn batches_by_size_or_delay_and_drops_oldest_beyond_capacity() {
        let t0 = Instant::now();
        let mut b = Batcher::new(100, Duration::from_millis(50), 1000);
        for i in 0..5 {
            b.push(i, t0);
        }
        assert!(b.take_due(t0 + Duration::from_millis(10)).is_none(), "neither full nor late");
        let batch = b.take_due(t0 + Duration::from_millis(60)).unwrap();
        assert_eq!(batch.items, vec![0, 1, 2, 3, 4]);
        assert!(b.is_empty() && b.deadline().is_none());

        for i in 0..250 {
            b.push(i, t0);
        }
        let first = b.take_due(t0).unwrap();
        assert_eq!(first.items.len(), 100, "full batches go at once");
        assert_eq!(b.len(), 150);

        let mut small = Batcher::new(10, Duration::from_millis(50), 20);
        for i in 0..10_000 {
            small.push(i, t0);
        }
        assert_eq!(small.len(), 20, "memory stays bounded under a flood");
        let batch = small.take_due(t0).unwrap();
        assert_eq!(batch.dropped, 9_980);
        assert_eq!(batch.items[0], 9_980, "the newest are kept");
    }
}
