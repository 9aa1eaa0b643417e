//! Time as a port, so Wait states, retry back-off, timeouts and schedules can run on a manual
//! clock in tests (no real waiting). The one clock of the embedded stack: the executor waits on
//! it, the schedule loop reads and sleeps on it.
//!
//! | clock | reads | sleeps |
//! |---|---|---|
//! | [`SystemTime`] | the wall clock | tokio timers |
//! | [`ScaledTime`] | the wall clock at start, running `factor` times faster | `d / factor` real time |
//! | [`TokioTime`] | tokio's clock (virtual under `tokio::time::pause()`) | tokio timers |
//! | [`ManualTime`] | a set instant | not at all: moves the instant forward |

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Wall-clock time and sleeping.
#[async_trait]
pub trait Time: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
    /// Sleep for `d` (of this clock's time).
    async fn sleep(&self, d: Duration);
    /// Sleep until the clock reads at least `t` (or a little later); at once when `t` is past.
    async fn sleep_until(&self, t: DateTime<Utc>) {
        let d = (t - self.now()).to_std().unwrap_or(Duration::ZERO);
        self.sleep(d).await;
    }
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

/// A clock that starts at the wall-clock time and runs `factor` times faster (for tests: a
/// per-minute cron fires every `60 / factor` real seconds; a one-minute retry wait lasts
/// `60 / factor` seconds).
#[derive(Debug, Clone)]
pub struct ScaledTime {
    real_start: Instant,
    virtual_start: DateTime<Utc>,
    factor: f64,
}

impl ScaledTime {
    /// A clock running `factor` (≥ 1; smaller values count as 1) times faster than real time
    /// from now.
    pub fn new(factor: f64) -> Self {
        ScaledTime {
            real_start: Instant::now(),
            virtual_start: Utc::now(),
            factor: factor.max(1.0),
        }
    }
}

#[async_trait]
impl Time for ScaledTime {
    fn now(&self) -> DateTime<Utc> {
        let real = self.real_start.elapsed().as_secs_f64() * self.factor;
        self.virtual_start + chrono::Duration::microseconds((real * 1e6) as i64)
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d.div_f64(self.factor)).await;
    }
}

/// The clock the stack uses: [`ScaledTime`] when `FERRY_CLOCK_SPEEDUP`
/// ([`ferry_spec::task::ENV_CLOCK_SPEEDUP`]) holds a number > 1, else [`SystemTime`].
pub fn from_env() -> Arc<dyn Time> {
    match std::env::var(ferry_spec::task::ENV_CLOCK_SPEEDUP)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        Some(f) if f.is_finite() && f > 1.0 => Arc::new(ScaledTime::new(f)),
        _ => Arc::new(SystemTime),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleep_until_sleeps_the_difference_and_not_into_the_past() {
        let t0 = DateTime::parse_from_rfc3339("2026-03-08T06:59:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = ManualTime::new(t0);
        clock.sleep_until(t0 + chrono::Duration::minutes(2)).await;
        assert_eq!(clock.now(), t0 + chrono::Duration::minutes(2));
        clock.sleep_until(t0).await;
        assert_eq!(
            clock.sleeps(),
            vec![Duration::from_secs(120), Duration::ZERO]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn scaled_time_sleeps_its_factor_faster() {
        let clock = ScaledTime::new(60.0);
        let real = tokio::time::Instant::now();
        clock.sleep(Duration::from_secs(60)).await;
        assert_eq!(real.elapsed(), Duration::from_secs(1));
    }
}
