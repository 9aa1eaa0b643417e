//! The one place the UI reads executions: through the control plane's
//! [`ferry_control::Executions`] port (`list`, `find`), so moving to another executions API
//! changes this file only. Step Functions on AWS, the local orchestrator on the embedded stack.
//! Names that are no deployment or execution name (`ferry_spec::ids`) have no executions.

use std::sync::Arc;

use ferry_control::{
    ControlError, DeploymentName, Execution, ExecutionName, ExecutionStatus,
    Executions as ExecutionsPort,
};

use crate::error::UiResult;

/// Read access to executions (none configured: every list is empty, every lookup misses).
#[derive(Clone)]
pub struct Executions {
    port: Option<Arc<dyn ExecutionsPort>>,
}

impl Executions {
    /// Over an executions port, if any.
    pub fn new(port: Option<Arc<dyn ExecutionsPort>>) -> Self {
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
        let (Some(port), Ok(sm)) = (&self.port, DeploymentName::parse(state_machine)) else {
            return Ok(Vec::new());
        };
        match port.list(&sm, status).await {
            Ok(v) => Ok(v),
            Err(ControlError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// The execution named `name` of the first of `state_machines` that has one
    /// ([`ExecutionsPort::find`]: one lookup on the embedded stack, one describe per state
    /// machine on Step Functions).
    pub async fn find(&self, state_machines: &[&str], name: &str) -> UiResult<Option<Execution>> {
        let (Some(port), Ok(name)) = (&self.port, ExecutionName::parse(name)) else {
            return Ok(None);
        };
        let candidates: Vec<DeploymentName> = state_machines
            .iter()
            .filter_map(|sm| DeploymentName::parse(sm).ok())
            .collect();
        match port.find(&name, &candidates).await {
            Ok(v) => Ok(v.filter(|e| state_machines.contains(&e.state_machine.as_str()))),
            Err(ControlError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
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
