//! `ferry spec FLOW.py`: print the flow spec JSON (what `ferry deploy` uploads).

use std::process::ExitCode;

use crate::context::Context;
use crate::flow::{FlowArgs, export, export_unvalidated};

/// Arguments of `ferry spec`.
#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    #[command(flatten)]
    pub flow: FlowArgs,

    /// Print the spec even if Ferry cannot deploy the flow (switch steps, @parallel, unknown
    /// decorators are marked, not refused). Example: `ferry spec flow.py --no-validate`.
    #[arg(long)]
    pub no_validate: bool,
}

/// Export and print the spec.
pub async fn run(_ctx: &Context, args: SpecArgs) -> anyhow::Result<ExitCode> {
    let FlowArgs { flow, flow_class } = &args.flow;
    let spec = if args.no_validate {
        export_unvalidated(flow, flow_class.as_deref()).await?
    } else {
        export(flow, flow_class.as_deref()).await?
    };
    println!("{}", serde_json::to_string_pretty(&spec)?);
    Ok(ExitCode::SUCCESS)
}
