//! Task and step states, computed server-side from the task items alone (each keeps its latest
//! `attempt` / `attempt_ok` metadata, see `ferry_metadata::model::AttemptStatus`; read as
//! `TaskBrief`s, a query projected to those attributes), so a step of 10,000 tasks is one
//! partition read and one summary, not 10,000 rows for the page.
//!
//! A task is `running` until its latest attempt reports `attempt_ok`; then `succeeded` or
//! `failed`. A task whose failed attempt was followed by another is `running` again (and counts
//! as retried). Once the execution has ended without succeeding, unfinished tasks count as
//! `failed` (they were stopped); once it has succeeded, as `succeeded`.
//!
//! A step is `pending` with no task; `failed` when a task failed (or the execution failed in
//! it); `running` while a task runs, or while every task is done but nothing after the step has
//! started yet and the execution goes on (a foreach may still create tasks); else `succeeded`,
//! or `retried` when it succeeded and at least one task needed more than one attempt.

use ferry_metadata::model::{AttemptStatus, TaskBrief};
use serde::Serialize;

/// The state of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Its latest attempt has not reported yet.
    Running,
    /// Its latest attempt reported `attempt_ok` True.
    Succeeded,
    /// Its latest attempt reported `attempt_ok` False (or the execution stopped it).
    Failed,
}

/// The state of one step (the `data-status` of its element in the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// No task yet.
    Pending,
    /// A task runs, or more may come.
    Running,
    /// Every task succeeded at its first attempt.
    Succeeded,
    /// A task failed.
    Failed,
    /// Every task succeeded, at least one after a retry.
    Retried,
}

/// Where the execution is, as far as task states go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunPhase {
    /// Still running (or unknown: a run without an execution).
    Running,
    /// Ended successfully.
    Succeeded,
    /// Ended otherwise (failed, timed out, aborted).
    Stopped,
}

/// A task's state in a run of `phase`.
pub fn task_state(s: &AttemptStatus, phase: RunPhase) -> TaskState {
    match (s.outcome(), phase) {
        (Some(true), _) => TaskState::Succeeded,
        (Some(false), _) => TaskState::Failed,
        (None, RunPhase::Running) => TaskState::Running,
        (None, RunPhase::Succeeded) => TaskState::Succeeded,
        (None, RunPhase::Stopped) => TaskState::Failed,
    }
}

/// Task counts and times of one step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StepSummary {
    /// Tasks created.
    pub tasks: usize,
    /// Of them, running.
    pub running: usize,
    /// Succeeded.
    pub succeeded: usize,
    /// Failed.
    pub failed: usize,
    /// Tasks that needed more than one attempt (whatever their state).
    pub retried: usize,
    /// The earliest task creation (ms since the epoch).
    pub started_ms: Option<i64>,
    /// The latest `attempt_ok` of a finished task (ms); the step's end once none runs.
    pub finished_ms: Option<i64>,
}

impl StepSummary {
    /// The summary of a step's tasks.
    pub fn of(tasks: &[TaskBrief], phase: RunPhase) -> Self {
        let mut s = StepSummary {
            tasks: tasks.len(),
            ..StepSummary::default()
        };
        for t in tasks {
            match task_state(&t.status, phase) {
                TaskState::Running => s.running += 1,
                TaskState::Succeeded => s.succeeded += 1,
                TaskState::Failed => s.failed += 1,
            }
            if t.status.attempt.unwrap_or(0) > 0 {
                s.retried += 1;
            }
            s.started_ms = Some(s.started_ms.map_or(t.ts_epoch, |m| m.min(t.ts_epoch)));
            if t.status.outcome().is_some() {
                let end = t.status.attempt_ok_ts;
                s.finished_ms = Some(s.finished_ms.map_or(end, |m| m.max(end)));
            }
        }
        s
    }

    /// The step's status; `successor_started`: a step after it has a task; `failed_here`: the
    /// execution names this step as where it failed.
    pub fn status(
        &self,
        phase: RunPhase,
        successor_started: bool,
        failed_here: bool,
    ) -> StepStatus {
        if self.tasks == 0 {
            return if failed_here {
                StepStatus::Failed
            } else {
                StepStatus::Pending
            };
        }
        if self.failed > 0 || failed_here {
            return StepStatus::Failed;
        }
        if self.running > 0 || (phase == RunPhase::Running && !successor_started) {
            return StepStatus::Running;
        }
        if self.retried > 0 {
            StepStatus::Retried
        } else {
            StepStatus::Succeeded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(created: i64, status: AttemptStatus) -> TaskBrief {
        TaskBrief {
            step_name: "s".into(),
            task_id: created,
            task_name: None,
            ts_epoch: created,
            status,
        }
    }

    fn done(attempt: i64, ok: bool, at: i64) -> AttemptStatus {
        AttemptStatus {
            attempt: Some(attempt),
            attempt_ts: at - 10,
            attempt_ok: Some(ok),
            attempt_ok_ts: at,
        }
    }

    #[test]
    fn task_states_follow_the_latest_attempt() {
        let running = AttemptStatus {
            attempt: Some(0),
            attempt_ts: 5,
            ..AttemptStatus::default()
        };
        assert_eq!(task_state(&running, RunPhase::Running), TaskState::Running);
        assert_eq!(task_state(&running, RunPhase::Stopped), TaskState::Failed);
        assert_eq!(
            task_state(&running, RunPhase::Succeeded),
            TaskState::Succeeded
        );
        let retrying = AttemptStatus {
            attempt: Some(1),
            attempt_ts: 50,
            attempt_ok: Some(false),
            attempt_ok_ts: 40,
        };
        assert_eq!(task_state(&retrying, RunPhase::Running), TaskState::Running);
        assert_eq!(
            task_state(&done(0, false, 9), RunPhase::Running),
            TaskState::Failed
        );
    }

    #[test]
    fn step_status_from_counts() {
        let run = RunPhase::Running;
        assert_eq!(
            StepSummary::of(&[], run).status(run, false, false),
            StepStatus::Pending
        );
        let all_ok = [task(1, done(0, true, 100)), task(2, done(0, true, 120))];
        let s = StepSummary::of(&all_ok, run);
        assert_eq!(
            (s.tasks, s.succeeded, s.started_ms, s.finished_ms),
            (2, 2, Some(1), Some(120))
        );
        assert_eq!(
            s.status(run, false, false),
            StepStatus::Running,
            "more tasks may come until the next step starts"
        );
        assert_eq!(s.status(run, true, false), StepStatus::Succeeded);
        assert_eq!(
            s.status(RunPhase::Succeeded, false, false),
            StepStatus::Succeeded
        );
        let retried = [task(1, done(1, true, 100)), task(2, done(0, true, 120))];
        assert_eq!(
            StepSummary::of(&retried, run).status(run, true, false),
            StepStatus::Retried
        );
        let one_failed = [task(1, done(0, false, 100)), task(2, done(0, true, 120))];
        assert_eq!(
            StepSummary::of(&one_failed, run).status(run, true, false),
            StepStatus::Failed
        );
        let stopped = [task(1, AttemptStatus::default())];
        let s = StepSummary::of(&stopped, RunPhase::Stopped);
        assert_eq!((s.failed, s.running), (1, 0));
        assert_eq!(
            s.status(RunPhase::Stopped, false, false),
            StepStatus::Failed
        );
        assert_eq!(
            StepSummary::of(&[], RunPhase::Stopped).status(RunPhase::Stopped, false, true),
            StepStatus::Failed,
            "the execution failed before the step's task registered"
        );
    }
}
