//! Time as a port, so Wait states, retry back-off, timeouts and schedules can run on a manual
//! clock in tests (no real waiting).

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Wall-clock time and sleeping.
#[async_trait]
pub trait Time: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
    /// Sleep for `d`.
    async fn sleep(&self, d: Duration);
}

/// The system clock and tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemTime;

#[async_trait]
impl Time for SystemTime {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// Wall-clock time derived from tokio's clock: `now` = the wall time at creation + tokio time
/// elapsed since. Under `tokio::time::pause()` (tests) time is virtual and auto-advances when
/// every task is idle, so concurrent sleeps and timeouts still complete in deadline order.
#[derive(Debug, Clone, Copy)]
pub struct TokioTime {
    wall: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioTime {
    /// A clock reading `wall` now. Call inside a tokio runtime.
    pub fn starting_at(wall: DateTime<Utc>) -> Self {
        TokioTime {
            wall,
            start: tokio::time::Instant::now(),
        }
    }
}

#[async_trait]
impl Time for TokioTime {
    fn now(&self) -> DateTime<Utc> {
        self.wall
            + chrono::Duration::from_std(self.start.elapsed()).unwrap_or(chrono::Duration::MAX)
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// A manual clock for tests: `sleep(d)` moves `now` forward by `d` at once (then yields), so
/// code that waits hours runs instantly, and every sleep is recorded. Every sleep completes at
/// once, so a timeout racing other work fires immediately: for machines with `TimeoutSeconds`
/// use [`TokioTime`] under `tokio::time::pause()` instead.
#[derive(Debug)]
pub struct ManualTime {
    state: Mutex<(DateTime<Utc>, Vec<Duration>)>,
}

impl ManualTime {
    /// A clock that reads `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualTime {
            state: Mutex::new((start, Vec::new())),
        }
    }
    /// Move the clock to `t` (if later than now).
    pub fn set(&self, t: DateTime<Utc>) {
        let mut s = self.state.lock().expect("clock lock");
        if t > s.0 {
            s.0 = t;
        }
    }
    /// Every duration slept so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state.lock().expect("clock lock").1.clone()
    }
}

#[async_trait]
impl Time for ManualTime {
    fn now(&self) -> DateTime<Utc> {
        self.state.lock().expect("clock lock").0
    }
    async fn sleep(&self, d: Duration) {
        {
            let mut s = self.state.lock().expect("clock lock");
            s.0 += chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
            s.1.push(d);
        }
        tokio::task::yield_now().await;
    }
}
