//! Errors raised while a state machine runs (the `{Error, Cause}` pairs of Step Functions), and
//! errors rejecting a definition before it runs.

use serde_json::{Value, json};

/// Predefined Step Functions error names.
pub mod names {
    /// Matches every error but `States.Runtime` and `States.DataLimitExceeded` in `ErrorEquals`.
    pub const ALL: &str = "States.ALL";
    /// Matches every error a Task raises except `States.Timeout`.
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A state or the execution ran longer than its `TimeoutSeconds`.
    pub const TIMEOUT: &str = "States.Timeout";
    /// A path matched nothing, a payload was malformed, a type was wrong...; never retried or
    /// caught by `States.ALL`.
    pub const RUNTIME: &str = "States.Runtime";
    /// A Choice state matched no rule and has no `Default`.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// An intrinsic function failed on its arguments.
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    /// A `Parameters`/`ResultSelector` template could not be evaluated.
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    /// A distributed Map had more failed items than it tolerates.
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    /// A distributed Map's ItemReader failed.
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
    /// A distributed Map's ResultWriter failed.
    pub const RESULT_WRITER_FAILED: &str = "States.ResultWriterFailed";
    /// A branch or iteration was cancelled.
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    /// The execution was stopped.
    pub const ABORTED: &str = "States.Aborted";
}

/// A Step Functions error: `Error` name and `Cause` text, as a Catch sees them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct StatesError {
    /// The error name (`States.TaskFailed`, `DynamoDB.ResourceNotFoundException`, a Fail state's `Error`...).
    pub error: String,
    /// Human-readable cause (may be empty).
    pub cause: String,
}

impl StatesError {
    /// An error with a name and a cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        StatesError {
            error: error.into(),
            cause: cause.into(),
        }
    }
    /// `States.Runtime`.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, cause)
    }
    /// `States.Timeout`.
    pub fn timeout(cause: impl Into<String>) -> Self {
        Self::new(names::TIMEOUT, cause)
    }
    /// `States.TaskFailed`.
    pub fn task_failed(cause: impl Into<String>) -> Self {
        Self::new(names::TASK_FAILED, cause)
    }
    /// `States.IntrinsicFailure`.
    pub fn intrinsic(cause: impl Into<String>) -> Self {
        Self::new(names::INTRINSIC_FAILURE, cause)
    }
    /// The error output a Catch hands on: `{"Error": ..., "Cause": ...}`.
    pub fn to_output(&self) -> Value {
        json!({"Error": self.error, "Cause": self.cause})
    }
}

/// Why a definition was rejected (at [`crate::executor::Executor::validate`]/`start`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// Not JSON, or not the ASL shape (unknown state type, wrong field type...).
    #[error("invalid state machine definition: {0}")]
    Schema(String),
    /// Structurally invalid: a missing transition target, a state with neither `Next` nor
    /// `End`, a bad JSONPath, an unknown Task resource... `at` names the state (`Outer/Inner`).
    #[error("invalid state machine definition at {at}: {why}")]
    Invalid {
        /// The state path, e.g. `Map1/Inner` (empty for the top level).
        at: String,
        /// What is wrong.
        why: String,
    },
}
