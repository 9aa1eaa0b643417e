//! The ports the deploy use case drives, and the execution types that mirror Step Functions.
//!
//! | port | AWS adapter (`ferry-aws`) | embedded adapter (`ferry-local`) |
//! |---|---|---|
//! | [`Orchestrator`] | Step Functions (`CreateStateMachine`/`UpdateStateMachine`, `StartExecution`, …) | the local state-machine executor |
//! | [`Schedules`] | EventBridge Scheduler (`CreateSchedule`/`UpdateSchedule`, time zones) | the in-process clock |
//! | [`JobDefinitions`] | Batch `RegisterJobDefinition` (reused by content hash) | a no-op ([`NoJobDefinitions`]) |
//!
//! State machines, schedules and executions are addressed by **name** (the deployment name is
//! the state machine name; execution names are unique per state machine, as in Step Functions).
//! Adapters map names to ARNs themselves. Every port error says whether a retry may help.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What went wrong in an [`Orchestrator`] call.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// The named state machine or execution does not exist (`StateMachineDoesNotExist`,
    /// `ExecutionDoesNotExist`).
    #[error("not found: {0}")]
    NotFound(String),
    /// The state machine is being deleted; it cannot be updated or started until the deletion
    /// completes (`StateMachineDeleting`).
    #[error("the state machine {0} is being deleted; try again once the deletion completes")]
    Deleting(String),
    /// An execution with this name already exists for the state machine (`ExecutionAlreadyExists`).
    #[error("an execution named {0} already exists")]
    ExecutionAlreadyExists(String),
    /// The request is invalid: bad definition (`InvalidDefinition`), bad name, bad input.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Throttling, a timeout or a connection error: the caller may retry.
    #[error("transient orchestrator error: {0}")]
    Transient(String),
    /// Anything else.
    #[error("orchestrator error: {0}")]
    Other(String),
}

/// What went wrong in a [`Schedules`] call.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The expression or time zone is not valid (EventBridge `ValidationException`).
    #[error("invalid schedule: {0}")]
    Invalid(String),
    /// Throttling, a timeout or a connection error: the caller may retry.
    #[error("transient scheduler error: {0}")]
    Transient(String),
    /// Anything else.
    #[error("scheduler error: {0}")]
    Other(String),
}

/// What went wrong in a [`JobDefinitions`] call.
#[derive(Debug, thiserror::Error)]
pub enum JobDefinitionError {
    /// The job definition was rejected (Batch `ClientException`).
    #[error("invalid job definition: {0}")]
    Invalid(String),
    /// Throttling, a timeout or a connection error: the caller may retry.
    #[error("transient batch error: {0}")]
    Transient(String),
    /// Anything else.
    #[error("batch error: {0}")]
    Other(String),
}

/// A deployed state machine's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMachineRef {
    /// The state machine name (= the deployment name), at most 80 characters.
    pub name: String,
    /// Its ARN on AWS (`arn:aws:states:<region>:<account>:stateMachine:<name>`); an adapter-chosen
    /// id locally (e.g. `local:stateMachine:<name>`).
    pub id: String,
}

/// A state machine as stored by the orchestrator (`DescribeStateMachine` + `ListTagsForResource`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMachine {
    /// The state machine name.
    pub name: String,
    /// ARN on AWS, adapter id locally (see [`StateMachineRef::id`]).
    pub id: String,
    /// The Amazon States Language definition, as the JSON text that was put.
    pub definition: String,
    /// Resource tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// When it was created (`creationDate`), if the adapter knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

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

    /// Whether the execution has finished.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, ExecutionStatus::Running)
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ExecutionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExecutionStatus::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown execution status {s:?}"))
    }
}

/// One execution (`DescribeExecution` / `ListExecutions` item). The Metaflow run id is
/// `sfn-<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// The execution name (unique per state machine).
    pub name: String,
    /// The execution ARN on AWS; an adapter id locally.
    pub id: String,
    /// The state machine's name.
    pub state_machine: String,
    /// Its status.
    pub status: ExecutionStatus,
    /// When it started.
    pub start_date: DateTime<Utc>,
    /// Set once the execution has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<DateTime<Utc>>,
    /// The input JSON text (`None` in list results, where Step Functions omits it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The output JSON text of a succeeded execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Error name of a failed/aborted/timed-out execution (e.g. `States.TaskFailed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Human-readable cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The state that failed, when known (from the execution history on AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_state: Option<String>,
}

/// The orchestrator port: Step Functions on AWS, the local executor on the embedded stack.
#[async_trait]
pub trait Orchestrator: Send + Sync + 'static {
    /// Create the state machine `name`, or update its definition and tags when it exists
    /// (`CreateStateMachine`, then `UpdateStateMachine` + `TagResource` on
    /// `StateMachineAlreadyExists`). `definition` is Amazon States Language JSON text.
    /// Running executions keep the definition they started with.
    /// Errors: [`OrchestratorError::Deleting`] while a deletion is in flight,
    /// [`OrchestratorError::Invalid`] for a rejected definition or name.
    async fn put_state_machine(
        &self,
        name: &str,
        definition: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<StateMachineRef, OrchestratorError>;

    /// The state machine `name`, or `None` when it does not exist (or is being deleted).
    async fn get_state_machine(
        &self,
        name: &str,
    ) -> Result<Option<StateMachine>, OrchestratorError>;

    /// Delete the state machine `name`. Returns whether it existed. Deleting a machine whose
    /// deletion is already in flight, or that does not exist, is `Ok`. Running executions
    /// are not stopped.
    async fn delete_state_machine(&self, name: &str) -> Result<bool, OrchestratorError>;

    /// Start an execution (`StartExecution`). `execution_name`: `None` lets the adapter choose a
    /// UUID (as Step Functions does). `input` is JSON text, e.g. `{"Parameters": "{}"}`.
    /// Errors: [`OrchestratorError::NotFound`] for a missing machine,
    /// [`OrchestratorError::ExecutionAlreadyExists`] for a reused name.
    async fn start_execution(
        &self,
        state_machine: &str,
        execution_name: Option<&str>,
        input: &str,
    ) -> Result<Execution, OrchestratorError>;

    /// Executions of `state_machine`, newest first, optionally only those with `status`
    /// (`ListExecutions` with `statusFilter`, all pages). `input`/`output` may be `None`.
    /// Errors: [`OrchestratorError::NotFound`] for a missing machine.
    async fn list_executions(
        &self,
        state_machine: &str,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<Execution>, OrchestratorError>;

    /// One execution by state machine name and execution name (or the execution's id/ARN in
    /// `execution`), or `None` (`DescribeExecution`).
    async fn describe_execution(
        &self,
        state_machine: &str,
        execution: &str,
    ) -> Result<Option<Execution>, OrchestratorError>;

    /// Stop a running execution (`StopExecution`) with an error name and cause; it ends
    /// `ABORTED`. Stopping a finished execution returns it unchanged.
    /// Errors: [`OrchestratorError::NotFound`].
    async fn stop_execution(
        &self,
        state_machine: &str,
        execution: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<Execution, OrchestratorError>;
}

/// A schedule that starts a state machine (EventBridge Scheduler `CreateSchedule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// Schedule name (≤ 64 characters; derived from the deployment name by `ferry-compile`).
    pub name: String,
    /// EventBridge 6-field cron expression without the `cron(...)` wrapper, e.g. `0 10 * * ? *`.
    pub expression: String,
    /// IANA time zone (`ScheduleExpressionTimezone`); `None`: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The state machine it starts.
    pub target: StateMachineRef,
    /// The execution input JSON text, `{"Parameters": "{}"}` (deploy-time defaults apply).
    pub input: String,
}

/// The schedules port: EventBridge Scheduler on AWS, the in-process clock locally.
#[async_trait]
pub trait Schedules: Send + Sync + 'static {
    /// Create or replace the schedule `spec.name` (enabled).
    async fn put(&self, spec: &ScheduleSpec) -> Result<(), ScheduleError>;
    /// Delete the schedule `name`; returns whether it existed (absent is `Ok(false)`).
    async fn delete(&self, name: &str) -> Result<bool, ScheduleError>;
    /// The schedule `name`, or `None`.
    async fn get(&self, name: &str) -> Result<Option<ScheduleSpec>, ScheduleError>;
}

/// A Batch job definition to register (`RegisterJobDefinition`, type `container`), named by
/// content (`ferry-<hash>`): the compiled state machine references it by that name, so the same
/// content is registered once and reused. Defined by `ferry-compile`.
pub use ferry_compile::JobDefinitionSpec;

/// The job definitions port: Batch on AWS, nothing locally.
#[async_trait]
pub trait JobDefinitions: Send + Sync + 'static {
    /// Make sure an ACTIVE job definition named `spec.name` exists, registering it if not
    /// (reusing the existing one otherwise; the name is a content hash, so an existing one has
    /// the same content). Returns its ARN (or the name when there is none).
    async fn ensure(&self, spec: &JobDefinitionSpec) -> Result<String, JobDefinitionError>;
}

/// The embedded stack's [`JobDefinitions`]: nothing to register; returns the name.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJobDefinitions;

#[async_trait]
impl JobDefinitions for NoJobDefinitions {
    async fn ensure(&self, spec: &JobDefinitionSpec) -> Result<String, JobDefinitionError> {
        Ok(spec.name.clone())
    }
}
