//! `ferry spec FLOW.py`: print the flow spec JSON (what `ferry deploy` uploads).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use ferry_spec::FlowSpec;

use crate::context::{Context, python};

/// Arguments of `ferry spec`.
#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    /// The flow file. Example: `examples/hello.py`.
    #[arg(value_name = "FLOW.py")]
    pub flow: PathBuf,

    /// Print the spec even if Ferry cannot deploy the flow (switch steps, @parallel, unknown
    /// decorators are marked, not refused). Example: `ferry spec flow.py --no-validate`.
    #[arg(long)]
    pub no_validate: bool,
}

/// Export the validated spec of `flow_file` with the interpreter of [`python`], off the async
/// runtime (it runs a Python process).
pub async fn export(flow_file: &Path) -> anyhow::Result<FlowSpec> {
    let flow_file = flow_file.to_path_buf();
    let py = python();
    tokio::task::spawn_blocking(move || ferry_spec::export::export_spec(&py, &flow_file))
        .await
        .context("the exporter task panicked")?
        .map_err(anyhow::Error::new)
}

/// Export a flow without validating it: enough to name its deployment, so commands that read or
/// delete a deployment still work after the flow file was edited into an undeployable state.
pub async fn export_unvalidated(flow_file: &Path) -> anyhow::Result<FlowSpec> {
    let flow_file = flow_file.to_path_buf();
    let py = python();
    tokio::task::spawn_blocking(move || {
        ferry_spec::export::export_unvalidated(&py, &flow_file, None)
    })
    .await
    .context("the exporter task panicked")?
    .map_err(anyhow::Error::new)
}

/// Export and print the spec.
pub async fn run(_ctx: &Context, args: SpecArgs) -> anyhow::Result<ExitCode> {
    let spec = if args.no_validate {
        let flow = args.flow.clone();
        let py = python();
        tokio::task::spawn_blocking(move || {
            ferry_spec::export::export_unvalidated(&py, &flow, None)
        })
        .await??
    } else {
        export(&args.flow).await?
    };
    println!("{}", serde_json::to_string_pretty(&spec)?);
    Ok(ExitCode::SUCCESS)
}
