//! `ferry list-runs FLOW.py`, `ferry status RUN_ID`, `ferry terminate RUN_ID`: runs of deployed
//! flows, through the target's control plane (`crate::control`: the embedded stack's control
//! API, or Step Functions on AWS). Output lines follow Metaflow's `step-functions
//! list-runs`/`terminate`.

use std::process::ExitCode;

use ferry_control::cause::TaskFailure;
use ferry_control::{ControlError, Execution, ExecutionStatus, RunId, RunningJob};
use ferry_spec::resume::ResumeSection;
use serde_json::{Value, json};

use crate::context::Context;
use crate::control::{ControlPlane, failure, metaflow_time};
use crate::failure::{ErrorKind, Failure};
use crate::flow::DeploymentArgs;

/// "no run sfn-… on <platform>", a [`ErrorKind::NotFound`] failure.
fn no_run(ctx: &Context, run_id: &RunId) -> anyhow::Error {
    Failure::new(
        ErrorKind::NotFound,
        format!("no run {run_id} on {}", ctx.platform()),
    )
}

/// The run id argument parsed (`sfn-<execution name>`, the one execution-name rule), with
/// Metaflow's message when the prefix is missing.
fn run_id(arg: &str) -> anyhow::Result<RunId> {
    Ok(RunId::parse(arg)?)
}

/// Arguments of `ferry list-runs`.
#[derive(Debug, clap::Args)]
pub struct ListRunsArgs {
    #[command(flatten)]
    pub select: DeploymentArgs,
    /// Only running executions.
    #[arg(long)]
    pub running: bool,
    /// Only succeeded executions.
    #[arg(long)]
    pub succeeded: bool,
    /// Only failed executions.
    #[arg(long)]
    pub failed: bool,
    /// Only timed-out executions.
    #[arg(long)]
    pub timed_out: bool,
    /// Only aborted (terminated) executions.
    #[arg(long)]
    pub aborted: bool,
}

/// One `list-runs` line: `sfn-<name> startedAt:'…' [stoppedAt:'…'] STATUS`.
pub fn run_line(e: &Execution) -> String {
    match &e.stop_date {
        Some(stop) => format!(
            "{} startedAt:'{}' stoppedAt:'{}' {}",
            e.run_id(),
            metaflow_time(&e.start_date),
            metaflow_time(stop),
            e.status
        ),
        None => format!(
            "{} startedAt:'{}' {}",
            e.run_id(),
            metaflow_time(&e.start_date),
            e.status
        ),
    }
}

/// The resume section of a resumed run (`None` for other runs, and for runs listed without
/// their input).
fn resumed_from(e: &Execution) -> Option<ResumeSection> {
    e.input
        .as_deref()
        .and_then(ResumeSection::from_execution_input)
}

fn execution_json(e: &Execution, flow: Option<&str>) -> Value {
    let resumed = resumed_from(e);
    json!({
        "run_id": e.run_id(),
        "flow": flow,
        "state_machine": e.state_machine,
        "execution": e.name,
        "status": e.status,
        "started_at": e.start_date,
        "stopped_at": e.stop_date,
        "error": e.error,
        "cause": e.cause,
        "failing_step": e.failing_state,
        "origin_run_id": resumed.as_ref().map(|r| &r.origin_run_id),
        "resume_step": resumed.as_ref().and_then(|r| r.resume_step.as_ref()),
    })
}

/// List the runs of a deployed flow, newest first.
pub async fn list_runs(ctx: &Context, args: ListRunsArgs) -> anyhow::Result<ExitCode> {
    let deployment = args.select.deployment(ctx).await?;
    let control = ControlPlane::connect(ctx).await?;
    let mut filters = Vec::new();
    for (on, st) in [
        (args.running, ExecutionStatus::Running),
        (args.succeeded, ExecutionStatus::Succeeded),
        (args.failed, ExecutionStatus::Failed),
        (args.timed_out, ExecutionStatus::TimedOut),
        (args.aborted, ExecutionStatus::Aborted),
    ] {
        if on {
            filters.push(st);
        }
    }
    let queries: Vec<Option<ExecutionStatus>> = if filters.is_empty() {
        vec![None]
    } else {
        filters.iter().copied().map(Some).collect()
    };
    let mut runs: Vec<Execution> = Vec::new();
    for q in queries {
        match control.executions().list(&deployment, q).await {
            Ok(mut list) => runs.append(&mut list),
            Err(ControlError::NotFound(_)) => {
                return Err(Failure::new(
                    ErrorKind::NotFound,
                    ferry_deploy::messages::missing(&deployment, ctx.platform()),
                ));
            }
            Err(e) => return Err(failure(e)),
        }
    }
    runs.sort_by_key(|e| std::cmp::Reverse(e.start_date));
    // Listings carry no input: describe each run to mark the resumed ones.
    for e in runs.iter_mut() {
        if let Ok(Some(full)) = control.executions().describe(&deployment, &e.name).await {
            e.input = full.input;
        }
    }
    if ctx.json {
        let v: Vec<Value> = runs.iter().map(|e| execution_json(e, None)).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        if filters.is_empty() {
            println!(
                "No executions for {deployment} found on {}.",
                ctx.platform()
            );
        } else {
            let names: Vec<&str> = filters.iter().map(|f| f.as_str()).collect();
            println!(
                "No {} executions for {deployment} found on {}.",
                names.join(" and "),
                ctx.platform()
            );
        }
    }
    for e in &runs {
        match resumed_from(e) {
            Some(r) => println!("{} resumed from {}", run_line(e), r.origin_run_id),
            None => println!("{}", run_line(e)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `ferry status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The run id, `sfn-<execution name>`. Example: `sfn-0b1c…`.
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,
}

/// Show one run: status, start/stop, and for a failure the failing step and its cause.
pub async fn status(ctx: &Context, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let run = run_id(&args.run_id)?;
    let control = ControlPlane::connect(ctx).await?;
    let Some(e) = control.find_run(&run).await? else {
        return Err(no_run(ctx, &run));
    };
    let flow = control.deployment(&e.state_machine).await?.map(|r| r.flow);
    let failed_task = e.cause.as_deref().and_then(TaskFailure::from_cause);
    // The tasks it runs now, where the control plane can tell cheaply (the embedded stack; on
    // AWS, DescribeExecution does not say and walking the history is not worth a status call).
    let jobs = if e.status == ExecutionStatus::Running {
        control
            .executions()
            .running_jobs(&e)
            .await
            .map_err(failure)?
    } else {
        None
    };
    if ctx.json {
        let mut v = execution_json(&e, flow.as_deref());
        if let Some(jobs) = &jobs {
            v["running"] = json!(jobs);
        }
        if let Some(f) = &failed_task {
            v["failing_task"] = json!(f.task_id);
            v["exit_code"] = json!(f.exit_code);
            v["reason"] = json!(f.reason);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let flow_name = flow.clone().unwrap_or_else(|| e.state_machine.to_string());
    println!(
        "Run {} of {flow_name} (deployment {}): {}",
        e.run_id(),
        e.state_machine,
        e.status
    );
    if let Some(r) = resumed_from(&e) {
        match &r.resume_step {
            Some(step) => println!("Resumed from: {} (at step {step})", r.origin_run_id),
            None => println!("Resumed from: {}", r.origin_run_id),
        }
    }
    println!("Started: {}", metaflow_time(&e.start_date));
    if let Some(stop) = &e.stop_date {
        println!("Stopped: {}", metaflow_time(stop));
    }
    if let Some(jobs) = &jobs {
        for line in running_lines(jobs) {
            println!("{line}");
        }
    }
    if e.status != ExecutionStatus::Succeeded && e.status != ExecutionStatus::Running {
        if let Some(step) = &e.failing_state {
            println!("Failed step: {step}");
        }
        match &failed_task {
            Some(f) => {
                let mut why = f.reason.clone().unwrap_or_else(|| "the task failed".into());
                if let Some(code) = f.exit_code {
                    why.push_str(&format!(" (exit code {code})"));
                }
                println!(
                    "Cause: {}: {why}",
                    e.error.as_deref().unwrap_or("States.TaskFailed")
                );
                if let (Some(step), Some(task)) = (&e.failing_state, &f.task_id) {
                    println!(
                        "Logs: ferry logs {flow_name}/{}/{step}/{task} --stderr",
                        e.run_id()
                    );
                }
            }
            None => {
                let error = e.error.as_deref().unwrap_or("");
                let cause = e.cause.as_deref().unwrap_or("");
                println!(
                    "Cause: {error}{}{cause}",
                    if error.is_empty() || cause.is_empty() {
                        ""
                    } else {
                        ": "
                    }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `Running:` then `  start: task j-1 (attempt 1, since …)`, one line per step, at most three
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
                one.attempt,
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

/// Arguments of `ferry terminate`.
#[derive(Debug, clap::Args)]
pub struct TerminateArgs {
    /// The run id, `sfn-<execution name>`. Example: `sfn-0b1c…`.
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,
}

/// Stop a running run and every process of it.
pub async fn terminate(ctx: &Context, args: TerminateArgs) -> anyhow::Result<ExitCode> {
    let run = run_id(&args.run_id)?;
    let control = ControlPlane::connect(ctx).await?;
    let Some(e) = control.find_run(&run).await? else {
        return Err(no_run(ctx, &run));
    };
    let flow = control
        .deployment(&e.state_machine)
        .await?
        .map(|r| r.flow)
        .unwrap_or_else(|| e.state_machine.to_string());
    if e.status != ExecutionStatus::Running {
        let message = format!(
            "Run {} for Flow {flow} is not running: it ended {}.",
            args.run_id, e.status
        );
        if !ctx.json {
            println!("{message}");
        }
        return Err(anyhow::Error::new(Failure {
            kind: ErrorKind::Failed,
            message,
            result: Some(execution_json(&e, Some(&flow))),
            reported: !ctx.json,
        }));
    }
    if !ctx.json {
        println!("Terminating run {} for Flow {flow}", args.run_id);
    }
    let cause = format!("Terminated by {}", ctx.user().unwrap_or("a user"));
    let stopped = control
        .executions()
        .stop(
            &e.state_machine,
            &e.name,
            Some("Ferry.Terminated"),
            Some(&cause),
        )
        .await
        .map_err(failure)?;
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&execution_json(&stopped, Some(&flow)))?
        );
    } else {
        let when = stopped
            .stop_date
            .map(|t| metaflow_time(&t))
            .unwrap_or_default();
        println!("Run terminated at {when}.");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::run_id;

    #[test]
    fn run_ids_are_sfn_and_an_execution_name() {
        assert_eq!(
            run_id("sfn-0b1c2d3e-aaaa-bbbb-cccc-123456789012")
                .unwrap()
                .execution_name(),
            "0b1c2d3e-aaaa-bbbb-cccc-123456789012"
        );
        for bad in [
            "sfn-",
            "sfn-a/b",
            "sfn-../../etc/passwd",
            // The one execution-name rule: a name with a '.' is no run id here either.
            "sfn-a.b",
            "run-1",
            "",
            &format!("sfn-{}", "a".repeat(81)),
        ] {
            let e = run_id(bad).unwrap_err().to_string();
            assert!(e.contains("sfn-"), "{bad}: {e}");
            assert!(e.len() < 300, "the message stays short: {e}");
        }
        let dotted = run_id("sfn-a.b").unwrap_err().to_string();
        assert!(
            dotted.contains(ferry_spec::ids::EXECUTION_NAME_RULE),
            "{dotted}"
        );
    }
}
