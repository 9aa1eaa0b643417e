//! Placeholder: replaced by its owner (see `cmd/mod.rs`).

use std::process::ExitCode;

use crate::context::Context;

/// Arguments of the command (placeholder).
#[derive(Debug, clap::Args)]
pub struct ListRunsArgs {}

/// Not built yet.
pub async fn list_runs(_ctx: &Context, _args: ListRunsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this command is not built yet")
}

/// Arguments of the command (placeholder).
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

/// Not built yet.
pub async fn status(_ctx: &Context, _args: StatusArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this command is not built yet")
}

/// Arguments of the command (placeholder).
#[derive(Debug, clap::Args)]
pub struct TerminateArgs {}

/// Not built yet.
pub async fn terminate(_ctx: &Context, _args: TerminateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this command is not built yet")
}
