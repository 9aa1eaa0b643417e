//! `ferry describe FLOW.py` and `ferry deployments`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::context::Context;

/// Arguments of `ferry describe`.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The flow file, or a deployment name as `ferry deployments` lists it.
    /// Examples: `examples/hello.py`, `fraud_model.prod.ScoreFlow`.
    #[arg(value_name = "FLOW.py|DEPLOYMENT")]
    pub flow: PathBuf,

    /// `@project` branch of the deployment. Example: `--branch feature_x`.
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,

    /// `@project` production deployment.
    #[arg(long)]
    pub production: bool,
}

/// Arguments of `ferry deployments`.
#[derive(Debug, clap::Args)]
pub struct DeploymentsArgs {}

/// Describe one deployment.
pub async fn describe(_ctx: &Context, _args: DescribeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ferry describe` is being built")
}

/// List deployments.
pub async fn deployments(_ctx: &Context, _args: DeploymentsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ferry deployments` is being built")
}
