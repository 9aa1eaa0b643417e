#![warn(missing_docs)]
//! The control plane's API: the ports through which Ferry creates state machines, starts,
//! lists, describes, stops and waits for executions, and learns when they start and end.
//! Implementations live elsewhere (API apart from implementations):
//!
//! | port | Step Functions (`ferry-aws`) | in-process (`ferry-local`) | HTTP client (`ferry-local`) |
//! |---|---|---|---|
//! | [`StateMachines`] | `StepFunctions` | `orchestrator::LocalOrchestrator` | — |
//! | [`Executions`] | `StepFunctions` (waits by polling) | `orchestrator::LocalOrchestrator` (waits on a signal) | `control::ControlClient` (waits by long poll) |
//! | lifecycle events ([`ExecutionEvent`]) | parsed from EventBridge (`ferry_aws::events`) | dispatched by `LocalOrchestrator` | — |
//!
//! Users: the deploy use case (`ferry-deploy`, [`StateMachines`]), the `ferry` run commands and
//! the embedded stack's schedules ([`Executions`]), and whatever reacts to runs ending through an
//! [`ExecutionListener`] wired into a stack's [`Listeners`].
//!
//! Modules: [`execution`] holds the one [`Execution`] type, [`ExecutionStatus`] and
//! [`RunningJob`]; [`state_machines`] and [`executions`] the ports; [`lifecycle`] the hook
//! ([`ExecutionEvent`], [`ExecutionListener`], [`Listeners`]); [`cause`] reads the failed Batch
//! job inside a failure's cause; [`mod@error`] holds [`ControlError`].
//!
//! Names are the identity newtypes of `ferry-spec`: [`DeploymentName`] (= state machine name),
//! [`ExecutionName`], [`RunId`].

pub mod cause;
pub mod error;
pub mod execution;
pub mod executions;
pub mod lifecycle;
pub mod state_machines;

pub use error::ControlError;
pub use execution::{Execution, ExecutionStatus, RunningJob, UnknownStatus};
pub use executions::{Backoff, Executions, poll_until_ended};
pub use ferry_spec::{DeploymentName, ExecutionName, RunId};
pub use lifecycle::{
    ExecutionEvent, ExecutionEventKind, ExecutionListener, ListenerError, Listeners,
};
pub use state_machines::{StateMachine, StateMachineRef, StateMachines};
