//! Heartbeats, each on its own partition (`HB#…`); the run status they give is
//! [`crate::run_status`]'s.
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

/// Minimum age (seconds) of a run heartbeat before a task heartbeat refreshes it (svc `WAIT_TIME`).
pub const REFRESH_S: i64 = 10;

/// Minimum age (seconds) of the heartbeat copy on a run or task item before it is rewritten.
pub const COPY_EVERY_S: i64 = 60;

fn stale_copy(copy: Option<i64>, now: i64) -> bool {
    copy.is_none_or(|t| now - t >= COPY_EVERY_S)
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
