#![warn(missing_docs)]
//! Run notifications: one implementation of message building and delivery for the notify
//! Lambda (AWS) and the embedded stack's end-of-execution hook (`docs/notifications.md`).
//!
//! Input: a [`RunSummary`] (a plain struct the caller fills from the finished execution and the
//! deployment record) and the deployment's [`Targets`] (its `ferry_deploy::Notifications` with
//! the secret values, [`Targets::resolve`]). [`Notifier::notify`] builds the messages —
//! [`slack`] (Block Kit), [`pager_duty`] (Events API v2 `trigger`/`resolve`/change),
//! [`incident_io`] (as Argo Workflows shapes it), [`sns`] (subject + text), [`webhook`]
//! (Ferry's versioned JSON) — and delivers them concurrently with [`delivery`]'s retries and
//! timeouts, returning a [`DeliveryReport`] that the [`DeliveryLog`] keeps per deployment.
//!
//! ```no_run
//! # async fn demo(run: ferry_notify::RunSummary, settings: ferry_deploy::Notifications,
//! #               secrets: &dyn ferry_deploy::Secrets, table: std::sync::Arc<dyn ferry_store::Table>)
//! #               -> Result<(), ferry_notify::NotifyError> {
//! use ferry_notify::{DeliveryLog, Endpoints, HttpSender, Notifier, RetryPolicy, Targets};
//! let notifier = Notifier::new(HttpSender::new(RetryPolicy::default())?, Endpoints::from_env())
//!     .with_log(DeliveryLog::new(table));
//! let targets = Targets::resolve(&settings, secrets).await?;
//! // Off the execution's path: spawn it.
//! tokio::spawn(async move { notifier.notify(&run, &targets).await });
//! # Ok(()) }
//! ```

pub mod cause;
pub mod delivery;
pub mod incident_io;
pub mod listener;
pub mod log;
pub mod notifier;
pub mod pager_duty;
pub mod slack;
pub mod sns;
pub mod summary;
pub mod targets;
pub mod webhook;

pub use delivery::{Attempted, HttpSender, RetryPolicy};
pub use listener::NotifyListener;
pub use log::DeliveryLog;
pub use notifier::{DeliveryReport, Notifier, Sink, SinkOutcome};
pub use summary::{RunStatus, RunSummary};
pub use targets::{Endpoints, Targets};

/// What can go wrong before anything is sent (delivery failures are outcomes, not errors).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The notification secret is missing or unreadable.
    #[error("notification secret: {0}")]
    Secret(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
    /// The delivery log's table failed.
    #[error("delivery log: {0}")]
    Store(String),
}
