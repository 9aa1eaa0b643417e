//! The engine's errors: the store failed, or holds an item it cannot read. Events themselves are
//! never errors: an event that starts nothing says why in its [`crate::Outcome`].

use ferry_store::TableError;

/// Why the engine could not process an event. The caller retries the delivery (it is safe:
/// deliveries are deduplicated by event id).
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The table failed (throttled, unreachable...).
    #[error("the event state store failed: {0}")]
    Table(#[from] TableError),
    /// A stored item could not be read.
    #[error("corrupt event state item {0}")]
    Corrupt(String),
    /// Concurrent deliveries kept changing a deployment's several-event state.
    #[error(
        "the events of deployment {0} kept changing while this event was being added; deliver it again"
    )]
    Contention(String),
}
