//! Opening the stores a task uses: the deployment's blob store and state table, and the Metaflow
//! datastore seen as a blob store (for the task logs and the `_parameters` check).

use std::sync::Arc;

use ferry_spec::task::{BlobStoreRef, DatastoreSettings, TableRef};
use ferry_store::{Blobs, Table};

use crate::error::TaskError;

/// Open a blob store.
pub async fn open_blobs(r: &BlobStoreRef) -> Result<Arc<dyn Blobs>, TaskError> {
    ferry_store::open_blobs(r)
        .await
        .map_err(|e| TaskError::Store(e.to_string()))
}

/// Open the state table.
pub async fn open_table(r: &TableRef) -> Result<Arc<dyn Table>, TaskError> {
    ferry_store::open_table(r)
        .await
        .map_err(|e| TaskError::Store(e.to_string()))
}

/// The blob store whose keys are datastore paths (`<Flow>/<run>/<step>/<task>/…`): the directory
/// `<root>/.metaflow` for the local datastore, `s3://bucket/prefix` for S3.
pub fn datastore_blobs_ref(ds: &DatastoreSettings) -> Result<BlobStoreRef, TaskError> {
    match ds.kind.as_str() {
        "local" => {
            if !ds.root.starts_with('/') {
                return Err(TaskError::Description(format!(
                    "the local datastore root {:?} is not absolute",
                    ds.root
                )));
            }
            Ok(BlobStoreRef::Dir {
                path: format!("{}/.metaflow", ds.root.trim_end_matches('/')),
            })
        }
        "s3" => {
            let rest = ds.root.strip_prefix("s3://").ok_or_else(|| {
                TaskError::Description(format!("the S3 datastore root {:?} is not s3://…", ds.root))
            })?;
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(TaskError::Description(format!(
                    "the S3 datastore root {:?} has no bucket",
                    ds.root
                )));
            }
            Ok(BlobStoreRef::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_end_matches('/').to_string(),
            })
        }
        other => Err(TaskError::Description(format!(
            "unknown datastore kind {other:?} (local or s3)"
        ))),
    }
}
