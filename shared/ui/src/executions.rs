//! The one place the UI reads executions: today through the deploy crate's [`Orchestrator`] port
//! (`list_executions`, `describe_execution`), so moving to another executions API changes this
//! file only. Step Functions on AWS, the local orchestrator on the embedded stack.

use std::sync::Arc;

use ferry_deploy::{Execution, ExecutionStatus, Orchestrator, OrchestratorError};

use crate::error::UiResult;

/// Read access to executions (none configured: every list is empty, every lookup misses).
#[derive(Clone)]
pub struct Executions {
    port: Option<Arc<dyn Orchestrator>>,
}

impl Executions {
    /// Over an orchestrator, if any.
    pub fn new(port: Option<Arc<dyn Orchestrator>>) -> Self {
        Executions { port }
    }

    /// Whether executions can be read at all.
    pub fn available(&self) -> bool {
        self.port.is_some()
    }

    /// The executions of `state_machine`, newest first, optionally of one status. A state
    /// machine that does not exist (deleted, or never deployed here) has none.
    pub async fn list(
        &self,
        state_machine: &str,
        status: Option<ExecutionStatus>,
    ) -> UiResult<Vec<Execution>> {
        let Some(port) = &self.port else {
            return Ok(Vec::new());
        };
        match port.list_executions(state_machine, status).await {
            Ok(v) => Ok(v),
            Err(OrchestratorError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// The execution named `name` of `state_machine`, if any.
    pub async fn describe(&self, state_machine: &str, name: &str) -> UiResult<Option<Execution>> {
        let Some(port) = &self.port else {
            return Ok(None);
        };
        match port.describe_execution(state_machine, name).await {
            Ok(v) => Ok(v),
            Err(OrchestratorError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The execution named `name` of the first of `state_machines` that has one.
    pub async fn find(&self, state_machines: &[&str], name: &str) -> UiResult<Option<Execution>> {
        for sm in state_machines {
            if let Some(e) = self.describe(sm, name).await? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }
}

/// The UI's spelling of an execution status: `running`, `succeeded`, `failed`, `timed_out`,
/// `aborted`.
pub fn status_name(s: ExecutionStatus) -> &'static str {
    match s {
        ExecutionStatus::Running => "running",
        ExecutionStatus::Succeeded => "succeeded",
        ExecutionStatus::Failed => "failed",
        ExecutionStatus::TimedOut => "timed_out",
        ExecutionStatus::Aborted => "aborted",
    }
}

/// The execution name of a Ferry run id (`sfn-<name>`), `None` for other run ids.
pub fn execution_name(run_id: &str) -> Option<&str> {
    run_id.strip_prefix("sfn-").filter(|n| !n.is_empty())
}
