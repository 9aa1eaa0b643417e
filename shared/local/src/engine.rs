//! Adapters joining the pieces of the embedded stack:
//! - the [`ProcessRunner`] is the executor's [`BatchRunner`] (`batch:submitJob.sync`);
//! - the [`Executor`] is the orchestrator's [`Engine`].

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::watch;

use crate::executor::{BatchJob, BatchRunner, Executor, StatesError, Status, TaskContext};
use crate::orchestrator::{Engine, EngineOutcome, EngineRun};
use crate::runner::{JobSpec, ProcessRunner};

#[async_trait]
impl BatchRunner for ProcessRunner {
    /// Runs the job as a process group; a stop of the execution (or dropping this future)
    /// terminates it. A failed job is `States.TaskFailed` with the DescribeJobs record as cause.
    async fn run(&self, job: BatchJob, ctx: &TaskContext) -> Result<Value, StatesError> {
        let spec = JobSpec::from_submit_job(&job.raw)
            .map_err(|e| StatesError::new("Batch.ClientException", e.to_string()))?;
        tokio::select! {
            r = self.run_spec(spec) => r.map_err(|f| StatesError::task_failed(f.description.to_string())),
            // Dropping the job future SIGTERMs (then SIGKILLs) its process group.
            _ = ctx.cancel.cancelled() => Err(StatesError::new(crate::executor::names::ABORTED, "Execution stopped")),
        }
    }
}

/// The executor as the orchestrator's engine.
#[derive(Clone)]
pub struct ExecutorEngine {
    executor: Executor,
}

impl ExecutorEngine {
    /// Wrap an executor (built with the stack's resources).
    pub fn new(executor: Executor) -> Self {
        ExecutorEngine { executor }
    }
}

/// The step a failed Batch job ran, from the cause (the job record's `step_name` parameter).
fn failing_step(cause: &str) -> Option<String> {
    ferry_deploy::failure::TaskFailure::from_cause(cause)?.step
}

#[async_trait]
impl Engine for ExecutorEngine {
    fn validate(&self, definition: &str) -> Result<(), String> {
        self.executor
            .validate(definition)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn run(&self, run: EngineRun, mut stop: watch::Receiver<bool>) -> EngineOutcome {
        let machine = match self.executor.validate(&run.definition) {
            Ok(m) => m,
            Err(e) => {
                return EngineOutcome::Failed {
                    error: "States.Runtime".into(),
                    cause: e.to_string(),
                    failing_state: None,
                };
            }
        };
        let handle =
            match self
                .executor
                .start(machine, &run.state_machine, &run.execution_name, run.input)
            {
                Ok(h) => h,
                Err(e) => {
                    return EngineOutcome::Failed {
                        error: "States.Runtime".into(),
                        cause: e.to_string(),
                        failing_state: None,
                    };
                }
            };
        let waiter = handle.clone();
        let record = tokio::select! {
            r = waiter.wait() => r,
            _ = stopped(&mut stop) => {
                handle.stop(Some("States.Aborted"), Some("Execution stopped"));
                handle.wait().await
            }
        };
        match record.status {
            Status::Succeeded => EngineOutcome::Succeeded(record.output.unwrap_or(Value::Null)),
            Status::Aborted => EngineOutcome::Aborted,
            Status::TimedOut => EngineOutcome::TimedOut {
                cause: record.cause.unwrap_or_default(),
            },
            Status::Failed | Status::Running => {
                let cause = record.cause.unwrap_or_default();
                let failing_state = failing_step(&cause).or(record.failed_state);
                EngineOutcome::Failed {
                    error: record.error.unwrap_or_else(|| "States.TaskFailed".into()),
                    cause,
                    failing_state,
                }
            }
        }
    }
}

/// Resolves once `stop` reads `true` (never if its sender is dropped first).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Shared handle type for the engine.
pub type SharedEngine = Arc<dyn Engine>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_step_is_found_inside_wrapping_causes() {
        let job = r#"{"JobId":"j-1","Parameters":{"step_name":"body"},"Container":{"ExitCode":1}}"#;
        assert_eq!(failing_step(job).as_deref(), Some("body"));
        let wrapped = format!(
            "The specified tolerated failure threshold was exceeded (last error States.TaskFailed: {job})"
        );
        assert_eq!(failing_step(&wrapped).as_deref(), Some("body"));
        assert_eq!(failing_step("no {json here"), None);
    }
}
