//! Storage ports and adapters.
//!
//! - [`Table`]: a single-table key-value store (DynamoDB semantics: conditional writes, atomic
//!   counters and sets, partition queries with a sort-key prefix, transactions).
//! - [`Blobs`]: an object store (S3 semantics).
//! - [`task_logs`]: the task-log keys of the Metaflow datastore and their one reader.
//!
//! The directory adapter ([`DirBlobs`]) is always built; the SQLite table adapter
//! (`SqliteTable`, bundled SQLite) needs the `sqlite` feature, so the deploy Lambda does not
//! link SQLite; the DynamoDB (`DynamoTable`) and S3 (`S3Blobs`) adapters need the `aws` feature,
//! so crates that only run locally do not compile the AWS SDK. [`open_table`] and
//! [`open_blobs`] build an adapter from the references in a task description.

pub mod blobs;
pub mod datastore;
pub mod dir;
pub mod open;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod table;
pub mod task_logs;
// The table checks serve the SQLite and DynamoDB adapters; a build with neither uses only the
// blob-prefix check.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
mod validate;

#[cfg(feature = "aws")]
mod aws_env;
#[cfg(feature = "aws")]
pub mod dynamodb;
#[cfg(feature = "aws")]
pub mod s3;

pub use blobs::{BlobError, Blobs, validate_key};
pub use datastore::{DatastoreRootError, datastore_blobs_ref};
pub use dir::DirBlobs;
pub use open::{AwsClientSettings, open_blobs, open_blobs_with, open_table, open_table_with};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteTable;
pub use table::{Attr, Condition, Item, ItemError, Page, Query, Table, TableError, WriteOp};

#[cfg(feature = "aws")]
pub use aws_env::sdk_config_with;
#[cfg(feature = "aws")]
pub use dynamodb::DynamoTable;
#[cfg(feature = "aws")]
pub use open::open_dynamodb_table;
#[cfg(feature = "aws")]
pub use s3::S3Blobs;
