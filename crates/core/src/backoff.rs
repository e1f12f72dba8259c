//! Reconnection delays, the same as socket.io-client's `Backoff`: first delay 1 s, doubling,
//! ±50 % jitter, capped at 5 s, unlimited attempts. (rust_socketio's own backoff stops
//! sleeping after 15 minutes of failures, which is why the session owns this.)

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
    pub factor: f64,
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(1000),
            max: Duration::from_millis(5000),
            factor: 2.0,
            jitter: 0.5,
        }
    }
}

impl Backoff {
    /// Delay before attempt `attempt` (1-based), with `r` a uniform sample in [0, 1).
    pub fn delay_with(&self, attempt: u32, r: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(32) as i32;
        let mut ms = self.min.as_millis() as f64 * self.factor.powi(exp);
        if self.jitter > 0.0 {
            let deviation = r * self.jitter * ms;
            // socket.io-client: the same sample picks the direction and the size.
            ms = if ((r * 10.0).floor() as u64).is_multiple_of(2) {
                ms - deviation
            } else {
                ms + deviation
            };
        }
        Duration::from_millis(ms.min(self.max.as_millis() as f64).max(0.0) as u64)
    }

    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::thread_rng().r#gen::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_socket_io_client() {
        let b = Backoff::default();
        for i in 0..1000 {
            let r = i as f64 / 1000.0;
            let d1 = b.delay_with(1, r).as_millis();
            assert!((500..=1500).contains(&d1), "attempt 1: {d1}");
            let d2 = b.delay_with(2, r).as_millis();
            assert!((1000..=3000).contains(&d2), "attempt 2: {d2}");
            let d3 = b.delay_with(3, r).as_millis();
            assert!((2000..=5000).contains(&d3), "attempt 3: {d3}");
            assert!(b.delay_with(50, r).as_millis() <= 5000);
            assert!(b.delay_with(u32::MAX, r).as_millis() <= 5000);
        }
        // Both directions of jitter occur.
        let lows =
            (0..100).filter(|i| b.delay_with(1, *i as f64 / 100.0).as_millis() < 1000).count();
        assert!(lows > 20 && lows < 80, "{lows}");
    }
}
