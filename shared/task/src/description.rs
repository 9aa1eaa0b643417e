//! Fetching the task description named on the wrapper's argv and checking it against its
//! content address (`tasks/<sha256>.json`, `docs/runtime-contract.md` §1 and §3).

use std::path::PathBuf;

use ferry_spec::task::{BlobStoreRef, TASK_DESCRIPTION_VERSION, TaskDescription};

use crate::error::TaskError;
use crate::stores;
use crate::transient::with_retries;

/// Where a task description lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskUrl {
    /// `file:///abs/path/tasks/<sha>.json` or an absolute path.
    File(PathBuf),
    /// `s3://bucket/key`.
    S3 { bucket: String, key: String },
}

impl TaskUrl {
    /// Parse a `file://`, `s3://` URL or an absolute path.
    pub fn parse(url: &str) -> Result<Self, TaskError> {
        let bad = |why: &str| TaskError::Description(format!("bad task URL {url:?}: {why}"));
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, key) = rest
                .split_once('/')
                .ok_or_else(|| bad("no key after the bucket"))?;
            if bucket.is_empty() || key.is_empty() {
                return Err(bad("empty bucket or key"));
            }
            ferry_store::validate_key(key).map_err(|e| bad(&e.to_string()))?;
            return Ok(TaskUrl::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        }
        let path = url.strip_prefix("file://").unwrap_or(url);
        if !path.starts_with('/') {
            return Err(bad(
                "expected s3://bucket/key, file:///absolute/path or an absolute path",
            ));
        }
        Ok(TaskUrl::File(PathBuf::from(path)))
    }

    /// The sha256 this URL promises: from its last two segments, `tasks/<64 hex>.json`.
    pub fn expected_sha256(&self) -> Result<String, TaskError> {
        let text = match self {
            TaskUrl::File(p) => p.to_string_lossy().into_owned(),
            TaskUrl::S3 { key, .. } => key.clone(),
        };
        let mut segments = text.rsplit('/');
        let file = segments.next().unwrap_or_default();
        let dir = segments.next().unwrap_or_default();
        let sha = file.strip_suffix(".json").unwrap_or_default();
        if dir != "tasks" || !is_sha256_hex(sha) {
            return Err(TaskError::Description(format!(
                "{text:?} is not a content-addressed task description (tasks/<sha256>.json)"
            )));
        }
        Ok(sha.to_string())
    }
}

pub use ferry_spec::digest::{is_sha256_hex, sha256_hex};

/// Fetch, verify (sha256 against the key) and parse a task description.
pub async fn fetch(url: &TaskUrl) -> Result<TaskDescription, TaskError> {
    let expected = url.expected_sha256()?;
    let bytes = match url {
        TaskUrl::File(path) => std::fs::read(path)
            .map_err(|e| TaskError::Description(format!("reading {}: {e}", path.display())))?,
        TaskUrl::S3 { bucket, key } => {
            let blobs = stores::open_blobs(&BlobStoreRef::S3 {
                bucket: bucket.clone(),
                prefix: String::new(),
            })
            .await?;
            with_retries(&format!("fetching s3://{bucket}/{key}"), || blobs.get(key))
                .await
                .map_err(|e| TaskError::Description(e.to_string()))?
                .ok_or_else(|| {
                    TaskError::Description(format!("s3://{bucket}/{key} does not exist"))
                })?
        }
    };
    let actual = sha256_hex(&bytes);
    if actual != expected {
        return Err(TaskError::Description(format!(
            "sha256 mismatch: the URL names {expected}, the content hashes to {actual}"
        )));
    }
    let desc: TaskDescription = serde_json::from_slice(&bytes)
        .map_err(|e| TaskError::Description(format!("invalid JSON: {e}")))?;
    if desc.version != TASK_DESCRIPTION_VERSION {
        return Err(TaskError::Description(format!(
            "version {} is not supported (this wrapper reads version {TASK_DESCRIPTION_VERSION})",
            desc.version
        )));
    }
    Ok(desc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let sha = "a".repeat(64);
        let u = TaskUrl::parse(&format!("s3://b/ferry/tasks/{sha}.json")).unwrap();
        assert_eq!(
            u,
            TaskUrl::S3 {
                bucket: "b".into(),
                key: format!("ferry/tasks/{sha}.json")
            }
        );
        assert_eq!(u.expected_sha256().unwrap(), sha);
        let f = TaskUrl::parse(&format!("file:///x/tasks/{sha}.json")).unwrap();
        assert_eq!(f.expected_sha256().unwrap(), sha);
        assert!(TaskUrl::parse("relative/x").is_err());
        assert!(TaskUrl::parse("s3://b/../x").is_err());
        assert!(
            TaskUrl::parse("/x/tasks/abc.json")
                .unwrap()
                .expected_sha256()
                .is_err()
        );
    }
}
