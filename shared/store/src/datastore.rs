//! The Metaflow datastore seen as a blob store: [`datastore_blobs_ref`] maps the datastore
//! settings of a task description (`METAFLOW_DEFAULT_DATASTORE` and its sysroot) to the
//! [`BlobStoreRef`] whose keys are datastore paths (`<Flow>/<run>/<step>/<task>/…`). The task
//! wrapper uploads the task logs through it; `ferry logs` reads them back through it.

use ferry_spec::task::{BlobStoreRef, DatastoreSettings};

/// Why datastore settings name no blob store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatastoreRootError {
    /// A local datastore root (`METAFLOW_DATASTORE_SYSROOT_LOCAL`) that is not an absolute path.
    #[error("the local datastore root {0:?} is not absolute")]
    NotAbsolute(String),
    /// An S3 datastore root (`METAFLOW_DATASTORE_SYSROOT_S3`) that is not an `s3://` URL.
    #[error("the S3 datastore root {0:?} is not s3://…")]
    NotS3Url(String),
    /// An S3 datastore root without a bucket (`s3://` or `s3:///prefix`).
    #[error("the S3 datastore root {0:?} has no bucket")]
    NoBucket(String),
    /// A datastore kind other than `local` and `s3`.
    #[error("unknown datastore kind {0:?} (local or s3)")]
    UnknownKind(String),
}

/// The blob store whose keys are datastore paths (`<Flow>/<run>/<step>/<task>/…`):
/// - kind `local`, root `/abs/dir`: the folder `/abs/dir/.metaflow` ([`BlobStoreRef::Dir`]), as
///   Metaflow's local datastore lays it out;
/// - kind `s3`, root `s3://bucket/prefix`: bucket `bucket`, key prefix `prefix` (no trailing `/`;
///   empty for `s3://bucket`) ([`BlobStoreRef::S3`]).
///
/// Errors: [`DatastoreRootError`] for a relative local root, a malformed S3 root or another kind.
pub fn datastore_blobs_ref(ds: &DatastoreSettings) -> Result<BlobStoreRef, DatastoreRootError> {
    match ds.kind.as_str() {
        "local" => {
            if !ds.root.starts_with('/') {
                return Err(DatastoreRootError::NotAbsolute(ds.root.clone()));
            }
            Ok(BlobStoreRef::Dir {
                path: format!("{}/.metaflow", ds.root.trim_end_matches('/')),
            })
        }
        "s3" => {
            let rest = ds
                .root
                .strip_prefix("s3://")
                .ok_or_else(|| DatastoreRootError::NotS3Url(ds.root.clone()))?;
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(DatastoreRootError::NoBucket(ds.root.clone()));
            }
            Ok(BlobStoreRef::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_end_matches('/').to_string(),
            })
        }
        other => Err(DatastoreRootError::UnknownKind(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(kind: &str, root: &str) -> DatastoreSettings {
        DatastoreSettings {
            kind: kind.into(),
            root: root.into(),
        }
    }

    #[test]
    fn local_roots_map_to_their_metaflow_folder() {
        assert_eq!(
            datastore_blobs_ref(&ds("local", "/data/ds/")),
            Ok(BlobStoreRef::Dir {
                path: "/data/ds/.metaflow".into()
            })
        );
        assert_eq!(
            datastore_blobs_ref(&ds("local", "data/ds")),
            Err(DatastoreRootError::NotAbsolute("data/ds".into()))
        );
    }

    #[test]
    fn s3_roots_map_to_bucket_and_prefix() {
        assert_eq!(
            datastore_blobs_ref(&ds("s3", "s3://b/metaflow/")),
            Ok(BlobStoreRef::S3 {
                bucket: "b".into(),
                prefix: "metaflow".into()
            })
        );
        assert_eq!(
            datastore_blobs_ref(&ds("s3", "s3://b")),
            Ok(BlobStoreRef::S3 {
                bucket: "b".into(),
                prefix: String::new()
            })
        );
        assert_eq!(
            datastore_blobs_ref(&ds("s3", "s3:///metaflow")),
            Err(DatastoreRootError::NoBucket("s3:///metaflow".into()))
        );
        assert_eq!(
            datastore_blobs_ref(&ds("s3", "b/metaflow")),
            Err(DatastoreRootError::NotS3Url("b/metaflow".into()))
        );
        assert_eq!(
            datastore_blobs_ref(&ds("gcs", "gs://b")),
            Err(DatastoreRootError::UnknownKind("gcs".into()))
        );
    }
}
