//! Where the target keeps its task logs, opened once for the commands that read them (`ferry
//! logs`, and `ferry status` for a failed task's exception): the task-log reader
//! ([`ferry_store::task_logs::TaskLogs`], which the web UI uses too) over the target's Metaflow
//! datastore, with the embedded stack's raw process logs, or on AWS the S3 datastore root.

use std::path::Path;

use anyhow::Context as _;
use ferry_spec::task::{BlobStoreRef, DatastoreSettings};
use ferry_store::task_logs::{LogRead, StepPath, Stream, TaskLog, TaskLogs};

use crate::context::{Context, Target};

/// Where the target keeps the task logs.
pub struct LogStore {
    /// The reader over the datastore (and, on the embedded stack, the raw process logs).
    pub logs: TaskLogs,
    /// The datastore, for messages: a folder or `s3://bucket/prefix`.
    pub location: String,
    /// The target's own fallbacks and hints.
    pub kind: StoreKind,
}

pub enum StoreKind {
    /// The embedded stack of this home (raw process logs under `<home>/logs`).
    Local,
    /// A stack on AWS, named `stack_name` when `ferry configure` recorded it.
    Aws { stack_name: Option<String> },
}

impl LogStore {
    /// The datastore of the context's target.
    pub async fn open(ctx: &Context) -> anyhow::Result<Self> {
        match &ctx.target {
            Target::Local => {
                let datastore = ferry_local::stack::read_stack_file(&ctx.home)
                    .map(|i| i.datastore_root)
                    .unwrap_or_else(|| ctx.local_home().datastore());
                let datastore = std::path::absolute(&datastore)
                    .with_context(|| format!("resolving {}", datastore.display()))?;
                let settings = DatastoreSettings {
                    kind: "local".into(),
                    root: datastore.to_string_lossy().into_owned(),
                };
                let r = ferry_store::datastore_blobs_ref(&settings)?;
                let blobs = match &r {
                    BlobStoreRef::Dir { path } if !Path::new(path).is_dir() => None,
                    _ => Some(
                        ferry_store::open_blobs(&r)
                            .await
                            .with_context(|| format!("opening the datastore {r:?}"))?,
                    ),
                };
                Ok(LogStore {
                    logs: TaskLogs::new(blobs, Some(ctx.local_home().logs())),
                    location: datastore.display().to_string(),
                    kind: StoreKind::Local,
                })
            }
            Target::Aws(aws) => {
                let extra = |k: &str| {
                    aws.extra
                        .get(k)
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_string)
                };
                let root = extra("datastore_root")
                    .unwrap_or_else(|| format!("s3://{}/metaflow", aws.bucket));
                let settings = DatastoreSettings {
                    kind: "s3".into(),
                    root: root.clone(),
                };
                let r = ferry_store::datastore_blobs_ref(&settings).with_context(|| {
                    format!(
                        "the AWS configuration in {}: fix it with `ferry configure --datastore-root`",
                        ctx.home.join(crate::context::CONFIG_FILE).display()
                    )
                })?;
                let blobs = ferry_store::open_blobs_with(&r, &aws.client_settings())
                    .await
                    .with_context(|| format!("opening the datastore {root}"))?;
                Ok(LogStore {
                    logs: TaskLogs::new(Some(blobs), None),
                    location: root.trim_end_matches('/').to_string(),
                    kind: StoreKind::Aws {
                        stack_name: extra("stack_name"),
                    },
                })
            }
        }
    }

    /// Where to look when the datastore has no log (AWS), as a sentence.
    pub fn cloudwatch_hint(stack_name: Option<&str>) -> String {
        let find = match stack_name {
            Some(s) => format!(
                " (`aws cloudformation describe-stack-resource --stack-name {s} --logical-resource-id BatchLogGroup`)"
            ),
            None => String::new(),
        };
        format!(
            "A task that failed before its step ran (image pull, code package download, wrapper \
             error) wrote its output only to its Batch job's CloudWatch log group: the stack's \
             BatchLogGroup{find}, in a log stream named `ferry/…` (`aws batch describe-jobs --jobs \
             JOB_ID` names it: container.logStreamName)."
        )
    }
}

impl LogStore {
    /// The latest attempt's `stream` log of `task` in `step` (the datastore's, else the raw
    /// process output the embedded stack kept); `None` when the task has none.
    pub async fn latest(
        &self,
        step: StepPath<'_>,
        task: &str,
        stream: Stream,
    ) -> anyhow::Result<Option<TaskLog>> {
        let attempts = self.logs.attempts(step, Some(task), stream).await?;
        let available = attempts.get(task).cloned().unwrap_or_default();
        match self.logs.read(step, task, &available, None, stream).await? {
            LogRead::Found(log) => Ok(Some(log)),
            LogRead::Missing { .. } => Ok(None),
        }
    }
}
