//! `ferry resume RUN_ID [--step STEP]`: start a new run of a run's deployment whose tasks before
//! the resume point are cloned from it and whose tasks from there on run (`docs/resume.md`).
//!
//! The command reads the origin execution (with its input), the deployment record, the
//! definition the origin ran and the task descriptions it names (so the new run plans and runs on
//! the origin's version), and what the metadata service recorded for the origin's tasks; the
//! planner (`ferry_deploy::resume`) refuses or builds the clone plan and the input; the plan is
//! stored (`resume/<sha256>.json`) and the execution started, on the origin's definition when the
//! deployment was redeployed since. Built on the target's control plane (`crate::control`:
//! `Executions::definition`, `state_machine` and `start_on_definition`, over the embedded
//! stack's control API or on Step Functions).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use ferry_control::{ControlError, Execution};
use ferry_deploy::DeploymentRecord;
use ferry_deploy::resume::{
    ResumeError, ResumePlan, ResumeRequest, StepGraph, origin_tasks, plan_resume,
    task_description_urls,
};
use ferry_deploy::tokens::Holder;
use ferry_spec::task::TaskDescription;
use ferry_store::Blobs;
use serde_json::{Value, json};

use crate::context::Context;
use crate::control::{ControlPlane, failure, metaflow_time};
use crate::failure::{ErrorKind, Failure};
use crate::metadata::MetadataClient;

/// Arguments of `ferry resume`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Without --step, the run continues where it failed, as Metaflow's `resume` does: every task that
succeeded is cloned (its artifacts are reused, nothing runs), every other task runs. With --step,
that step and every step after it run again. The new run gets a new sfn- run id in the same
production namespace, with the origin's parameters; cloned tasks carry origin-run-id and
origin-task-id metadata, as in Metaflow.

Examples:
  ferry resume sfn-3f2c9a0e-8d61-4b7e-9a55-0c2d4e6f8a10                 # where it failed
  ferry resume sfn-3f2c9a0e-8d61-4b7e-9a55-0c2d4e6f8a10 --step train    # train and after
  ferry resume sfn-3f2c… --tag retry-1 --run-id-file run.txt --wait
  ferry resume sfn-3f2c… --authorize production:trainflow-0-abcd        # someone else's deployment")]
pub struct ResumeArgs {
    /// The run to resume, `sfn-<execution name>` (`ferry list-runs` prints them).
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,
    /// Run this step and every step after it again; cloned: the steps before it. Example:
    /// `--step train`.
    #[arg(long, value_name = "STEP")]
    pub step: Option<String>,
    /// Tag the new run (repeatable); the origin's run tags are not carried over, as in
    /// Metaflow. Example: `--tag retry-1`.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Write the new run id (`sfn-…`) to this file. Example: `--run-id-file run.txt`.
    #[arg(long, value_name = "FILE")]
    pub run_id_file: Option<PathBuf>,
    /// Wait for the new run to end; exit 1 unless it succeeds.
    #[arg(long)]
    pub wait: bool,
    /// The deployment's production token, when you are not its owner (with or without the
    /// `production:` prefix; default: the token stored by your last deploy of the flow).
    #[arg(long, value_name = "TOKEN")]
    pub authorize: Option<String>,
    /// Flow parameters cannot be changed on resume: given here, they are refused.
    #[arg(value_name = "--PARAM VALUE", trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., hide = true)]
    pub params: Vec<String>,
}

/// The version of the deployment a resumed run runs.
struct Version {
    /// The definition the origin ran (and the new run runs).
    definition: String,
    /// `Some(sha256)`: an earlier definition than the state machine's current one.
    earlier: Option<String>,
}

/// Resume a run.
pub async fn run(ctx: &Context, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let usage = |e: anyhow::Error| anyhow::Error::new(crate::UsageError(e));
    if let Some(p) = args.params.first() {
        return Err(usage(anyhow::anyhow!(
            "unexpected argument {p:?}: a resumed run reuses the parameters of {} as they were; to run with other values, start a new run with `ferry trigger FLOW.py --NAME VALUE`",
            args.run_id
        )));
    }
    if let Some(bad) = args.tags.iter().find(|t| t.is_empty() || t.len() > 500) {
        return Err(usage(anyhow::anyhow!(
            "invalid tag {bad:?}: a tag is 1 to 500 bytes"
        )));
    }
    let run = crate::cmd::runs::run_id(&args.run_id)?;
    let control = ControlPlane::connect(ctx).await?;
    let Some(origin) = control.find_run(&run).await? else {
        return Err(Failure::new(
            ErrorKind::NotFound,
            format!(
                "no run {} on {}: `ferry list-runs FLOW.py` lists the runs of a flow",
                args.run_id,
                ctx.platform()
            ),
        ));
    };
    let deployment = origin.state_machine.clone();
    let Some(record) = control.deployment(&deployment).await? else {
        return Err(Failure::new(
            ErrorKind::NotFound,
            format!(
                "{} is a run of {deployment}, which is no longer deployed on {}: deploy the flow again, then resume",
                args.run_id,
                ctx.platform()
            ),
        ));
    };
    let blobs = ctx.blobs().await?;
    let version = origin_version(&control, &origin, &record).await?;
    let descriptions = version_descriptions(blobs.as_ref(), &version.definition).await?;
    let graph = StepGraph::from_descriptions(&descriptions).map_err(|e| {
        anyhow::anyhow!("reading the steps of the version {} ran: {e}", args.run_id)
    })?;
    let flow = descriptions
        .first()
        .map(|d| d.flow.clone())
        .unwrap_or_else(|| record.flow.clone());

    let run_id = ferry_spec::task::run_id_for_execution(&origin.name);
    let metadata = MetadataClient::for_context(ctx)?;
    let tasks = origin_tasks(&metadata, &flow, &run_id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let parameters = origin_parameters(blobs.as_ref(), &origin).await?;
    let holder = Holder {
        owner: record.owner.clone(),
        token: record.token.clone(),
    };
    let authorize = args
        .authorize
        .clone()
        .or_else(|| crate::tokens::load(&record.token_prefix));
    let user = ctx.user()?.to_string();
    let plan = plan_resume(&ResumeRequest {
        origin_execution: &origin.name,
        deployment: &deployment,
        status: origin.status,
        flow: &flow,
        graph: &graph,
        holder: &holder,
        user: &user,
        authorize: authorize.as_deref(),
        step: args.step.as_deref(),
        tags: &args.tags,
        parameters: parameters.as_deref(),
        tasks: &tasks,
    })
    .map_err(refusal)?;

    if !blobs.exists(&plan.plan_ref.key).await? {
        blobs
            .put(&plan.plan_ref.key, plan.plan_bytes.clone())
            .await
            .with_context(|| format!("storing the clone plan {}", plan.plan_ref.key))?;
    }
    let input = crate::run_input::offload_long_parameters(ctx, plan.input()).await?;
    let executions = control.executions();
    let started = match &version.earlier {
        Some(sha) => {
            executions
                .start_on_definition(&deployment, None, &input, sha)
                .await
        }
        None => executions.start(&deployment, None, &input).await,
    };
    let started: Execution = match started {
        Ok(e) => e,
        Err(e @ (ControlError::NotFound(_) | ControlError::AlreadyExists(_))) => {
            return Err(Failure::new(ErrorKind::Refused, e.to_string()));
        }
        Err(e) => return Err(failure(e)),
    };
    let new_run = ferry_spec::task::run_id_for_execution(&started.name);
    let notes = notes(&plan, &record, &origin, version.earlier.is_some());
    if !ctx.json {
        for n in &notes {
            println!("{n}");
        }
        println!(
            "Workflow {deployment} triggered on {} (run-id {new_run}).",
            ctx.platform()
        );
    }
    // After the run id is printed: the run has started even if the file cannot be written.
    if let Some(f) = &args.run_id_file {
        std::fs::write(f, &new_run).with_context(|| {
            format!(
                "the run started, but writing its id {new_run} to {}",
                f.display()
            )
        })?;
    }
    let result = json!({
        "run_id": new_run, "origin_run_id": plan.origin_run_id, "flow": flow,
        "deployment": deployment, "namespace": record.namespace,
        "resume_step": plan.resume_step, "rerun_steps": plan.rerun_steps,
        "cloned_tasks": plan.cloned_tasks, "plan": plan.plan_ref.key,
        "origin_version": if version.earlier.is_some() { "earlier" } else { "current" },
        "input": input, "started_at": started.start_date, "notes": notes,
    });
    if args.wait {
        // The same wait and end as `ferry trigger --wait`: progress on stderr, `ferry status`'s
        // text (or its object, with the fields above) at the end, a failure explained, exit 1.
        let report = crate::run_wait::wait_with_progress(ctx, &control, started).await?;
        let fields = result.as_object().cloned().unwrap_or_default();
        return crate::run_wait::outcome_with(&report, ctx.json, fields);
    }
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// What the user is told before the run id.
fn notes(
    plan: &ResumePlan,
    record: &DeploymentRecord,
    origin: &Execution,
    earlier: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let from = match (&plan.resume_step, plan.rerun_steps.is_empty()) {
        (Some(step), false) => format!("{step} and every step after it run again"),
        (Some(step), true) => format!("it runs again from {step}, where it failed"),
        (None, _) => "every task of it succeeded".to_string(),
    };
    out.push(format!(
        "Resuming {} (started {}, {}): {} of its tasks are cloned, {from}.",
        plan.origin_run_id,
        metaflow_time(&origin.start_date),
        origin.status,
        plan.cloned_tasks,
    ));
    if earlier {
        out.push(format!(
            "{} ran an earlier version of {} than the one deployed now (version {}, deployed {}): the resumed run runs the version {} ran, its code package and steps, not the current one.",
            plan.origin_run_id,
            record.deployment,
            record.version,
            metaflow_time(&record.updated_at),
            plan.origin_run_id
        ));
    }
    out
}

/// The planner's refusal as the failure the CLI reports (exit 1, or 2 for a step the flow lacks).
fn refusal(e: ResumeError) -> anyhow::Error {
    let kind = match &e {
        ResumeError::UnknownStep { .. } => {
            return anyhow::Error::new(crate::UsageError(anyhow::anyhow!("{e}")));
        }
        ResumeError::Metadata(_) => ErrorKind::Failed,
        _ => ErrorKind::Refused,
    };
    Failure::new(kind, e.to_string())
}

/// The definition the origin ran, and whether it is an earlier one than the state machine's.
/// A run from before the embedded stack kept definitions ran the current one unless the
/// deployment was redeployed after it started; then it cannot be resumed.
async fn origin_version(
    control: &ControlPlane,
    origin: &Execution,
    record: &DeploymentRecord,
) -> anyhow::Result<Version> {
    let executions = control.executions();
    let Some(current) = executions
        .state_machine(&origin.state_machine)
        .await
        .map_err(failure)?
    else {
        return Err(Failure::new(
            ErrorKind::NotFound,
            format!(
                "the state machine {} is gone: deploy the flow again, then resume",
                origin.state_machine
            ),
        ));
    };
    let kept = executions
        .definition(&origin.state_machine, &origin.name)
        .await
        .map_err(failure)?;
    match kept {
        Some(definition) if definition == current.definition => Ok(Version {
            definition,
            earlier: None,
        }),
        Some(definition) => {
            let sha = ferry_deploy::keys::definition_sha256(&definition);
            Ok(Version {
                definition,
                earlier: Some(sha),
            })
        }
        None if record.updated_at <= origin.start_date => Ok(Version {
            definition: current.definition,
            earlier: None,
        }),
        None => Err(Failure::new(
            ErrorKind::Refused,
            format!(
                "{} started before {} was redeployed ({}), and the version it ran is not known (it predates the stack keeping them): resuming it would run other code. Trigger a new run with `ferry trigger` instead.",
                origin.run_id(),
                record.deployment,
                metaflow_time(&record.updated_at)
            ),
        )),
    }
}

/// The task descriptions a definition runs, read from the blob store and checked against their
/// content address.
async fn version_descriptions(
    blobs: &dyn Blobs,
    definition: &str,
) -> anyhow::Result<Vec<TaskDescription>> {
    let urls = task_description_urls(definition).map_err(anyhow::Error::msg)?;
    let mut out = Vec::with_capacity(urls.len());
    for url in urls {
        let mut tail = url.rsplit('/');
        let (file, dir) = (tail.next().unwrap_or(""), tail.next().unwrap_or(""));
        let sha = file.strip_suffix(".json").unwrap_or("");
        if dir != "tasks" || sha.len() != 64 {
            bail!("the definition names a task description at {url}, not tasks/<sha256>.json");
        }
        let key = format!("tasks/{file}");
        let bytes = blobs.get(&key).await?.with_context(|| {
            format!("the task description {key} of the origin's version is gone")
        })?;
        if ferry_deploy::keys::sha256_hex(&bytes) != sha {
            bail!("the task description {key} does not match its sha256");
        }
        out.push(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("reading the task description {key}"))?,
        );
    }
    Ok(out)
}

/// The origin's trigger parameters (JSON text), a parameters blob read and checked.
async fn origin_parameters(
    blobs: &dyn Blobs,
    origin: &Execution,
) -> anyhow::Result<Option<String>> {
    let Some(input) = &origin.input else {
        return Ok(None);
    };
    let v: Value = serde_json::from_str(input).context("the origin's input is not JSON")?;
    let Some(text) = v.get("Parameters").and_then(Value::as_str) else {
        return Ok(None);
    };
    let pointer = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|p| p.get(ferry_spec::task::PARAMETERS_BLOB).cloned());
    let Some(pointer) = pointer else {
        return Ok(Some(text.to_string()));
    };
    let (Some(key), Some(sha)) = (
        pointer.get("key").and_then(Value::as_str),
        pointer.get("sha256").and_then(Value::as_str),
    ) else {
        bail!("the origin's parameters blob pointer needs a key and a sha256");
    };
    let bytes = blobs
        .get(key)
        .await?
        .with_context(|| format!("the origin's parameters blob {key} is gone"))?;
    if ferry_deploy::keys::sha256_hex(&bytes) != sha {
        bail!("the origin's parameters blob {key} does not match its sha256");
    }
    String::from_utf8(bytes)
        .map(Some)
        .context("the origin's parameters blob is not UTF-8")
}
