//! The executions port: start, list, describe, stop, and wait for the end of executions.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use ferry_spec::{DeploymentName, ExecutionName};

use crate::{ControlError, Execution, ExecutionStatus, RunningJob, StateMachine};

/// Executions of state machines: Step Functions on AWS (`ferry_aws::StepFunctions`), the
/// embedded stack in-process (`ferry_local::orchestrator::LocalOrchestrator`) or over its
/// control API (`ferry_local::control::ControlClient`). The run commands (`ferry trigger`,
/// `list-runs`, `status`, `terminate`) and the schedules use it.
///
/// Executions are addressed by state machine and execution name, as in Step Functions; the
/// embedded stack's names are unique over the whole stack.
#[async_trait]
pub trait Executions: Send + Sync + 'static {
    /// Start an execution of `state_machine` (`StartExecution`). `name`: `None` lets the adapter
    /// choose a UUID, as Step Functions does. `input` is JSON text, e.g.
    /// `{"Parameters": "{}"}`. Returns the execution `RUNNING`, with its input.
    /// Errors: [`ControlError::NotFound`] for a missing state machine,
    /// [`ControlError::AlreadyExists`] for a name in use, [`ControlError::Invalid`] for input
    /// that is not JSON.
    async fn start(
        &self,
        state_machine: &DeploymentName,
        name: Option<&ExecutionName>,
        input: &str,
    ) -> Result<Execution, ControlError>;

    /// Start an execution like [`Executions::start`], on the definition whose text has sha256
    /// `definition_sha256` (lower-case hex, `ferry_deploy::keys::definition_sha256`): the state
    /// machine's current definition when it is that one, else an earlier definition of it an
    /// execution ran (a published Step Functions version; a kept definition on the embedded
    /// stack). `ferry resume` starts the resumed run on the version its origin ran this way.
    /// Errors: those of [`Executions::start`]; [`ControlError::NotFound`] when no kept version
    /// has that definition.
    async fn start_on_definition(
        &self,
        state_machine: &DeploymentName,
        name: Option<&ExecutionName>,
        input: &str,
        definition_sha256: &str,
    ) -> Result<Execution, ControlError>;

    /// The state machine `name` as it is now (`DescribeStateMachine`), `None` when it does not
    /// exist: what a caller reads before choosing the definition an execution starts on.
    async fn state_machine(
        &self,
        name: &DeploymentName,
    ) -> Result<Option<StateMachine>, ControlError>;

    /// The Amazon States Language definition (JSON text) execution `name` of `state_machine`
    /// ran (`DescribeStateMachineForExecution`: a version's when the machine changed since).
    /// `None` for an unknown execution, or one whose definition was not kept (embedded-stack
    /// executions started before the stack kept definitions).
    async fn definition(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
    ) -> Result<Option<String>, ControlError>;

    /// The executions of `state_machine`, newest first, only those with `status` when given
    /// (`ListExecutions` with `statusFilter`, every page). Their `input`/`output` may be `None`.
    /// Errors: [`ControlError::NotFound`] for a missing state machine.
    async fn list(
        &self,
        state_machine: &DeploymentName,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<Execution>, ControlError>;

    /// The execution `name` of `state_machine`, or `None` (`DescribeExecution`).
    async fn describe(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
    ) -> Result<Option<Execution>, ControlError>;

    /// The execution `name` when the state machine is not known (a run id names only the
    /// execution): by default [`Executions::describe`] on each of `candidates` in turn (the
    /// deployments' state machines). Adapters whose names are unique over every state machine
    /// (the embedded stack) look the name up once, whatever `candidates` holds.
    async fn find(
        &self,
        name: &ExecutionName,
        candidates: &[DeploymentName],
    ) -> Result<Option<Execution>, ControlError> {
        for state_machine in candidates {
            if let Some(e) = self.describe(state_machine, name).await? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// Stop a running execution (`StopExecution`) with an error name and a cause; it ends
    /// `ABORTED`, and this returns it ended. Stopping an ended execution returns it unchanged.
    /// Errors: [`ControlError::NotFound`].
    async fn stop(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<Execution, ControlError>;

    /// Wait until the execution has ended, at most `timeout`, and return it as it is then:
    /// ended, or still `RUNNING` when the time ran out (the caller looks at
    /// [`ExecutionStatus::is_terminal`]). In-process adapters are told of the end, the HTTP
    /// client long-polls, Step Functions is polled ([`poll_until_ended`]).
    /// Errors: [`ControlError::NotFound`].
    async fn wait(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
        timeout: Duration,
    ) -> Result<Execution, ControlError>;

    /// The Batch jobs `execution` runs now (or that wait for a worker), by step; `None` where
    /// the adapter cannot tell cheaply (Step Functions: the default).
    async fn running_jobs(
        &self,
        execution: &Execution,
    ) -> Result<Option<Vec<RunningJob>>, ControlError> {
        let _ = execution;
        Ok(None)
    }
}

/// Pauses between describes of a polled execution: `first`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first pause.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl Default for Backoff {
    /// 250 ms doubling to 5 s: a run that ends within seconds is seen within a quarter second,
    /// a long one costs one `DescribeExecution` every 5 s.
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(250),
            max: Duration::from_secs(5),
        }
    }
}

/// [`Executions::wait`] for adapters that can only look: call `describe` until the execution has
/// ended or `timeout` has passed, pausing as `backoff` says (never past the deadline). Returns
/// the last execution seen. Errors: those of `describe`; [`ControlError::NotFound`] when it
/// answers `None` (`what` names the execution).
pub async fn poll_until_ended<F, Fut>(
    what: &str,
    timeout: Duration,
    backoff: Backoff,
    mut describe: F,
) -> Result<Execution, ControlError>
where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = Result<Option<Execution>, ControlError>> + Send,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = backoff.first;
    loop {
        let e = describe()
            .await?
            .ok_or_else(|| ControlError::NotFound(format!("execution {what}")))?;
        let now = tokio::time::Instant::now();
        if e.status.is_terminal() || now >= deadline {
            return Ok(e);
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(backoff.max);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn execution(status: ExecutionStatus) -> Execution {
        serde_json::from_value(serde_json::json!({
            "name": "run-1", "id": "x", "state_machine": "F", "status": status,
            "start_date": "2026-11-30T04:00:00Z"
        }))
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn polling_backs_off_until_the_end_or_the_deadline() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let started = tokio::time::Instant::now();
        let e = poll_until_ended("run-1", Duration::from_secs(60), Backoff::default(), || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(Some(execution(if n < 4 {
                    ExecutionStatus::Running
                } else {
                    ExecutionStatus::Succeeded
                })))
            }
        })
        .await
        .unwrap();
        assert_eq!(e.status, ExecutionStatus::Succeeded);
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        // 250 + 500 + 1000 + 2000 ms of pauses.
        assert_eq!(started.elapsed(), Duration::from_millis(3750));

        // Never ends: returned RUNNING at the deadline, not later.
        let started = tokio::time::Instant::now();
        let e = poll_until_ended(
            "run-1",
            Duration::from_secs(7),
            Backoff::default(),
            || async { Ok(Some(execution(ExecutionStatus::Running))) },
        )
        .await
        .unwrap();
        assert_eq!(e.status, ExecutionStatus::Running);
        assert_eq!(started.elapsed(), Duration::from_secs(7));

        let missing = poll_until_ended(
            "nope",
            Duration::from_secs(1),
            Backoff::default(),
            || async { Ok(None) },
        )
        .await;
        assert!(matches!(missing, Err(ControlError::NotFound(m)) if m.contains("nope")));
    }
}
