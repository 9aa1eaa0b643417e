//! Event-started runs on the embedded stack (`docs/events.md`): the publish route and the
//! `@trigger_on_finish` listener, both handing events to the one [`ferry_events::Dispatcher`]
//! (the engine's state on the stack's table), which starts what the engine decides through
//! `Executions::start`.
//!
//! | method and path | what | answer |
//! |---|---|---|
//! | `POST /ferry/v1/events` | publish: the body Metaflow's `ArgoEvent(name).publish(payload)` POSTs to `METAFLOW_ARGO_EVENTS_WEBHOOK_URL` (`metaflow/plugins/argo/argo_events.py`), which `ferry publish` sends too | [`Delivery`]: 202 when a run started, else 200 (nothing new started: no deployment waits for the event, a duplicate, a refusal, waiting for other events); 400 for a body that is no event; 503 when the state store or the start failed (publish again: deliveries are deduplicated by event id) |
//! | `GET /ferry/v1/events?limit=N` | the recent-events log, newest first (default 50, at most 1,000) | `[LogEntry]` |
//!
//! The subscriptions are the deployment records' `triggers`, read at each event, so a deploy or
//! a delete takes effect at once; what the dispatcher guarantees is in [`ferry_events::dispatch`].

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use ferry_events::{Event, LogEntry};
use serde::Deserialize;
use serde_json::json;

/// The publish route, under the control API's prefix.
pub const EVENTS_ROUTE: &str = "/ferry/v1/events";

/// The URL Metaflow's `ArgoEvent(...).publish()` posts to for the stack at `url` (its base URL):
/// the value of `METAFLOW_ARGO_EVENTS_WEBHOOK_URL`.
pub fn events_url(url: &str) -> String {
    format!("{}{EVENTS_ROUTE}", url.trim_end_matches('/'))
}

/// The embedded stack's dispatcher: the engine and the deployment records on the stack's
/// `ferry.db`, long parameters to the stack's blobs ([`ferry_events::Dispatcher`]).
pub type StackEvents = ferry_events::Dispatcher;
pub use ferry_events::{DeliveredOutcome, Delivery, DeliveryError, RunSucceededListener};

/// Query of `GET /ferry/v1/events`.
#[derive(Debug, Default, Deserialize)]
pub struct RecentQuery {
    /// At most this many entries (default 50, at most 1,000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// The events routes (see the module docs).
pub fn router(events: StackEvents) -> Router {
    Router::new()
        .route(EVENTS_ROUTE, post(publish).get(recent))
        .with_state(events)
}

/// An error answer in the control API's shape: `{"error", "kind", "detail"}`.
fn error_answer(status: StatusCode, kind: &str, message: String) -> Response {
    (
        status,
        Json(json!({"error": message, "kind": kind, "detail": message})),
    )
        .into_response()
}

async fn publish(State(events): State<StackEvents>, body: Bytes) -> Response {
    let now = Utc::now();
    let event = match Event::from_publish_body(&body, now) {
        Ok(e) => e,
        Err(e) => return error_answer(StatusCode::BAD_REQUEST, "invalid", e.to_string()),
    };
    match events.deliver(&event, now).await {
        Ok(delivery) => {
            let status = if delivery.started().next().is_some() {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            (status, Json(delivery)).into_response()
        }
        Err(e) => {
            tracing::warn!(event = %event.name, id = %event.id, "event not processed: {e}");
            error_answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            )
        }
    }
}

async fn recent(State(events): State<StackEvents>, Query(q): Query<RecentQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    match events.engine().recent(limit, Utc::now()).await {
        Ok(entries) => Json::<Vec<LogEntry>>(entries).into_response(),
        Err(e) => error_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        ),
    }
}
