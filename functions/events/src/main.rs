//! The events Lambda: the one target of every Ferry EventBridge rule (`template.yaml`).
//!
//! - A deployment's trigger rule delivers `{"deployment", "event"}` (its input transformer,
//!   `ferry_aws::eventbridge`): a Ferry event from the event bus (`@trigger`), or an upstream's
//!   Step Functions status change (`@trigger_on_finish`); the engine decides for that
//!   deployment and the runs it decides start (`ferry_events::Dispatcher::deliver_to`).
//! - `POST`/`GET /ferry/v1/events` on the stack's API (API Gateway, API key required): publish
//!   an event as Metaflow's `ArgoEvent(...).publish()` does, or read the recent-events log
//!   ([`api`]); the answer is the API Gateway response.
//! - A deployment's status-change rule delivers Step Functions' "Execution Status Change"
//!   event itself: it goes to the lifecycle listeners ([`wiring::listeners`]: notifications).
//!
//! Errors the next delivery may fix (a store or Step Functions throttled or unreachable) fail
//! the invocation, so Lambda retries it (deliveries are deduplicated by event id); an event
//! that can never be processed is logged and answered, so it is not retried in vain.

mod api;
mod handler;
#[cfg(test)]
mod moto_tests;
mod wiring;

use lambda_runtime::{LambdaEvent, service_fn};
use tokio::sync::OnceCell;

static CONTEXT: OnceCell<wiring::EventsContext> = OnceCell::const_new();

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(handle)).await
}

/// One invocation.
async fn handle(
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let ctx = CONTEXT.get_or_try_init(wiring::context_from_env).await?;
    Ok(handler::handle(ctx, &event.payload).await?)
}
