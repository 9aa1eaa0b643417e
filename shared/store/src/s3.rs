//! [`S3Blobs`]: the [`Blobs`] port over an S3 bucket and key prefix (feature `aws`).
//!
//! The object at key `k` is `s3://<bucket>/<prefix>/<k>` (`s3://<bucket>/<k>` without a prefix).
//! Puts are single `PutObject` calls, so readers see whole objects only. `list` follows
//! `ListObjectsV2` continuation tokens. Path-style addressing (needed by moto and other local
//! emulators) is a property of the client: see `aws_sdk_s3::config::Builder::force_path_style`
//! and [`crate::open_blobs`].

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use crate::blobs::{BlobError, Blobs, validate_key};

/// A blob store in an S3 bucket, under an optional key prefix.
#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
    /// Empty, or a valid key followed by `/`.
    prefix: String,
}

/// The port's error for an SDK error: throttling, timeouts, connection failures and 5xx are
/// transient.
fn classify<E, R>(e: SdkError<E, R>) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
    SdkError<E, R>: RawStatus,
{
    let text = format!("s3: {}", DisplayErrorContext(&e));
    let transient = matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
        || matches!(
            e.code(),
            Some(
                "SlowDown"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestTimeout"
                    | "InternalError"
            )
        )
        || e.server_error();
    if transient {
        BlobError::Transient(text)
    } else {
        BlobError::Other(text)
    }
}

/// Whether an SDK error carries a 5xx HTTP answer.
trait RawStatus {
    fn server_error(&self) -> bool;
}

impl<E> RawStatus for SdkError<E, aws_sdk_s3::config::http::HttpResponse> {
    fn server_error(&self) -> bool {
        self.raw_response()
            .is_some_and(|r| r.status().is_server_error())
    }
}

impl S3Blobs {
    /// A store on `bucket` under `prefix` (`""` for the bucket root; a trailing `/` is optional).
    ///
    /// Errors: [`BlobError::InvalidKey`] when the prefix is not a valid key.
    pub fn new(client: Client, bucket: impl Into<String>, prefix: &str) -> Result<Self, BlobError> {
        let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            validate_key(trimmed)?;
            format!("{trimmed}/")
        };
        Ok(S3Blobs {
            client,
            bucket: bucket.into(),
            prefix,
        })
    }

    /// Create `bucket` unless it exists (for tests and local tooling; in `us-east-1` or the
    /// client's region).
    ///
    /// Errors: [`BlobError::Transient`] / [`BlobError::Other`] from the S3 call.
    pub async fn create_bucket_if_missing(client: &Client, bucket: &str) -> Result<(), BlobError> {
        if client.head_bucket().bucket(bucket).send().await.is_ok() {
            return Ok(());
        }
        let region = client.config().region().map(|r| r.as_ref().to_string());
        let mut req = client.create_bucket().bucket(bucket);
        if let Some(r) = region.filter(|r| r != "us-east-1") {
            req = req.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                        r.as_str(),
                    ))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(classify(e)),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The S3 key of a (validated) store key.
    fn s3_key(&self, key: &str) -> Result<String, BlobError> {
        validate_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        let key = self.s3_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let key = self.s3_key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        let body = out.body.collect().await.map_err(|e| {
            BlobError::Transient(format!("s3: reading s3://{}/{key}: {e}", self.bucket))
        })?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let key = self.s3_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(classify(e)),
        }
    }

    /// Keys starting with `prefix` (a plain string prefix), sorted; all pages.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        crate::validate::blob_prefix(prefix)?;
        let full = format!("{}{prefix}", self.prefix);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(classify)?;
            for obj in out.contents() {
                if let Some(k) = obj.key().and_then(|k| k.strip_prefix(&self.prefix)) {
                    keys.push(k.to_string());
                }
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let key = self.s3_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// `s3://<bucket>/<prefix>/<key>`.
    fn url(&self, key: &str) -> String {
        format!("s3://{}/{}{key}", self.bucket, self.prefix)
    }
}
