//! `ferry deploy FLOW.py` and `ferry delete FLOW.py`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use ferry_control::DeploymentName;
use ferry_deploy::{
    DeployOptions, DeployRequest, DeployResult, DeployStatus, RequestAction, RequestId,
};

use crate::context::{Context, Target};
use crate::failure::{ErrorKind, Failure};
use crate::flow::{Check, DeploymentArgs, Resolved, deployment_named};
use crate::{package, submit, tokens};

/// Which deployment of a flow (`@project` branches make several), and who may change it.
#[derive(Debug, Clone, clap::Args)]
pub struct Selector {
    #[command(flatten)]
    pub deployment: DeploymentArgs,

    /// The production token that authorises you to change a deployment made by someone else
    /// (with or without its `production:` prefix). Example: `--authorize helloflow-0-apnt`.
    #[arg(long, value_name = "TOKEN")]
    pub authorize: Option<String>,

    /// Seconds to wait for the deploy handler's answer. Example: `--timeout 600`.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
}

/// Arguments of `ferry deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub select: Selector,

    /// Start a new production namespace: take the next token of the sequence (the old
    /// namespace's runs stay where they are). Example: `--generate-new-token`.
    #[arg(long)]
    pub generate_new_token: bool,

    /// Use the given production token for this flow, moving its runs to the namespace
    /// `production:TOKEN` (Metaflow's `--new-token`; not for @project flows, whose tokens keep
    /// the project's prefix). Example: `--new-token team-fraud-2026`.
    #[arg(
        long = "new-token",
        value_name = "TOKEN",
        conflicts_with = "generate_new_token"
    )]
    pub new_token: Option<String>,

    /// Tag every run of the deployment (repeatable). Example: `--tag team:fraud --tag v2`.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// At most this many foreach tasks run at once. Example: `--max-workers 16`.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_workers: u32,

    /// Stop a run after this many seconds: 1 to 31536000 (one year, the Step Functions limit).
    /// Example: `--workflow-timeout 3600`.
    #[arg(long, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=ferry_compile::limits::MAX_WORKFLOW_TIMEOUT_SECONDS))]
    pub workflow_timeout: Option<u64>,

    /// Which files of the flow's folder go into the code package (comma-separated suffixes).
    /// Example: `--package-suffixes .py,.sql,.yaml`.
    #[arg(long, default_value = ".py", value_name = "SUFFIXES")]
    pub package_suffixes: String,

    /// Ship your `metaflow` library (the one the python that exports the flow imports:
    /// `$FERRY_PYTHON`, else `python3`) in the code package, under `.mf_code/metaflow/`, and run
    /// every task with it, so task images need only python3 (the wrapper bootstrap installs
    /// boto3 and requests when missing) and tasks run exactly your Metaflow version. The
    /// default on an AWS stack; the embedded stack's tasks run your python already.
    /// Example: `ferry deploy flow.py --package-metaflow`.
    #[arg(long, conflicts_with = "no_package_metaflow")]
    pub package_metaflow: bool,

    /// Do not ship `metaflow` in the code package: tasks import the image's own (it must
    /// have Metaflow installed, e.g. infra/task-image). Example: `--no-package-metaflow`.
    #[arg(long)]
    pub no_package_metaflow: bool,

    /// Compile only: print the state machine definition on stdout (messages on stderr) and
    /// change nothing. Example: `--only-json > definition.json`.
    #[arg(long)]
    pub only_json: bool,

    /// How each foreach body runs: `map` (the default: a Step Functions Map of one Batch job
    /// per item), `array` (AWS Batch array jobs wherever the body is a chain of plain steps:
    /// one SubmitJob per 10,000 items and body step instead of one per item; Map for the
    /// rest) or `auto` (the compiler chooses: array wherever the body allows it). Both forms
    /// run on AWS and on the embedded stack alike. The output names each foreach's form;
    /// `ferry plan` compares them. Example: `--foreach-mode array`.
    #[arg(long, value_name = "MODE", default_value = "map",
          value_parser = crate::cmd::plan::foreach_mode_parser())]
    pub foreach_mode: ferry_compile::ForeachMode,

    /// Run the deployment's runs in this namespace instead of `production:<token>`.
    /// Example: `--namespace team_fraud`.
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    #[command(flatten)]
    pub notify: crate::notify::NotifyArgs,

    /// Metaflow's `--with DECORATOR` (a decorator on every step of one run) is not supported:
    /// a deployment runs the decorators written in the flow file. Accepted only to say so.
    #[arg(long = "with", value_name = "DECORATOR", hide = true)]
    pub with: Vec<String>,
}

/// The usage error for `ferry deploy --with …`: what to do instead.
fn with_not_supported(decorators: &[String]) -> anyhow::Error {
    let first = decorators[0].split(':').next().unwrap_or_default();
    anyhow::Error::new(crate::UsageError(anyhow::anyhow!(
        "ferry deploy does not support --with {}: a deployment runs the decorators written in the flow file, so every run of it behaves the same. Add them to the steps instead (e.g. `@{first}` above `@step`, imported from metaflow), then deploy again.",
        decorators.join(" --with ")
    )))
}

/// Arguments of `ferry delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub select: Selector,
}

/// The deployment a request changes, and who asks.
struct RequestTarget {
    user: String,
    deployment: DeploymentName,
    flow: String,
    token_prefix: String,
}

impl From<&Resolved> for RequestTarget {
    fn from(r: &Resolved) -> Self {
        RequestTarget {
            user: r.user.clone(),
            deployment: r.deployment.clone(),
            flow: r.spec.flow.clone(),
            token_prefix: r.token_prefix.clone(),
        }
    }
}

fn new_request(t: &RequestTarget, action: RequestAction, options: DeployOptions) -> DeployRequest {
    DeployRequest {
        version: ferry_deploy::request::REQUEST_VERSION,
        request_id: RequestId::new(),
        action,
        deployment: t.deployment.to_string(),
        flow: t.flow.clone(),
        spec: None,
        package: None,
        user: t.user.clone(),
        requested_at: Utc::now(),
        options,
    }
}

/// `--authorize`, else the token stored locally for this prefix.
fn authorization(select: &Selector, prefix: &str) -> Option<String> {
    select.authorize.clone().or_else(|| tokens::load(prefix))
}

/// Print a result's messages: on stdout for people, on stderr when stdout carries data.
fn print_messages(ctx: &Context, result: &DeployResult, data_on_stdout: bool) {
    for line in &result.messages {
        if data_on_stdout || ctx.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

/// Success, or a refused/failed result as a [`Failure`] carrying the result for `--json` (its
/// messages are printed already).
fn finish(result: &DeployResult) -> anyhow::Result<ExitCode> {
    let kind = match result.status {
        DeployStatus::Ok => return Ok(ExitCode::SUCCESS),
        DeployStatus::Refused => ErrorKind::Refused,
        DeployStatus::Failed => ErrorKind::Failed,
    };
    Err(anyhow::Error::new(Failure {
        kind,
        message: result.messages.join("\n"),
        result: serde_json::to_value(result).ok(),
        reported: true,
    }))
}

/// Fail fast when the embedded stack that would handle the request is not running: no
/// `stack.json` (a clean stop removes it), or a `stack.json` left by a crashed stack that no
/// longer answers.
async fn require_handler(ctx: &Context) -> anyhow::Result<()> {
    if let Target::Local = ctx.target {
        let start = || {
            format!(
                "start one with `ferry up --home {}` (it handles deploys), then run this command again",
                ctx.home.display()
            )
        };
        let Some(client) = crate::control::local_stack(ctx)? else {
            return Err(Failure::new(
                ErrorKind::Unavailable,
                format!(
                    "no Ferry stack is running on {}: {}",
                    ctx.home.display(),
                    start()
                ),
            ));
        };
        if client.stack().await.is_err() {
            return Err(Failure::new(
                ErrorKind::Unavailable,
                format!(
                    "the Ferry stack of {} does not answer (it may have crashed): {}",
                    ctx.home.display(),
                    start()
                ),
            ));
        }
    }
    Ok(())
}

/// Deploy.
pub async fn deploy(ctx: &Context, args: DeployArgs) -> anyhow::Result<ExitCode> {
    if !args.with.is_empty() {
        return Err(with_not_supported(&args.with));
    }
    require_handler(ctx).await?;
    let suffixes = package::parse_suffixes(&args.package_suffixes)?;
    let notify = args.notify.plan()?;
    let r = args
        .select
        .deployment
        .resolve(ctx, Check::Deployable)
        .await?;
    let platform = ctx.platform();
    eprintln!("Deploying {} to {platform}...", r.spec.flow);
    let folder = r.flow_file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let ship_metaflow = args.package_metaflow
        || (!args.no_package_metaflow && matches!(ctx.target, Target::Aws(_)));
    let metaflow = if ship_metaflow {
        package::locate_metaflow(&crate::context::python(), &folder)?
    } else {
        None
    };
    let pkg = tokio::task::spawn_blocking(move || {
        package::build_with(&folder, &suffixes, metaflow.as_deref())
    })
    .await??;
    anyhow::ensure!(
        pkg.files.iter().any(|f| f == &r.spec.file),
        "the code package lacks the flow file {}: check --package-suffixes",
        r.spec.file
    );
    let blobs = ctx.blobs().await?;
    // @pypi/@conda: resolve once here, store wheels and locks (ferry-pyenv, docs/environments.md).
    let environments = if args.only_json {
        Default::default()
    } else {
        let resolver = ferry_pyenv::Resolver::discover(crate::context::python());
        let work = tempfile::tempdir().context("creating a scratch directory")?;
        let published =
            ferry_pyenv::publish_flow_envs(&r.spec, blobs.as_ref(), &resolver, work.path(), None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}\nNothing was deployed."))?;
        for line in published.summary() {
            eprintln!("{line}");
        }
        published.steps
    };
    let options = DeployOptions {
        environments,
        authorize: authorization(&args.select, &r.token_prefix),
        generate_new_token: args.generate_new_token,
        given_token: args.new_token.clone(),
        branch: args.select.deployment.branch.clone(),
        production: args.select.deployment.production,
        tags: args.tags.clone(),
        max_workers: Some(args.max_workers),
        workflow_timeout: args.workflow_timeout,
        namespace: args.namespace.clone(),
        only_json: args.only_json,
        foreach_mode: args.foreach_mode,
        notifications: None,
    };
    let mut request = new_request(&RequestTarget::from(&r), RequestAction::Deploy, options);
    if !args.only_json {
        // The secret values go to the secret store now; the request carries their name only.
        crate::notify::attach(ctx, &mut request, notify).await?;
    }
    request.package = Some(submit::upload_package(blobs.as_ref(), &pkg).await?);
    let spec_json = serde_json::to_vec_pretty(&r.spec)?;
    submit::upload_spec(blobs.as_ref(), &mut request, spec_json).await?;
    let timeout = Duration::from_secs(args.select.timeout);
    let result =
        submit::submit_and_wait(ctx, blobs.as_ref(), &request, timeout, "deploying").await?;

    print_messages(ctx, &result, args.only_json);
    for warning in &result.warnings {
        eprintln!("ferry: warning: {warning}");
    }
    if result.status == DeployStatus::Ok
        && let (Some(prefix), Some(token)) = (&result.token_prefix, &result.token)
        && let Err(e) = tokens::store(prefix, token)
    {
        eprintln!("ferry: warning: the production token could not be stored locally: {e:#}");
    }
    if args.only_json {
        if let Some(def) = &result.definition {
            println!("{}", serde_json::to_string_pretty(def)?);
        }
    } else if ctx.json && result.status == DeployStatus::Ok {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    finish(&result)
}

/// The deployment `ferry delete` names: by its flow file and selectors, or by name (its record
/// says which flow it is and its token prefix).
async fn delete_target(ctx: &Context, select: &Selector) -> anyhow::Result<RequestTarget> {
    if deployment_named(&select.deployment.flow.flow)?.is_none() {
        return Ok(RequestTarget::from(
            &select.deployment.resolve(ctx, Check::NameOnly).await?,
        ));
    }
    let name = select.deployment.deployment(ctx).await?;
    let store = ferry_deploy::DeploymentStore::new(ctx.table().await?);
    let Some(record) = store.get(&name).await? else {
        return Err(Failure::new(
            ErrorKind::NotFound,
            ferry_deploy::messages::missing(&name, ctx.platform()),
        ));
    };
    Ok(RequestTarget {
        user: ctx.user()?.to_string(),
        deployment: name,
        flow: record.flow,
        token_prefix: record.token_prefix,
    })
}

/// Delete.
pub async fn delete(ctx: &Context, args: DeleteArgs) -> anyhow::Result<ExitCode> {
    require_handler(ctx).await?;
    let target = delete_target(ctx, &args.select).await?;
    let blobs = ctx.blobs().await?;
    let options = DeployOptions {
        authorize: authorization(&args.select, &target.token_prefix),
        branch: args.select.deployment.branch.clone(),
        production: args.select.deployment.production,
        ..DeployOptions::default()
    };
    let request = new_request(&target, RequestAction::Delete, options);
    let timeout = Duration::from_secs(args.select.timeout);
    let result =
        submit::submit_and_wait(ctx, blobs.as_ref(), &request, timeout, "deleting").await?;
    print_messages(ctx, &result, false);
    if ctx.json && result.status == DeployStatus::Ok {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    finish(&result)
}
