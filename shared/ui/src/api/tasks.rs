//! A step's tasks and one task: `GET /ui/api/runs/{flow}/{run}/steps/{step}/tasks[/{task}[/logs]]`.
//!
//! - `…/tasks?after=|before=|offset=&limit=&state=`: `{tasks: [{task_id, pathspec, state,
//!   attempt, started_ms, finished_ms}], total, offset, limit, prev, next, summary}`, tasks by
//!   id (the order the metadata service created them in), `state` one of `running`,
//!   `succeeded`, `failed`; `summary` the step's counts, `total` the tasks matching. A page
//!   starts after the task id `after` (the `next` of the page before), ends before the task id
//!   `before` (the `prev` of the page after), or skips `offset` tasks (echoed); `prev`/`next`
//!   are `null` at either end. For a settled run without `state` the page is read from the store
//!   alone (`limit + 1` task items, `offset + limit + 1` with an offset) and the counts are
//!   kept ones ([`crate::summaries`]); else every task's brief is read once. Empty for a run
//!   the metadata service does not have yet.
//! - `…/tasks/{task}`: `{pathspec, state, attempts: [{attempt, started_ms, finished_ms, ok}],
//!   metadata: [{field_name, value, type, ts_epoch, tags}], artifacts: [{attempt, name, type,
//!   size, encoding, sha}], logs: {stdout: [attempts], stderr: [attempts]}}`. Artifact types and
//!   sizes come from the attempt's `<attempt>.data.json` in the datastore (Metaflow's
//!   `TaskDataStore` info); nothing is unpickled.
//! - `…/tasks/{task}/logs?stream=stdout|stderr&attempt=N&after=BYTES`: `{pathspec, stream,
//!   attempt, attempts, text, offset, size, truncated, source, state}`: the log through the
//!   `ferry logs` reader, from byte `after` on (the page polls with the last `size` to tail a
//!   running task); at most the last [`LOG_MAX`] bytes.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use chrono::Utc;
use ferry_metadata::model::{Metadata, Run, Task, TaskBrief};
use ferry_store::task_logs::{LogRead, LogSource, StepPath, Stream};
use serde::Deserialize;
use serde_json::{Value, json};

use super::run::{locate, phase, tail};
use super::{ApiQuery, page_size, segment};
use crate::UiState;
use crate::error::{UiError, UiResult};
use crate::status::{RunPhase, StepSummary, TaskState, task_state};
use crate::summaries::settled;

/// Most log bytes one answer carries.
pub const LOG_MAX: usize = 1024 * 1024;

type StepArgs = Path<(String, String, String)>;
type TaskArgs = Path<(String, String, String, String)>;

/// The query of the task list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TasksQuery {
    offset: Option<usize>,
    limit: Option<usize>,
    state: Option<String>,
    after: Option<i64>,
    before: Option<i64>,
}

/// The query of a log.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogQuery {
    stream: Option<String>,
    attempt: Option<u32>,
    after: Option<usize>,
}

/// The run, its phase, and whether its tasks are final ([`crate::summaries::settled`]).
async fn the_run(
    st: &UiState,
    flow: &str,
    run: &str,
    step: &str,
) -> UiResult<(Run, RunPhase, bool)> {
    segment("flow", flow)?;
    segment("run", run)?;
    segment("step", step)?;
    let Some(r) = st.repo.resolve_run(flow, run).await? else {
        return Err(UiError::NotFound(format!(
            "no run {flow}/{run} in the metadata service"
        )));
    };
    let located = locate(st, flow, run).await?;
    let (p, _) = phase(st, located.execution.as_ref(), Some(&r)).await?;
    let stopped = located.execution.as_ref().and_then(|e| e.stop_date);
    Ok((r, p, settled(stopped, Utc::now())))
}

async fn the_task(
    st: &UiState,
    r: &Run,
    flow: &str,
    run: &str,
    step: &str,
    task: &str,
) -> UiResult<Task> {
    segment("task", task)?;
    st.repo
        .resolve_task(r, step, task)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("no task {flow}/{run}/{step}/{task}")))
}

fn task_row(flow: &str, run: &str, t: &TaskBrief, p: RunPhase) -> Value {
    let id = t.exposed_str();
    json!({
        "task_id": id,
        "pathspec": format!("{flow}/{run}/{}/{id}", t.step_name),
        "state": task_state(&t.status, p),
        "attempt": t.status.attempt.unwrap_or(0),
        "started_ms": t.ts_epoch,
        "finished_ms": t.status.outcome().map(|_| t.status.attempt_ok_ts),
    })
}

/// Where a page of tasks starts: after a task id, before one (paging back), or `offset` tasks
/// from the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    After(i64),
    Before(i64),
    Offset(usize),
}

/// One page of tasks (by id) and the cursors around it: `prev` (pass as `before`) when tasks
/// come before its first, `next` (pass as `after`) when tasks follow its last.
struct TaskPage<'a> {
    rows: Vec<&'a TaskBrief>,
    prev: Option<i64>,
    next: Option<i64>,
}

/// The page of `tasks` (sorted by id) that `from` and `limit` choose.
fn page_of<'a>(tasks: &[&'a TaskBrief], from: Start, limit: usize) -> TaskPage<'a> {
    let (start, end) = match from {
        Start::After(id) => {
            let s = tasks.partition_point(|t| t.task_id <= id);
            (s, (s + limit).min(tasks.len()))
        }
        Start::Before(id) => {
            let e = tasks.partition_point(|t| t.task_id < id);
            (e.saturating_sub(limit), e)
        }
        Start::Offset(o) => {
            let s = o.min(tasks.len());
            (s, (s + limit).min(tasks.len()))
        }
    };
    let rows = tasks[start..end].to_vec();
    TaskPage {
        prev: (start > 0)
            .then(|| rows.first().map(|t| t.task_id))
            .flatten(),
        next: (end < tasks.len())
            .then(|| rows.last().map(|t| t.task_id))
            .flatten(),
        rows,
    }
}

pub(crate) async fn list(
    State(st): State<UiState>,
    Path((flow, run, step)): StepArgs,
    ApiQuery(q): ApiQuery<TasksQuery>,
) -> UiResult<Json<Value>> {
    let limit = page_size(q.limit, 100);
    let offset = q.offset.unwrap_or(0);
    let from = match (q.after, q.before) {
        (Some(a), None) => Start::After(a),
        (None, Some(b)) => Start::Before(b),
        (None, None) => Start::Offset(offset),
        (Some(_), Some(_)) => {
            return Err(UiError::BadRequest(
                "after and before together: page forward with after, back with before".into(),
            ));
        }
    };
    let want: Option<TaskState> = match q.state.as_deref().filter(|s| !s.is_empty()) {
        Some("running") => Some(TaskState::Running),
        Some("succeeded") => Some(TaskState::Succeeded),
        Some("failed") => Some(TaskState::Failed),
        Some(other) => {
            return Err(UiError::BadRequest(format!(
                "state={other:?}: one of running, succeeded, failed"
            )));
        }
        None => None,
    };
    // A run the metadata service does not have yet (its execution started, its start step has
    // not registered it) has no task yet: an empty list. A run with no execution either: 404.
    let (r, p, settled) = match the_run(&st, &flow, &run, &step).await {
        Ok(x) => x,
        Err(UiError::NotFound(why)) => {
            if locate(&st, &flow, &run).await?.execution.is_none() {
                return Err(UiError::NotFound(why));
            }
            let summary = StepSummary::default();
            let empty = tasks_json(Vec::new(), (None, None), &summary, 0, (offset, limit));
            return Ok(Json(empty));
        }
        Err(e) => return Err(e),
    };
    let answer = |summary: &StepSummary, total: usize, page: TaskPage<'_>| {
        let rows = page
            .rows
            .iter()
            .map(|t| task_row(&flow, &run, t, p))
            .collect();
        let cursors = (page.prev, page.next);
        Json(tasks_json(rows, cursors, summary, total, (offset, limit)))
    };
    // A settled run's whole step: its kept summary, and only the page read from the store.
    if settled && want.is_none() {
        let summary = st
            .summaries
            .step(&st.repo, &r, &step, p, true)
            .await?
            .summary;
        let page = store_page(&st, &r, &step, from, limit).await?;
        let total = summary.tasks;
        return Ok(answer(&summary, total, page.as_page()));
    }
    // Else every task's brief (one projected read): the live counts, and the state filter.
    let tasks = st.repo.list_task_briefs(&r, &step).await?;
    let summary = StepSummary::of(&tasks, p);
    let matching: Vec<&TaskBrief> = tasks
        .iter()
        .filter(|t| want.is_none_or(|w| task_state(&t.status, p) == w))
        .collect();
    Ok(answer(
        &summary,
        matching.len(),
        page_of(&matching, from, limit),
    ))
}

/// The task list answer: `rows` between the cursors `(prev, next)`, the step's `summary`, the
/// `total` matching and the `(offset, limit)` asked.
fn tasks_json(
    rows: Vec<Value>,
    (prev, next): (Option<i64>, Option<i64>),
    summary: &StepSummary,
    total: usize,
    (offset, limit): (usize, usize),
) -> Value {
    json!({
        "tasks": rows,
        "total": total,
        "offset": offset,
        "limit": limit,
        "prev": prev,
        "next": next,
        "summary": summary,
    })
}

/// A page read from the store alone, with its cursors.
struct StorePage {
    rows: Vec<TaskBrief>,
    prev: Option<i64>,
    next: Option<i64>,
}

impl StorePage {
    fn as_page(&self) -> TaskPage<'_> {
        TaskPage {
            rows: self.rows.iter().collect(),
            prev: self.prev,
            next: self.next,
        }
    }
}

/// The page `from` and `limit` choose, bounded in the store: `limit` tasks after or before a
/// cursor (one query of `limit + 1` items), or the first `offset + limit` for an offset.
async fn store_page(
    st: &UiState,
    r: &Run,
    step: &str,
    from: Start,
    limit: usize,
) -> UiResult<StorePage> {
    Ok(match from {
        Start::After(id) => {
            let (rows, more) = st
                .repo
                .task_briefs_page(r, step, Some(id), false, limit)
                .await?;
            StorePage {
                prev: rows.first().map(|t| t.task_id),
                next: more.then(|| rows.last().map(|t| t.task_id)).flatten(),
                rows,
            }
        }
        Start::Before(id) => {
            let (mut rows, more) = st
                .repo
                .task_briefs_page(r, step, Some(id), true, limit)
                .await?;
            rows.reverse();
            StorePage {
                prev: more.then(|| rows.first().map(|t| t.task_id)).flatten(),
                next: rows.last().map(|t| t.task_id),
                rows,
            }
        }
        Start::Offset(o) => {
            let want = o.saturating_add(limit);
            let (rows, more) = st.repo.task_briefs_page(r, step, None, false, want).await?;
            let rows: Vec<TaskBrief> = rows.into_iter().skip(o).collect();
            StorePage {
                prev: (o > 0).then(|| rows.first().map(|t| t.task_id)).flatten(),
                next: more.then(|| rows.last().map(|t| t.task_id)).flatten(),
                rows,
            }
        }
    })
}

/// One attempt as its metadata rows tell it: (started ms, finished ms, `attempt_ok`).
type AttemptRows = (Option<i64>, Option<i64>, Option<bool>);

/// A task's attempts from its metadata rows (`attempt` when one starts, `attempt_ok` when it
/// ends, each tagged `attempt_id:N`).
fn attempts(rows: &[Metadata]) -> Vec<Value> {
    let mut by: BTreeMap<i64, AttemptRows> = BTreeMap::new();
    let attempt_of = |m: &Metadata| -> Option<i64> {
        m.tags
            .iter()
            .flatten()
            .find_map(|t| t.strip_prefix("attempt_id:"))
            .and_then(|n| n.parse().ok())
    };
    for m in rows {
        match m.field_name.as_str() {
            "attempt" => {
                let n = m
                    .value
                    .trim()
                    .parse()
                    .ok()
                    .or_else(|| attempt_of(m))
                    .unwrap_or(0);
                let e = by.entry(n).or_default();
                e.0 = Some(e.0.map_or(m.ts_epoch, |t| t.min(m.ts_epoch)));
            }
            "attempt_ok" => {
                let n = attempt_of(m).unwrap_or(0);
                let e = by.entry(n).or_default();
                e.1 = Some(m.ts_epoch);
                e.2 = Some(m.value == "True");
            }
            _ => {}
        }
    }
    by.into_iter()
        .map(|(n, (start, end, ok))| {
            json!({"attempt": n, "started_ms": start, "finished_ms": end, "ok": ok})
        })
        .collect()
}

/// Artifact names, types and sizes of every attempt: the metadata service's pointers, with the
/// type and size Metaflow recorded in the attempt's `data.json` in the datastore.
async fn artifacts(st: &UiState, r: &Run, t: &Task, prefix: &str) -> UiResult<Vec<Value>> {
    let arts = st.repo.list_artifacts(r, t).await?;
    let mut info: BTreeMap<u32, Value> = BTreeMap::new();
    if let Some(blobs) = st.logs.blobs() {
        let mut attempts: Vec<u32> = arts.iter().map(|a| a.attempt_id).collect();
        attempts.dedup();
        for a in attempts {
            let key = format!("{prefix}/{a}.data.json");
            if let Some(bytes) = blobs.get(&key).await?
                && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            {
                info.insert(a, v.get("info").cloned().unwrap_or(Value::Null));
            }
        }
    }
    Ok(arts
        .iter()
        .map(|a| {
            let i = info.get(&a.attempt_id).and_then(|v| v.get(&a.name));
            json!({
                "attempt": a.attempt_id,
                "name": a.name,
                "type": i.and_then(|i| i.get("type")).cloned().unwrap_or(Value::Null),
                "size": i.and_then(|i| i.get("size")).cloned().unwrap_or(Value::Null),
                "encoding": i.and_then(|i| i.get("encoding")).cloned().unwrap_or_else(|| json!(a.content_type)),
                "sha": a.sha,
            })
        })
        .collect())
}

pub(crate) async fn detail(
    State(st): State<UiState>,
    Path((flow, run, step, task)): TaskArgs,
) -> UiResult<Json<Value>> {
    let (r, p, _) = the_run(&st, &flow, &run, &step).await?;
    let t = the_task(&st, &r, &flow, &run, &step, &task).await?;
    let id = t.exposed_str();
    let rows = st.repo.list_metadata(&r, t.task_id).await?;
    let prefix = format!("{flow}/{run}/{step}/{id}");
    let path = StepPath {
        flow: &flow,
        run: &run,
        step: &step,
    };
    let mut logs = serde_json::Map::new();
    for stream in [Stream::Stdout, Stream::Stderr] {
        let a = st.logs.attempts(path, Some(&id), stream).await?;
        logs.insert(
            stream.name().into(),
            json!(a.get(&id).cloned().unwrap_or_default()),
        );
    }
    let metadata: Vec<Value> = rows
        .iter()
        .map(|m| {
            json!({
                "field_name": m.field_name,
                "value": m.value,
                "type": m.type_,
                "ts_epoch": m.ts_epoch,
                "tags": m.tags,
            })
        })
        .collect();
    let mut row = task_row(&flow, &run, &t.brief(), p);
    row["attempts"] = json!(attempts(&rows));
    row["metadata"] = json!(metadata);
    row["artifacts"] = json!(artifacts(&st, &r, &t, &prefix).await?);
    row["logs"] = Value::Object(logs);
    row["raw_logs"] = json!(st.logs.has_raw_logs());
    Ok(Json(row))
}

/// `text` from byte `after` on (the whole text when `after` is past its end: it was replaced),
/// at most the last [`LOG_MAX`] bytes: `(text, offset where it starts, truncated)`.
fn from_offset(text: &str, after: usize) -> (String, usize, bool) {
    let mut start = if after <= text.len() { after } else { 0 };
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let rest = &text[start..];
    if rest.len() > LOG_MAX {
        let (t, _) = tail(rest, LOG_MAX);
        let offset = text.len() - t.len();
        return (t, offset, true);
    }
    (rest.to_string(), start, false)
}

pub(crate) async fn logs(
    State(st): State<UiState>,
    Path((flow, run, step, task)): TaskArgs,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> UiResult<Json<Value>> {
    let stream: Stream = q
        .stream
        .as_deref()
        .unwrap_or("stdout")
        .parse()
        .map_err(UiError::BadRequest)?;
    let (r, p, _) = the_run(&st, &flow, &run, &step).await?;
    let t = the_task(&st, &r, &flow, &run, &step, &task).await?;
    let id = t.exposed_str();
    // An attempt the task has not made (a running task's current attempt may have no log yet).
    let latest = t.status.attempt.unwrap_or(0);
    if let Some(a) = q.attempt
        && i64::from(a) > latest
    {
        return Err(UiError::NotFound(format!(
            "no attempt {a} of {flow}/{run}/{step}/{id}: its attempts are 0 to {latest}"
        )));
    }
    let path = StepPath {
        flow: &flow,
        run: &run,
        step: &step,
    };
    let by_task = st.logs.attempts(path, Some(&id), stream).await?;
    let available = by_task.get(&id).cloned().unwrap_or_default();
    let read = st
        .logs
        .read(path, &id, &available, q.attempt, stream)
        .await
        .map_err(|e| UiError::Store(e.to_string()))?;
    let state = task_state(&t.status, p);
    let pathspec = format!("{flow}/{run}/{step}/{id}");
    Ok(Json(match read {
        LogRead::Found(l) => {
            let (text, offset, truncated) = from_offset(&l.text, q.after.unwrap_or(0));
            json!({
                "pathspec": pathspec,
                "stream": stream.name(),
                "attempt": l.attempt,
                "attempts": available,
                "text": text,
                "offset": offset,
                "size": l.text.len(),
                "truncated": truncated,
                "source": match l.source { LogSource::Datastore => "datastore", LogSource::Raw => "raw" },
                "state": state,
            })
        }
        LogRead::Missing { known } => json!({
            "pathspec": pathspec,
            "stream": stream.name(),
            "attempt": q.attempt,
            "attempts": known,
            "text": "",
            "offset": 0,
            "size": 0,
            "truncated": false,
            "source": null,
            "state": state,
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_cursors_both_ways() {
        let tasks: Vec<TaskBrief> = (1..=7)
            .map(|i| TaskBrief {
                step_name: "s".into(),
                task_id: i * 10,
                task_name: None,
                ts_epoch: i,
                status: Default::default(),
            })
            .collect();
        let all: Vec<&TaskBrief> = tasks.iter().collect();
        let ids = |p: &TaskPage| p.rows.iter().map(|t| t.task_id).collect::<Vec<_>>();
        let first = page_of(&all, Start::Offset(0), 3);
        assert_eq!(
            (ids(&first), first.prev, first.next),
            (vec![10, 20, 30], None, Some(30))
        );
        let second = page_of(&all, Start::After(30), 3);
        assert_eq!(
            (ids(&second), second.prev, second.next),
            (vec![40, 50, 60], Some(40), Some(60))
        );
        let last = page_of(&all, Start::After(60), 3);
        assert_eq!(
            (ids(&last), last.prev, last.next),
            (vec![70], Some(70), None)
        );
        let back = page_of(&all, Start::Before(40), 3);
        assert_eq!(
            (ids(&back), back.prev, back.next),
            (vec![10, 20, 30], None, Some(30))
        );
        let back = page_of(&all, Start::Before(70), 3);
        assert_eq!(
            (ids(&back), back.prev, back.next),
            (vec![40, 50, 60], Some(40), Some(60))
        );
        let skipped = page_of(&all, Start::Offset(5), 3);
        assert_eq!(
            (ids(&skipped), skipped.prev, skipped.next),
            (vec![60, 70], Some(60), None)
        );
        assert!(page_of(&all, Start::Offset(9), 3).rows.is_empty());
    }

    #[test]
    fn logs_continue_from_an_offset() {
        assert_eq!(from_offset("abcdef", 2), ("cdef".into(), 2, false));
        assert_eq!(
            from_offset("abc", 10),
            ("abc".into(), 0, false),
            "replaced: all of it"
        );
        assert_eq!(
            from_offset("aé", 2),
            ("é".into(), 1, false),
            "never inside a character"
        );
    }
}
