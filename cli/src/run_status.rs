//! A run's status as `ferry status` and `ferry trigger --wait` show it: the execution, its
//! progress step by step while it runs ([`crate::progress`]), and for a run that failed the
//! failing step, task, exit code in words and the exception the task's stderr ends with
//! ([`crate::explain`], read through the `ferry logs` reader, [`crate::task_logs`]).
//!
//! JSON (`--json`): `{"run_id", "flow", "state_machine", "execution", "status", "started_at",
//! "stopped_at", "error_name", "cause", "failing_step", "origin_run_id", "resume_step"}`, and
//! when known `"steps": [StepProgress]` and `"running": [{"job_id", "step", "attempt",
//! "submitted_at", "started_at"}]` (attempts numbered from 0, as Metaflow does; `null` while a
//! job waits for a worker), and for a failure `"failing_task"`, `"exit_code"`, `"reason"`,
//! `"exit_meaning"`, `"memory_mib"`, `"exception": {"type", "message", "traceback"}` and
//! `"logs"` (the `ferry logs` command that prints the task's stderr). `error_name` is the
//! execution's error (e.g. `States.TaskFailed`); a command's own failure is the `error` object
//! (`crate::failure`).

use ferry_control::cause::TaskFailure;
use ferry_control::{Execution, ExecutionStatus, RunningJob};
use ferry_spec::resume::ResumeSection;
use ferry_store::task_logs::{StepPath, Stream};
use serde_json::{Value, json};

use crate::context::Context;
use crate::control::{ControlPlane, failure, metaflow_time};
use crate::explain::{StepException, exit_meaning, step_exception};
use crate::metadata::MetadataClient;
use crate::progress::{self, StepProgress};
use crate::task_logs::LogStore;

/// The resume section of a resumed run (`None` for other runs, and for runs listed without
/// their input).
pub fn resumed_from(e: &Execution) -> Option<ResumeSection> {
    e.input
        .as_deref()
        .and_then(ResumeSection::from_execution_input)
}

/// An execution as the run commands print it under `--json` (`flow`: the deployment's flow).
pub fn execution_json(e: &Execution, flow: Option<&str>) -> Value {
    let resumed = resumed_from(e);
    json!({
        "run_id": e.run_id(),
        "flow": flow,
        "state_machine": e.state_machine,
        "execution": e.name,
        "status": e.status,
        "started_at": e.start_date,
        "stopped_at": e.stop_date,
        "error_name": e.error,
        "cause": e.cause,
        "failing_step": e.failing_state,
        "origin_run_id": resumed.as_ref().map(|r| &r.origin_run_id),
        "resume_step": resumed.as_ref().and_then(|r| r.resume_step.as_ref()),
    })
}

/// Why a run failed, as far as its failure cause and the failed task's stderr tell.
#[derive(Debug, Clone)]
pub struct FailureReport {
    /// The failed Batch job in the cause.
    pub task: TaskFailure,
    /// The failing step: the execution's failing state, else the job's step.
    pub step: Option<String>,
    /// The exit code in words ([`exit_meaning`]).
    pub exit_meaning: Option<String>,
    /// The exception the task's stderr ends with.
    pub exception: Option<StepException>,
    /// `ferry logs Flow/run/step/task --stderr`.
    pub logs_command: Option<String>,
}

/// Everything `ferry status` shows of one run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The execution.
    pub execution: Execution,
    /// The deployment's flow name, when its record exists.
    pub flow: Option<String>,
    /// The jobs running or waiting now (running executions, where the control plane tells).
    pub jobs: Option<Vec<RunningJob>>,
    /// Progress step by step (while running, and where the metadata service answers).
    pub steps: Option<Vec<StepProgress>>,
    /// Why it failed (failed, timed-out or aborted runs whose cause names a task).
    pub failure: Option<FailureReport>,
    /// What could not be read (the metadata service, the task's log), for stderr.
    pub warnings: Vec<String>,
}

impl RunReport {
    /// Gather the report of `e`: its jobs and step progress while it runs, its failure once
    /// it has failed. What cannot be read (the metadata service, the logs) is left out and
    /// said in [`RunReport::warnings`]; only the control plane's errors fail.
    pub async fn gather(
        ctx: &Context,
        control: &ControlPlane,
        e: Execution,
    ) -> anyhow::Result<Self> {
        let flow = control.deployment(&e.state_machine).await?.map(|r| r.flow);
        let flow_name = flow.clone().unwrap_or_else(|| e.state_machine.to_string());
        let run = e.run_id().to_string();
        let mut warnings = Vec::new();
        let logs = match LogStore::open(ctx).await {
            Ok(l) => Some(l),
            Err(err) => {
                warnings.push(format!("cannot open the task logs: {err:#}"));
                None
            }
        };
        let (jobs, steps) = if e.status == ExecutionStatus::Running {
            let jobs = control
                .executions()
                .running_jobs(&e)
                .await
                .map_err(failure)?;
            let progress = match MetadataClient::for_context(ctx) {
                Ok(md) => {
                    progress::of_run(&md, logs.as_ref(), &flow_name, &run, jobs.as_deref()).await
                }
                Err(err) => Err(err),
            };
            let steps = match progress {
                Ok(s) => Some(s),
                Err(err) => {
                    warnings.push(format!("no step progress: {err:#}"));
                    None
                }
            };
            (jobs, steps)
        } else {
            (None, None)
        };
        let failure = match e.status {
            ExecutionStatus::Running | ExecutionStatus::Succeeded => None,
            _ => match e.cause.as_deref().and_then(TaskFailure::from_cause) {
                Some(mut task) => {
                    if e.cause
                        .as_deref()
                        .is_some_and(ferry_control::cause::names_array_job)
                        && let Some(step) = e.failing_state.clone().or_else(|| task.step.clone())
                    {
                        match failed_child(ctx, &flow_name, &run, &step).await {
                            Ok(child) => task.task_id = child,
                            Err(err) => warnings.push(format!(
                                "cannot find the failed child of the array job: {err:#}"
                            )),
                        }
                    }
                    Some(explain(&e, &flow_name, &run, task, logs.as_ref(), &mut warnings).await)
                }
                None => None,
            },
        };
        Ok(RunReport {
            execution: e,
            flow,
            jobs,
            steps,
            failure,
            warnings,
        })
    }

    /// Print the warnings on stderr (`ferry: warning: …`).
    pub fn print_warnings(&self) {
        for w in &self.warnings {
            eprintln!("ferry: warning: {w}");
        }
    }

    /// The `--json` object (see the module docs).
    pub fn json(&self) -> Value {
        let mut v = execution_json(&self.execution, self.flow.as_deref());
        if let Some(steps) = &self.steps {
            v["steps"] = json!(steps);
        }
        if let Some(jobs) = &self.jobs {
            v["running"] = Value::Array(jobs.iter().map(job_json).collect());
        }
        if let Some(f) = &self.failure {
            v["failing_task"] = json!(f.task.task_id);
            v["exit_code"] = json!(f.task.exit_code);
            v["reason"] = json!(f.task.reason);
            v["exit_meaning"] = json!(f.exit_meaning);
            v["memory_mib"] = json!(f.task.memory_mib);
            v["exception"] = json!(f.exception);
            v["logs"] = json!(f.logs_command);
        }
        v
    }

    /// The text `ferry status` prints, one line per entry.
    pub fn text(&self) -> Vec<String> {
        let e = &self.execution;
        let flow_name = self
            .flow
            .clone()
            .unwrap_or_else(|| e.state_machine.to_string());
        let mut out = vec![format!(
            "Run {} of {flow_name} (deployment {}): {}",
            e.run_id(),
            e.state_machine,
            e.status
        )];
        if let Some(r) = resumed_from(e) {
            out.push(match &r.resume_step {
                Some(step) => format!("Resumed from: {} (at step {step})", r.origin_run_id),
                None => format!("Resumed from: {}", r.origin_run_id),
            });
        }
        out.push(format!("Started: {}", metaflow_time(&e.start_date)));
        if let Some(stop) = &e.stop_date {
            out.push(format!("Stopped: {}", metaflow_time(stop)));
        }
        if let Some(steps) = &self.steps {
            out.push("Steps:".to_string());
            out.extend(steps.iter().map(|s| format!("  {}", s.line())));
        }
        if let Some(jobs) = &self.jobs {
            out.extend(running_lines(jobs));
        }
        if e.status.is_terminal() && e.status != ExecutionStatus::Succeeded {
            out.extend(self.failure_lines());
        }
        out
    }

    /// `Failed step`, `Cause`, `Exception` with the traceback's last frames, `Logs`.
    pub fn failure_lines(&self) -> Vec<String> {
        let e = &self.execution;
        let mut out = Vec::new();
        let step = self
            .failure
            .as_ref()
            .and_then(|f| f.step.clone())
            .or_else(|| e.failing_state.clone());
        if let Some(step) = step {
            out.push(format!("Failed step: {step}"));
        }
        let Some(f) = &self.failure else {
            let error = e.error.as_deref().unwrap_or("");
            let cause = e.cause.as_deref().unwrap_or("");
            let sep = if error.is_empty() || cause.is_empty() {
                ""
            } else {
                ": "
            };
            out.push(format!("Cause: {error}{sep}{cause}"));
            return out;
        };
        let mut why = f
            .task
            .reason
            .clone()
            .unwrap_or_else(|| "the task failed".into());
        match (f.task.exit_code, &f.exit_meaning) {
            (Some(code), Some(m)) => why.push_str(&format!(" (exit code {code}: {m})")),
            (Some(code), None) => why.push_str(&format!(" (exit code {code})")),
            (None, _) => {}
        }
        out.push(format!(
            "Cause: {}: {why}",
            e.error.as_deref().unwrap_or("States.TaskFailed")
        ));
        if let Some(x) = &f.exception {
            if x.message.is_empty() {
                out.push(format!("Exception: {}", x.type_name));
            } else {
                let mut lines = x.message.lines();
                out.push(format!(
                    "Exception: {}: {}",
                    x.type_name,
                    lines.next().unwrap_or_default()
                ));
                out.extend(lines.map(|l| format!("  {l}")));
            }
            if !x.traceback.is_empty() {
                out.push("Traceback (last frames):".to_string());
                out.extend(x.traceback.iter().cloned());
            }
        }
        if let Some(cmd) = &f.logs_command {
            out.push(format!("Logs: {cmd}"));
        }
        out
    }
}

/// A running job under `--json`, its attempt numbered from 0 as Metaflow does (`null` while it
/// waits for a worker).
fn job_json(j: &RunningJob) -> Value {
    json!({
        "job_id": j.job_id,
        "step": j.step,
        "attempt": j.started_at.map(|_| metaflow_attempt(j)),
        "submitted_at": j.submitted_at,
        "started_at": j.started_at,
    })
}

/// Metaflow's attempt number (0 for the first) of a running job, whose [`RunningJob::attempt`]
/// is Batch's (1 for the first).
fn metaflow_attempt(j: &RunningJob) -> u32 {
    j.attempt.saturating_sub(1)
}

/// The task of `step` whose latest attempt failed (the failed child of an array job), from the
/// metadata service; `None` when none has.
async fn failed_child(
    ctx: &Context,
    flow: &str,
    run: &str,
    step: &str,
) -> anyhow::Result<Option<String>> {
    Ok(MetadataClient::for_context(ctx)?
        .first_task_in_state(flow, run, step, "failed")
        .await?
        .map(|(id, _)| id))
}

/// Why the task in `task` failed: its exit code in words and the exception its stderr ends
/// with (the latest attempt's, through the `ferry logs` reader).
async fn explain(
    e: &Execution,
    flow: &str,
    run: &str,
    task: TaskFailure,
    logs: Option<&LogStore>,
    warnings: &mut Vec<String>,
) -> FailureReport {
    let step = e.failing_state.clone().or_else(|| task.step.clone());
    let exit = task
        .exit_code
        .and_then(|c| exit_meaning(c, task.reason.as_deref(), task.memory_mib));
    let mut exception = None;
    let mut logs_command = None;
    if let (Some(step), Some(id)) = (&step, &task.task_id) {
        logs_command = Some(format!("ferry logs {flow}/{run}/{step}/{id} --stderr"));
        if let Some(store) = logs {
            let path = StepPath { flow, run, step };
            match store.latest(path, id, Stream::Stderr).await {
                Ok(Some(log)) => exception = step_exception(&log.text),
                Ok(None) => {}
                Err(err) => warnings.push(format!("cannot read the task's stderr: {err:#}")),
            }
        }
    }
    FailureReport {
        task,
        step,
        exit_meaning: exit,
        exception,
        logs_command,
    }
}

/// `Running:` then `  start: task j-1 (attempt 0, since …)`, one line per step, at most three
/// task ids each.
fn running_lines(jobs: &[RunningJob]) -> Vec<String> {
    if jobs.is_empty() {
        return vec!["Running: no task at this moment (between steps)".to_string()];
    }
    let mut steps: Vec<(&str, Vec<&RunningJob>)> = Vec::new();
    for j in jobs {
        match steps.iter_mut().find(|(s, _)| *s == j.step) {
            Some((_, v)) => v.push(j),
            None => steps.push((&j.step, vec![j])),
        }
    }
    let mut out = vec!["Running:".to_string()];
    for (step, js) in &steps {
        let running: Vec<&&RunningJob> = js.iter().filter(|j| j.started_at.is_some()).collect();
        let waiting = js.len() - running.len();
        let mut line = format!("  {step}:");
        if let [one] = running.as_slice() {
            line.push_str(&format!(
                " task {} (attempt {}, since {})",
                one.job_id,
                metaflow_attempt(one),
                one.started_at
                    .as_ref()
                    .map(metaflow_time)
                    .unwrap_or_default()
            ));
        } else if !running.is_empty() {
            let ids: Vec<&str> = running.iter().take(3).map(|j| j.job_id.as_str()).collect();
            line.push_str(&format!(
                " {} tasks ({}{})",
                running.len(),
                ids.join(", "),
                if running.len() > 3 { ", …" } else { "" }
            ));
        }
        if waiting > 0 {
            line.push_str(&format!(
                "{}{waiting} waiting for a worker",
                if running.is_empty() { " " } else { "; " }
            ));
        }
        out.push(line);
    }
    out
}
