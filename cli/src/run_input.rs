//! The execution input of a run as it is started (`ferry trigger`, `ferry resume`): parameters
//! too long for Batch's container overrides move to a blob the task wrapper reads.

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::context::Context;

/// The execution input, with parameters too long for the Batch container overrides
/// (`ferry_compile::MAX_TRIGGER_PARAMETERS_CHARS`) moved to a content-addressed blob that the task
/// wrapper fetches and verifies (`ferry_spec::task::PARAMETERS_BLOB`).
pub async fn offload_long_parameters(ctx: &Context, input: String) -> anyhow::Result<String> {
    let parsed: Value = serde_json::from_str(&input)?;
    let inner = parsed["Parameters"].as_str().unwrap_or_default();
    // The length Batch counts: the string as it appears, JSON-escaped, in the overrides.
    let escaped = serde_json::to_string(inner)?.len() - 2;
    if escaped <= ferry_compile::limits::MAX_TRIGGER_PARAMETERS_CHARS {
        return Ok(input);
    }
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(inner.as_bytes()));
    let key = format!("params/{sha}.json");
    let blobs = ctx.blobs().await?;
    blobs
        .put(&key, inner.as_bytes().to_vec())
        .await
        .with_context(|| format!("storing the parameters at {key}"))?;
    let pointer = json!({ ferry_spec::task::PARAMETERS_BLOB: {"key": key, "sha256": sha} });
    Ok(json!({ "Parameters": pointer.to_string() }).to_string())
}
