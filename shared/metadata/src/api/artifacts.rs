//! Artifact pointers (svc artifact.py). Reads carry the run's current tags.
//!
//! "Latest attempt" rules (contract §3.7): a task's artifact list shows only its highest
//! `attempt_id`; a by-name lookup uses the attempt of the highest-attempt artifact literally
//! named `name` (every Metaflow attempt stores one), or attempt 0 when there is none.

use axum::extract::State;
use axum::response::Response;

use super::extract::Path;
use serde_json::{Value, json};

use super::body::Body;
use super::metadata::unregistered;
use super::{find_run, find_task, ok};
use crate::error::{ApiError, ApiResult};
use crate::model::Artifact;
use crate::{AppState, validate};

type TaskPath = Path<(String, String, String, String)>;

/// `POST …/tasks/{task_id}/artifact` with a JSON array of artifact pointers: insert each; one
/// already stored for the same `(attempt_id, name)` is skipped and not counted.
/// `{"artifacts_created": n}`; 400 when the task is unknown.
pub async fn create(
    State(st): State<AppState>,
    Path((flow, run, step, task)): TaskPath,
    Body(body): Body,
) -> ApiResult<Response> {
    super::task_path_names(&flow, &run, &step, &task)?;
    let items = validate::array_of_objects(&body, "artifacts")?;
    let mut arts = Vec::with_capacity(items.len());
    for (i, obj) in items.iter().enumerate() {
        let at = |e: ApiError| ApiError::bad(format!("artifacts[{i}]: {e}"));
        let name = validate::req_str(obj, "name").map_err(at)?;
        validate::name("name", &name).map_err(at)?;
        let text = |k: &str| -> ApiResult<String> {
            Ok(validate::opt_str(obj, k)
                .map_err(at)?
                .unwrap_or_else(|| " ".into()))
        };
        arts.push(Artifact {
            attempt_id: validate::opt_u32(obj, "attempt_id", 0).map_err(at)?,
            location: text("location")?,
            ds_type: text("ds_type")?,
            sha: text("sha")?,
            type_: text("type")?,
            content_type: text("content_type")?,
            user_name: text("user_name")?,
            ts_epoch: 0,
            name,
        });
    }
    let Some((r, t)) = find_task(&st, &flow, &run, &step, &task).await? else {
        return Err(unregistered());
    };
    let n = st.repo.create_artifacts(&r, &t, arts).await?;
    Ok(ok(json!({ "artifacts_created": n })))
}

/// Only the artifacts of the highest attempt present.
fn latest_attempt(arts: Vec<Artifact>) -> Vec<Artifact> {
    let Some(max) = arts.iter().map(|a| a.attempt_id).max() else {
        return arts;
    };
    arts.into_iter().filter(|a| a.attempt_id == max).collect()
}

/// `GET …/tasks/{task_id}/artifacts`: the artifacts of the task's latest attempt (`[]` when a
/// parent is missing).
pub async fn by_task(
    State(st): State<AppState>,
    Path((flow, run, step, task)): TaskPath,
) -> ApiResult<Response> {
    let Some((r, t)) = find_task(&st, &flow, &run, &step, &task).await? else {
        return Ok(ok(Value::Array(vec![])));
    };
    let arts = latest_attempt(st.repo.list_artifacts(&r, &t).await?);
    Ok(ok(Value::Array(
        arts.iter().map(|a| a.to_json(&r, &step, &t)).collect(),
    )))
}

fn attempt(seg: &str) -> ApiResult<u32> {
    seg.parse::<u32>()
        .ok()
        .filter(|n| *n < 100_000)
        .ok_or_else(|| {
            ApiError::bad(format!(
                "attempt_id {seg:?} must be an integer from 0 to 99999"
            ))
        })
}

/// `GET …/tasks/{task_id}/attempt/{attempt_id}/artifacts`: one attempt's artifacts.
pub async fn by_attempt(
    State(st): State<AppState>,
    Path((flow, run, step, task, att)): Path<(String, String, String, String, String)>,
) -> ApiResult<Response> {
    let a = attempt(&att)?;
    let Some((r, t)) = find_task(&st, &flow, &run, &step, &task).await? else {
        return Ok(ok(Value::Array(vec![])));
    };
    let arts = st.repo.list_attempt_artifacts(&r, &t, a).await?;
    Ok(ok(Value::Array(
        arts.iter().map(|x| x.to_json(&r, &step, &t)).collect(),
    )))
}

/// `GET …/tasks/{task_id}/artifacts/{name}`: the artifact at the attempt of the task's latest
/// `name` artifact, or `404 {}`.
pub async fn get_one(
    State(st): State<AppState>,
    Path((flow, run, step, task, name)): Path<(String, String, String, String, String)>,
) -> ApiResult<Response> {
    validate::name("name", &name)?;
    let Some((r, t)) = find_task(&st, &flow, &run, &step, &task).await? else {
        return Err(ApiError::NotFound);
    };
    let arts = st.repo.list_artifacts(&r, &t).await?;
    let at = arts
        .iter()
        .filter(|a| a.name == "name")
        .map(|a| a.attempt_id)
        .max()
        .unwrap_or(0);
    match arts.iter().find(|a| a.name == name && a.attempt_id == at) {
        Some(a) => Ok(ok(a.to_json(&r, &step, &t))),
        None => Err(ApiError::NotFound),
    }
}

/// `GET …/tasks/{task_id}/artifacts/{name}/attempt/{attempt_id}`: one artifact, or `404 {}`.
pub async fn get_one_attempt(
    State(st): State<AppState>,
    Path((flow, run, step, task, name, att)): Path<(
        String,
        String,
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<Response> {
    validate::name("name", &name)?;
    let a = attempt(&att)?;
    let Some((r, t)) = find_task(&st, &flow, &run, &step, &task).await? else {
        return Err(ApiError::NotFound);
    };
    match st.repo.get_artifact(&r, &t, &name, a).await? {
        Some(x) => Ok(ok(x.to_json(&r, &step, &t))),
        None => Err(ApiError::NotFound),
    }
}

/// `GET …/steps/{step_name}/artifacts`: the latest-attempt artifacts of every task of the step
/// (`[]` when a parent is missing). Not used by the client.
pub async fn by_step(
    State(st): State<AppState>,
    Path((flow, run, step)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    validate::name("step_name", &step)?;
    let Some(r) = find_run(&st, &flow, &run).await? else {
        return Ok(ok(Value::Array(vec![])));
    };
    let mut out = Vec::new();
    for t in st.repo.list_tasks(&r, &step).await? {
        for a in latest_attempt(st.repo.list_artifacts(&r, &t).await?) {
            out.push(a.to_json(&r, &step, &t));
        }
    }
    Ok(ok(Value::Array(out)))
}

/// `GET /flows/{flow_id}/runs/{run_number}/artifacts`: the latest-attempt artifacts of every
/// task of the run (`[]` when the run is missing). Not used by the client.
pub async fn by_run(
    State(st): State<AppState>,
    Path((flow, run)): Path<(String, String)>,
) -> ApiResult<Response> {
    let Some(r) = find_run(&st, &flow, &run).await? else {
        return Ok(ok(Value::Array(vec![])));
    };
    let mut out = Vec::new();
    for s in st.repo.list_steps(&r).await? {
        for t in st.repo.list_tasks(&r, &s.step_name).await? {
            for a in latest_attempt(st.repo.list_artifacts(&r, &t).await?) {
                out.push(a.to_json(&r, &s.step_name, &t));
            }
        }
    }
    Ok(ok(Value::Array(out)))
}
