//! Placeholder: replaced by its owner (see `cmd/mod.rs`).

use std::process::ExitCode;

use crate::context::Context;

/// Arguments of the command (placeholder).
#[derive(Debug, clap::Args)]
pub struct TriggerArgs {}

/// Not built yet.
pub async fn run(_ctx: &Context, _args: TriggerArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this command is not built yet")
}
