//! `ferry spec FLOW.py`: print the flow spec JSON (what `ferry deploy` uploads).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use ferry_spec::FlowSpec;
use ferry_spec::export::ExportError;

use crate::context::{Context, python};

/// Arguments of `ferry spec`.
#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    /// The flow file. Example: `examples/hello.py`.
    #[arg(value_name = "FLOW.py")]
    pub flow: PathBuf,

    /// The FlowSpec class to use when the file defines several flows.
    /// Example: `--flow TrainFlow`.
    #[arg(long = "flow", value_name = "CLASS")]
    pub flow_class: Option<String>,

    /// Print the spec even if Ferry cannot deploy the flow (switch steps, @parallel, unknown
    /// decorators are marked, not refused). Example: `ferry spec flow.py --no-validate`.
    #[arg(long)]
    pub no_validate: bool,
}

/// Export the validated spec of `flow_file` (its FlowSpec class `class`, needed when the file
/// defines several) with the interpreter of [`python`], off the async runtime (it runs a Python
/// process).
pub async fn export(flow_file: &Path, class: Option<&str>) -> anyhow::Result<FlowSpec> {
    export_flow(flow_file, class, true).await
}

/// Export a flow without validating it: enough to name its deployment, so commands that read or
/// delete a deployment still work after the flow file was edited into an undeployable state.
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

/// Export and print the spec.
pub async fn run(_ctx: &Context, args: SpecArgs) -> anyhow::Result<ExitCode> {
    let class = args.flow_class.as_deref();
    let spec = if args.no_validate {
        export_unvalidated(&args.flow, class).await?
    } else {
        export(&args.flow, class).await?
    };
    println!("{}", serde_json::to_string_pretty(&spec)?);
    Ok(ExitCode::SUCCESS)
}
