//! Metadata rows (svc metadata.py): create a batch, list by task, list by run. Rows keep their
//! own tags (`attempt_id:N`), which the client needs to rebuild one attempt's metadata.

use axum::extract::State;
use axum::response::Response;

use super::extract::Path;
use serde_json::{Value, json};

use super::body::Body;
use super::{find_run, find_task, ok};
use crate::error::{ApiError, ApiResult};
use crate::model::Metadata;
use crate::{AppState, validate};

type TaskPath = Path<(String, String, String, String)>;

/// The 400 svc answers when metadata or artifacts are posted for an unknown run or task.
pub(crate) fn unregistered() -> ApiError {
    ApiError::bad("need to register run_id and task_id first")
}

/// `POST …/tasks/{task_id}/metadata` with a JSON array of `{field_name, value, type, tags,
/// user_name}`: insert every row (duplicates allowed); `{"metadata_created": n}`. `value` is
/// stored as text, as svc stores it ([`validate::metadata_value`]: a number, a boolean or a list
/// of strings become their text; `null`, objects and other lists are a 400). The ids in the body
/// are ignored (the path says which task). 400 when the task is unknown. `attempt` and `attempt_ok`
/// rows are also kept on the task item (and, for the end step, on the run item): see
/// [`crate::repo::Repo::record_attempt`].
pub async fn create(
    State(st): State<AppState>,
    Path((flow, run, step, task)): TaskPath,
    Body(body): Body,
) -> ApiResult<Response> {
    super::task_path_names(&flow, &run, &step, &task)?;
    let items = validate::array_of_objects(&body, "metadata")?;
    let mut rows = Vec::with_capacity(items.len());
    for (i, obj) in items.iter().enumerate() {
        let at = |e: ApiError| ApiError::bad(format!("metadata[{i}]: {e}"));
        let field_name = validate::req_str(obj, "field_name").map_err(at)?;
        validate::name("field_name", &field_name).map_err(at)?;
        // The client sends strings, except `foreach-stack` (a list of strings) and
        // `parallel-world-size` (a number): stored as the text svc would store.
        let value = match obj.get("value") {
            None => return Err(ApiError::bad(format!("metadata[{i}]: value is required"))),
            Some(v) => validate::metadata_value(v).map_err(at)?,
        };
        rows.push(Metadata {
            id: 0,
            field_name,
            value,
            type_: validate::opt_str(obj, "type")
                .map_err(at)?
                .unwrap_or_default(),
            user_name: validate::opt_str(obj, "user_name").map_err(at)?,
            ts_epoch: 0,
            tags: validate::opt_tags(obj, "tags").map_err(at)?,
            system_tags: validate::opt_tags(obj, "system_tags").map_err(at)?,
        });
    }
    let Some((r, t)) = find_task(&st, &flow, &run, &step, &task).await? else {
        return Err(unregistered());
    };
    let attempt_ok = rows
        .iter()
        .rev()
        .find(|m| m.field_name == "attempt_ok")
        .map(|m| m.value == "True");
    let attempt = rows
        .iter()
        .rev()
        .find(|m| m.field_name == "attempt")
        .map(|m| m.value.trim().parse::<i64>().unwrap_or(0));
    let n = st.repo.create_metadata(&r, &t, rows).await?;
    if attempt_ok.is_some() || attempt.is_some() {
        st.repo.record_attempt(&r, &t, attempt, attempt_ok).await?;
        if step == "end" {
            st.repo
                .record_end(&r, attempt_ok, attempt.is_some())
                .await?;
        }
    }
    Ok(ok(json!({ "metadata_created": n })))
}

/// `GET …/tasks/{task_id}/metadata`: the task's rows, newest first (`[]` when a parent is missing).
pub async fn by_task(
    State(st): State<AppState>,
    Path((flow, run, step, task)): TaskPath,
) -> ApiResult<Response> {
    let Some((r, t)) = find_task(&st, &flow, &run, &step, &task).await? else {
        return Ok(ok(Value::Array(vec![])));
    };
    let rows = st.repo.list_metadata(&r, t.task_id).await?;
    Ok(ok(Value::Array(
        rows.iter().map(|m| m.to_json(&r, &step, &t)).collect(),
    )))
}

/// `GET /flows/{flow_id}/runs/{run_number}/metadata`: every row of every task of the run
/// (`[]` when the run is missing). Not used by the client; walks steps and tasks.
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
            for m in st.repo.list_metadata(&r, t.task_id).await? {
                out.push(m.to_json(&r, &s.step_name, &t));
            }
        }
    }
    Ok(ok(Value::Array(out)))
}
