//! `GET /ui/api/runs/{flow}/{run}`: one run, as the run page shows it.
//!
//! Answer:
//! `{flow, run_id, status, deployment, execution, failure, parameters, tags, system_tags, user,
//! trigger, dag: {nodes, edges}, steps: {<name>: {status, tasks, running, succeeded, failed,
//! retried, started_ms, finished_ms}}, started_ms, finished_ms, now_ms}`.
//!
//! - `status`: the execution's (`running`, `succeeded`, `failed`, `timed_out`, `aborted`); for a
//!   run without an execution (not started by Ferry), the metadata service's derived status.
//! - `failure` (a run that did not succeed): `{step, task, error, cause, reason, exit_code,
//!   log}` where `log` is `{pathspec, stream, attempt, text}`, the end of the failed task's
//!   stderr (else stdout) through the `ferry logs` reader.
//! - `parameters`: `[{name, value, source}]`, `source` `given` (the execution input) or
//!   `default` (the deploy-time default the tasks used).
//! - `trigger`: `{kind, text, details}`: `event` (the execution input or Metaflow's
//!   `execution-triggers` metadata names it), `schedule` (the deployment's schedule fired at the
//!   start time), `manual`; `null` without an execution.
//! - `dag`: [`crate::dag::Dag`] of the deployed spec (or the run's steps, without a spec).
//! - `steps`: per-step [`crate::status::StepSummary`] and [`crate::status::StepStatus`],
//!   computed from the task items ([`crate::summaries`]: one projected partition read per
//!   step, none for a run whose execution ended a minute ago).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use ferry_control::cause::{TaskFailure, names_array_job};
use ferry_control::{Execution, ExecutionStatus};
use ferry_metadata::model::Run;
use ferry_store::task_logs::{LogRead, StepPath, Stream};
use serde_json::{Map, Value, json};

use super::segment;
use crate::UiState;
use crate::dag::Dag;
use crate::error::{UiError, UiResult};
use crate::executions::{execution_name, status_name};
use crate::specs::{Deployment, deployments};
use crate::status::{RunPhase, StepStatus, StepSummary};
use crate::summaries::{RunSteps, settled};

/// Bytes of the failed task's log shown with the failure.
pub const FAILURE_LOG_TAIL: usize = 8 * 1024;

/// How long after a schedule's fire time an execution start counts as that firing (seconds).
const SCHEDULE_SLACK_S: i64 = 90;

/// The run's deployment and execution, if Ferry started it.
pub(crate) struct Located {
    pub deployment: Option<Deployment>,
    pub execution: Option<Execution>,
}

/// Find the execution of a run id among the flow's deployments.
pub(crate) async fn locate(st: &UiState, flow: &str, run: &str) -> UiResult<Located> {
    let records = match &st.deployments {
        Some(t) => deployments(t).await?,
        None => Vec::new(),
    };
    let mine: Vec<Deployment> = records
        .into_iter()
        .filter(|d| d.record.flow == flow)
        .collect();
    let execution = match execution_name(run) {
        Some(name) => {
            let sms: Vec<&str> = mine.iter().map(|d| d.record.deployment.as_str()).collect();
            st.executions.find(&sms, name).await?
        }
        None => None,
    };
    let deployment = execution.as_ref().and_then(|e| {
        mine.into_iter()
            .find(|d| e.state_machine == d.record.deployment)
    });
    Ok(Located {
        deployment,
        execution,
    })
}

/// The phase of a run, from its execution, else from the metadata's derived status.
pub(crate) async fn phase(
    st: &UiState,
    e: Option<&Execution>,
    run: Option<&Run>,
) -> UiResult<(RunPhase, String)> {
    if let Some(e) = e {
        let p = match e.status {
            ExecutionStatus::Running => RunPhase::Running,
            ExecutionStatus::Succeeded => RunPhase::Succeeded,
            _ => RunPhase::Stopped,
        };
        return Ok((p, status_name(e.status).to_string()));
    }
    let Some(r) = run else {
        return Ok((RunPhase::Running, "running".into()));
    };
    let (_, status) = st.repo.run_status_of(r).await?;
    Ok(match status {
        "completed" => (RunPhase::Succeeded, "succeeded".into()),
        "failed" => (RunPhase::Stopped, "failed".into()),
        _ => (RunPhase::Running, "running".into()),
    })
}

pub(crate) async fn detail(
    State(st): State<UiState>,
    Path((flow, run)): Path<(String, String)>,
) -> UiResult<Json<Value>> {
    segment("flow", &flow)?;
    segment("run", &run)?;
    let md = st.repo.resolve_run(&flow, &run).await?;
    let Located {
        deployment,
        execution,
    } = locate(&st, &flow, &run).await?;
    if md.is_none() && execution.is_none() {
        return Err(UiError::NotFound(format!(
            "no run {flow}/{run}: neither the metadata service nor any deployment of {flow} has it"
        )));
    }
    let (phase, status) = phase(&st, execution.as_ref(), md.as_ref()).await?;
    let spec = match &deployment {
        Some(d) => st.specs.of(&d.record).await?,
        None => None,
    };
    // Every step's counts: one projected partition read per step, or none for a settled run.
    let steps: Arc<RunSteps> = match &md {
        Some(r) => {
            let settled = settled(execution.as_ref().and_then(|e| e.stop_date), Utc::now());
            st.summaries.run(&st.repo, r, phase, settled).await?
        }
        None => Arc::default(),
    };
    // Metaflow's own pseudo-steps (`_parameters`) are not part of the flow's graph.
    let mut names: Vec<String> = steps
        .keys()
        .filter(|n| !n.starts_with('_'))
        .cloned()
        .collect();
    names.sort_by_key(|n| steps[n].summary.started_ms.unwrap_or(i64::MAX));
    let dag = match &spec {
        Some(s) => Dag::of_spec(s, &names),
        None => Dag::of_steps(&names),
    };
    let cause = execution.as_ref().and_then(|e| e.cause.as_deref());
    let task_failure = cause.and_then(TaskFailure::from_cause);
    let failing_step = execution
        .as_ref()
        .and_then(|e| e.failing_state.clone())
        .or_else(|| task_failure.as_ref().and_then(|f| f.step.clone()));
    let none = StepSummary::default();
    let summaries: HashMap<&str, &StepSummary> = dag
        .nodes
        .iter()
        .map(|n| {
            let s = steps.get(&n.name).map_or(&none, |t| &t.summary);
            (n.name.as_str(), s)
        })
        .collect();
    let mut steps_json = Map::new();
    for n in &dag.nodes {
        let s = summaries[n.name.as_str()];
        let successor_started = dag
            .successors(&n.name)
            .any(|t| summaries.get(t).is_some_and(|x| x.tasks > 0));
        let failed_here = phase == RunPhase::Stopped && failing_step.as_deref() == Some(&n.name);
        let status = s.status(phase, successor_started, failed_here);
        let mut v = serde_json::to_value(s).unwrap_or_default();
        v["status"] = json!(status);
        steps_json.insert(n.name.clone(), v);
    }
    let failure = match (&execution, phase) {
        (Some(e), RunPhase::Stopped) => Some(
            failure(
                &st,
                &flow,
                &run,
                e,
                failing_step.as_deref(),
                task_failure.as_ref(),
                &steps,
                &steps_json,
            )
            .await?,
        ),
        (None, RunPhase::Stopped) => {
            let step = steps_json
                .iter()
                .find(|(_, v)| v["status"] == json!(StepStatus::Failed))
                .map(|(k, _)| k.clone());
            Some(json!({"step": step, "task": null, "error": null, "cause": null, "log": null}))
        }
        _ => None,
    };
    let parameters = parameters(&st, execution.as_ref(), deployment.as_ref()).await;
    let trigger = match &execution {
        Some(e) => Some(trigger(&st, e, deployment.as_ref(), md.as_ref(), &steps).await?),
        None => None,
    };
    let started_ms = execution
        .as_ref()
        .map(|e| e.start_date.timestamp_millis())
        .or(md.as_ref().map(|r| r.ts_epoch));
    let finished_ms = execution
        .as_ref()
        .and_then(|e| e.stop_date)
        .map(|t| t.timestamp_millis());
    Ok(Json(json!({
        "flow": flow,
        "run_id": run,
        "status": status,
        "deployment": deployment.as_ref().map(|d| json!({
            "name": d.record.deployment,
            "namespace": d.record.namespace,
            "project": d.record.project,
            "branch": d.record.branch,
            "version": d.record.version,
        })),
        "execution": execution.as_ref().map(|e| json!({
            "name": e.name,
            "status": status_name(e.status),
            "started_at": e.start_date,
            "stopped_at": e.stop_date,
            "error": e.error,
            "cause": e.cause,
        })),
        "failure": failure,
        "parameters": parameters,
        "tags": md.as_ref().and_then(|r| r.tags.clone()).unwrap_or_default(),
        "system_tags": md.as_ref().and_then(|r| r.system_tags.clone()).unwrap_or_default(),
        "user": md.as_ref().and_then(|r| r.user_name.clone()),
        "trigger": trigger,
        "dag": dag,
        "steps": steps_json,
        "started_ms": started_ms,
        "finished_ms": finished_ms,
        "now_ms": Utc::now().timestamp_millis(),
    })))
}

/// The end of `text`, at most `max` bytes, cut at a line start when possible.
pub(crate) fn tail(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_string(), false);
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    let rest = &text[cut..];
    let rest = match rest.find('\n') {
        Some(i) if i + 1 < rest.len() => &rest[i + 1..],
        _ => rest,
    };
    (rest.to_string(), true)
}

#[allow(clippy::too_many_arguments)]
async fn failure(
    st: &UiState,
    flow: &str,
    run: &str,
    e: &Execution,
    failing_step: Option<&str>,
    task_failure: Option<&TaskFailure>,
    tasks: &RunSteps,
    steps: &Map<String, Value>,
) -> UiResult<Value> {
    let step = failing_step.map(str::to_string).or_else(|| {
        steps
            .iter()
            .find(|(_, v)| v["status"] == json!(StepStatus::Failed))
            .map(|(k, _)| k.clone())
    });
    // The task: the one the cause names, else (no task named, or an array job named instead of
    // its failed child) the step's first task whose attempt failed.
    let named = task_failure
        .filter(|_| !e.cause.as_deref().is_some_and(names_array_job))
        .and_then(|f| f.task_id.clone());
    let task = named.or_else(|| {
        let s = step.as_deref()?;
        tasks.get(s)?.first_failed.clone()
    });
    let mut log = Value::Null;
    if let (Some(s), Some(t)) = (&step, &task) {
        let path = StepPath { flow, run, step: s };
        for stream in [Stream::Stderr, Stream::Stdout] {
            let attempts = st.logs.attempts(path, Some(t), stream).await?;
            let available = attempts.get(t.as_str()).cloned().unwrap_or_default();
            let read = st
                .logs
                .read(path, t, &available, None, stream)
                .await
                .map_err(|e| UiError::Store(e.to_string()))?;
            if let LogRead::Found(l) = read
                && !l.text.trim().is_empty()
            {
                let (text, truncated) = tail(&l.text, FAILURE_LOG_TAIL);
                log = json!({
                    "pathspec": format!("{flow}/{run}/{s}/{t}"),
                    "stream": stream.name(),
                    "attempt": l.attempt,
                    "text": text,
                    "truncated": truncated,
                });
                break;
            }
        }
    }
    Ok(json!({
        "step": step,
        "task": task,
        "error": e.error,
        "cause": e.cause,
        "reason": task_failure.and_then(|f| f.reason.clone()),
        "exit_code": task_failure.and_then(|f| f.exit_code),
        "log": log,
    }))
}

/// The execution input's parameters (`{"Parameters": "<JSON text>"}`; a long one stored as a
/// blob the input points to), with the deploy-time defaults for the others.
async fn parameters(st: &UiState, e: Option<&Execution>, d: Option<&Deployment>) -> Value {
    let mut given: Map<String, Value> = Map::new();
    if let Some(inner) = e
        .and_then(|e| e.input.as_deref())
        .and_then(|i| serde_json::from_str::<Value>(i).ok())
        .and_then(|v| {
            v.get("Parameters")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok())
    {
        given = inner;
    }
    if let Some(key) = given
        .get(ferry_spec::task::PARAMETERS_BLOB)
        .and_then(|p| p.get("key"))
        .and_then(Value::as_str)
        .map(str::to_string)
        && let Some(blobs) = &st.blobs
        && let Ok(Some(bytes)) = blobs.get(&key).await
        && let Ok(m) = serde_json::from_slice::<Map<String, Value>>(&bytes)
    {
        given = m;
    }
    // Ferry's own keys (`ferry.tags`, …) are not parameters.
    given.retain(|k, _| !k.starts_with("ferry."));
    let mut out = Vec::new();
    if let Some(d) = d {
        for p in &d.record.parameters {
            match given.remove(&p.name) {
                Some(v) => out.push(json!({"name": p.name, "value": v, "source": "given"})),
                None => out.push(json!({"name": p.name, "value": p.default, "source": "default"})),
            }
        }
    }
    for (k, v) in given {
        out.push(json!({"name": k, "value": v, "source": "given"}));
    }
    Value::Array(out)
}

/// What started the execution.
async fn trigger(
    st: &UiState,
    e: &Execution,
    d: Option<&Deployment>,
    md: Option<&Run>,
    steps: &RunSteps,
) -> UiResult<Value> {
    // The execution input beyond the parameters (an event trigger's record).
    if let Some(Value::Object(input)) = e
        .input
        .as_deref()
        .and_then(|i| serde_json::from_str::<Value>(i).ok())
    {
        let extra: Map<String, Value> = input
            .into_iter()
            .filter(|(k, _)| k != "Parameters")
            .collect();
        if !extra.is_empty() {
            return Ok(
                json!({"kind": "event", "text": "started by an event (execution input)", "details": extra}),
            );
        }
    }
    // Metaflow's `execution-triggers` metadata of the start task.
    if let (Some(r), Some(start)) = (md, steps.get("start").and_then(|t| t.first)) {
        let rows = st.repo.list_metadata(r, start).await?;
        if let Some(m) = rows.iter().find(|m| m.field_name == "execution-triggers") {
            let details = serde_json::from_str::<Value>(&m.value)
                .unwrap_or_else(|_| Value::String(m.value.clone()));
            return Ok(json!({"kind": "event", "text": "started by an event", "details": details}));
        }
    }
    if let Some(s) = d.and_then(|d| d.record.schedule.as_ref())
        && let Some(fired) = schedule_fire(&s.expression, s.timezone.as_deref(), e.start_date)
    {
        return Ok(json!({
            "kind": "schedule",
            "text": format!("started by its schedule cron({}){}", s.expression,
                s.timezone.as_deref().map(|z| format!(" in {z}")).unwrap_or_default()),
            "details": {"fire_time": fired, "expression": s.expression, "timezone": s.timezone},
        }));
    }
    Ok(
        json!({"kind": "manual", "text": "started by hand (ferry trigger, or StartExecution)", "details": null}),
    )
}

/// The fire time of the schedule that an execution started at `start` answers, if any (within
/// [`SCHEDULE_SLACK_S`] before it).
fn schedule_fire(expr: &str, tz: Option<&str>, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let from = start - chrono::Duration::seconds(SCHEDULE_SLACK_S);
    let next = ferry_spec::aws_cron::next_fire_times(expr, tz, from, 1).ok()?;
    next.into_iter().find(|t| *t <= start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_cut_at_a_line() {
        assert_eq!(tail("abc\n", 10), ("abc\n".into(), false));
        let (t, cut) = tail("line one\nline two\nline three\n", 15);
        assert!(cut);
        assert_eq!(t, "line three\n");
        let (t, _) = tail("ééééé", 3);
        assert!(t.chars().all(|c| c == 'é'));
    }

    #[test]
    fn schedule_firings_are_recognised() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            schedule_fire("0 10 * * ? *", None, t("2026-11-30T10:00:03Z")),
            Some(t("2026-11-30T10:00:00Z"))
        );
        assert_eq!(
            schedule_fire(
                "0 10 * * ? *",
                Some("Europe/Paris"),
                t("2026-11-30T09:00:30Z")
            ),
            Some(t("2026-11-30T09:00:00Z"))
        );
        assert_eq!(
            schedule_fire("0 10 * * ? *", None, t("2026-11-30T10:05:00Z")),
            None
        );
    }
}
