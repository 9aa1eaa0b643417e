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
/// `<root>/.metaflow` for the local datastore, `s3://bucket/prefix` for S3
/// ([`ferry_store::datastore_blobs_ref`], shared with `ferry logs`).
pub fn datastore_blobs_ref(ds: &DatastoreSettings) -> Result<BlobStoreRef, TaskError> {
    ferry_store::datastore_blobs_ref(ds).map_err(|e| TaskError::Description(e.to_string()))
}
