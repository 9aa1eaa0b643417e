//! The execution input of a run as it is started (`ferry trigger`, `ferry resume`): parameters
//! too long for Batch's container overrides move to a blob the task wrapper reads
//! (`ferry_deploy::run_input`, shared with event-started runs).

use crate::context::Context;

/// The execution input, with parameters too long for the Batch container overrides moved to a
/// content-addressed blob of the target's blob store ([`ferry_deploy::run_input`]).
pub async fn offload_long_parameters(ctx: &Context, input: String) -> anyhow::Result<String> {
    let blobs = ctx.blobs().await?;
    Ok(ferry_deploy::run_input::offload_long_parameters(blobs.as_ref(), input).await?)
}
