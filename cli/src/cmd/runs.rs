//! `ferry list-runs FLOW.py`, `ferry status RUN_ID`, `ferry terminate RUN_ID`: runs of deployed
//! flows, through the target's control plane (`crate::control`: the embedded stack's control
//! API, or Step Functions on AWS). Output lines follow Metaflow's `step-functions
//! list-runs`/`terminate`.

use std::process::ExitCode;

use ferry_control::{ControlError, Execution, ExecutionStatus, RunId};
use serde_json::Value;

use crate::context::Context;
use crate::control::{ControlPlane, failure, metaflow_time};
use crate::failure::{ErrorKind, Failure};
use crate::flow::DeploymentArgs;
use crate::run_status::{RunReport, execution_json, resumed_from};

/// "no run sfn-… on <platform>", a [`ErrorKind::NotFound`] failure.
fn no_run(ctx: &Context, run_id: &RunId) -> anyhow::Error {
    Failure::new(
        ErrorKind::NotFound,
        format!("no run {run_id} on {}", ctx.platform()),
    )
}

/// The run id argument parsed (`sfn-<execution name>`, the one execution-name rule), with
/// Metaflow's message when the prefix is missing; a malformed one is a usage error (exit 2).
pub(crate) fn run_id(arg: &str) -> anyhow::Result<RunId> {
    RunId::parse(arg).map_err(|e| anyhow::Error::new(crate::UsageError(e.into())))
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
        let flow = control.deployment(&deployment).await?.map(|r| r.flow);
        let v: Vec<Value> = runs
            .iter()
            .map(|e| execution_json(e, flow.as_deref()))
            .collect();
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

/// Show one run: status, start/stop, its progress step by step while it runs, and for a
/// failure the failing step, the exit code in words and the task's exception
/// ([`crate::run_status`]).
pub async fn status(ctx: &Context, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let run = run_id(&args.run_id)?;
    let control = ControlPlane::connect(ctx).await?;
    let Some(e) = control.find_run(&run).await? else {
        return Err(no_run(ctx, &run));
    };
    let report = RunReport::gather(ctx, &control, e).await?;
    report.print_warnings();
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        for line in report.text() {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
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
