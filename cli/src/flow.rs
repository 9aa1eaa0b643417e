//! The flow a command names: the one clap selector of a flow file ([`FlowArgs`]: the file and
//! `--flow CLASS`; [`DeploymentArgs`]: with the `@project` branch), the exporter that reads the
//! file with the real `metaflow` package, and the one [`DeploymentArgs::resolve`] from a flow
//! file to the deployment it goes to. Every command that takes a flow file uses them; those that
//! also take a deployment name in its place (`FLOW.py|DEPLOYMENT`: `describe`, `delete`,
//! `trigger`, `list-runs`) use [`DeploymentArgs::deployment`].

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ferry_deploy::usecase::names_for;
use ferry_spec::export::ExportError;
use ferry_spec::{DeploymentName, FlowSpec};

use crate::context::{Context, python};

/// A flow file and which flow in it.
#[derive(Debug, Clone, clap::Args)]
pub struct FlowArgs {
    /// The flow file. Example: `examples/hello.py`.
    #[arg(value_name = "FLOW.py", index = 1)]
    pub flow: PathBuf,

    /// The FlowSpec class, when the file defines several flows. Example: `--flow TrainFlow`.
    #[arg(long = "flow", value_name = "CLASS")]
    pub flow_class: Option<String>,
}

/// Which deployment of a flow file: the flow, and its `@project` branch (`@project` branches
/// make several deployments of one flow).
#[derive(Debug, Clone, clap::Args)]
pub struct DeploymentArgs {
    #[command(flatten)]
    pub flow: FlowArgs,

    /// `@project` branch: the deployment `<project>.test.<branch>.<Flow>` (with `--production`:
    /// `<project>.prod.<branch>.<Flow>`). Lower-case letters, digits and `_`.
    /// Example: `--branch feature_x`.
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,

    /// `@project` production branch: the deployment `<project>.prod.<Flow>`.
    #[arg(long)]
    pub production: bool,
}

/// How much [`DeploymentArgs::resolve`] checks the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The flow must be deployable (`ferry deploy`): the spec is validated.
    Deployable,
    /// Only name its deployment, so commands that read or delete a deployment still work after
    /// the flow file was edited into an undeployable state.
    NameOnly,
}

/// A flow file resolved: its spec and the deployment it goes to.
#[derive(Debug)]
pub struct Resolved {
    /// Who deploys (the context's user).
    pub user: String,
    /// The flow file, canonical.
    pub flow_file: PathBuf,
    /// Its exported spec (validated for [`Check::Deployable`]).
    pub spec: FlowSpec,
    /// The deployment (= state machine) name.
    pub deployment: DeploymentName,
    /// The production-token prefix.
    pub token_prefix: String,
}

impl DeploymentArgs {
    /// Export the flow (its `--flow` class) and name the deployment it goes to with `--branch`
    /// and `--production`, as the deploy handler will (the installation's state machine prefix
    /// included). Errors: an unreadable file, a flow that does not export (a usage error when
    /// the file has several flows and no `--flow`), `@project` options that do not apply.
    pub async fn resolve(&self, ctx: &Context, check: Check) -> anyhow::Result<Resolved> {
        let flow = &self.flow.flow;
        let flow_file = flow
            .canonicalize()
            .with_context(|| format!("cannot read the flow file {}", flow.display()))?;
        anyhow::ensure!(flow_file.is_file(), "{} is not a file", flow.display());
        let class = self.flow.flow_class.as_deref();
        let spec = match check {
            Check::Deployable => export(&flow_file, class).await?,
            Check::NameOnly => export_unvalidated(&flow_file, class).await?,
        };
        let user = ctx.user()?.to_string();
        let names = names_for(
            &spec,
            &user,
            self.branch.as_deref(),
            self.production,
            ctx.state_machine_prefix().as_deref(),
        )
        .map_err(anyhow::Error::msg)?;
        Ok(Resolved {
            user,
            flow_file,
            spec,
            deployment: DeploymentName::parse(&names.state_machine)?,
            token_prefix: names.token_prefix,
        })
    }
}

impl DeploymentArgs {
    /// The deployment a `FLOW.py|DEPLOYMENT` argument names: a deployment name given in place
    /// of the flow file ([`deployment_named`]; `--flow`, `--branch` and `--production` are then
    /// a usage error), else the flow file [`DeploymentArgs::resolve`]d with [`Check::NameOnly`].
    pub async fn deployment(&self, ctx: &Context) -> anyhow::Result<DeploymentName> {
        match deployment_named(&self.flow.flow)? {
            Some(name) => {
                self.refuse_selectors_with(&name)?;
                Ok(name)
            }
            None => Ok(self.resolve(ctx, Check::NameOnly).await?.deployment),
        }
    }

    /// The flow selectors that make no sense with a deployment name (it names one deployment
    /// of one flow already): a usage error naming them.
    fn refuse_selectors_with(&self, name: &DeploymentName) -> anyhow::Result<()> {
        let given: Vec<&str> = [
            self.flow.flow_class.as_ref().map(|_| "--flow"),
            self.branch.as_ref().map(|_| "--branch"),
            self.production.then_some("--production"),
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
}

/// What `--help` says of a `FLOW.py|DEPLOYMENT` argument.
pub const TARGET_HELP: &str = "The flow file, or a deployment name as `ferry deployments` lists it. Examples: `examples/hello.py`, `fraud_model.prod.ScoreFlow`.";

/// The flow selector's positional as the commands that also take a deployment name show it
/// (`FLOW.py|DEPLOYMENT`, [`TARGET_HELP`]); other arguments unchanged. For
/// `#[command(mut_args(flow::flow_or_deployment))]`, which keeps the arguments' order (so a
/// trailing positional after it stays last).
pub fn flow_or_deployment(a: clap::Arg) -> clap::Arg {
    if a.get_id() == "flow" && a.is_positional() {
        a.value_name("FLOW.py|DEPLOYMENT").help(TARGET_HELP)
    } else {
        a
    }
}

/// A deployment named directly, as `ferry deployments` lists it (`fraud_model.prod.ScoreFlow`),
/// where a command takes `FLOW.py|DEPLOYMENT`: `Ok(None)` when `arg` is an existing file (a flow
/// file); an error for a `.py` file or path that does not exist, or a name that is no
/// deployment name (1 to 80 letters, digits, `.`, `-`, `_`).
pub fn deployment_named(arg: &Path) -> anyhow::Result<Option<DeploymentName>> {
    if arg.is_file() {
        return Ok(None);
    }
    let name = arg.to_string_lossy().to_string();
    if name.ends_with(".py") || name.contains('/') {
        anyhow::bail!("cannot read the flow file {name}: no such file");
    }
    match DeploymentName::parse(&name) {
        Ok(n) => Ok(Some(n)),
        Err(_) => anyhow::bail!(
            "{name:?} is neither a flow file nor a deployment name (1 to 80 letters, digits, '.', '-' or '_', as `ferry deployments` lists them)"
        ),
    }
}

/// Export the validated spec of `flow_file` (its FlowSpec class `class`, needed when the file
/// defines several) with the interpreter of [`python`], off the async runtime (it runs a Python
/// process).
pub async fn export(flow_file: &Path, class: Option<&str>) -> anyhow::Result<FlowSpec> {
    export_flow(flow_file, class, true).await
}

/// Export a flow without validating it (see [`Check::NameOnly`]).
pub async fn export_unvalidated(flow_file: &Path, class: Option<&str>) -> anyhow::Result<FlowSpec> {
    export_flow(flow_file, class, false).await
}

async fn export_flow(
    flow_file: &Path,
    class: Option<&str>,
    validate: bool,
) -> anyhow::Result<FlowSpec> {
    let file = flow_file.to_path_buf();
    let wanted = class.map(str::to_string);
    let py = python();
    let exported = tokio::task::spawn_blocking(move || {
        if validate {
            ferry_spec::export::export_validated(&py, &file, wanted.as_deref())
                .map(|(spec, _)| spec)
        } else {
            ferry_spec::export::export_unvalidated(&py, &file, wanted.as_deref())
        }
    })
    .await
    .context("the exporter task panicked")?;
    exported.map_err(|e| choose_flow_error(flow_file, class, e))
}

/// A file with several flows and no `--flow`, or a `--flow` naming none of them, is a usage
/// error (exit 2) that lists the classes and says how to pick one; other errors pass through.
fn choose_flow_error(flow_file: &Path, class: Option<&str>, e: ExportError) -> anyhow::Error {
    let ExportError::NoFlow { classes, message } = &e else {
        return anyhow::Error::new(e);
    };
    let usage = |m: String| anyhow::Error::new(crate::UsageError(anyhow::anyhow!(m)));
    match (class, classes.as_slice()) {
        (None, [first, _, ..]) => usage(format!(
            "{} defines {} flows ({}): choose one with --flow CLASS, e.g. `--flow {first}`",
            flow_file.display(),
            classes.len(),
            classes.join(", ")
        )),
        (Some(_), [_, ..]) => usage(format!("{message}: pass one of them to --flow")),
        _ => anyhow::Error::new(e),
    }
}
