//! `GET /ui/api/deployments`: every deployment with what starts it and its recent runs.
//!
//! Answer: `{"deployments": [{deployment, flow, project, branch, owner, namespace, version,
//! created_at, updated_at, parameters, tags, schedule, triggers, runs, recent}], "now"}` where
//! `schedule` is `null` or `{expression, timezone, next: [{utc, local}]}` (the next three fire
//! times, `local` in the schedule's time zone with its offset, from `ferry_spec::aws_cron`, as
//! EventBridge Scheduler fires them), `triggers` the record's event triggers (as stored; `[]`
//! without), `runs` the number of executions and `recent` the newest 20 as
//! `{run_id, status, started_at, stopped_at}`.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use futures::{StreamExt, stream};
use serde_json::{Value, json};

use crate::UiState;
use crate::error::UiResult;
use crate::executions::status_name;
use crate::specs::{Deployment, deployments};

/// Recent runs shown per deployment.
pub const RECENT: usize = 20;

/// How many deployments' executions are read at once.
const FANOUT: usize = 8;

pub(crate) async fn list(State(st): State<UiState>) -> UiResult<Json<Value>> {
    let records = match &st.deployments {
        Some(t) => deployments(t).await?,
        None => Vec::new(),
    };
    let now = Utc::now();
    let rows: Vec<UiResult<Value>> = stream::iter(records.into_iter().map(|d| {
        let st = st.clone();
        async move { row(&st, d, now).await }
    }))
    .buffered(FANOUT)
    .collect()
    .await;
    let rows = rows.into_iter().collect::<UiResult<Vec<Value>>>()?;
    Ok(Json(json!({"deployments": rows, "now": now})))
}

async fn row(st: &UiState, d: Deployment, now: chrono::DateTime<Utc>) -> UiResult<Value> {
    let r = &d.record;
    let executions = st.executions.list(&r.deployment, None).await?;
    let recent: Vec<Value> = executions
        .iter()
        .take(RECENT)
        .map(|e| {
            json!({
                "run_id": format!("sfn-{}", e.name),
                "status": status_name(e.status),
                "started_at": e.start_date,
                "stopped_at": e.stop_date,
            })
        })
        .collect();
    let schedule = r.schedule.as_ref().map(|s| {
        let tz = s.timezone.as_deref();
        let next: Vec<Value> = match (
            ferry_spec::aws_cron::next_fire_times(&s.expression, tz, now, 3),
            ferry_spec::aws_cron::parse_timezone(tz),
        ) {
            (Ok(times), Ok(zone)) => times
                .iter()
                .map(|t| {
                    let local = t.with_timezone(&zone);
                    json!({
                        "utc": t,
                        "local": local.to_rfc3339(),
                        "local_text": local.format("%Y-%m-%d %H:%M %Z").to_string(),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        json!({"expression": s.expression, "timezone": s.timezone, "next": next})
    });
    Ok(json!({
        "deployment": r.deployment,
        "flow": r.flow,
        "project": r.project,
        "branch": r.branch,
        "owner": r.owner,
        "namespace": r.namespace,
        "version": r.version,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "parameters": r.parameters,
        "tags": r.tags,
        "schedule": schedule,
        "triggers": d.triggers(),
        "runs": executions.len(),
        "recent": recent,
    }))
}
