//! HTTP handlers, one module per resource, and the route table (contract §2).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, patch, post};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, json_response};
use crate::model::{Run, Task};
use crate::{AppState, MAX_BODY_BYTES, validate};

mod admin;
mod artifacts;
pub mod auth;
mod body;
mod extract;
mod flows;
mod metadata;
mod runs;
mod steps;
mod tasks;

/// Build the router over a state.
pub fn router(state: AppState) -> Router {
    const RUN: &str = "/flows/{flow_id}/runs/{run_number}";
    const STEP: &str = "/flows/{flow_id}/runs/{run_number}/steps/{step_name}";
    const TASK: &str = "/flows/{flow_id}/runs/{run_number}/steps/{step_name}/tasks/{task_id}";
    let r = Router::new()
        .route("/ping", get(admin::ping))
        .route("/version", get(admin::version))
        .route("/healthcheck", get(admin::healthcheck))
        .route("/flows", get(flows::list))
        .route("/flows/{flow_id}", get(flows::get_one).post(flows::create))
        .route("/flows/{flow_id}/runs", get(runs::list))
        .route("/flows/{flow_id}/run", post(runs::create))
        .route(RUN, get(runs::get_one))
        .route(&format!("{RUN}/heartbeat"), post(runs::heartbeat))
        .route(&format!("{RUN}/tag/mutate"), patch(runs::mutate_tags))
        .route(&format!("{RUN}/metadata"), get(metadata::by_run))
        .route(&format!("{RUN}/artifacts"), get(artifacts::by_run))
        .route(&format!("{RUN}/steps"), get(steps::list))
        .route(STEP, get(steps::get_one))
        .route(&format!("{STEP}/step"), post(steps::create))
        .route(&format!("{STEP}/artifacts"), get(artifacts::by_step))
        .route(&format!("{STEP}/tasks"), get(tasks::list))
        .route(&format!("{STEP}/filtered_tasks"), get(tasks::filtered))
        .route(&format!("{STEP}/task"), post(tasks::create))
        .route(TASK, get(tasks::get_one))
        .route(&format!("{TASK}/heartbeat"), post(tasks::heartbeat))
        .route(
            &format!("{TASK}/metadata"),
            get(metadata::by_task).post(metadata::create),
        )
        .route(&format!("{TASK}/artifacts"), get(artifacts::by_task))
        .route(&format!("{TASK}/artifact"), post(artifacts::create))
        .route(
            &format!("{TASK}/attempt/{{attempt_id}}/artifacts"),
            get(artifacts::by_attempt),
        )
        .route(
            &format!("{TASK}/artifacts/{{name}}"),
            get(artifacts::get_one),
        )
        .route(
            &format!("{TASK}/artifacts/{{name}}/attempt/{{attempt_id}}"),
            get(artifacts::get_one_attempt),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed);
    let r = match &state.api_key {
        Some(_) => r.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::check,
        )),
        None => r,
    };
    r.layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError::MissingParent(format!("no such route: {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let body = serde_json::json!({
        "message": format!("method {method} is not allowed on {}", uri.path())
    });
    json_response(StatusCode::METHOD_NOT_ALLOWED, body.to_string())
}

/// A 200 response with a JSON body.
pub(crate) fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, v.to_string())
}

/// Validate the names of a path.
pub(crate) fn names(pairs: &[(&str, &str)]) -> ApiResult<()> {
    for (kind, v) in pairs {
        validate::name(kind, v)?;
    }
    Ok(())
}

/// Validate the names of a task path (`flow_id`, `run_number`, `step_name`, `task_id`).
pub(crate) fn task_path_names(flow: &str, run: &str, step: &str, task: &str) -> ApiResult<()> {
    names(&[
        ("flow_id", flow),
        ("run_number", run),
        ("step_name", step),
        ("task_id", task),
    ])
}

/// The run a path addresses, `None` when it does not exist.
pub(crate) async fn find_run(state: &AppState, flow: &str, run: &str) -> ApiResult<Option<Run>> {
    names(&[("flow_id", flow), ("run_number", run)])?;
    state.repo.resolve_run(flow, run).await
}

/// The run and task a path addresses, `None` when either does not exist.
pub(crate) async fn find_task(
    state: &AppState,
    flow: &str,
    run: &str,
    step: &str,
    task: &str,
) -> ApiResult<Option<(Run, Task)>> {
    names(&[("step_name", step), ("task_id", task)])?;
    let Some(r) = find_run(state, flow, run).await? else {
        return Ok(None);
    };
    Ok(state
        .repo
        .resolve_task(&r, step, task)
        .await?
        .map(|t| (r, t)))
}
