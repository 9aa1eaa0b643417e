//! Event-started runs (`@trigger`, `@trigger_on_finish`), one implementation for the AWS
//! trigger Lambda and the embedded stack alike; only the adapters around it differ
//! (`docs/events.md`).
//!
//! - [`event`]: the [`Event`] model; the body Metaflow's `ArgoEvent(...).publish()` POSTs and
//!   `ferry publish` sends ([`Event::from_publish_body`], [`Event::published`]); the event a
//!   succeeded run raises ([`Event::run_succeeded`]); the EventBridge size limit.
//! - [`mapping`]: does an event match a trigger's dependency; the parameters its payload sets.
//! - [`start`]: the start decision: deterministic execution name, the execution input
//!   (`{"Parameters": ...}` with Metaflow's `execution-triggers` records).
//! - [`engine`]: [`Engine::receive`]: dedupe by event id, several-event state with consumption
//!   and `reset_at`, the outcome per deployment; it decides, the caller starts.
//! - [`dispatch`]: [`Dispatcher`]: subscriptions from the deployment records, the engine, and
//!   the starts it decides through `Executions::start` (long parameters offloaded); the
//!   `@trigger_on_finish` lifecycle listener. Used by the embedded stack and the events Lambda.
//! - [`routes`]: the publish and recent-events routes' request-to-answer logic, served by the
//!   embedded stack and by the events Lambda behind API Gateway alike.
//! - [`state`], [`log`]: the items on the [`ferry_store::Table`] and the recent-events log.
//!
//! The caller is trusted with one thing: only Ferry builds [`EventOrigin::RunSucceeded`]
//! events (from its executor or from Step Functions' own status changes), never from a
//! publisher's body.

pub mod dispatch;
pub mod engine;
pub mod error;
pub mod event;
pub mod log;
pub mod mapping;
pub mod routes;
pub mod start;
pub mod state;

pub use dispatch::{DeliveredOutcome, Delivery, DeliveryError, Dispatcher, RunSucceededListener};
pub use engine::{DeploymentOutcome, Engine, EngineSettings, Outcome, Receipt, Subscription};
pub use error::EventsError;
pub use event::{Event, EventError, EventOrigin, EventSummary, RunSucceeded};
pub use log::{LogEntry, LoggedOutcome};
pub use start::{StartDecision, TriggerRecord};
