//! Factories from the deployment's references ([`TableRef`], [`BlobStoreRef`] of
//! `ferry_spec::task`) to adapters.
//!
//! Directory references always open. SQLite references need the `sqlite` feature, DynamoDB and
//! S3 references the `aws` feature; without it they fail with a clear error. AWS clients are configured from the
//! environment (`aws_config::load_defaults`), which honours `AWS_ENDPOINT_URL` (so tests and the
//! local tooling can point at moto), `AWS_REGION`/`AWS_DEFAULT_REGION` and the usual credentials.

use std::sync::Arc;

use ferry_spec::task::{BlobStoreRef, TableRef};

use crate::blobs::{BlobError, Blobs};
use crate::dir::DirBlobs;
use crate::table::{Table, TableError};

/// The logical table name used inside an SQLite file opened from a [`TableRef::Sqlite`].
pub const SQLITE_DEFAULT_TABLE: &str = "default";

/// Open the table a [`TableRef`] names: with feature `sqlite`, an `SqliteTable` (logical table
/// [`SQLITE_DEFAULT_TABLE`], file created when missing); with feature `aws`, a `DynamoTable`
/// on an existing DynamoDB table.
///
/// Errors: [`TableError::Invalid`] for a reference whose feature this build lacks;
/// [`TableError::Other`] when the SQLite file cannot be opened.
pub async fn open_table(table: &TableRef) -> Result<Arc<dyn Table>, TableError> {
    open_table_with(table, &AwsClientSettings::default()).await
}

/// [`open_table`] with explicit AWS client settings for a DynamoDB reference (endpoint and
/// region over the environment's).
pub async fn open_table_with(
    table: &TableRef,
    aws: &AwsClientSettings,
) -> Result<Arc<dyn Table>, TableError> {
    match table {
        #[cfg(feature = "sqlite")]
        TableRef::Sqlite { path } => {
            let path = path.clone();
            let t = tokio::task::spawn_blocking(move || {
                crate::sqlite::SqliteTable::open(path, SQLITE_DEFAULT_TABLE)
            })
            .await
            .map_err(|e| TableError::Other(format!("opening sqlite: {e}")))??;
            Ok(Arc::new(t))
        }
        #[cfg(not(feature = "sqlite"))]
        TableRef::Sqlite { path } => Err(TableError::Invalid(format!(
            "SQLite table {path:?}: this build of ferry-store has no `sqlite` feature"
        ))),
        #[cfg(feature = "aws")]
        TableRef::Dynamodb { table } => Ok(open_dynamodb_table(table, aws).await),
        #[cfg(not(feature = "aws"))]
        TableRef::Dynamodb { table } => {
            let _ = aws;
            Err(TableError::Invalid(format!(
                "DynamoDB table {table:?}: this build of ferry-store has no `aws` feature"
            )))
        }
    }
}

/// Open the existing DynamoDB table `table` (a `DynamoTable`), with a client configured by
/// `aws` over the environment. Unlike [`open_table_with`], it does not reach the SQLite adapter,
/// so a binary that opens only DynamoDB (the deploy Lambda) does not link SQLite even when
/// feature unification turns `sqlite` on. Infallible: the table is first used on the first call.
#[cfg(feature = "aws")]
pub async fn open_dynamodb_table(table: &str, aws: &AwsClientSettings) -> Arc<dyn Table> {
    let config = crate::aws_env::sdk_config_with(aws).await;
    Arc::new(crate::dynamodb::DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&config),
        table,
    ))
}

/// AWS client settings given explicitly (e.g. recorded by `ferry configure`) that take
/// precedence over the environment's. Credentials always come from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsClientSettings {
    /// Endpoint override, e.g. `http://127.0.0.1:5000` for a local emulator (S3 is then
    /// addressed path-style unless `FERRY_S3_PATH_STYLE` says otherwise); `None`: the
    /// environment's (`AWS_ENDPOINT_URL`), else AWS.
    pub endpoint_url: Option<String>,
    /// Region, e.g. `eu-west-1`; `None`: the environment's (`AWS_REGION`, profile…).
    pub region: Option<String>,
}

/// Open the blob store a [`BlobStoreRef`] names: a [`DirBlobs`] (folder created when missing)
/// or, with feature `aws`, an `S3Blobs` (path-style addressing when `FERRY_S3_PATH_STYLE` is
/// `1`/`true`, or when it is unset and `AWS_ENDPOINT_URL`/`AWS_ENDPOINT_URL_S3` is set, as for moto).
///
/// Errors: [`BlobError::Other`] for an S3 reference without the `aws` feature or a folder that
/// cannot be created; [`BlobError::InvalidKey`] for an invalid S3 prefix.
pub async fn open_blobs(blobs: &BlobStoreRef) -> Result<Arc<dyn Blobs>, BlobError> {
    open_blobs_with(blobs, &AwsClientSettings::default()).await
}

/// [`open_blobs`], with an S3 client configured by `aws` over the environment (ignored for a
/// folder).
///
/// Errors: as [`open_blobs`].
pub async fn open_blobs_with(
    blobs: &BlobStoreRef,
    aws: &AwsClientSettings,
) -> Result<Arc<dyn Blobs>, BlobError> {
    match blobs {
        BlobStoreRef::Dir { path } => {
            let path = path.clone();
            let b = tokio::task::spawn_blocking(move || DirBlobs::open(path))
                .await
                .map_err(|e| BlobError::Other(format!("opening folder: {e}")))??;
            Ok(Arc::new(b))
        }
        #[cfg(feature = "aws")]
        BlobStoreRef::S3 { bucket, prefix } => {
            let config = crate::aws_env::sdk_config_with(aws).await;
            let s3 = aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(crate::aws_env::s3_path_style(aws.endpoint_url.is_some()))
                .build();
            Ok(Arc::new(crate::s3::S3Blobs::new(
                aws_sdk_s3::Client::from_conf(s3),
                bucket,
                prefix,
            )?))
        }
        #[cfg(not(feature = "aws"))]
        BlobStoreRef::S3 { bucket, .. } => {
            let _ = aws;
            Err(BlobError::Other(format!(
                "S3 bucket {bucket:?}: this build of ferry-store has no `aws` feature"
            )))
        }
    }
}
