//! The web UI's stores, from the environment (template.yaml sets the variables on the Lambda):
//!
//! | variable | what the UI reads there |
//! |---|---|
//! | `FERRY_DEPLOYMENTS_TABLE` | deployment records (DynamoDB) |
//! | `FERRY_BUCKET`, `FERRY_BLOB_PREFIX` (default `ferry/`) | the deployed flow specs (S3) |
//! | `FERRY_DATASTORE_ROOT` (default `s3://<bucket>/metaflow`) | task logs and artifact infos |
//! | `FERRY_SFN_ROLE_ARN` | executions (Step Functions; the ARN names the account) |
//!
//! Each is optional: without it the UI shows what the others tell (a `metadata-api --sqlite`
//! server has the metadata only). The metadata table is always the service's own.

use std::sync::Arc;

use ferry_store::Table;
use ferry_store::task_logs::TaskLogs;
use ferry_ui::UiConfig;

/// The UI configuration described by the variables `get` reads, over the service's metadata
/// `table` and `api_key`. AWS clients take credentials, region and `AWS_ENDPOINT_URL` from the
/// process environment.
///
/// # Errors
/// A store that cannot be opened (e.g. a malformed `FERRY_DATASTORE_ROOT`), with the variable.
pub async fn ui_config_from(
    get: impl Fn(&str) -> Option<String>,
    table: Arc<dyn Table>,
    api_key: Option<String>,
) -> anyhow::Result<UiConfig> {
    let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    let mut config = UiConfig {
        metadata: table,
        deployments: None,
        blobs: None,
        executions: None,
        logs: TaskLogs::new(None, None),
        api_key,
    };
    #[cfg(feature = "aws")]
    {
        use anyhow::Context as _;
        use ferry_spec::task::{BlobStoreRef, DatastoreSettings};
        let settings = ferry_store::AwsClientSettings::default();
        if let Some(t) = get("FERRY_DEPLOYMENTS_TABLE") {
            config.deployments = Some(ferry_store::open_dynamodb_table(&t, &settings).await);
        }
        if let Some(bucket) = get("FERRY_BUCKET") {
            let prefix = get("FERRY_BLOB_PREFIX").unwrap_or_else(|| "ferry/".into());
            let r = BlobStoreRef::S3 {
                bucket: bucket.clone(),
                prefix,
            };
            config.blobs = Some(
                ferry_store::open_blobs(&r)
                    .await
                    .context("FERRY_BUCKET: opening the stack's bucket")?,
            );
            let root =
                get("FERRY_DATASTORE_ROOT").unwrap_or_else(|| format!("s3://{bucket}/metaflow"));
            let r = ferry_store::datastore_blobs_ref(&DatastoreSettings {
                kind: "s3".into(),
                root,
            })
            .context("FERRY_DATASTORE_ROOT")?;
            let datastore = ferry_store::open_blobs(&r)
                .await
                .context("FERRY_DATASTORE_ROOT: opening the datastore")?;
            config.logs = TaskLogs::new(Some(datastore), None);
        }
        if let Some(role) = get("FERRY_SFN_ROLE_ARN") {
            let sdk = ferry_aws::sdk_config().await;
            let region = get("AWS_REGION")
                .or_else(|| sdk.region().map(|r| r.to_string()))
                .unwrap_or_default();
            let sfn = ferry_aws::StepFunctions::from_sdk(&sdk, &role, &region)
                .map_err(|e| anyhow::anyhow!("FERRY_SFN_ROLE_ARN: {e}"))?;
            config.executions = Some(Arc::new(sfn) as Arc<dyn ferry_control::Executions>);
        }
    }
    #[cfg(not(feature = "aws"))]
    let _ = &get;
    Ok(config)
}
