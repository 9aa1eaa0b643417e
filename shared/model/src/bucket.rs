//! A token bucket served first come, first served.

use crate::figures::Rate;

/// A token bucket. Requests must arrive in non-decreasing time (the simulation's event order);
/// each gets the earliest time a token is free at or after its arrival.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    rate: Rate,
    /// Tokens at `at` (may be fractional).
    tokens: f64,
    at: f64,
}

impl Bucket {
    pub(crate) fn new(rate: Rate) -> Self {
        Bucket {
            rate,
            tokens: rate.burst,
            at: 0.0,
        }
    }

    /// Take one token for a request arriving at `now` (seconds); returns when it is granted.
    pub(crate) fn take(&mut self, now: f64) -> f64 {
        if !self.rate.per_second.is_finite() {
            return now;
        }
        let t = now.max(self.at);
        let tokens = (self.tokens + (t - self.at) * self.rate.per_second).min(self.rate.burst);
        let granted = if tokens >= 1.0 {
            t
        } else {
            t + (1.0 - tokens) / self.rate.per_second
        };
        self.tokens = (tokens + (granted - t) * self.rate.per_second).min(self.rate.burst) - 1.0;
        self.at = granted;
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_refill_rate() {
        let mut b = Bucket::new(Rate {
            burst: 50.0,
            per_second: 50.0,
        });
        let grants: Vec<f64> = (0..150).map(|_| b.take(0.0)).collect();
        assert!(grants[..50].iter().all(|g| *g == 0.0));
        // 100 more at 50/s: the last one 2 s in.
        assert!((grants[149] - 2.0).abs() < 1e-9, "{}", grants[149]);
        // Idle long enough, the burst is back.
        let later = b.take(100.0);
        assert_eq!(later, 100.0);
    }

    #[test]
    fn unlimited_grants_at_once() {
        let mut b = Bucket::new(Rate::UNLIMITED);
        assert_eq!(b.take(3.5), 3.5);
    }
}
