//! The one error of the control plane's ports.

/// What went wrong in a [`crate::StateMachines`] or [`crate::Executions`] call. Every adapter
/// maps its own failures to these, so callers decide once (retry, 404, message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The named state machine or execution does not exist (Step Functions'
    /// `StateMachineDoesNotExist`, `ExecutionDoesNotExist`).
    #[error("not found: {0}")]
    NotFound(String),
    /// An execution with this name already exists for the state machine
    /// (`ExecutionAlreadyExists`).
    #[error("an execution named {0} already exists")]
    AlreadyExists(String),
    /// The request is invalid: a rejected definition (`InvalidDefinition`), name or input.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The state machine is being deleted; it cannot be updated or started until the deletion
    /// completes (`StateMachineDeleting`).
    #[error("the state machine {0} is being deleted; try again once the deletion completes")]
    Deleting(String),
    /// Throttling, a timeout, a store conflict: the caller may retry.
    #[error("transient orchestrator error: {0}")]
    Transient(String),
    /// The control plane does not answer at all (the embedded stack is not running, or its port
    /// refuses connections). The message says what was tried and what to do.
    #[error("{0}")]
    Unreachable(String),
    /// Anything else.
    #[error("orchestrator error: {0}")]
    Other(String),
}

impl ControlError {
    /// The message inside the variant (without the variant's own words), e.g. the state machine
    /// of a [`ControlError::NotFound`].
    pub fn detail(&self) -> &str {
        match self {
            ControlError::NotFound(m)
            | ControlError::AlreadyExists(m)
            | ControlError::Invalid(m)
            | ControlError::Deleting(m)
            | ControlError::Transient(m)
            | ControlError::Unreachable(m)
            | ControlError::Other(m) => m,
        }
    }

    /// Whether a retry of the same call may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ControlError::Transient(_) | ControlError::Unreachable(_)
        )
    }
}
