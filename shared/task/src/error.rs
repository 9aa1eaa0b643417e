//! The wrapper's own failures. Each one ends the wrapper with exit code 101 and a one-line
//! reason (`docs/runtime-contract.md` §5).

/// Why the wrapper itself failed (as opposed to the step failing).
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A required environment variable is missing or malformed.
    #[error("environment: {0}")]
    Env(String),
    /// The task description could not be fetched, verified or parsed.
    #[error("task description: {0}")]
    Description(String),
    /// The code package is missing, has the wrong hash, or is an unsafe archive.
    #[error("code package: {0}")]
    Package(String),
    /// A trigger or default parameter cannot be handed to `init`.
    #[error("parameters: {0}")]
    Parameters(String),
    /// The state table or a blob store failed.
    #[error("store: {0}")]
    Store(String),
    /// The step's input paths cannot be built.
    #[error("inputs: {0}")]
    Inputs(String),
    /// A resumed run's section or clone plan is missing, altered or malformed.
    #[error("resume: {0}")]
    Resume(String),
    /// A local file or process operation failed.
    #[error("{0}")]
    Io(String),
    /// The step's `@pypi`/`@conda` environment cannot be built from the stored wheels
    /// (missing or altered file, wrong Python, bad lock): `ferry-pyenv`.
    #[error("python environment: {0}")]
    PythonEnv(String),
}

impl TaskError {
    /// An [`TaskError::Io`] with context.
    pub fn io(what: impl std::fmt::Display, err: std::io::Error) -> Self {
        TaskError::Io(format!("{what}: {err}"))
    }
}

/// The wrapper's exit code for its own failures.
pub const EXIT_WRAPPER_FAILURE: i32 = 101;
