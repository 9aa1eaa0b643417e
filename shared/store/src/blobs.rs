//! The `Blobs` port: an object store addressed by `/`-separated keys.
//!
//! Adapters: [`crate::dir::DirBlobs`] (a directory; the embedded default) and `crate::s3::S3Blobs`
//! (feature `aws`). Keys are validated by [`validate_key`] before any adapter sees them.

use async_trait::async_trait;

/// What went wrong in a blob operation.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The key is not a safe relative key (empty segment, `.`/`..`, absolute, backslash, NUL, > 1,024 bytes).
    #[error("invalid blob key {0:?}: {1}")]
    InvalidKey(String, &'static str),
    /// Throttling, a timeout or a connection error: the caller may retry.
    #[error("transient blob store error: {0}")]
    Transient(String),
    /// Anything else.
    #[error("blob store error: {0}")]
    Other(String),
}

/// An object store.
#[async_trait]
pub trait Blobs: Send + Sync + 'static {
    /// Store `body` at `key`, replacing any object there. Readers never see a partial object.
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError>;
    /// The object at `key`, or `None`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;
    /// Whether an object exists at `key`.
    async fn exists(&self, key: &str) -> Result<bool, BlobError>;
    /// Keys that start with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;
    /// Remove the object at `key` (no error if absent).
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// A URL naming the object: `s3://bucket/prefix/key` or `file:///abs/path/key`.
    fn url(&self, key: &str) -> String;
}

/// Check that `key` is a safe relative object key.
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let bad = |why| Err(BlobError::InvalidKey(key.to_string(), why));
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > 1024 {
        return bad("longer than 1,024 bytes");
    }
    if key.starts_with('/') {
        return bad("absolute");
    }
    if key.contains('\\') || key.contains('\0') {
        return bad("contains a backslash or NUL");
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("has an empty, `.` or `..` segment");
    }
    Ok(())
}
