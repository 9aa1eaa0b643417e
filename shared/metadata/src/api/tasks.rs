//! Tasks (svc task.py): list, filtered list, get, create, heartbeat. Reads carry the run's
//! current tags.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;

use super::extract::{Path, Query};
use futures::{StreamExt, stream};
use serde_json::Value;

use super::body::Body;
use super::runs::heartbeat_body;
use super::{find_run, find_task, ok};
use crate::error::{ApiError, ApiResult};
use crate::model::Task;
use crate::repo::{now_ms, now_s};
use crate::{AppState, validate};

type StepPath = Path<(String, String, String)>;
type TaskPath = Path<(String, String, String, String)>;

/// `GET …/steps/{step_name}/tasks`: every task of the step (`[]` when a parent is missing).
pub async fn list(
    State(st): State<AppState>,
    Path((flow, run, step)): StepPath,
) -> ApiResult<Response> {
    validate::name("step_name", &step)?;
    let Some(r) = find_run(&st, &flow, &run).await? else {
        return Ok(ok(Value::Array(vec![])));
    };
    let tasks = st.repo.list_tasks(&r, &step).await?;
    let out = tasks
        .iter()
        .map(|t| t.to_json(&r, t.last_heartbeat_ts))
        .collect();
    Ok(ok(Value::Array(out)))
}

/// `GET …/steps/{step_name}/tasks/{task_id}`: the task (by id or alias), or `404 {}`.
pub async fn get_one(
    State(st): State<AppState>,
    Path((flow, run, step, task)): TaskPath,
) -> ApiResult<Response> {
    let Some((r, t)) = find_task(&st, &flow, &run, &step, &task).await? else {
        return Err(ApiError::NotFound);
    };
    let hb = st.repo.task_heartbeat(&r, &t).await?;
    Ok(ok(t.to_json(&r, hb)))
}

/// `POST …/steps/{step_name}/task`: create a task with a server-allocated id; `task_id` in the
/// body, when present, is a non-numeric alias (Argo `t-…`, Batch job ids). 404 when the step is
/// missing (svc's FK error) or the run is (svc answers 500 there), 409 for a taken alias, 400 for
/// a numeric alias (svc means 400 but answers 500).
pub async fn create(
    State(st): State<AppState>,
    Path((flow, run, step)): StepPath,
    Body(body): Body,
) -> ApiResult<Response> {
    validate::name("step_name", &step)?;
    let obj = validate::object(&body)?;
    let alias = validate::opt_id(&obj, "task_id")?;
    let system_tags = validate::opt_tags(&obj, "system_tags")?;
    if let Some(a) = &alias {
        validate::name("task_id", a)?;
        if validate::is_numeric(a) {
            return Err(ApiError::bad(format!(
                "provided task_name may not be a numeric: {a}"
            )));
        }
    }
    let capable = validate::heartbeat_capable(system_tags.as_deref());
    let task = Task {
        step_name: step.clone(),
        task_id: 0,
        task_name: alias,
        user_name: validate::opt_str(&obj, "user_name")?,
        ts_epoch: now_ms(),
        tags: validate::opt_tags(&obj, "tags")?,
        system_tags,
        last_heartbeat_ts: capable.then(now_s),
        status: Default::default(),
    };
    let Some(r) = find_run(&st, &flow, &run).await? else {
        return Err(ApiError::MissingParent(format!(
            "run {flow}/{run} does not exist"
        )));
    };
    if !st.repo.step_exists(&r, &step).await? {
        return Err(ApiError::MissingParent(format!(
            "step {flow}/{run}/{step} does not exist: create it first"
        )));
    }
    let mut task = st.repo.create_task(&r, task).await?;
    // The task exists now: a failed first heartbeat (which also keeps the run alive) is logged,
    // not an error the client would retry, creating a second task. The answer gives the time
    // the heartbeat stored.
    if capable {
        match st.repo.beat_task(&r, &task).await {
            Ok(ts) => task.last_heartbeat_ts = Some(ts),
            Err(e) => tracing::warn!(error = %e, "first heartbeat of a new task failed"),
        }
    }
    let hb = task.last_heartbeat_ts;
    Ok(ok(task.to_json(&r, hb)))
}

/// `POST …/tasks/{task_id}/heartbeat`: record a heartbeat (and keep the run alive); 404 `{}`
/// for an unknown task.
pub async fn heartbeat(
    State(st): State<AppState>,
    Path((flow, run, step, task)): TaskPath,
    Body(_body): Body,
) -> ApiResult<Response> {
    let Some((r, t)) = find_task(&st, &flow, &run, &step, &task).await? else {
        return Err(ApiError::NotFound);
    };
    st.repo.beat_task(&r, &t).await?;
    Ok(ok(heartbeat_body()))
}

/// Longest accepted `pattern`, in bytes.
const MAX_PATTERN: usize = 4096;

/// `GET …/steps/{step_name}/filtered_tasks?metadata_field_name=&pattern=`: pathspecs
/// `F/R/S/T` of the step's tasks that have a metadata row with that field name (when given)
/// whose value matches the unanchored regex (when given); with neither, every task that has
/// metadata. Ordered by task id. A bad regex is a 400.
pub async fn filtered(
    State(st): State<AppState>,
    Path((flow, run, step)): StepPath,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    validate::name("step_name", &step)?;
    let field = q
        .get("metadata_field_name")
        .filter(|s| !s.is_empty())
        .cloned();
    let pattern = match q.get("pattern").filter(|s| !s.is_empty()) {
        Some(p) if p.len() > MAX_PATTERN => {
            return Err(ApiError::bad(format!(
                "pattern is longer than {MAX_PATTERN} bytes"
            )));
        }
        Some(p) => Some(
            regex::RegexBuilder::new(p)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    ApiError::bad(format!("pattern is not a valid regular expression: {e}"))
                })?,
        ),
        None => None,
    };
    let Some(r) = find_run(&st, &flow, &run).await? else {
        return Ok(ok(Value::Array(vec![])));
    };
    let tasks = st.repo.list_tasks(&r, &step).await?;
    let futs: Vec<_> = tasks
        .iter()
        .map(|t| st.repo.list_metadata(&r, t.task_id))
        .collect();
    let rows = stream::iter(futs)
        .buffered(crate::repo::FANOUT)
        .collect::<Vec<_>>()
        .await;
    let mut out = Vec::new();
    for (t, md) in tasks.iter().zip(rows) {
        let hit = md?.iter().any(|m| {
            field.as_ref().is_none_or(|f| &m.field_name == f)
                && pattern.as_ref().is_none_or(|p| p.is_match(&m.value))
        });
        if hit {
            out.push(Value::String(format!(
                "{}/{}/{}/{}",
                r.flow_id,
                r.exposed_str(),
                step,
                t.exposed_str()
            )));
        }
    }
    Ok(ok(Value::Array(out)))
}
