//! The ports the deploy use case drives besides state machines (which are the control plane's:
//! [`ferry_control::StateMachines`]).
//!
//! | port | AWS adapter (`ferry-aws`) | embedded adapter (`ferry-local`) |
//! |---|---|---|
//! | [`ferry_control::StateMachines`] | Step Functions (`CreateStateMachine`/`UpdateStateMachine`, …) | the in-process orchestrator |
//! | [`Schedules`] | EventBridge Scheduler (`CreateSchedule`/`UpdateSchedule`, time zones) | the in-process clock |
//! | [`JobDefinitions`] | Batch `RegisterJobDefinition` (reused by content hash) | a no-op ([`NoJobDefinitions`]) |
//!
//! State machines and schedules are addressed by **name** (the deployment name is the state
//! machine name). Adapters map names to ARNs themselves. Every port error says whether a retry
//! may help.

use async_trait::async_trait;
use ferry_control::StateMachineRef;
use serde::{Deserialize, Serialize};

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

impl From<ferry_store::TableError> for ScheduleError {
    /// A store's transient failure stays transient; any other is [`ScheduleError::Other`].
    fn from(e: ferry_store::TableError) -> Self {
        match e {
            ferry_store::TableError::Transient(m) => ScheduleError::Transient(m),
            other => ScheduleError::Other(other.to_string()),
        }
    }
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
