//! Steps (svc step.py): list, get, create. Reads carry the run's current tags.

use axum::extract::State;
use axum::response::Response;

use super::extract::Path;
use serde_json::Value;

use super::body::Body;
use super::{find_run, ok};
use crate::error::{ApiError, ApiResult};
use crate::model::Step;
use crate::repo::now_ms;
use crate::{AppState, validate};

/// `GET …/runs/{run_number}/steps`: every step (`[]` when the run is missing).
pub async fn list(
    State(st): State<AppState>,
    Path((flow, run)): Path<(String, String)>,
) -> ApiResult<Response> {
    let Some(r) = find_run(&st, &flow, &run).await? else {
        return Ok(ok(Value::Array(vec![])));
    };
    let steps = st.repo.list_steps(&r).await?;
    Ok(ok(Value::Array(
        steps.iter().map(|s| s.to_json(&r)).collect(),
    )))
}

/// `GET …/steps/{step_name}`: the step, or `404 {}`.
pub async fn get_one(
    State(st): State<AppState>,
    Path((flow, run, step)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    validate::name("step_name", &step)?;
    let Some(r) = find_run(&st, &flow, &run).await? else {
        return Err(ApiError::NotFound);
    };
    match st.repo.get_step(&r, &step).await? {
        Some(s) => Ok(ok(s.to_json(&r))),
        None => Err(ApiError::NotFound),
    }
}

/// `POST …/steps/{step_name}/step`: create the step (`user_name`, `tags`, `system_tags` from the
/// body; the path gives the rest). 409 when it exists. svc answers 500 when the run is missing;
/// this answers 404 with a message.
pub async fn create(
    State(st): State<AppState>,
    Path((flow, run, step)): Path<(String, String, String)>,
    Body(body): Body,
) -> ApiResult<Response> {
    validate::name("step_name", &step)?;
    let obj = validate::object(&body)?;
    let s = Step {
        step_name: step,
        user_name: validate::opt_str(&obj, "user_name")?,
        ts_epoch: now_ms(),
        tags: validate::opt_tags(&obj, "tags")?,
        system_tags: validate::opt_tags(&obj, "system_tags")?,
    };
    let Some(r) = find_run(&st, &flow, &run).await? else {
        return Err(ApiError::MissingParent(format!(
            "run {flow}/{run} does not exist"
        )));
    };
    st.repo.create_step(&r, &s).await?;
    Ok(ok(s.to_json(&r)))
}
