//! Heartbeats, each on its own partition (`HB#…`), and the derived run status.
//!
//! A task heartbeat refreshes its run's heartbeat only when that one is older than
//! [`REFRESH_S`] seconds (a read, then maybe a write), so a wide foreach does not turn the run's
//! heartbeat item into a hot key: it gets at most one write per 10 s.
//!
//! The run and task items keep a copy of their heartbeat, rewritten at most every
//! [`COPY_EVERY_S`] seconds, so listings need no read per object; single-object reads take the
//! exact value from the heartbeat item.

use std::collections::BTreeMap;

use ferry_store::{Attr, Condition};

use super::{Repo, now_s};
use crate::error::ApiResult;
use crate::layout;
use crate::model::{Run, Task};

/// A run with no heartbeat for this long (seconds) and no successful end step is `failed`
/// (svc `RUN_INACTIVE_CUTOFF_TIME`).
pub const RUN_INACTIVE_CUTOFF_S: i64 = 360;

/// Minimum age (seconds) of a run heartbeat before a task heartbeat refreshes it (svc `WAIT_TIME`).
pub const REFRESH_S: i64 = 10;

/// Minimum age (seconds) of the heartbeat copy on a run or task item before it is rewritten.
pub const COPY_EVERY_S: i64 = 60;

fn stale_copy(copy: Option<i64>, now: i64) -> bool {
    copy.is_none_or(|t| now - t >= COPY_EVERY_S)
}

/// The derived status of a run (svc's `run_status_case`):
/// 1. the end step reported `attempt_ok` False and then started another attempt: `running`;
/// 2. the end step's latest `attempt_ok` is True: `completed`; False: `failed`;
/// 3. otherwise `running` while the newest heartbeat (the run's own, which every task
///    heartbeat refreshes) is at most [`RUN_INACTIVE_CUTOFF_S`] old, else `failed`. A run
///    that never had a heartbeat counts from its creation, so it is `failed` after 6 minutes
///    without any; tasks without heartbeats (created, never started) change nothing.
pub fn run_status(run: &Run, last_heartbeat_ts: Option<i64>, now_s: i64) -> &'static str {
    let end = run.end;
    match end.attempt_ok {
        Some(false) if end.attempt_ts > end.attempt_ok_ts => return "running",
        Some(true) => return "completed",
        Some(false) => return "failed",
        None => {}
    }
    let last = last_heartbeat_ts.unwrap_or(run.ts_epoch / 1000);
    if now_s - last <= RUN_INACTIVE_CUTOFF_S {
        "running"
    } else {
        "failed"
    }
}

impl Repo {
    async fn read_beat(&self, key: (String, String)) -> ApiResult<Option<i64>> {
        Ok(match self.table.get(&key.0, &key.1).await? {
            Some(it) => match it.attrs.get("ts") {
                Some(Attr::N(n)) => Some(*n),
                _ => None,
            },
            None => None,
        })
    }

    async fn write_beat(&self, key: (String, String), ts: i64) -> ApiResult<()> {
        let mut attrs = BTreeMap::new();
        attrs.insert("ts".into(), Attr::N(ts));
        self.table
            .set(&key.0, &key.1, attrs, Condition::None)
            .await?;
        Ok(())
    }

    /// A run's exact `last_heartbeat_ts` (seconds).
    pub async fn run_heartbeat(&self, run: &Run) -> ApiResult<Option<i64>> {
        let beat = self
            .read_beat(layout::run_heartbeat(&run.flow_id, run.run_number))
            .await?;
        Ok(beat.max(run.last_heartbeat_ts))
    }

    /// Rewrite the heartbeat copy on an object item.
    async fn write_copy(&self, (pk, sk): (String, String), now: i64) -> ApiResult<()> {
        let mut attrs = BTreeMap::new();
        attrs.insert("last_heartbeat_ts".into(), Attr::N(now));
        self.table.set(&pk, &sk, attrs, Condition::Exists).await?;
        Ok(())
    }

    async fn copy_run_beat(&self, run: &Run, now: i64) -> ApiResult<()> {
        if stale_copy(run.last_heartbeat_ts, now) {
            self.write_copy(layout::run(&run.flow_id, run.run_number), now)
                .await?;
        }
        Ok(())
    }

    /// A task's exact `last_heartbeat_ts` (seconds).
    pub async fn task_heartbeat(&self, run: &Run, task: &Task) -> ApiResult<Option<i64>> {
        let key = layout::task_heartbeat(&run.flow_id, run.run_number, task.task_id);
        Ok(self.read_beat(key).await?.max(task.last_heartbeat_ts))
    }

    /// Record a run heartbeat now; returns its time.
    pub async fn beat_run(&self, run: &Run) -> ApiResult<i64> {
        let now = now_s();
        self.write_beat(layout::run_heartbeat(&run.flow_id, run.run_number), now)
            .await?;
        self.copy_run_beat(run, now).await?;
        Ok(now)
    }

    /// Refresh a run's heartbeat unless it is younger than [`REFRESH_S`].
    /// This process remembers when it last did so, and skips the store entirely then.
    pub async fn refresh_run(&self, run: &Run) -> ApiResult<()> {
        let now = now_s();
        let key = layout::run_heartbeat(&run.flow_id, run.run_number);
        if super::recall(&self.run_refreshed, &key).is_some_and(|ts| now - ts < REFRESH_S) {
            return Ok(());
        }
        let fresh = matches!(self.run_heartbeat(run).await?, Some(ts) if now - ts < REFRESH_S);
        if !fresh {
            self.write_beat(key.clone(), now).await?;
            self.copy_run_beat(run, now).await?;
        }
        super::remember(&self.run_refreshed, key, now);
        Ok(())
    }

    /// Record a task heartbeat now (and keep its run alive); returns its time.
    pub async fn beat_task(&self, run: &Run, task: &Task) -> ApiResult<i64> {
        let now = now_s();
        self.write_beat(
            layout::task_heartbeat(&run.flow_id, run.run_number, task.task_id),
            now,
        )
        .await?;
        if stale_copy(task.last_heartbeat_ts, now) {
            let key = layout::task(&run.flow_id, run.run_number, &task.step_name, task.task_id);
            self.write_copy(key, now).await?;
        }
        self.refresh_run(run).await?;
        Ok(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AttemptStatus;

    fn run(ts_epoch_s: i64, end: AttemptStatus) -> Run {
        Run {
            flow_id: "F".into(),
            run_number: 1,
            run_id: None,
            user_name: None,
            ts_epoch: ts_epoch_s * 1000,
            tags: None,
            system_tags: None,
            version: 1,
            last_heartbeat_ts: None,
            end,
        }
    }

    #[test]
    fn derived_status() {
        let now = 1_000_000;
        let fresh = run(now - 10, AttemptStatus::default());
        assert_eq!(
            run_status(&fresh, None, now),
            "running",
            "new run, no heartbeat yet"
        );
        assert_eq!(run_status(&fresh, Some(now - 5), now), "running");
        let old = run(now - 3600, AttemptStatus::default());
        assert_eq!(
            run_status(&old, None, now),
            "failed",
            "6 minutes without any heartbeat"
        );
        assert_eq!(run_status(&old, Some(now - 361), now), "failed");
        assert_eq!(
            run_status(&old, Some(now - 300), now),
            "running",
            "a task beat kept it alive"
        );
        let ok = AttemptStatus {
            attempt_ok: Some(true),
            attempt_ok_ts: 5,
            attempt_ts: 1,
            ..AttemptStatus::default()
        };
        assert_eq!(run_status(&run(now - 3600, ok), None, now), "completed");
        let bad = AttemptStatus {
            attempt_ok: Some(false),
            attempt_ok_ts: 5,
            attempt_ts: 1,
            ..AttemptStatus::default()
        };
        assert_eq!(run_status(&run(now, bad), Some(now), now), "failed");
        let retrying = AttemptStatus {
            attempt_ok: Some(false),
            attempt_ok_ts: 5,
            attempt_ts: 9,
            ..AttemptStatus::default()
        };
        assert_eq!(run_status(&run(now - 3600, retrying), None, now), "running");
    }
}
