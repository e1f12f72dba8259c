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
        Batcher { items: VecDeque::new(), first_at: None, max_items: max_items.max(1), max_delay, capacity: capacity.max(max_items.max(1)), dropped: 0 }
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

#[cfg(test)]
mod tests {
    use super::*;

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
