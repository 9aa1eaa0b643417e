//! A run's `status` (`running`, `completed`, `failed`: the words of metaflow-service's
//! `run_status_case`, contract `metadata-api.md` §2), and where it comes from.
//!
//! - A run of a Ferry deployment: the status of its execution, which [`RunStatusListener`]
//!   records on every start and end event of the control plane's lifecycle hook
//!   (`ferry_control::lifecycle`). It is right at once: a run whose task waits for a worker is
//!   `running` however long its heartbeats are silent, and a terminated run, or one whose task
//!   was killed, is `failed` as soon as its execution ended.
//! - Any other run (a local `python flow.py run`, Argo, …): derived as metaflow-service derives
//!   it, from the end step's `attempt_ok` and the run's heartbeats ([`run_status`]).

use std::sync::Arc;

use async_trait::async_trait;
use ferry_control::{ExecutionEvent, ExecutionEventKind, ExecutionListener, ExecutionStatus};
use ferry_deploy::DeploymentStore;
use ferry_store::Table;

use crate::model::Run;
use crate::repo::Repo;

/// A run with no heartbeat for this long (seconds) and no successful end step is `failed`
/// (svc `RUN_INACTIVE_CUTOFF_TIME`).
pub const RUN_INACTIVE_CUTOFF_S: i64 = 360;

/// The metadata API's word for a run whose execution has `status`: `RUNNING` → `running`,
/// `SUCCEEDED` → `completed`, `FAILED`, `TIMED_OUT` and `ABORTED` → `failed`.
pub fn metaflow_status(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Running => "running",
        ExecutionStatus::Succeeded => "completed",
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted => "failed",
    }
}

/// The status of `run`: its execution's ([`metaflow_status`]) when Ferry recorded one
/// (`execution`), else derived as svc's `run_status_case` does:
/// 1. the end step reported `attempt_ok` False and then started another attempt: `running`;
/// 2. the end step's latest `attempt_ok` is True: `completed`; False: `failed`;
/// 3. otherwise `running` while the newest heartbeat (`last_heartbeat_ts`, seconds: the run's
///    own, which every task heartbeat refreshes) is at most [`RUN_INACTIVE_CUTOFF_S`] older
///    than `now_s`, else `failed`. A run that never had a heartbeat counts from its creation,
///    so it is `failed` after 6 minutes without any.
pub fn run_status(
    run: &Run,
    execution: Option<ExecutionStatus>,
    last_heartbeat_ts: Option<i64>,
    now_s: i64,
) -> &'static str {
    if let Some(status) = execution {
        return metaflow_status(status);
    }
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

/// Records the status of every execution of a Ferry deployment for the metadata API, on each
/// started and ended event: the run `sfn-<execution name>` of the deployment's flow (from its
/// record, `DeploymentStore::get(state machine)`; from what its start recorded once the record
/// is gone). Executions of state machines without a deployment record are ignored.
///
/// Wiring: the embedded stack adds it to its `Listeners` (`ferry_local::stack`); on AWS the
/// events Lambda, which receives Step Functions' "Execution Status Change" events, builds it
/// over the metadata service's DynamoDB table and the deployments table
/// (`functions/events/src/wiring.rs`, `listeners`).
///
/// It writes to the metadata table only (items `F#<flow>`/`RX#<run id>` and
/// `XF#<state machine>`/`<execution>`, `crate::layout`); a failure is the hook's to log.
pub struct RunStatusListener {
    repo: Repo,
    deployments: DeploymentStore,
}

impl RunStatusListener {
    /// Records into the metadata service's table `metadata` (the one its router serves), finding
    /// each execution's flow in the deployment records of `deployments`.
    pub fn new(metadata: Arc<dyn Table>, deployments: DeploymentStore) -> Self {
        RunStatusListener {
            repo: Repo::new(metadata),
            deployments,
        }
    }
}

#[async_trait]
impl ExecutionListener for RunStatusListener {
    fn name(&self) -> &str {
        "run_status"
    }

    async fn on_event(&self, event: &ExecutionEvent) -> Result<(), ferry_control::ListenerError> {
        let e = &event.execution;
        let flow = match self.deployments.get(e.state_machine.as_str()).await? {
            Some(record) => Some(record.flow),
            None => self.repo.execution_flow(&e.state_machine, &e.name).await?,
        };
        let Some(flow) = flow else {
            return Ok(());
        };
        match event.kind {
            ExecutionEventKind::Started => self.repo.record_execution_started(&flow, e).await?,
            ExecutionEventKind::Ended => self.repo.record_execution_ended(&flow, e).await?,
        }
        Ok(())
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
            run_status(&fresh, None, None, now),
            "running",
            "new run, no heartbeat yet"
        );
        assert_eq!(run_status(&fresh, None, Some(now - 5), now), "running");
        let old = run(now - 3600, AttemptStatus::default());
        assert_eq!(
            run_status(&old, None, None, now),
            "failed",
            "6 minutes without any heartbeat"
        );
        assert_eq!(run_status(&old, None, Some(now - 361), now), "failed");
        assert_eq!(
            run_status(&old, None, Some(now - 300), now),
            "running",
            "a task beat kept it alive"
        );
        let ok = AttemptStatus {
            attempt_ok: Some(true),
            attempt_ok_ts: 5,
            attempt_ts: 1,
            ..AttemptStatus::default()
        };
        assert_eq!(
            run_status(&run(now - 3600, ok), None, None, now),
            "completed"
        );
        let bad = AttemptStatus {
            attempt_ok: Some(false),
            attempt_ok_ts: 5,
            attempt_ts: 1,
            ..AttemptStatus::default()
        };
        assert_eq!(run_status(&run(now, bad), None, Some(now), now), "failed");
        let retrying = AttemptStatus {
            attempt_ok: Some(false),
            attempt_ok_ts: 5,
            attempt_ts: 9,
            ..AttemptStatus::default()
        };
        assert_eq!(
            run_status(&run(now - 3600, retrying), None, None, now),
            "running"
        );
    }

    #[test]
    fn the_execution_status_wins_over_heartbeats_and_the_end_step() {
        let now = 1_000_000;
        let silent = run(now - 3600, AttemptStatus::default());
        assert_eq!(
            run_status(&silent, Some(ExecutionStatus::Running), None, now),
            "running",
            "waiting for a worker, no heartbeat for an hour"
        );
        let beating = run(now, AttemptStatus::default());
        for (status, word) in [
            (ExecutionStatus::Succeeded, "completed"),
            (ExecutionStatus::Failed, "failed"),
            (ExecutionStatus::TimedOut, "failed"),
            (ExecutionStatus::Aborted, "failed"),
        ] {
            assert_eq!(run_status(&beating, Some(status), Some(now), now), word);
        }
        let ok = AttemptStatus {
            attempt_ok: Some(true),
            attempt_ok_ts: 5,
            attempt_ts: 1,
            ..AttemptStatus::default()
        };
        assert_eq!(
            run_status(&run(now, ok), Some(ExecutionStatus::Running), None, now),
            "running",
            "the end step succeeded but the execution has not ended yet"
        );
    }
}
