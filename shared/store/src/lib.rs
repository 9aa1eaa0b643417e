//! Storage ports and adapters.
//!
//! - [`Table`]: a single-table key-value store (DynamoDB semantics: conditional writes, atomic
//!   counters and sets, partition queries with a sort-key prefix, transactions).
//! - [`Blobs`]: an object store (S3 semantics).
//!
//! The SQLite and directory adapters are always built; the DynamoDB and S3 adapters need the
//! `aws` feature, so crates that only run locally do not compile the AWS SDK.

pub mod blobs;
pub mod table;

pub use blobs::{BlobError, Blobs, validate_key};
pub use table::{Attr, Condition, Item, Page, Query, Table, TableError, WriteOp};
