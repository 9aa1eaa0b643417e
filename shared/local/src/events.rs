//! Event-started runs on the embedded stack (`docs/events.md`): the publish route and the
//! `@trigger_on_finish` listener, both handing events to the one [`ferry_events::Dispatcher`]
//! (the engine's state on the stack's table), which starts what the engine decides through
//! `Executions::start`.
//!
//! | method and path | what | answer |
//! |---|---|---|
//! | `POST /ferry/v1/events` | publish: the body Metaflow's `ArgoEvent(name).publish(payload)` POSTs to `METAFLOW_ARGO_EVENTS_WEBHOOK_URL` (`metaflow/plugins/argo/argo_events.py`), which `ferry publish` sends too | [`Delivery`]: 202 when a run started, else 200 (nothing new started: no deployment waits for the event, a duplicate, a refusal, waiting for other events); 400 for a body that is no event; 503 when the state store or the start failed (publish again: deliveries are deduplicated by event id) |
//! | `GET /ferry/v1/events?limit=N` | the recent-events log, newest first (default 50, at most 1,000) | `[LogEntry]`; 400 for a `limit` that is no number |
//!
//! The routes' logic is [`ferry_events::routes`], shared with the AWS events Lambda's API
//! Gateway route; this module only serves it with axum.
//!
//! The subscriptions are the deployment records' `triggers`, read at each event, so a deploy or
//! a delete takes effect at once; what the dispatcher guarantees is in [`ferry_events::dispatch`].

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use ferry_events::routes::{self, Answer};

pub use ferry_events::routes::{EVENTS_ROUTE, events_url};

/// The embedded stack's dispatcher: the engine and the deployment records on the stack's
/// `ferry.db`, long parameters to the stack's blobs ([`ferry_events::Dispatcher`]).
pub type StackEvents = ferry_events::Dispatcher;
pub use ferry_events::{DeliveredOutcome, Delivery, DeliveryError, RunSucceededListener};

/// The events routes (see the module docs; their logic is [`ferry_events::routes`]).
pub fn router(events: StackEvents) -> Router {
    Router::new()
        .route(EVENTS_ROUTE, post(publish).get(recent))
        .with_state(events)
}

/// The axum response of an [`Answer`].
fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(answer.body)).into_response()
}

async fn publish(State(events): State<StackEvents>, body: Bytes) -> Response {
    respond(routes::publish(&events, &body, Utc::now()).await)
}

async fn recent(
    State(events): State<StackEvents>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let limit = q.get("limit").map(String::as_str);
    respond(routes::recent(&events, limit, Utc::now()).await)
}
