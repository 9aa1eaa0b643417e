//! `ferry spec FLOW.py`: print the flow spec JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::context::Context;

/// Arguments of `ferry spec`.
#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    /// The flow file. Example: `examples/hello.py`.
    #[arg(value_name = "FLOW.py")]
    pub flow: PathBuf,
}

/// Export and print the spec.
pub async fn run(_ctx: &Context, _args: SpecArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ferry spec` is being built")
}
