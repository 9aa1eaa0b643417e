//! The deploy Lambda: S3 `ObjectCreated` events on `<prefix>deploy/<deployment>/<id>/request.json`
//! run the deploy use case (`ferry_deploy::handle_request_key`), which writes `result.json` next
//! to the request. Idempotent per request id: S3 may deliver an event twice.

use aws_lambda_events::event::s3::S3Event;
use deploy::{event, handler, wiring};
use ferry_deploy::DeployContext;
use lambda_runtime::{LambdaEvent, service_fn};
use tokio::sync::OnceCell;

static CONTEXT: OnceCell<DeployContext> = OnceCell::const_new();

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(handle)).await
}

/// One invocation. An error (a store that cannot be reached, a context that cannot be built)
/// makes Lambda retry the event.
async fn handle(event: LambdaEvent<S3Event>) -> Result<serde_json::Value, lambda_runtime::Error> {
    let prefix = wiring::blob_prefix();
    let (keys, _) = event::request_keys(&event.payload, &prefix);
    if keys.is_empty() {
        return Ok(
            serde_json::json!({"handled": [], "busy": [], "skipped": event.payload.records.len()}),
        );
    }
    let ctx = CONTEXT.get_or_try_init(wiring::context_from_env).await?;
    Ok(handler::handle_event(ctx, &prefix, &event.payload).await?)
}
