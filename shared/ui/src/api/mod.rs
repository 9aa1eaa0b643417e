//! The UI's JSON read API, under `/ui/api` (shapes in `docs/ui.md`):
//!
//! | route | answer |
//! |---|---|
//! | `GET /ui/api/deployments` | every deployment: flow, project/branch, owner, schedule and its next fire times in its time zone, triggers, its recent runs |
//! | `GET /ui/api/runs?deployment=&flow=&status=&tag=&since=&until=&q=&offset=&limit=` | runs of deployments, newest first, filtered and paged |
//! | `GET /ui/api/runs/{flow}/{run}` | one run: status, failure first, parameters, tags, trigger, the graph with per-step states and task counts |
//! | `GET /ui/api/runs/{flow}/{run}/steps/{step}/tasks?offset=&limit=&state=` | a step's tasks, paged, with states and times |
//! | `GET /ui/api/runs/{flow}/{run}/steps/{step}/tasks/{task}` | one task: attempts, metadata, artifacts (names, types, sizes) |
//! | `GET /ui/api/runs/{flow}/{run}/steps/{step}/tasks/{task}/logs?stream=&attempt=&after=` | a task's stdout or stderr (the `ferry logs` reader), from byte `after` on |
//!
//! Errors: `{"error": {"kind", "message"}}` with 400, 401, 403, 404, 405, 500 or 503.

use axum::Router;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{Method, Uri};
use axum::routing::get;
use serde::de::DeserializeOwned;

use crate::UiState;
use crate::error::UiError;

mod deployments;
mod run;
mod runs;
mod tasks;

/// Most rows of one page of a list.
pub const MAX_PAGE: usize = 500;

/// The API routes (relative to `/ui/api`).
pub(crate) fn router(state: UiState) -> Router {
    const TASKS: &str = "/runs/{flow}/{run}/steps/{step}/tasks";
    Router::new()
        .route("/deployments", get(deployments::list))
        .route("/runs", get(runs::list))
        .route("/runs/{flow}/{run}", get(run::detail))
        .route(TASKS, get(tasks::list))
        .route(&format!("{TASKS}/{{task}}"), get(tasks::detail))
        .route(&format!("{TASKS}/{{task}}/logs"), get(tasks::logs))
        .fallback(unknown)
        .method_not_allowed_fallback(read_only)
        .with_state(state)
}

async fn unknown(uri: Uri) -> UiError {
    UiError::NotFound(format!("no such UI API route: {}", uri.path()))
}

/// Another method than GET on a route: 405 with the API's JSON error.
async fn read_only(method: Method, uri: Uri) -> UiError {
    UiError::MethodNotAllowed(format!(
        "{method} {}: the UI API is read-only, use GET",
        uri.path()
    ))
}

/// The query string of a UI API request, parsed into `T`. Unlike axum's `Query`, a malformed
/// value (`limit=abc`) answers the API's JSON error (400, kind `usage`) naming the parameter,
/// not a plain-text rejection.
pub(crate) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, UiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(ApiQuery(q)),
            Err(e) => Err(UiError::BadRequest(e.body_text())),
        }
    }
}

/// A page size: `limit` (default `default`), at most [`MAX_PAGE`].
pub(crate) fn page_size(limit: Option<usize>, default: usize) -> usize {
    limit.unwrap_or(default).clamp(1, MAX_PAGE)
}

/// Check a path segment (flow, run, step or task): what the metadata API accepts.
pub(crate) fn segment<'a>(kind: &str, v: &'a str) -> Result<&'a str, UiError> {
    ferry_metadata::validate::name(kind, v).map_err(|e| UiError::BadRequest(e.to_string()))?;
    Ok(v)
}
