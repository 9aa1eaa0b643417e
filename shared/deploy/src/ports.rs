//! The ports the deploy use case drives besides state machines (which are the control plane's:
//! [`ferry_control::StateMachines`]).
//!
//! | port | AWS adapter (`ferry-aws`) | embedded adapter (`ferry-local`) |
//! |---|---|---|
//! | [`ferry_control::StateMachines`] | Step Functions (`CreateStateMachine`/`UpdateStateMachine`, …) | the in-process orchestrator |
//! | [`Schedules`] | EventBridge Scheduler (`CreateSchedule`/`UpdateSchedule`, time zones) | the in-process clock |
//! | [`JobDefinitions`] | Batch `RegisterJobDefinition` (reused by content hash) | a no-op ([`NoJobDefinitions`]) |
//! | [`EventRules`] | EventBridge `PutRule`/`PutTargets`/`RemoveTargets`/`DeleteRule` | none ([`NoEventRules`]: the stack reads the records at each event) |
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

/// What went wrong in an [`EventRules`] call.
#[derive(Debug, thiserror::Error)]
pub enum EventRuleError {
    /// The rule or its pattern was rejected (EventBridge `InvalidEventPatternException`,
    /// `ValidationException`), or the bus does not exist.
    #[error("invalid event rule: {0}")]
    Invalid(String),
    /// Throttling, a timeout or a connection error: the caller may retry.
    #[error("transient EventBridge error: {0}")]
    Transient(String),
    /// Anything else.
    #[error("EventBridge error: {0}")]
    Other(String),
}

/// The deployment an EventBridge rule's deliveries are for, when the events function must be
/// told (a trigger rule); `None` for a status-change rule, whose events name their state machine.
pub type AddressedTo<'a> = Option<&'a str>;

/// The event rules port: EventBridge rules targeting the installation's events function (AWS).
/// The embedded stack needs none ([`NoEventRules`]): it hands events to the engine itself.
#[async_trait]
pub trait EventRules: Send + Sync + 'static {
    /// Create or replace `rule` (enabled) with the events function as its one target. With
    /// `addressed_to`, the function receives `{"deployment": <it>, "event": <the event>}`
    /// instead of the bare event, so a trigger rule's delivery names its deployment.
    async fn put(
        &self,
        rule: &ferry_compile::event_rules::EventRuleSpec,
        addressed_to: AddressedTo<'_>,
    ) -> Result<(), EventRuleError>;
    /// Remove the rule `name` from the bus `event_bus` (its targets first); returns whether it
    /// existed (absent is `Ok(false)`).
    async fn delete(&self, name: &str, event_bus: &str) -> Result<bool, EventRuleError>;
}

/// The embedded stack's [`EventRules`]: there are no rules to keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEventRules;

#[async_trait]
impl EventRules for NoEventRules {
    async fn put(
        &self,
        _rule: &ferry_compile::event_rules::EventRuleSpec,
        _addressed_to: AddressedTo<'_>,
    ) -> Result<(), EventRuleError> {
        Ok(())
    }

    async fn delete(&self, _name: &str, _event_bus: &str) -> Result<bool, EventRuleError> {
        Ok(false)
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
