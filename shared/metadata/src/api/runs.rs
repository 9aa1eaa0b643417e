//! Runs (svc run.py): list, create, get, heartbeat, tag mutation.

use axum::extract::State;
use axum::response::Response;

use super::extract::{Path, Query};
use serde_json::{Value, json};

use super::body::Body;
use super::{find_run, ok};
use crate::error::{ApiError, ApiResult};
use crate::model::Run;
use crate::repo::runs::TagOutcome;
use crate::repo::{now_ms, now_s};
use crate::run_status::run_status;
use crate::{AppState, validate};

/// The heartbeat answer, double-encoded as svc sends it: a JSON string holding JSON
/// (`json.loads(resp.json())` on the client).
pub(crate) fn heartbeat_body() -> Value {
    json!("{\"wait_time_in_seconds\": 10}")
}

/// The statuses accepted by the `status` filter.
const STATUSES: [&str; 3] = ["running", "completed", "failed"];

/// Parse the `status` filter (`status=a,b` or `status:eq=…` / `status:ne=…`); other query
/// fields are ignored, as svc ignores unknown filter fields.
fn status_filter(params: &[(String, String)]) -> ApiResult<Option<(bool, Vec<String>)>> {
    for (k, v) in params {
        let (field, op) = k.split_once(':').unwrap_or((k.as_str(), "eq"));
        if field != "status" {
            continue;
        }
        let keep = match op {
            "eq" => true,
            "ne" => false,
            other => {
                return Err(ApiError::bad(format!(
                    "operator {other:?} is not supported on status: use eq or ne"
                )));
            }
        };
        let values: Vec<String> = v.split(',').map(str::to_string).collect();
        if let Some(bad) = values.iter().find(|s| !STATUSES.contains(&s.as_str())) {
            return Err(ApiError::bad(format!(
                "status {bad:?} is not one of running, completed, failed"
            )));
        }
        return Ok(Some((keep, values)));
    }
    Ok(None)
}

/// `GET /flows/{flow_id}/runs`: every run (`[]` for an unknown flow), each with its `status`
/// ([`crate::run_status`]: its execution's for runs of Ferry deployments, else derived);
/// optional filter `status[:eq|:ne]=running,completed,failed`, on the same status.
pub async fn list(
    State(st): State<AppState>,
    Path(flow): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    validate::name("flow_id", &flow)?;
    let filter = status_filter(&params)?;
    let runs = st.repo.list_runs(&flow).await?;
    let executions = st.repo.run_execution_statuses(&flow).await?;
    let now = now_s();
    let out: Vec<Value> = runs
        .iter()
        .map(|r| (r, r.last_heartbeat_ts))
        .filter_map(|(r, hb)| {
            let execution = r.run_id.as_ref().and_then(|id| executions.get(id)).copied();
            let status = run_status(r, execution, hb, now);
            match &filter {
                Some((keep, values)) if values.iter().any(|v| v == status) != *keep => None,
                _ => Some(r.to_read_json(hb, status)),
            }
        })
        .collect();
    Ok(ok(Value::Array(out)))
}

/// `GET /flows/{flow_id}/runs/{run_number}`: the run (by number or alias) with its `status`
/// ([`crate::run_status`]), or `404 {}`.
pub async fn get_one(
    State(st): State<AppState>,
    Path((flow, run)): Path<(String, String)>,
) -> ApiResult<Response> {
    let Some(r) = find_run(&st, &flow, &run).await? else {
        return Err(ApiError::NotFound);
    };
    let (hb, status) = st.repo.run_status_of(&r).await?;
    Ok(ok(r.to_read_json(hb, status)))
}

/// `POST /flows/{flow_id}/run`: create a run with a server-allocated number; `run_number` in the
/// body, when present, is a non-numeric alias (`argo-…`, `sfn-…`). 404 for an unknown flow,
/// 409 for a taken alias. svc answers 500 for a numeric alias; this answers 400.
pub async fn create(
    State(st): State<AppState>,
    Path(flow): Path<String>,
    Body(body): Body,
) -> ApiResult<Response> {
    validate::name("flow_id", &flow)?;
    let obj = validate::object(&body)?;
    let alias = validate::opt_id(&obj, "run_number")?;
    if let Some(a) = &alias {
        validate::name("run_number", a)?;
        if validate::is_numeric(a) {
            return Err(ApiError::bad(format!(
                "provided run_id may not be a numeric: {a}"
            )));
        }
    }
    let system_tags = validate::opt_tags(&obj, "system_tags")?;
    let capable = validate::heartbeat_capable(system_tags.as_deref());
    let run = Run {
        flow_id: flow,
        run_number: 0,
        run_id: alias,
        user_name: validate::opt_str(&obj, "user_name")?,
        ts_epoch: now_ms(),
        tags: validate::opt_tags(&obj, "tags")?,
        system_tags,
        version: 1,
        last_heartbeat_ts: capable.then(now_s),
        end: Default::default(),
    };
    let mut run = st.repo.create_run(run).await?;
    // The run exists now: a failed first heartbeat is logged, not an error (a retried POST
    // would create a second run); the copy on the run item already holds it. The answer gives
    // the time the heartbeat stored, which a later read returns (it may be a second later).
    if capable {
        match st.repo.beat_run(&run).await {
            Ok(ts) => run.last_heartbeat_ts = Some(ts),
            Err(e) => tracing::warn!(error = %e, "first heartbeat of a new run failed"),
        }
    }
    let hb = run.last_heartbeat_ts;
    Ok(ok(run.to_json(hb)))
}

/// `POST …/runs/{run_number}/heartbeat`: record a heartbeat; 404 `{}` for an unknown run.
pub async fn heartbeat(
    State(st): State<AppState>,
    Path((flow, run)): Path<(String, String)>,
    Body(_body): Body,
) -> ApiResult<Response> {
    let Some(r) = find_run(&st, &flow, &run).await? else {
        return Err(ApiError::NotFound);
    };
    st.repo.beat_run(&r).await?;
    Ok(ok(heartbeat_body()))
}

/// `PATCH …/runs/{run_number}/tag/mutate` with `{"tags_to_add": [...], "tags_to_remove": [...]}`:
/// 400 for non-lists or non-strings, 404 for an unknown run, 422 when removing a system tag,
/// 409 on a concurrent mutation; 200 `{"tags": [...]}` otherwise.
pub async fn mutate_tags(
    State(st): State<AppState>,
    Path((flow, run)): Path<(String, String)>,
    Body(body): Body,
) -> ApiResult<Response> {
    super::names(&[("flow_id", &flow), ("run_number", &run)])?;
    let obj = validate::object(&body)?;
    let list = |k: &str| match obj.get(k) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => validate::tag_list(k, v),
    };
    let add = list("tags_to_add")?;
    let remove = list("tags_to_remove")?;
    match st.repo.mutate_tags(&flow, &run, &add, &remove).await? {
        TagOutcome::Tags(tags) => Ok(ok(json!({ "tags": tags }))),
        TagOutcome::NoRun => Err(ApiError::NotFound),
    }
}
