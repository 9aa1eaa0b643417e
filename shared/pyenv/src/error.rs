//! Errors of environment resolution (deploy) and installation (run).

use ferry_store::BlobError;

/// What can go wrong resolving, publishing or installing an environment.
#[derive(Debug, thiserror::Error)]
pub enum PyenvError {
    /// A package name, version or python version that Ferry refuses to pass to a tool.
    #[error("{0}")]
    Invalid(String),
    /// The requirements cannot be resolved: which environment, and the resolver's explanation.
    #[error("cannot resolve {env}: {message}")]
    Unresolvable { env: String, message: String },
    /// `@conda` libraries that do not exist on PyPI (Ferry resolves `@conda` from PyPI only).
    #[error(
        "{env}: the @conda libraries {names} are not on PyPI; Ferry resolves @conda libraries from PyPI only and cannot install conda-only packages"
    )]
    CondaOnly { env: String, names: String },
    /// A tool (uv, python, pip) could not be started or failed unexpectedly.
    #[error("{tool}: {message}")]
    Tool { tool: String, message: String },
    /// The lock document cannot be used.
    #[error("the environment lock {key} is invalid: {message}")]
    Lock { key: String, message: String },
    /// The lock has no wheels for this host's platform.
    #[error("the environment lock {key} has no packages for platform {platform}")]
    Platform { key: String, platform: String },
    /// A stored wheel (or the lock) is missing from the blob store.
    #[error("the cached file {0} is missing from the blob store")]
    Missing(String),
    /// A stored wheel (or the lock) does not match its sha256.
    #[error("the cached file {key} does not match its sha256 (expected {expected}, got {actual})")]
    HashMismatch {
        key: String,
        expected: String,
        actual: String,
    },
    /// The task's interpreter is not the Python version the lock was resolved for.
    #[error(
        "the environment was resolved for Python {wanted} but the task's interpreter {python} is Python {found}"
    )]
    PythonVersion {
        wanted: String,
        found: String,
        python: String,
    },
    /// A wheel cannot be unpacked.
    #[error("cannot install {file}: {message}")]
    Wheel { file: String, message: String },
    /// A local file or directory operation failed: what was being done.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl PyenvError {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        PyenvError::Io {
            what: what.into(),
            source,
        }
    }
}
