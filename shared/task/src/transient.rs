//! Retrying transient store errors (throttling, timeouts, lost connections) with exponential
//! backoff, inside one task attempt. Not the retry of a task: that is `@retry`, compiled to the
//! Batch job's `RetryStrategy` and the state's `Retry` (see `docs/architecture.md`).

use std::future::Future;
use std::time::Duration;

use ferry_store::{BlobError, TableError};

/// How many times a transient failure is tried in all.
pub const MAX_TRIES: u32 = 6;

/// Errors that say whether trying again may help.
pub trait Transient: std::fmt::Display {
    /// Throttling, timeouts, connection errors.
    fn is_transient(&self) -> bool;
}

impl Transient for BlobError {
    fn is_transient(&self) -> bool {
        matches!(self, BlobError::Transient(_))
    }
}

impl Transient for TableError {
    fn is_transient(&self) -> bool {
        matches!(self, TableError::Transient(_))
    }
}

/// Run `op` until it succeeds, fails with a non-transient error, or [`MAX_TRIES`] tries fail
/// transiently (sleeping 200 ms, 400 ms, … capped at 5 s between tries). Returns the last error.
pub async fn with_retries<T, E, F, Fut>(what: &str, mut op: F) -> Result<T, E>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delay = Duration::from_millis(200);
    let mut tries = 0;
    loop {
        tries += 1;
        match op().await {
            Err(e) if e.is_transient() && tries < MAX_TRIES => {
                eprintln!(
                    "ferry task-wrapper: {what}: {e}; retrying in {} ms",
                    delay.as_millis()
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}
