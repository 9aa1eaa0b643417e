//! The one execution type: what an execution of a state machine is, wherever it runs (Step
//! Functions, the embedded stack's executor), as every port, event and command sees it.

use chrono::{DateTime, Utc};
use ferry_spec::{DeploymentName, ExecutionName, RunId};
use serde::{Deserialize, Serialize};

/// The status of an execution, spelled as Step Functions spells it (`RUNNING`, `SUCCEEDED`,
/// `FAILED`, `TIMED_OUT`, `ABORTED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Still running.
    Running,
    /// Ended in a `Succeed` state (or an `End`).
    Succeeded,
    /// Ended by an uncaught error.
    Failed,
    /// Ran past the machine's `TimeoutSeconds`.
    TimedOut,
    /// Stopped (`StopExecution`, `ferry terminate`).
    Aborted,
}

impl ExecutionStatus {
    /// Every status, in the order of Metaflow's `list-runs` flags.
    pub const ALL: [ExecutionStatus; 5] = [
        ExecutionStatus::Running,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Aborted,
    ];

    /// The Step Functions spelling, e.g. `TIMED_OUT`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }

    /// Whether the execution has ended.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, ExecutionStatus::Running)
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is none of [`ExecutionStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown execution status {0:?}")]
pub struct UnknownStatus(pub String);

impl std::str::FromStr for ExecutionStatus {
    type Err = UnknownStatus;
    /// The Step Functions spelling, any case (`running`, `TIMED_OUT`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExecutionStatus::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// One execution (Step Functions' `DescribeExecution`, or a `ListExecutions` item). The Metaflow
/// run id is [`Execution::run_id`], `sfn-<name>`.
///
/// JSON: `{"name", "id", "state_machine", "status", "start_date", "stop_date"?, "input"?,
/// "output"?, "error"?, "cause"?, "failing_state"?}`, dates in RFC 3339; the embedded stack's
/// records and control API carry this shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// The execution name (unique per state machine).
    pub name: ExecutionName,
    /// The execution ARN on AWS (`arn:aws:states:<region>:<account>:execution:<machine>:<name>`);
    /// an adapter id on the embedded stack (`local:execution:<machine>:<name>`).
    pub id: String,
    /// The state machine's name (= the deployment name).
    pub state_machine: DeploymentName,
    /// Its status.
    pub status: ExecutionStatus,
    /// When it started.
    pub start_date: DateTime<Utc>,
    /// When it ended; `None` while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<DateTime<Utc>>,
    /// The input as JSON text, e.g. `{"Parameters": "{\"alpha\": 0.5}"}`. `None` in list results
    /// (Step Functions omits it there) and in events whose payload was too large.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The output JSON text of a succeeded execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The error name of a failed, aborted or timed-out execution (e.g. `States.TaskFailed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its human-readable cause (for `States.TaskFailed`, the failed Batch job's record as
    /// JSON text: [`crate::cause`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The state (step) that failed, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_state: Option<String>,
}

impl Execution {
    /// The execution `name` of `state_machine`, known by `id`, `RUNNING` since `start_date`
    /// with `input` (JSON text); nothing else known yet. Adapters fill in the rest of an ended
    /// one with struct update syntax (`Execution { status, stop_date, ..Execution::running(..) }`).
    pub fn running(
        name: ExecutionName,
        id: String,
        state_machine: DeploymentName,
        start_date: DateTime<Utc>,
        input: Option<String>,
    ) -> Self {
        Execution {
            name,
            id,
            state_machine,
            status: ExecutionStatus::Running,
            start_date,
            stop_date: None,
            input,
            output: None,
            error: None,
            cause: None,
            failing_state: None,
        }
    }

    /// The Metaflow run id of this execution, `sfn-<name>`.
    pub fn run_id(&self) -> RunId {
        RunId::from(&self.name)
    }

    /// The output parsed as JSON, when there is one and it parses.
    pub fn output_json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.output.as_deref()?).ok()
    }
}

/// A Batch job an execution runs now, or that waits for a worker (the embedded stack knows
/// these; Step Functions does not say without walking the execution history).
///
/// JSON: `{"job_id", "step", "attempt", "submitted_at", "started_at"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningJob {
    /// The Batch job id, which is the Metaflow task id.
    pub job_id: String,
    /// The step it runs (the `step_name` parameter).
    pub step: String,
    /// The attempt running (1-based); 0 while the job waits for a worker slot.
    pub attempt: u32,
    /// When the job was submitted.
    pub submitted_at: DateTime<Utc>,
    /// When the running attempt started; `None` while waiting for a worker slot.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_in_any_case_and_print_as_step_functions() {
        assert_eq!(
            "timed_out".parse::<ExecutionStatus>().unwrap(),
            ExecutionStatus::TimedOut
        );
        assert_eq!(ExecutionStatus::TimedOut.to_string(), "TIMED_OUT");
        assert!("PENDING".parse::<ExecutionStatus>().is_err());
        assert!(!ExecutionStatus::Running.is_terminal());
        assert!(ExecutionStatus::Aborted.is_terminal());
    }

    #[test]
    fn an_execution_round_trips_as_json_and_names_its_run() {
        let text = r#"{"name":"run-1","id":"local:execution:F:run-1","state_machine":"F","status":"SUCCEEDED","start_date":"2026-11-30T04:00:00Z","stop_date":"2026-11-30T04:00:05Z","output":"{\"x\":1}"}"#;
        let e: Execution = serde_json::from_str(text).unwrap();
        assert_eq!(e.run_id().to_string(), "sfn-run-1");
        assert_eq!(e.output_json().unwrap()["x"], 1);
        assert_eq!(serde_json::to_string(&e).unwrap(), text);
        // A record whose name breaks the rule is refused when read.
        assert!(serde_json::from_str::<Execution>(&text.replace("run-1", "run.1")).is_err());
    }
}
