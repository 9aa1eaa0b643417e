//! A schedule clock: fires callbacks at the instants of EventBridge cron schedules (6 fields,
//! optional IANA time zone) while it runs, on the [`Time`] port so tests run on a manual clock.
//!
//! Fire times come from [`ferry_spec::aws_cron`] (EventBridge rules; DST as EventBridge
//! Scheduler: a wall-clock time in the spring-forward gap is skipped, a repeated one fires
//! once). Times missed while the process was not running or was suspended are not caught up:
//! after a late wake-up each due schedule fires once and continues from the current time.
//! Long waits are cut into slices of at most [`MAX_SLICE`] so a suspended machine or a changed
//! system clock is noticed.
//!
//! The embedded stack's `schedules` module keeps schedules in the state table and runs its own
//! loop; this clock is the table-free building block (a set of schedules, a callback).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ferry_spec::aws_cron::{AwsCron, CronError, parse_timezone};

use crate::executor::Cancellation;
use crate::time::Time;

/// The longest single sleep (the clock re-reads the time after it).
pub const MAX_SLICE: Duration = Duration::from_secs(60);

/// One schedule: an id (e.g. the deployment name), a cron expression and its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Handed to the callback.
    pub id: String,
    cron: AwsCron,
    tz: Tz,
}

impl Schedule {
    /// A schedule firing on EventBridge cron `expr` (no `cron(...)` wrapper) in time zone `tz`
    /// (IANA name; `None` = UTC). Errors are the user-facing messages of [`CronError`].
    pub fn new(id: impl Into<String>, expr: &str, tz: Option<&str>) -> Result<Self, CronError> {
        Ok(Schedule {
            id: id.into(),
            cron: AwsCron::parse(expr)?,
            tz: parse_timezone(tz)?,
        })
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.next_after(self.tz, after, 1).into_iter().next()
    }
}

/// Fires a set of schedules.
pub struct ScheduleClock {
    schedules: Vec<Schedule>,
    time: Arc<dyn Time>,
}

impl ScheduleClock {
    /// A clock over `schedules`, reading and waiting on `time`.
    pub fn new(schedules: Vec<Schedule>, time: Arc<dyn Time>) -> Self {
        ScheduleClock { schedules, time }
    }

    /// The earliest fire time strictly after `after` and the ids of the schedules due then.
    pub fn next_due(&self, after: DateTime<Utc>) -> Option<(DateTime<Utc>, Vec<String>)> {
        let times: Vec<(DateTime<Utc>, &str)> = self
            .schedules
            .iter()
            .filter_map(|s| s.next_after(after).map(|t| (t, s.id.as_str())))
            .collect();
        let first = times.iter().map(|t| t.0).min()?;
        Some((
            first,
            times
                .into_iter()
                .filter(|t| t.0 == first)
                .map(|t| t.1.to_string())
                .collect(),
        ))
    }

    /// Run until `stop` fires (or no schedule has a future fire time): at each fire time call
    /// `fire(id, instant)` for every schedule due then, in the order given, awaiting each call.
    /// Fire times count from the moment `run` starts.
    pub async fn run<F, Fut>(&self, stop: Cancellation, mut fire: F)
    where
        F: FnMut(String, DateTime<Utc>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut cursor = self.time.now();
        while !stop.is_cancelled() {
            let Some((at, ids)) = self.next_due(cursor) else {
                return;
            };
            // Sleep in slices until `at`.
            loop {
                let now = self.time.now();
                if now >= at {
                    break;
                }
                let left = (at - now).to_std().unwrap_or(Duration::ZERO).min(MAX_SLICE);
                tokio::select! {
                    _ = self.time.sleep(left) => {}
                    _ = stop.cancelled() => return,
                }
            }
            for id in ids {
                if stop.is_cancelled() {
                    return;
                }
                fire(id, at).await;
            }
            // No catch-up: continue from the later of the fire time and now.
            cursor = at.max(self.time.now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::CancelSource;
    use crate::time::ManualTime;
    use std::sync::Mutex;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Run `schedules` on a manual clock from `start` until `n` firings; the firings in order.
    async fn fire_n(schedules: Vec<Schedule>, start: &str, n: usize) -> Vec<(String, String)> {
        let time = Arc::new(ManualTime::new(utc(start)));
        let clock = ScheduleClock::new(schedules, time.clone());
        let stop = CancelSource::new();
        let fired = Mutex::new(Vec::new());
        clock
            .run(stop.token(), |id, at| {
                // The clock calls back at the fire instant (the manual clock stands there).
                assert_eq!(time.now(), at);
                let mut f = fired.lock().unwrap();
                f.push((id, at.to_rfc3339()));
                if f.len() == n {
                    stop.cancel();
                }
                async {}
            })
            .await;
        fired.into_inner().unwrap()
    }

    fn times(v: &[(String, String)]) -> Vec<&str> {
        v.iter().map(|f| f.1.as_str()).collect()
    }

    #[tokio::test]
    async fn spring_forward_skips_the_missing_local_time() {
        // 02:30 in Paris does not exist on 2026-03-29 (02:00 CET -> 03:00 CEST).
        let s = Schedule::new("daily", "30 2 * * ? *", Some("Europe/Paris")).unwrap();
        let got = fire_n(vec![s], "2026-03-27T12:00:00Z", 3).await;
        assert_eq!(
            times(&got),
            [
                "2026-03-28T01:30:00+00:00",
                "2026-03-30T00:30:00+00:00",
                "2026-03-31T00:30:00+00:00"
            ]
        );
    }

    #[tokio::test]
    async fn fall_back_fires_a_repeated_local_time_once() {
        // 02:30 in Paris happens twice on 2026-10-25 (03:00 CEST -> 02:00 CET).
        let s = Schedule::new("daily", "30 2 * * ? *", Some("Europe/Paris")).unwrap();
        let got = fire_n(vec![s], "2026-10-23T12:00:00Z", 3).await;
        assert_eq!(
            times(&got),
            [
                "2026-10-24T00:30:00+00:00",
                "2026-10-25T00:30:00+00:00",
                "2026-10-26T01:30:00+00:00"
            ]
        );
    }

    #[tokio::test]
    async fn local_wall_clock_is_kept_across_dst_and_weekdays() {
        // 09:00 New York on weekdays: 13:00 UTC in EDT, 14:00 UTC in EST (from 2026-11-01).
        let s = Schedule::new("weekday", "0 9 ? * MON-FRI *", Some("America/New_York")).unwrap();
        let got = fire_n(vec![s], "2026-10-29T00:00:00Z", 3).await;
        assert_eq!(
            times(&got),
            [
                "2026-10-29T13:00:00+00:00",
                "2026-10-30T13:00:00+00:00",
                "2026-11-02T14:00:00+00:00"
            ]
        );
    }

    #[tokio::test]
    async fn several_schedules_interleave_and_coincide() {
        let hourly = Schedule::new("hourly", "0 * * * ? *", None).unwrap();
        let every20 = Schedule::new("every20", "0/20 * * * ? *", None).unwrap();
        let got = fire_n(vec![hourly, every20], "2026-11-30T09:30:00Z", 4).await;
        assert_eq!(
            got,
            [
                (
                    "every20".to_string(),
                    "2026-11-30T09:40:00+00:00".to_string()
                ),
                (
                    "hourly".to_string(),
                    "2026-11-30T10:00:00+00:00".to_string()
                ),
                (
                    "every20".to_string(),
                    "2026-11-30T10:00:00+00:00".to_string()
                ),
                (
                    "every20".to_string(),
                    "2026-11-30T10:20:00+00:00".to_string()
                ),
            ]
        );
    }

    #[tokio::test]
    async fn long_waits_are_sliced_and_past_years_end_the_loop() {
        let time = Arc::new(ManualTime::new(utc("2026-11-30T00:00:00Z")));
        let s = Schedule::new("once", "0 12 1 1 ? 2027", None).unwrap();
        let clock = ScheduleClock::new(vec![s], time.clone());
        let mut fired = Vec::new();
        clock
            .run(CancelSource::new().token(), |id, at| {
                fired.push((id, at));
                async {}
            })
            .await;
        assert_eq!(fired, [("once".to_string(), utc("2027-01-01T12:00:00Z"))]);
        assert!(time.sleeps().iter().all(|d| *d <= MAX_SLICE));
        // 32.5 days in slices of at most a minute.
        assert_eq!(time.sleeps().len(), 32 * 24 * 60 + 12 * 60);
    }

    #[test]
    fn bad_schedules_are_refused() {
        assert!(Schedule::new("x", "0 10 * * * *", None).is_err());
        assert!(Schedule::new("x", "0 10 * * ? *", Some("Mars/Olympus")).is_err());
    }
}
