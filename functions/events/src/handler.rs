//! One invocation: what EventBridge delivered, and what to do with it.
//!
//! | delivery | from | handled by |
//! |---|---|---|
//! | `{"deployment": D, "event": <Ferry event>}` | D's `@trigger` rule on the Ferry bus | the engine for D: the event is read again as a publish body (so its name, id, timestamp and size are checked as on every path, and it counts as published whatever its `origin` says) |
//! | `{"deployment": D, "event": <status change SUCCEEDED>}` | D's `@trigger_on_finish` rule on the default bus | the engine for D, with the event the upstream's success raises (`Dispatcher::run_succeeded`, from the upstream's record) |
//! | a status change | a deployment's status-change rule | the lifecycle listeners (`crate::wiring::listeners`) |
//! | an API Gateway request (`httpMethod`, `requestContext`) | `POST`/`GET /ferry/v1/events` on the stack's API | the events routes ([`crate::api`]); the answer is the API Gateway response |
//!
//! The answer says what happened: `{"kind": "delivery", "delivery": Delivery}`,
//! `{"kind": "status_change", "run_id", "status"}`, or `{"kind": "ignored", "reason"}` for a
//! delivery that can never be processed (logged; a retry would not help). An error (the state
//! store, the records or Step Functions failed transiently) fails the invocation so that it is
//! retried.

use chrono::{DateTime, Utc};
use ferry_events::{DeliveryError, Event};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::wiring::EventsContext;

/// A trigger rule's delivery (its input transformer's template).
#[derive(Deserialize)]
struct Addressed {
    deployment: String,
    event: Value,
}

/// The EventBridge envelope fields the handler routes on.
#[derive(Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type", default)]
    detail_type: String,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
    #[serde(default)]
    detail: Value,
}

fn ignored(reason: String) -> Value {
    tracing::warn!("event ignored: {reason}");
    json!({"kind": "ignored", "reason": reason})
}

/// Handle one delivery (see the module docs).
pub async fn handle(ctx: &EventsContext, payload: &Value) -> Result<Value, DeliveryError> {
    if crate::api::is_request(payload) {
        let answer = crate::api::handle(ctx, payload).await;
        return Ok(serde_json::to_value(answer).unwrap_or_default());
    }
    let now = Utc::now();
    if let Ok(a) = serde_json::from_value::<Addressed>(payload.clone()) {
        let event = match addressed_event(ctx, &a.event, now).await? {
            Ok(e) => e,
            Err(reason) => return Ok(ignored(format!("for {}: {reason}", a.deployment))),
        };
        let delivery = ctx
            .dispatcher
            .deliver_to(&event, &a.deployment, now)
            .await?;
        tracing::info!(
            deployment = %a.deployment, event = %event.name, id = %event.id,
            "{}", delivery.message
        );
        return Ok(json!({"kind": "delivery", "delivery": delivery}));
    }
    let bytes = serde_json::to_vec(payload).unwrap_or_default();
    match ferry_aws::events::parse_status_change(&bytes) {
        Ok(change) => {
            ctx.listeners.dispatch(&change).await;
            Ok(json!({
                "kind": "status_change",
                "run_id": change.run_id().to_string(),
                "state_machine": change.execution.state_machine.to_string(),
                "status": change.execution.status,
            }))
        }
        Err(e) => Ok(ignored(format!(
            "not a delivery of a Ferry rule ({e}); an unaddressed event is never acted on"
        ))),
    }
}

/// The event an addressed delivery carries; `Ok(Err(reason))` when it can never be used.
async fn addressed_event(
    ctx: &EventsContext,
    event: &Value,
    now: DateTime<Utc>,
) -> Result<Result<Event, String>, DeliveryError> {
    let envelope: Envelope = match serde_json::from_value(event.clone()) {
        Ok(e) => e,
        Err(e) => return Ok(Err(format!("not an EventBridge event: {e}"))),
    };
    if envelope.source == ferry_events::event::EVENT_SOURCE {
        // The detail is the event as `ferry publish` put it; read it as the publish body it
        // was, so the same checks apply and nobody can pose as a finished run.
        let body = json!({
            "name": envelope.detail.get("name").cloned().unwrap_or(Value::String(envelope.detail_type.clone())),
            "payload": envelope.detail.get("payload").cloned().unwrap_or(Value::Null),
        });
        let received = envelope.time.unwrap_or(now);
        return Ok(Event::from_publish_body(
            &serde_json::to_vec(&body).unwrap_or_default(),
            received,
        )
        .map_err(|e| e.to_string()));
    }
    let bytes = serde_json::to_vec(event).unwrap_or_default();
    let change = match ferry_aws::events::parse_status_change(&bytes) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e.to_string())),
    };
    match ctx.dispatcher.run_succeeded(&change.execution).await? {
        Some(raised) => Ok(Ok(raised)),
        None => Ok(Err(format!(
            "the run {} of {} is {:?}, or its state machine has no deployment record: it raises no event",
            change.run_id(),
            change.execution.state_machine,
            change.execution.status
        ))),
    }
}
