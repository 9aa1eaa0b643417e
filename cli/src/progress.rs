//! How far a run is, step by step, for `ferry status` and `ferry trigger --wait`: done/total
//! per step, with the tasks running and those waiting for a worker.
//!
//! Sources, each read once per look:
//! - the metadata store, through the web UI's read API on the same service (`GET
//!   /ui/api/runs/{flow}/{run}`, `docs/ui.md`): the deployed graph in order, and per step the
//!   tasks created and how many succeeded, failed or run (one partition read per step);
//! - the executor ([`ferry_control::Executions::running_jobs`], the embedded stack): the jobs
//!   running now and those waiting for a worker slot, which have no task in the metadata yet;
//! - the datastore: a foreach's width, `_foreach_num_splits` of the foreach step's task
//!   ([`ferry_task::splits::read_num_splits`], the reader the task wrapper uses), so the steps
//!   of its body count against every item, not only the tasks started so far.
//!
//! A step outside any foreach has one task; a step inside a foreach nested in another has no
//! known total (its count is shown without one).

use std::collections::HashMap;

use ferry_control::RunningJob;
use serde::Serialize;
use serde_json::Value;

use crate::metadata::MetadataClient;
use crate::task_logs::LogStore;

/// One step's progress.
///
/// JSON: `{"step", "status", "done", "failed", "running", "waiting", "total"}`; `total` is
/// `null` when unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepProgress {
    /// The step.
    pub step: String,
    /// `pending`, `running`, `succeeded`, `failed` or `retried` (the web UI's step states).
    pub status: String,
    /// Tasks that succeeded.
    pub done: u64,
    /// Tasks that failed.
    pub failed: u64,
    /// Tasks running now.
    pub running: u64,
    /// Jobs submitted and waiting for a worker (no task yet).
    pub waiting: u64,
    /// Tasks the step will have: 1 outside a foreach, the foreach's width inside one.
    pub total: Option<u64>,
}

impl StepProgress {
    /// `body: 37/1000 done, 4 running, 96 waiting for a worker`.
    pub fn line(&self) -> String {
        let mut s = match self.total {
            Some(t) => format!("{}: {}/{t} done", self.step, self.done),
            None => format!("{}: {} done", self.step, self.done),
        };
        for (n, what) in [
            (self.failed, "failed"),
            (self.running, "running"),
            (self.waiting, "waiting for a worker"),
        ] {
            if n > 0 {
                s.push_str(&format!(", {n} {what}"));
            }
        }
        s
    }
}

/// The whole run's progress in one short line: `start 1/1, body 37/1000 (4 running, 96
/// waiting), join 0/1` (steps not started yet are left out).
pub fn summary(steps: &[StepProgress]) -> String {
    let parts: Vec<String> = steps
        .iter()
        .filter(|s| s.status != "pending" || s.waiting > 0)
        .map(|s| {
            let mut p = match s.total {
                Some(t) => format!("{} {}/{t}", s.step, s.done),
                None => format!("{} {}", s.step, s.done),
            };
            let mut extra = Vec::new();
            for (n, what) in [
                (s.failed, "failed"),
                (s.running, "running"),
                (s.waiting, "waiting"),
            ] {
                if n > 0 {
                    extra.push(format!("{n} {what}"));
                }
            }
            if !extra.is_empty() {
                p.push_str(&format!(" ({})", extra.join(", ")));
            }
            p
        })
        .collect();
    if parts.is_empty() {
        "no task yet".to_string()
    } else {
        parts.join(", ")
    }
}

/// Tasks done and expected over the run, when every step's total is known.
pub fn totals(steps: &[StepProgress]) -> Option<(u64, u64)> {
    let mut done = 0;
    let mut total = 0;
    for s in steps {
        done += s.done + s.failed;
        total += s.total?;
    }
    Some((done, total))
}

/// The progress of the run `run` of `flow`: from the metadata store (`metadata`), the jobs the
/// executor reports (`jobs`, `None` where it cannot tell) and foreach widths from the datastore
/// (`logs`, when open).
pub async fn of_run(
    metadata: &MetadataClient,
    logs: Option<&LogStore>,
    flow: &str,
    run: &str,
    jobs: Option<&[RunningJob]>,
) -> anyhow::Result<Vec<StepProgress>> {
    let detail = metadata
        .get_json(&format!("/ui/api/runs/{flow}/{run}"))
        .await?;
    let nodes = detail["dag"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let edges: Vec<(String, String)> = detail["dag"]["edges"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| Some((e[0].as_str()?.to_string(), e[1].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let node = |name: &str| nodes.iter().find(|n| n["name"] == name);
    let mut widths: HashMap<String, Option<u64>> = HashMap::new();
    let mut out = Vec::new();
    for n in &nodes {
        let Some(step) = n["name"].as_str() else {
            continue;
        };
        let summary = &detail["steps"][step];
        let count = |k: &str| summary[k].as_u64().unwrap_or(0);
        let total = if n["inside_foreach"].as_bool() != Some(true) {
            Some(1)
        } else {
            match enclosing_foreach(step, &edges, &node) {
                Some(fe) => {
                    if !widths.contains_key(&fe) {
                        let w = foreach_width(metadata, logs, flow, run, &fe).await;
                        widths.insert(fe.clone(), w);
                    }
                    widths[&fe]
                }
                None => None,
            }
        };
        let (done, failed) = (count("succeeded"), count("failed"));
        let (running, waiting) = match jobs {
            Some(js) => job_counts(js.iter().filter(|j| j.step == step), done, failed, total),
            None => (count("running"), 0),
        };
        out.push(StepProgress {
            step: step.to_string(),
            status: summary["status"].as_str().unwrap_or("pending").to_string(),
            done,
            failed,
            running,
            waiting,
            total,
        });
    }
    Ok(out)
}

/// `(running, waiting)` of a step from the executor's jobs of that step (`jobs`): a job waits
/// until a worker starts it. A job outlives its task by the wrapper's last writes and the
/// process exit, so a started job counts as running only while the step has a task left to
/// end: with `total` known, at most `total - done - failed` jobs are unfinished tasks, and the
/// waiting ones come first (they have no task to have ended).
fn job_counts<'a>(
    jobs: impl Iterator<Item = &'a RunningJob>,
    done: u64,
    failed: u64,
    total: Option<u64>,
) -> (u64, u64) {
    let (mut running, mut waiting) = (0u64, 0u64);
    for j in jobs {
        if j.started_at.is_some() {
            running += 1;
        } else {
            waiting += 1;
        }
    }
    if let Some(t) = total {
        let unfinished = t.saturating_sub(done + failed);
        waiting = waiting.min(unfinished);
        running = running.min(unfinished - waiting);
    }
    (running, waiting)
}

/// The foreach step whose body holds `step` (walking back along the graph's edges), when that
/// foreach is not itself inside another (whose width alone would not give the total).
fn enclosing_foreach<'a>(
    step: &str,
    edges: &[(String, String)],
    node: &impl Fn(&str) -> Option<&'a Value>,
) -> Option<String> {
    let mut at = step.to_string();
    for _ in 0..=edges.len() {
        let parent = edges.iter().find(|(_, to)| *to == at).map(|(f, _)| f)?;
        let p = node(parent)?;
        if p["type"] == "foreach" {
            return (p["inside_foreach"].as_bool() != Some(true)).then(|| parent.clone());
        }
        at = parent.clone();
    }
    None
}

/// The number of splits the foreach step `step` made (its single task's latest attempt), read
/// from the datastore; `None` until that task has finished, or where it cannot be read.
async fn foreach_width(
    metadata: &MetadataClient,
    logs: Option<&LogStore>,
    flow: &str,
    run: &str,
    step: &str,
) -> Option<u64> {
    let blobs = logs?.logs.blobs()?.clone();
    let (task_id, task) = metadata
        .first_task_in_state(flow, run, step, "succeeded")
        .await
        .ok()??;
    let attempt = task["attempt"]
        .as_u64()
        .and_then(|a| u32::try_from(a).ok())?;
    let path = ferry_task::splits::TaskPath {
        flow,
        run_id: run,
        step,
        task_id: &task_id,
        attempt,
    };
    ferry_task::splits::read_num_splits(blobs.as_ref(), &path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(
        name: &str,
        status: &str,
        done: u64,
        running: u64,
        waiting: u64,
        total: Option<u64>,
    ) -> StepProgress {
        StepProgress {
            step: name.into(),
            status: status.into(),
            done,
            failed: 0,
            running,
            waiting,
            total,
        }
    }

    #[test]
    fn lines_say_done_of_total_and_what_runs_or_waits() {
        let body = step("body", "running", 37, 4, 96, Some(1000));
        assert_eq!(
            body.line(),
            "body: 37/1000 done, 4 running, 96 waiting for a worker"
        );
        let steps = vec![
            step("start", "succeeded", 1, 0, 0, Some(1)),
            body,
            step("join", "pending", 0, 0, 0, Some(1)),
            step("inner", "running", 3, 1, 0, None),
        ];
        assert_eq!(
            summary(&steps),
            "start 1/1, body 37/1000 (4 running, 96 waiting), inner 3 (1 running)"
        );
        assert_eq!(totals(&steps), None);
        assert_eq!(totals(&steps[..3]), Some((38, 1002)));
        assert_eq!(summary(&[]), "no task yet");
    }

    fn job(step: &str, started: bool) -> RunningJob {
        RunningJob {
            job_id: format!("{step}-job"),
            step: step.into(),
            attempt: u32::from(started),
            submitted_at: chrono::Utc::now(),
            started_at: started.then(chrono::Utc::now),
        }
    }

    #[test]
    fn jobs_whose_tasks_ended_do_not_count_as_running() {
        // A foreach of 3: two tasks succeeded and one failed while their three jobs are still
        // registered (the wrappers' last writes, the process exits). Seen as
        // `explode 2/3 (1 failed, 3 running)` before.
        let jobs = [
            job("explode", true),
            job("explode", true),
            job("explode", true),
        ];
        assert_eq!(job_counts(jobs.iter(), 2, 1, Some(3)), (0, 0));
        // One task left to end: one job runs it, whichever of the three it is.
        assert_eq!(job_counts(jobs.iter(), 2, 0, Some(3)), (1, 0));
        // Waiting jobs have no task yet: they stay, the running ones shrink first.
        let mixed = [job("b", true), job("b", true), job("b", false)];
        assert_eq!(job_counts(mixed.iter(), 4, 0, Some(6)), (1, 1));
        // Unknown total (a nested foreach): the executor's view as it is.
        assert_eq!(job_counts(mixed.iter(), 4, 0, None), (2, 1));
    }

    #[test]
    fn a_body_step_finds_its_foreach_unless_nested() {
        let nodes = serde_json::json!([
            {"name": "start", "type": "foreach", "inside_foreach": false},
            {"name": "a", "type": "linear", "inside_foreach": true},
            {"name": "b", "type": "foreach", "inside_foreach": true},
            {"name": "c", "type": "linear", "inside_foreach": true},
        ]);
        let nodes = nodes.as_array().unwrap().clone();
        let node = |n: &str| nodes.iter().find(|x| x["name"] == n);
        let edges: Vec<(String, String)> = [("start", "a"), ("a", "b"), ("b", "c")]
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect();
        assert_eq!(
            enclosing_foreach("a", &edges, &node).as_deref(),
            Some("start")
        );
        assert_eq!(
            enclosing_foreach("b", &edges, &node).as_deref(),
            Some("start")
        );
        assert_eq!(enclosing_foreach("c", &edges, &node), None);
        assert_eq!(enclosing_foreach("start", &edges, &node), None);
    }
}
