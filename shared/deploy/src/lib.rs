#![warn(missing_docs)]
//! The deploy use case: request -> token check -> compile -> state machine -> schedule -> record -> result.
//!
//! - [`ports`]: what the use case drives besides the control plane's
//!   [`ferry_control::StateMachines`]: [`Schedules`], [`JobDefinitions`], [`EventRules`]. `ferry-aws` implements
//!   them on AWS, `ferry-local` on the embedded stack.
//! - [`request`]: the `request.json` / `result.json` documents.
//! - [`keys`]: the blob keys of the deploy path and their validation.
//! - [`record`]: deployment records and request claims on a `ferry_store::Table`.
//! - [`run_input`]: a run's execution input as it is started (long parameters moved to a blob).
//! - [`resume`]: the resume request (`ferry resume`): its refusals, the clone plan and the new
//!   execution's input.
//! - [`notifications`]: the `--notify-*` settings a deployment carries, and [`secrets`]: the
//!   port of the store their secret values live in.

pub mod compiler;
pub mod keys;
pub mod messages;
pub mod notifications;
pub mod ports;
pub mod record;
pub mod request;
pub mod resume;
pub mod run_input;
pub mod secrets;
pub mod tokens;
pub mod usecase;

/// `--max-workers` when not given (Metaflow's default).
pub const DEFAULT_MAX_WORKERS: u32 = 100;

pub use keys::{RequestId, RequestKey, parse_request_key};
pub use notifications::{NotificationSecrets, Notifications};
pub use ports::{
    EventRuleError, EventRules, JobDefinitionError, JobDefinitionSpec, JobDefinitions,
    NoEventRules, NoJobDefinitions, ScheduleError, ScheduleSpec, Schedules,
};
pub use record::{DeploymentRecord, DeploymentStore};
pub use request::{
    BlobRef, DeployOptions, DeployRequest, DeployResult, DeployStatus, RequestAction, ScheduleInfo,
};
pub use secrets::{SecretName, Secrets, SecretsError};
pub use usecase::{DeployContext, DeployError, DeploySettings, handle_request_key, process};

/// How messages name AWS as the place flows run.
pub const PLATFORM_AWS: &str = "AWS Step Functions";
/// How messages name the embedded stack as the place flows run.
pub const PLATFORM_LOCAL: &str = "the Ferry embedded stack";
