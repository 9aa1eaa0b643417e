//! `GET /ui/api/runs`: the runs of deployments, newest first, filtered and paged.
//!
//! Query: `deployment` (a deployment name), `flow` (a flow name), `status` (`running`,
//! `succeeded`, `failed`, `timed_out`, `aborted`), `tag` (a run tag, user or system, e.g.
//! `user:alice`), `since` / `until` (start time bounds: `YYYY-MM-DD` in UTC or RFC 3339), `q`
//! (part of a run id; a pathspec `Flow/run[/step[/task]]` answers `{"redirect": "runs/…"}`, the
//! page's deep link), `offset` (default 0), `limit` (default 50, at most 500).
//!
//! Answer: `{"runs": [{flow, deployment, run_id, status, started_at, stopped_at, tags,
//! system_tags, user, failing_step, error}], "total", "offset", "limit"}`; `total` counts every
//! run that matches. Statuses are the executions' (Step Functions' or the embedded executor's),
//! not derived from heartbeats.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use ferry_control::{Execution, ExecutionStatus};
use futures::{StreamExt, stream};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiQuery, page_size, segment};
use crate::UiState;
use crate::error::{UiError, UiResult};
use crate::executions::status_name;
use crate::specs::deployments;

/// The query of `GET /ui/api/runs`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RunsQuery {
    deployment: Option<String>,
    flow: Option<String>,
    status: Option<String>,
    tag: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// A time bound: a date (its start, or with `end` its end, in UTC) or an RFC 3339 time.
fn bound(name: &str, v: &str, end: bool) -> UiResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let t = if end {
            d.and_hms_milli_opt(23, 59, 59, 999)
        } else {
            d.and_hms_opt(0, 0, 0)
        };
        if let Some(t) = t {
            return Ok(t.and_utc());
        }
    }
    Err(UiError::BadRequest(format!(
        "{name}={v:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"
    )))
}

/// The deep link a pathspec names: `runs/Flow/run`, `runs/Flow/run/step`, `runs/Flow/run/step/task`.
fn pathspec_link(q: &str) -> UiResult<String> {
    let parts: Vec<&str> = q.trim().trim_matches('/').split('/').collect();
    if !(2..=4).contains(&parts.len()) {
        return Err(UiError::BadRequest(format!(
            "{q:?} is not a pathspec: Flow/run, Flow/run/step or Flow/run/step/task"
        )));
    }
    for (kind, p) in ["flow", "run", "step", "task"].iter().zip(&parts) {
        segment(kind, p)?;
    }
    Ok(format!("runs/{}", parts.join("/")))
}

/// One run of a deployment, before paging.
struct Row<'a> {
    flow: &'a str,
    deployment: &'a str,
    execution: Execution,
}

pub(crate) async fn list(
    State(st): State<UiState>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> UiResult<Json<Value>> {
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(s) = search
        && s.contains('/')
    {
        return Ok(Json(json!({"redirect": pathspec_link(s)?})));
    }
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<ExecutionStatus>().map_err(|_| {
            UiError::BadRequest(format!(
                "status={s:?}: one of running, succeeded, failed, timed_out, aborted"
            ))
        })?),
        None => None,
    };
    let since = q
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|v| bound("since", v, false))
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|v| bound("until", v, true))
        .transpose()?;
    let limit = page_size(q.limit, 50);
    let offset = q.offset.unwrap_or(0);
    let records = match &st.deployments {
        Some(t) => deployments(t).await?,
        None => Vec::new(),
    };
    let chosen: Vec<_> = records
        .iter()
        .filter(|d| {
            q.deployment
                .as_deref()
                .is_none_or(|x| x.is_empty() || x == d.record.deployment)
        })
        .filter(|d| {
            q.flow
                .as_deref()
                .is_none_or(|x| x.is_empty() || x == d.record.flow)
        })
        .collect();
    let reads: Vec<_> = chosen
        .iter()
        .map(|d| {
            let st = st.clone();
            let name = d.record.deployment.clone();
            async move { st.executions.list(&name, status).await }
        })
        .collect();
    let lists: Vec<UiResult<Vec<Execution>>> = stream::iter(reads).buffered(8).collect().await;
    let needle = search.map(|s| s.to_ascii_lowercase());
    let mut rows: Vec<Row> = Vec::new();
    for (d, list) in chosen.iter().zip(lists) {
        for e in list? {
            if since.is_some_and(|t| e.start_date < t) || until.is_some_and(|t| e.start_date > t) {
                continue;
            }
            if let Some(n) = &needle
                && !format!("sfn-{}", e.name)
                    .to_ascii_lowercase()
                    .contains(n.as_str())
            {
                continue;
            }
            rows.push(Row {
                flow: &d.record.flow,
                deployment: &d.record.deployment,
                execution: e,
            });
        }
    }
    // Tags live on the metadata runs: with a tag filter, read every run of the flows involved
    // (one partition query per flow); otherwise only the page's.
    let tag = q.tag.as_deref().filter(|t| !t.is_empty());
    let mut runs_by_id: HashMap<(String, String), ferry_metadata::model::Run> = HashMap::new();
    if let Some(tag) = tag {
        let mut flows: Vec<&str> = rows.iter().map(|r| r.flow).collect();
        flows.sort_unstable();
        flows.dedup();
        for f in flows {
            for r in st.repo.list_runs(f).await? {
                if let Some(id) = r.run_id.clone() {
                    runs_by_id.insert((f.to_string(), id), r);
                }
            }
        }
        rows.retain(|row| {
            runs_by_id
                .get(&(row.flow.to_string(), format!("sfn-{}", row.execution.name)))
                .is_some_and(|r| {
                    r.tags.iter().flatten().any(|t| t == tag)
                        || r.system_tags.iter().flatten().any(|t| t == tag)
                })
        });
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.execution.start_date));
    let total = rows.len();
    let page: Vec<&Row> = rows.iter().skip(offset).take(limit).collect();
    let reads: Vec<_> = page
        .iter()
        .map(|row| {
            let key = (row.flow.to_string(), format!("sfn-{}", row.execution.name));
            let known = runs_by_id.get(&key).cloned();
            let repo = st.repo.clone();
            async move {
                match known {
                    Some(r) => Ok(Some(r)),
                    None => Ok(repo.resolve_run(&key.0, &key.1).await?),
                }
            }
        })
        .collect();
    let metadata: Vec<UiResult<Option<ferry_metadata::model::Run>>> =
        stream::iter(reads).buffered(16).collect().await;
    let mut out = Vec::with_capacity(page.len());
    for (row, md) in page.iter().zip(metadata) {
        let md = md?;
        let e = &row.execution;
        out.push(json!({
            "flow": row.flow,
            "deployment": row.deployment,
            "run_id": format!("sfn-{}", e.name),
            "status": status_name(e.status),
            "started_at": e.start_date,
            "stopped_at": e.stop_date,
            "tags": md.as_ref().and_then(|r| r.tags.clone()).unwrap_or_default(),
            "system_tags": md.as_ref().and_then(|r| r.system_tags.clone()).unwrap_or_default(),
            "user": md.as_ref().and_then(|r| r.user_name.clone()),
            "failing_step": e.failing_state,
            "error": e.error,
        }));
    }
    Ok(Json(
        json!({"runs": out, "total": total, "offset": offset, "limit": limit}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathspecs_become_deep_links() {
        assert_eq!(pathspec_link("F/sfn-1").unwrap(), "runs/F/sfn-1");
        assert_eq!(
            pathspec_link(" /F/sfn-1/start/t1/ ").unwrap(),
            "runs/F/sfn-1/start/t1"
        );
        assert!(pathspec_link("F").is_err());
        assert!(pathspec_link("F//x").is_err());
        assert!(pathspec_link("a/b/c/d/e").is_err());
    }

    #[test]
    fn bounds_take_dates_and_times() {
        assert_eq!(
            bound("since", "2026-11-30", false).unwrap().to_rfc3339(),
            "2026-11-30T00:00:00+00:00"
        );
        assert_eq!(
            bound("until", "2026-11-30", true)
                .unwrap()
                .timestamp_millis()
                % 1000,
            999
        );
        assert!(bound("since", "2026-11-30T10:00:00+01:00", false).is_ok());
        assert!(bound("since", "yesterday", false).is_err());
    }
}
