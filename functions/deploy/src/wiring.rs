//! Building the deploy use case's context from the Lambda's environment (template.yaml sets
//! `FERRY_BUCKET`, `FERRY_BLOB_PREFIX`, `FERRY_DEPLOYMENTS_TABLE`, `FERRY_STATE_TABLE`,
//! `FERRY_METADATA_URL`, roles, queue, image…).
//!
//! The AWS adapters of the ports (Step Functions, EventBridge Scheduler, Batch, DynamoDB, S3)
//! come from `ferry-aws`; until that crate provides them, [`context_from_env`] fails with a
//! clear message and the function answers every event with that error.

use ferry_deploy::DeployContext;

/// The blob prefix of the stack's bucket (`FERRY_BLOB_PREFIX`, default `ferry/`).
pub fn blob_prefix() -> String {
    std::env::var("FERRY_BLOB_PREFIX").unwrap_or_else(|_| "ferry/".to_string())
}

/// The deploy context of this Lambda.
pub async fn context_from_env() -> anyhow::Result<DeployContext> {
    anyhow::bail!("the deploy Lambda's AWS adapters (ferry-aws) are not wired in yet")
}
