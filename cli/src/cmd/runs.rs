//! `ferry list-runs FLOW.py`, `ferry status RUN_ID`, `ferry terminate RUN_ID`: runs of deployed
//! flows on the embedded stack, through its control API (`/ferry/v1/`, found in
//! `<home>/stack.json`), or on AWS through the same routes answered by `crate::aws_control`
//! (Step Functions and the deployments table). Output lines follow Metaflow's
//! `step-functions list-runs`/`terminate`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use ferry_deploy::failure::TaskFailure;
use ferry_deploy::usecase::names_for;
use ferry_deploy::{DeploymentRecord, Execution, ExecutionStatus};
use ferry_local::runner::LiveJob;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::context::{Context, Target};
use crate::failure::{ErrorKind, Failure};

/// A client of the running embedded stack's control API (or, for an AWS target, of the same
/// routes answered on AWS by `crate::aws_control`).
pub struct StackClient {
    base: String,
    http: reqwest::Client,
    #[cfg(feature = "aws")]
    aws: Option<crate::aws_control::AwsControl>,
}

/// An answer of the control API that is not a success.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub message: String,
}

impl StackClient {
    /// The stack running on the context's home (an error saying how to start one otherwise).
    pub fn connect(ctx: &Context) -> anyhow::Result<Self> {
        #[cfg(feature = "aws")]
        if let Target::Aws(aws) = &ctx.target {
            return Ok(StackClient {
                base: format!("s3://{}/{}", aws.bucket, aws.prefix),
                http: reqwest::Client::new(),
                aws: Some(crate::aws_control::AwsControl::new(aws.clone())),
            });
        }
        if let Target::Aws(_) = ctx.target {
            bail!(
                "this command works with the embedded stack; {} points at AWS",
                ctx.home.display()
            );
        }
        let Some(info) = ferry_local::stack::read_stack_file(&ctx.home) else {
            return Err(Failure::new(
                ErrorKind::Unavailable,
                format!(
                    "no Ferry stack is running on {}: start one with `ferry up --home {}`",
                    ctx.home.display(),
                    ctx.home.display()
                ),
            ));
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        Ok(StackClient {
            base: info.url.trim_end_matches('/').to_string(),
            http,
            #[cfg(feature = "aws")]
            aws: None,
        })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> anyhow::Result<Result<T, ApiFailure>> {
        let resp = req.send().await.map_err(|e| {
            Failure::new(
                ErrorKind::Unavailable,
                format!(
                    "the Ferry stack at {} does not answer (is `ferry up` still running?): {e}",
                    self.base
                ),
            )
        })?;
        let status = resp.status();
        let body = resp.bytes().await.context("reading the stack's answer")?;
        if status.is_success() {
            return Ok(Ok(
                serde_json::from_slice(&body).context("decoding the stack's answer")?
            ));
        }
        let message = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).to_string());
        Ok(Err(ApiFailure {
            status: status.as_u16(),
            message,
        }))
    }

    /// `GET /ferry/v1/<path>`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> anyhow::Result<Result<T, ApiFailure>> {
        #[cfg(feature = "aws")]
        if let Some(aws) = &self.aws {
            return decode(aws.call("GET", path, None).await?);
        }
        self.send(self.http.get(format!("{}/ferry/v1/{path}", self.base)))
            .await
    }

    /// `POST /ferry/v1/<path>` with a JSON body.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Result<T, ApiFailure>> {
        #[cfg(feature = "aws")]
        if let Some(aws) = &self.aws {
            return decode(aws.call("POST", path, Some(body)).await?);
        }
        self.send(
            self.http
                .post(format!("{}/ferry/v1/{path}", self.base))
                .json(body),
        )
        .await
    }

    /// A deployment record, `None` if there is no such deployment.
    pub async fn deployment(&self, name: &str) -> anyhow::Result<Option<DeploymentRecord>> {
        match self
            .get::<DeploymentRecord>(&format!("deployments/{name}"))
            .await?
        {
            Ok(r) => Ok(Some(r)),
            Err(f) if f.status == 404 => Ok(None),
            Err(f) => bail!("{}", f.message),
        }
    }

    /// An execution of state machine `state_machine` by name, `None` if unknown (on AWS one
    /// `DescribeExecution`, where [`StackClient::execution`] looks through every deployment).
    pub async fn execution_of(
        &self,
        state_machine: &str,
        name: &str,
    ) -> anyhow::Result<Option<Execution>> {
        match self
            .get::<Execution>(&format!("executions/{name}?state_machine={state_machine}"))
            .await?
        {
            Ok(e) => Ok(Some(e)),
            Err(f) if f.status == 404 => Ok(None),
            Err(f) => bail!("{}", f.message),
        }
    }

    /// An execution by name, `None` if unknown.
    pub async fn execution(&self, name: &str) -> anyhow::Result<Option<Execution>> {
        match self.get::<Execution>(&format!("executions/{name}")).await? {
            Ok(e) => Ok(Some(e)),
            Err(f) if f.status == 404 => Ok(None),
            Err(f) => bail!("{}", f.message),
        }
    }
}

/// Decode a route's JSON answer.
#[cfg(feature = "aws")]
fn decode<T: DeserializeOwned>(
    r: Result<Value, ApiFailure>,
) -> anyhow::Result<Result<T, ApiFailure>> {
    match r {
        Ok(v) => Ok(Ok(
            serde_json::from_value(v).context("decoding an AWS answer")?
        )),
        Err(f) => Ok(Err(f)),
    }
}

/// Which deployment of a flow file (`@project` branches make several).
#[derive(Debug, Clone, clap::Args)]
pub struct FlowSelector {
    /// The flow file, or a deployment name as `ferry deployments` lists it.
    /// Examples: `examples/hello.py`, `fraud_model.prod.ScoreFlow`.
    #[arg(value_name = "FLOW.py|DEPLOYMENT")]
    pub flow: PathBuf,
    /// The FlowSpec class, when the file defines several flows. Example: `--flow TrainFlow`.
    #[arg(long = "flow", value_name = "CLASS")]
    pub flow_class: Option<String>,
    /// `@project` branch of the deployment. Example: `--branch feature_x`.
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// `@project` production deployment.
    #[arg(long)]
    pub production: bool,
}

/// A deployment named directly, as `ferry deployments` lists it (`fraud_model.prod.ScoreFlow`),
/// where a command takes `FLOW.py|DEPLOYMENT`: `Ok(None)` when `arg` is an existing file (a flow
/// file, handled by the caller); an error for a `.py` file that does not exist or a name that is
/// no deployment name (1 to 80 letters, digits, `.`, `-`, `_`).
pub fn deployment_named(arg: &Path) -> anyhow::Result<Option<String>> {
    if arg.is_file() {
        return Ok(None);
    }
    let name = arg.to_string_lossy().to_string();
    if name.ends_with(".py") || name.contains('/') {
        bail!("cannot read the flow file {name}: no such file");
    }
    if ferry_deploy::keys::validate_deployment(&name).is_err() {
        bail!(
            "{name:?} is neither a flow file nor a deployment name (1 to 80 letters, digits, '.', '-' or '_', as `ferry deployments` lists them)"
        );
    }
    Ok(Some(name))
}

/// The flow selectors that make no sense with a deployment name (it names one deployment of
/// one flow already): a usage error naming them.
pub fn refuse_selectors_with_name(
    name: &str,
    class: Option<&str>,
    branch: Option<&str>,
    production: bool,
) -> anyhow::Result<()> {
    let given: Vec<&str> = [
        class.map(|_| "--flow"),
        branch.map(|_| "--branch"),
        production.then_some("--production"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(anyhow::Error::new(crate::UsageError(anyhow::anyhow!(
        "{} select a deployment of a flow file; {name} names a deployment already: drop {}",
        given.join(" and "),
        if given.len() == 1 { "it" } else { "them" }
    ))))
}

/// The deployment (state machine) name of a flow file (its FlowSpec class `class` when the file
/// defines several), as `ferry deploy` computed it; or the deployment name given in its place
/// (see [`deployment_named`]).
pub async fn deployment_of(
    ctx: &Context,
    flow: &Path,
    class: Option<&str>,
    branch: Option<&str>,
    production: bool,
) -> anyhow::Result<String> {
    if let Some(name) = deployment_named(flow)? {
        refuse_selectors_with_name(&name, class, branch, production)?;
        return Ok(name);
    }
    let file = flow
        .canonicalize()
        .with_context(|| format!("cannot read the flow file {}", flow.display()))?;
    let spec = crate::cmd::spec::export_unvalidated(&file, class).await?;
    let names = names_for(
        &spec,
        ctx.user()?,
        branch,
        production,
        ctx.state_machine_prefix().as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    Ok(names.state_machine)
}

/// "no run sfn-… on <platform>", a [`ErrorKind::NotFound`] failure.
fn no_run(ctx: &Context, run_id: &str) -> anyhow::Error {
    Failure::new(
        ErrorKind::NotFound,
        format!("no run {run_id} on {}", ctx.platform()),
    )
}

/// The execution name of a run id (`sfn-<name>`), with Metaflow's message otherwise.
pub fn execution_name(run_id: &str) -> anyhow::Result<&str> {
    let Some(name) = run_id.strip_prefix("sfn-") else {
        bail!(
            "Run IDs for flows executed through Ferry (as through AWS Step Functions) begin with 'sfn-': {run_id:?}"
        );
    };
    // Step Functions execution names: 1 to 80 characters; Ferry's are UUIDs.
    let valid = !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        let shown: String = run_id.chars().take(90).collect();
        bail!(
            "{shown:?} is not a run id: expected sfn- followed by an execution name (1 to 80 letters, digits, - or _), as `ferry list-runs` prints"
        );
    }
    Ok(name)
}

/// `2026-11-30 02:24:19+00:00`, as Metaflow prints boto's datetimes.
pub fn metaflow_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%:z").to_string()
}

/// Arguments of `ferry list-runs`.
#[derive(Debug, clap::Args)]
pub struct ListRunsArgs {
    #[command(flatten)]
    pub select: FlowSelector,
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
            "sfn-{} startedAt:'{}' stoppedAt:'{}' {}",
            e.name,
            metaflow_time(&e.start_date),
            metaflow_time(stop),
            e.status
        ),
        None => format!(
            "sfn-{} startedAt:'{}' {}",
            e.name,
            metaflow_time(&e.start_date),
            e.status
        ),
    }
}

fn execution_json(e: &Execution, flow: Option<&str>) -> Value {
    let resumed = crate::cmd::resume::resumed_from(e);
    json!({
        "run_id": format!("sfn-{}", e.name),
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
    let s = &args.select;
    let deployment = deployment_of(
        ctx,
        &s.flow,
        s.flow_class.as_deref(),
        s.branch.as_deref(),
        s.production,
    )
    .await?;
    let client = StackClient::connect(ctx)?;
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
        let path = match q {
            Some(st) => format!("state-machines/{deployment}/executions?status={st}"),
            None => format!("state-machines/{deployment}/executions"),
        };
        match client.get::<Vec<Execution>>(&path).await? {
            Ok(mut list) => runs.append(&mut list),
            Err(f) if f.status == 404 => {
                return Err(Failure::new(
                    ErrorKind::NotFound,
                    ferry_deploy::messages::missing(&deployment, ctx.platform()),
                ));
            }
            Err(f) => bail!("{}", f.message),
        }
    }
    runs.sort_by_key(|e| std::cmp::Reverse(e.start_date));
    // Listings carry no input: describe each run to mark the resumed ones.
    for e in runs.iter_mut() {
        if let Some(full) = client
            .execution_of(&deployment, &e.name)
            .await
            .ok()
            .flatten()
        {
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
        match crate::cmd::resume::resumed_from(e) {
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
    let name = execution_name(&args.run_id)?;
    let client = StackClient::connect(ctx)?;
    let Some(e) = client.execution(name).await? else {
        return Err(no_run(ctx, &args.run_id));
    };
    let flow = client.deployment(&e.state_machine).await?.map(|r| r.flow);
    let failure = e.cause.as_deref().and_then(TaskFailure::from_cause);
    let jobs = if e.status == ExecutionStatus::Running {
        running_jobs(ctx, &client, name).await?
    } else {
        None
    };
    if ctx.json {
        let mut v = execution_json(&e, flow.as_deref());
        if let Some(jobs) = &jobs {
            v["running"] = json!(jobs);
        }
        if let Some(f) = &failure {
            v["failing_task"] = json!(f.task_id);
            v["exit_code"] = json!(f.exit_code);
            v["reason"] = json!(f.reason);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let flow_name = flow.clone().unwrap_or_else(|| e.state_machine.clone());
    println!(
        "Run sfn-{} of {flow_name} (deployment {}): {}",
        e.name, e.state_machine, e.status
    );
    if let Some(r) = crate::cmd::resume::resumed_from(&e) {
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
        match &failure {
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
                        "Logs: ferry logs {flow_name}/sfn-{}/{step}/{task} --stderr",
                        e.name
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

/// The tasks a running execution runs now: on the embedded stack from its control API
/// (`GET executions/{name}/jobs`); `None` where nobody can tell cheaply (AWS: DescribeExecution
/// does not say, and walking the execution history is not worth a status call).
async fn running_jobs(
    ctx: &Context,
    client: &StackClient,
    name: &str,
) -> anyhow::Result<Option<Vec<LiveJob>>> {
    if !matches!(ctx.target, Target::Local) {
        return Ok(None);
    }
    match client
        .get::<Vec<LiveJob>>(&format!("executions/{name}/jobs"))
        .await?
    {
        Ok(jobs) => Ok(Some(jobs)),
        // A stack from before the route, or a run that just ended.
        Err(f) if f.status == 404 => Ok(None),
        Err(f) => bail!("{}", f.message),
    }
}

/// `Running:` then `  start: task j-1 (attempt 1, since …)`, one line per step, at most three
/// task ids each.
fn running_lines(jobs: &[LiveJob]) -> Vec<String> {
    if jobs.is_empty() {
        return vec!["Running: no task at this moment (between steps)".to_string()];
    }
    let mut steps: Vec<(&str, Vec<&LiveJob>)> = Vec::new();
    for j in jobs {
        match steps.iter_mut().find(|(s, _)| *s == j.step) {
            Some((_, v)) => v.push(j),
            None => steps.push((&j.step, vec![j])),
        }
    }
    let mut out = vec!["Running:".to_string()];
    for (step, js) in &steps {
        let running: Vec<&&LiveJob> = js.iter().filter(|j| j.started_at.is_some()).collect();
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
    let name = execution_name(&args.run_id)?;
    let client = StackClient::connect(ctx)?;
    let Some(e) = client.execution(name).await? else {
        return Err(no_run(ctx, &args.run_id));
    };
    let flow = client
        .deployment(&e.state_machine)
        .await?
        .map(|r| r.flow)
        .unwrap_or_else(|| e.state_machine.clone());
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
    let body = json!({"error": "Ferry.Terminated", "cause": format!("Terminated by {}", ctx.user().unwrap_or("a user"))});
    let stopped: Execution = match client
        .post(&format!("executions/{name}/stop"), &body)
        .await?
    {
        Ok(e) => e,
        Err(f) => bail!("{}", f.message),
    };
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
    use super::execution_name;

    #[test]
    fn run_ids_are_sfn_and_an_execution_name() {
        assert_eq!(
            execution_name("sfn-0b1c2d3e-aaaa-bbbb-cccc-123456789012").unwrap(),
            "0b1c2d3e-aaaa-bbbb-cccc-123456789012"
        );
        for bad in [
            "sfn-",
            "sfn-a/b",
            "sfn-../../etc/passwd",
            "run-1",
            "",
            &format!("sfn-{}", "a".repeat(81)),
        ] {
            let e = execution_name(bad).unwrap_err().to_string();
            assert!(e.contains("sfn-"), "{bad}: {e}");
            assert!(e.len() < 300, "the message stays short: {e}");
        }
    }
}
