//! The [`ProcessRunner`] as the executor's [`BatchRunner`]: `batch:submitJob.sync` tasks of the
//! embedded stack run as local process groups.

use async_trait::async_trait;
use serde_json::Value;

use crate::executor::{BatchJob, BatchRunner, StatesError, TaskContext};
use crate::runner::ProcessRunner;

#[async_trait]
impl BatchRunner for ProcessRunner {
    /// Runs the job as a process group; a stop of the execution (or dropping this future)
    /// terminates it. A failed job is `States.TaskFailed` with the DescribeJobs record as cause.
    async fn run(&self, job: BatchJob, ctx: &TaskContext) -> Result<Value, StatesError> {
        tokio::select! {
            // The stop first: a job waiting for a worker slot must not start once its execution
            // stopped, even when the slot and the stop arrive together.
            biased;
            // Dropping the job future SIGTERMs (then SIGKILLs) its process group.
            _ = ctx.cancel.cancelled() => Err(StatesError::new(crate::executor::names::ABORTED, "Execution stopped")),
            r = self.run_job(&job) => r.map_err(|f| StatesError::task_failed(f.description.to_string())),
        }
    }
}
