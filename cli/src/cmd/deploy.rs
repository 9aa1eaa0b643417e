//! `ferry deploy FLOW.py` and `ferry delete FLOW.py`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::context::Context;

/// Which deployment of a flow (`@project` branches make several).
#[derive(Debug, Clone, clap::Args)]
pub struct Selector {
    /// The flow file. Example: `examples/hello.py`.
    #[arg(value_name = "FLOW.py")]
    pub flow: PathBuf,

    /// `@project` branch: deploys `<project>.test.<branch>.<Flow>` (with `--production`:
    /// `<project>.prod.<branch>.<Flow>`). Lower-case letters, digits and `_`.
    /// Example: `--branch feature_x`.
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,

    /// `@project` production branch: deploys `<project>.prod.<Flow>`.
    #[arg(long)]
    pub production: bool,

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

    /// Tag every run of the deployment (repeatable). Example: `--tag team:fraud --tag v2`.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// At most this many foreach tasks run at once. Example: `--max-workers 16`.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_workers: u32,

    /// Stop a run after this many seconds. Example: `--workflow-timeout 3600`.
    #[arg(long, value_name = "SECONDS")]
    pub workflow_timeout: Option<u64>,

    /// Which files of the flow's folder go into the code package (comma-separated suffixes).
    /// Example: `--package-suffixes .py,.sql,.yaml`.
    #[arg(long, default_value = ".py", value_name = "SUFFIXES")]
    pub package_suffixes: String,

    /// Compile only: print the state machine definition on stdout (messages on stderr) and
    /// change nothing. Example: `--only-json > definition.json`.
    #[arg(long)]
    pub only_json: bool,

    /// Run the deployment's runs in this namespace instead of `production:<token>`.
    /// Example: `--namespace team_fraud`.
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// Arguments of `ferry delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub select: Selector,
}

/// Deploy.
pub async fn deploy(_ctx: &Context, _args: DeployArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ferry deploy` is being built")
}

/// Delete.
pub async fn delete(_ctx: &Context, _args: DeleteArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ferry delete` is being built")
}
