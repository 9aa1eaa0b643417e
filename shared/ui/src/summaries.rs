//! Per-step summaries of a run's tasks (counts, times, the tasks the run page names), read
//! through [`Repo::list_task_briefs`] (one projected partition read per step), and kept in
//! memory for runs that have settled: their execution ended at least [`SETTLE_S`] seconds ago,
//! so no task of theirs changes any more. A page load of a finished 10,000-task run then reads
//! no task item at all; a running run's are read afresh on every request (they change).
//!
//! The memory holds at most [`CACHE_MAX`] runs (cleared when full), per process: each Lambda
//! instance, or `ferry up`, fills its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use ferry_metadata::model::{Run, TaskBrief};
use ferry_metadata::repo::Repo;
use futures::{StreamExt, stream};

use crate::error::UiResult;
use crate::status::{RunPhase, StepSummary};

/// How long after its execution's end a run's tasks count as final (seconds): a task stopped
/// with its execution may still report for a moment.
pub const SETTLE_S: i64 = 60;

/// Runs whose summaries are kept at most.
pub const CACHE_MAX: usize = 1000;

/// Steps whose tasks are read at once.
const FANOUT: usize = 8;

/// What the UI keeps of one step's tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepTasks {
    /// Counts and times.
    pub summary: StepSummary,
    /// The internal id of its first task (by id), whose metadata tells an event trigger.
    pub first: Option<i64>,
    /// The exposed id of its first task (by id) whose latest attempt failed.
    pub first_failed: Option<String>,
}

impl StepTasks {
    /// From the step's tasks, by id, in a run of `phase`.
    pub fn of(tasks: &[TaskBrief], phase: RunPhase) -> Self {
        StepTasks {
            summary: StepSummary::of(tasks, phase),
            first: tasks.first().map(|t| t.task_id),
            first_failed: tasks
                .iter()
                .find(|t| t.status.outcome() == Some(false))
                .map(TaskBrief::exposed_str),
        }
    }
}

/// Every step of a run (Metaflow's `_parameters` included), by name.
pub type RunSteps = BTreeMap<String, StepTasks>;

/// Whether a run's tasks are final: its execution ended at least [`SETTLE_S`] before `now`.
pub fn settled(stopped: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    stopped.is_some_and(|t| (now - t).num_seconds() >= SETTLE_S)
}

/// Kept runs by flow and run number.
type Kept = HashMap<(String, i64), Arc<RunSteps>>;

/// The summaries of settled runs, by flow and run number.
#[derive(Clone, Default)]
pub struct StepSummaries {
    kept: Arc<Mutex<Kept>>,
}

impl StepSummaries {
    /// Every step of `run` in a run of `phase`: kept ones when `settled` (see [`settled`]),
    /// else read (one query for the steps, one projected query per step) and kept when
    /// `settled`.
    pub async fn run(
        &self,
        repo: &Arc<Repo>,
        run: &Run,
        phase: RunPhase,
        settled: bool,
    ) -> UiResult<Arc<RunSteps>> {
        let key = (run.flow_id.clone(), run.run_number);
        if settled && let Some(s) = self.lock().get(&key) {
            return Ok(s.clone());
        }
        let steps = repo.list_steps(run).await?;
        let reads = steps.into_iter().map(|s| {
            let repo = repo.clone();
            async move {
                let tasks = repo.list_task_briefs(run, &s.step_name).await?;
                UiResult::Ok((s.step_name, StepTasks::of(&tasks, phase)))
            }
        });
        let read: Vec<UiResult<(String, StepTasks)>> =
            stream::iter(reads).buffered(FANOUT).collect().await;
        let steps: Arc<RunSteps> = Arc::new(read.into_iter().collect::<UiResult<_>>()?);
        if settled {
            let mut kept = self.lock();
            if kept.len() >= CACHE_MAX {
                kept.clear();
            }
            kept.insert(key, steps.clone());
        }
        Ok(steps)
    }

    /// One step of `run`: from the kept run when `settled` (reading and keeping the whole run
    /// the first time), else its tasks read afresh.
    pub async fn step(
        &self,
        repo: &Arc<Repo>,
        run: &Run,
        step: &str,
        phase: RunPhase,
        settled: bool,
    ) -> UiResult<StepTasks> {
        if settled {
            let steps = self.run(repo, run, phase, true).await?;
            return Ok(steps.get(step).cloned().unwrap_or_default());
        }
        let tasks = repo.list_task_briefs(run, step).await?;
        Ok(StepTasks::of(&tasks, phase))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_settle_a_while_after_their_end() {
        let now = Utc::now();
        assert!(!settled(None, now), "running");
        assert!(!settled(Some(now - chrono::Duration::seconds(5)), now));
        assert!(settled(
            Some(now - chrono::Duration::seconds(SETTLE_S)),
            now
        ));
    }
}
