//! Task resources: what a `Task` state's `Resource` ARN does locally.
//!
//! [`TaskResources`] is the port; [`Resources`] is the embedded implementation:
//!
//! | resource (`arn:<partition>:states:::…`) | local meaning |
//! |---|---|
//! | `batch:submitJob.sync` | [`BatchRunner::run`] with the resolved parameters as a [`BatchJob`] (`super::batch`); an array job or one with `DependsOn` through `super::jobs` (children to the runner, the parent's description when all ended) |
//! | `batch:submitJob` | `super::jobs`: the job starts and the state gets `{JobArn, JobId, JobName}` at once |
//! | `dynamodb:getItem` / `putItem` / `updateItem` / `deleteItem` | a [`Table`] by `TableName` |
//! | `s3:getObject` / `s3:putObject` / `s3:listObjectsV2` (also `aws-sdk:s3:*`) | a [`Blobs`] by `Bucket` |
//!
//! DynamoDB errors are `DynamoDB.<Exception>` (`ResourceNotFoundException` for an unknown
//! table, `ConditionalCheckFailedException`, `ValidationException`); S3 errors are
//! `S3.NoSuchBucketException` / `S3.NoSuchKeyException`; a failed Batch job is
//! `States.TaskFailed` with the job description as cause.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use ferry_store::{Attr, Blobs, Table, TableError};
use serde_json::{Value, json};
use sha2::Digest;

use super::batch::BatchJob;
use super::cancel::Cancellation;
use super::ddb;
use super::error::StatesError;
use super::jobs::SubmittedJobs;

/// What a Task invocation knows about where it runs.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// `$$.Execution.Name` of the (child) execution.
    pub execution_name: String,
    /// `$$.Execution.Id`.
    pub execution_id: String,
    /// The Task state's name.
    pub state_name: String,
    /// How many times the state was retried before this attempt (`$$.State.RetryCount`).
    pub retry_count: u32,
    /// Fires when the execution is stopped. The future running the task may also simply be
    /// dropped (execution stopped, a sibling branch failed, the state timed out), so runners
    /// that start processes should also kill them on drop (`tokio::process::Command::kill_on_drop`).
    pub cancel: Cancellation,
    /// The Batch jobs the execution submitted (array jobs, `DependsOn`, no `.sync`).
    pub(crate) jobs: Arc<SubmittedJobs>,
}

/// The port the interpreter calls for `Task` states (and distributed-Map readers/writers).
#[async_trait]
pub trait TaskResources: Send + Sync + 'static {
    /// Whether `resource` is handled; a definition using an unsupported resource is rejected
    /// when it is validated.
    fn supports(&self, resource: &str) -> bool;

    /// Run `resource` with the resolved `Parameters`; `Ok` is the state's raw result.
    async fn invoke(
        &self,
        resource: &str,
        parameters: Value,
        ctx: &TaskContext,
    ) -> Result<Value, StatesError>;
}

/// `arn:<partition>:states:::<service>:<action>` -> `<service>:<action>`.
pub fn integration(resource: &str) -> Option<&str> {
    let rest = resource.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    if !partition.starts_with("aws") {
        return None;
    }
    rest.strip_prefix("states:::")
}

/// Runs Batch jobs locally (implemented with task-wrapper processes by the embedded stack).
///
/// Contract: run the job with Batch semantics (up to [`BatchJob::attempts`] attempts, each
/// limited to [`BatchJob::attempt_timeout`]; `AWS_BATCH_JOB_ID` stable across attempts — the
/// job's [`BatchJob::job_id`] when it has one (an array child, a job submitted without waiting),
/// else one the runner picks — and `AWS_BATCH_JOB_ATTEMPT` 1-based) and answer the
/// `DescribeJobs` record of the finished job ([`BatchJob::describe`], status `SUCCEEDED`). It is
/// only ever handed single jobs: the executor runs an array job as its children, one call each. When the last attempt fails, answer
/// `Err(StatesError::task_failed(<that record as JSON text>))` (what Step Functions reports for
/// `submitJob.sync`). Watch `ctx.cancel` or kill on drop.
#[async_trait]
pub trait BatchRunner: Send + Sync + 'static {
    /// Run `job` to completion.
    async fn run(&self, job: BatchJob, ctx: &TaskContext) -> Result<Value, StatesError>;
}

/// Where an S3 bucket name points locally: a [`Blobs`] and the key prefix it stands for
/// (`ferry/` when the bucket's `ferry/…` keys are the blob root; `""` for the whole bucket).
#[derive(Clone)]
pub struct BucketMount {
    /// The store.
    pub blobs: Arc<dyn Blobs>,
    /// S3 keys under this prefix map to blob keys without it; other keys do not exist.
    pub prefix: String,
}

/// The embedded [`TaskResources`]: Batch through a [`BatchRunner`], DynamoDB tables and S3
/// buckets by name.
#[derive(Clone, Default)]
pub struct Resources {
    batch: Option<Arc<dyn BatchRunner>>,
    tables: HashMap<String, Arc<dyn Table>>,
    buckets: HashMap<String, BucketMount>,
    default_table: Option<Arc<dyn Table>>,
    default_bucket: Option<BucketMount>,
}

impl Resources {
    /// No Batch runner, no tables, no buckets.
    pub fn new() -> Self {
        Self::default()
    }
    /// Handle `batch:submitJob.sync` with `runner`.
    pub fn with_batch(mut self, runner: Arc<dyn BatchRunner>) -> Self {
        self.batch = Some(runner);
        self
    }
    /// Serve DynamoDB table `name` from `table`.
    pub fn with_table(mut self, name: impl Into<String>, table: Arc<dyn Table>) -> Self {
        self.tables.insert(name.into(), table);
        self
    }
    /// Serve every DynamoDB table not named by [`Resources::with_table`] from `table` (the
    /// embedded stack has one state table, whatever `TableName` the definition says).
    pub fn with_default_table(mut self, table: Arc<dyn Table>) -> Self {
        self.default_table = Some(table);
        self
    }
    /// Serve every S3 bucket not named by [`Resources::with_bucket`] from `blobs` (keys under
    /// `prefix`).
    pub fn with_default_bucket(mut self, blobs: Arc<dyn Blobs>, prefix: impl Into<String>) -> Self {
        self.default_bucket = Some(BucketMount {
            blobs,
            prefix: prefix.into(),
        });
        self
    }
    /// Serve S3 bucket `name` from `blobs`; S3 key `<prefix><k>` is blob key `<k>`.
    pub fn with_bucket(
        mut self,
        name: impl Into<String>,
        blobs: Arc<dyn Blobs>,
        prefix: impl Into<String>,
    ) -> Self {
        self.buckets.insert(
            name.into(),
            BucketMount {
                blobs,
                prefix: prefix.into(),
            },
        );
        self
    }

    fn table(&self, p: &Value) -> Result<&Arc<dyn Table>, StatesError> {
        let name = p
            .get("TableName")
            .and_then(Value::as_str)
            .ok_or_else(|| ddb::validation("TableName is required"))?;
        self.tables
            .get(name)
            .or(self.default_table.as_ref())
            .ok_or_else(|| {
                StatesError::new(
                    "DynamoDB.ResourceNotFoundException",
                    format!("Requested resource not found: Table: {name} not found"),
                )
            })
    }

    fn bucket<'a>(&'a self, p: &'a Value) -> Result<(&'a str, &'a BucketMount), StatesError> {
        let name = p
            .get("Bucket")
            .and_then(Value::as_str)
            .ok_or_else(|| StatesError::new("S3.InvalidRequestException", "Bucket is required"))?;
        let m = self
            .buckets
            .get(name)
            .or(self.default_bucket.as_ref())
            .ok_or_else(|| {
                StatesError::new(
                    "S3.NoSuchBucketException",
                    format!("The specified bucket does not exist: {name}"),
                )
            })?;
        Ok((name, m))
    }

    async fn dynamodb(&self, action: &str, p: Value) -> Result<Value, StatesError> {
        let table = self.table(&p)?;
        let names = p.get("ExpressionAttributeNames");
        let values = p.get("ExpressionAttributeValues");
        let cond = || {
            ddb::condition(
                p.get("ConditionExpression").and_then(Value::as_str),
                names,
                values,
            )
        };
        match action {
            "getItem" => {
                let (pk, sk) = ddb::key(p.get("Key"))?;
                let Some(item) = table.get(&pk, &sk).await.map_err(table_err)? else {
                    return Ok(json!({}));
                };
                let mut m = ddb::item_to_json(&item);
                if let Some(proj) = p.get("ProjectionExpression").and_then(Value::as_str) {
                    let keep = proj
                        .split(',')
                        .map(|t| ddb::name(t.trim(), names))
                        .collect::<Result<Vec<_>, _>>()?;
                    m.retain(|k, _| keep.contains(k));
                }
                Ok(json!({"Item": m}))
            }
            "putItem" => {
                let item = ddb::item(p.get("Item"))?;
                table.put(item, cond()?).await.map_err(table_err)?;
                Ok(json!({}))
            }
            "deleteItem" => {
                let (pk, sk) = ddb::key(p.get("Key"))?;
                table.delete(&pk, &sk, cond()?).await.map_err(table_err)?;
                Ok(json!({}))
            }
            "updateItem" => {
                let (pk, sk) = ddb::key(p.get("Key"))?;
                let expr = p
                    .get("UpdateExpression")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ddb::validation("UpdateExpression is required"))?;
                let updates = ddb::update_expression(expr, names, values)?;
                let condition = cond()?;
                let mut sets = BTreeMap::new();
                let mut adds = Vec::new();
                for u in updates {
                    match u {
                        ddb::Update::Set(n, a) if n != "pk" && n != "sk" => {
                            sets.insert(n, a);
                        }
                        ddb::Update::Add(n, a) if n != "pk" && n != "sk" => adds.push((n, a)),
                        _ => return Err(ddb::validation("key attributes cannot be updated")),
                    }
                }
                if !adds.is_empty() && condition != ferry_store::Condition::None {
                    return Err(ddb::validation(
                        "ConditionExpression with ADD is not supported locally",
                    ));
                }
                if !sets.is_empty() || adds.is_empty() {
                    table
                        .set(&pk, &sk, sets, condition)
                        .await
                        .map_err(table_err)?;
                }
                for (n, a) in adds {
                    match a {
                        Attr::N(d) => {
                            table.add(&pk, &sk, &n, d).await.map_err(table_err)?;
                        }
                        Attr::Ss(v) => table
                            .add_to_set(&pk, &sk, &n, &v)
                            .await
                            .map_err(table_err)?,
                        _ => {
                            return Err(ddb::validation(
                                "ADD supports numbers (N) and string sets (SS)",
                            ));
                        }
                    }
                }
                Ok(json!({}))
            }
            other => Err(StatesError::runtime(format!(
                "dynamodb:{other} is not supported"
            ))),
        }
    }

    async fn s3(&self, action: &str, p: Value) -> Result<Value, StatesError> {
        let (bucket, m) = self.bucket(&p)?;
        let key_param = |k: &str| -> Result<String, StatesError> {
            p.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    StatesError::new("S3.InvalidRequestException", format!("{k} is required"))
                })
        };
        let no_key = |k: &str| {
            StatesError::new(
                "S3.NoSuchKeyException",
                format!("The specified key does not exist: {k}"),
            )
        };
        let s3_err = |e: ferry_store::BlobError| StatesError::new("S3.S3Exception", e.to_string());
        match action {
            "getObject" => {
                let key = key_param("Key")?;
                let local = key
                    .strip_prefix(m.prefix.as_str())
                    .ok_or_else(|| no_key(&key))?;
                if ferry_store::validate_key(local).is_err() {
                    return Err(no_key(&key));
                }
                let body = m
                    .blobs
                    .get(local)
                    .await
                    .map_err(s3_err)?
                    .ok_or_else(|| no_key(&key))?;
                let len = body.len();
                let text = String::from_utf8(body).map_err(|_| {
                    StatesError::new("S3.InvalidObjectState", format!("{key} is not UTF-8 text"))
                })?;
                Ok(
                    json!({"Body": text, "ContentLength": len, "ContentType": "application/octet-stream"}),
                )
            }
            "putObject" => {
                let key = key_param("Key")?;
                let local = key.strip_prefix(m.prefix.as_str()).ok_or_else(|| {
                    StatesError::new(
                        "S3.AccessDeniedException",
                        format!("{key} is outside the local mount of {bucket}"),
                    )
                })?;
                ferry_store::validate_key(local)
                    .map_err(|e| StatesError::new("S3.InvalidRequestException", e.to_string()))?;
                let body = match p.get("Body") {
                    Some(Value::String(s)) => s.clone().into_bytes(),
                    Some(v) => v.to_string().into_bytes(),
                    None => vec![],
                };
                let etag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(&body)[..16]));
                m.blobs.put(local, body).await.map_err(s3_err)?;
                Ok(json!({"ETag": etag}))
            }
            "listObjectsV2" => {
                let prefix = p.get("Prefix").and_then(Value::as_str).unwrap_or("");
                // Only keys under the mount prefix exist locally.
                let (local_prefix, ok) = if let Some(l) = prefix.strip_prefix(m.prefix.as_str()) {
                    (l.to_string(), true)
                } else {
                    (String::new(), m.prefix.starts_with(prefix))
                };
                let mut contents = Vec::new();
                if ok {
                    for k in m.blobs.list(&local_prefix).await.map_err(s3_err)? {
                        let size = m
                            .blobs
                            .get(&k)
                            .await
                            .map_err(s3_err)?
                            .map(|b| b.len())
                            .unwrap_or(0);
                        contents.push(json!({"Key": format!("{}{k}", m.prefix), "Size": size, "StorageClass": "STANDARD"}));
                    }
                }
                Ok(
                    json!({"Name": bucket, "Prefix": prefix, "KeyCount": contents.len(), "Contents": contents}),
                )
            }
            other => Err(StatesError::runtime(format!("s3:{other} is not supported"))),
        }
    }
}

fn table_err(e: TableError) -> StatesError {
    match e {
        TableError::ConditionFailed { .. } => StatesError::new(
            "DynamoDB.ConditionalCheckFailedException",
            "The conditional request failed",
        ),
        TableError::Transient(m) => {
            StatesError::new("DynamoDB.ProvisionedThroughputExceededException", m)
        }
        TableError::Invalid(m) => ddb::validation(m),
        TableError::Other(m) => StatesError::new("DynamoDB.InternalServerErrorException", m),
    }
}

const SUPPORTED: &[&str] = &[
    "batch:submitJob",
    "batch:submitJob.sync",
    "dynamodb:getItem",
    "dynamodb:putItem",
    "dynamodb:updateItem",
    "dynamodb:deleteItem",
    "s3:getObject",
    "s3:putObject",
    "s3:listObjectsV2",
    "aws-sdk:s3:getObject",
    "aws-sdk:s3:putObject",
    "aws-sdk:s3:listObjectsV2",
];

#[async_trait]
impl TaskResources for Resources {
    fn supports(&self, resource: &str) -> bool {
        integration(resource).is_some_and(|i| SUPPORTED.contains(&i))
    }

    async fn invoke(
        &self,
        resource: &str,
        parameters: Value,
        ctx: &TaskContext,
    ) -> Result<Value, StatesError> {
        let i = integration(resource)
            .filter(|i| SUPPORTED.contains(i))
            .ok_or_else(|| StatesError::runtime(format!("unsupported resource {resource}")))?;
        let i = i.strip_prefix("aws-sdk:").unwrap_or(i);
        let (service, action) = i
            .split_once(':')
            .expect("supported integrations have a service");
        match service {
            "batch" => {
                let runner = self.batch.as_ref().ok_or_else(|| {
                    StatesError::task_failed("no Batch runner is configured for this executor")
                })?;
                let job = BatchJob::from_parameters(&parameters)?;
                let sync = action == "submitJob.sync";
                if sync && job.array_size.is_none() && job.depends_on.is_empty() {
                    return runner.run(job, ctx).await;
                }
                ctx.jobs.submit(runner.clone(), job, ctx, sync).await
            }
            "dynamodb" => self.dynamodb(action, parameters).await,
            "s3" => self.s3(action, parameters).await,
            _ => unreachable!("SUPPORTED lists batch, dynamodb and s3 only"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_names() {
        assert_eq!(
            integration("arn:aws:states:::batch:submitJob.sync"),
            Some("batch:submitJob.sync")
        );
        assert_eq!(
            integration("arn:aws-us-gov:states:::dynamodb:getItem"),
            Some("dynamodb:getItem")
        );
        assert_eq!(integration("arn:aws:lambda:us-east-1:1:function:f"), None);
        let r = Resources::new();
        assert!(r.supports("arn:aws:states:::dynamodb:putItem"));
        assert!(!r.supports("arn:aws:states:::lambda:invoke"));
        assert!(r.supports("arn:aws:states:::batch:submitJob"));
        assert!(!r.supports("arn:aws:states:::batch:terminateJob"));
    }
}
