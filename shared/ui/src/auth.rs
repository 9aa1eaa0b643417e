//! The API key of the UI's JSON API: with a key configured, `/ui/api/…` needs it in `x-api-key`
//! (401 without it, 403 when wrong), checked by the metadata API's own [`ApiKey`] (a SHA-256
//! digest compared in constant time; the key is never logged). The page asks for it once and
//! keeps it for the browser session (`sessionStorage`). The HTML shell and assets are public:
//! they hold no data.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferry_metadata::API_KEY_HEADER;
use ferry_metadata::api::auth::ApiKey;

use crate::error::UiError;

/// Middleware: without a configured key, pass; otherwise the request needs it.
pub async fn check(State(key): State<Option<Arc<ApiKey>>>, req: Request, next: Next) -> Response {
    let Some(key) = key else {
        return next.run(req).await;
    };
    match req.headers().get(API_KEY_HEADER) {
        None => UiError::Unauthorized(format!(
            "this Ferry stack needs its API key: send it in the {API_KEY_HEADER} header (the page asks for it)"
        ))
        .into_response(),
        Some(v) if key.matches(v.as_bytes()) => next.run(req).await,
        Some(_) => UiError::Forbidden(format!("the {API_KEY_HEADER} header holds a wrong API key"))
            .into_response(),
    }
}
