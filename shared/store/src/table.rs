//! The `Table` port: a single-table key-value store with the few DynamoDB operations Ferry needs.
//!
//! Items are addressed by a partition key `pk` and a sort key `sk` (both UTF-8 strings; `pk` at
//! most 2,048 bytes and `sk` at most 1,024 bytes, DynamoDB's limits). Attributes are a small
//! subset of DynamoDB's types so that every adapter can store them natively: on DynamoDB an
//! attribute `for_each_cardinality` of type `NS` is what a Step Functions `dynamodb:getItem`
//! state reads back.
//!
//! Adapters: `crate::sqlite::SqliteTable` (feature `sqlite`; embedded default, one file, WAL) and
//! `crate::dynamodb::DynamoTable` (feature `aws`). Both pass the conformance suite in
//! `tests/conformance.rs`.

use std::collections::BTreeMap;

use async_trait::async_trait;

/// One attribute value. A subset of DynamoDB's attribute types.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// String (`S`).
    S(String),
    /// Number (`N`), kept as an integer: Ferry stores counters, epochs and sizes only.
    N(i64),
    /// String set (`SS`). Never empty on DynamoDB; an empty set is removed.
    Ss(Vec<String>),
    /// Number set (`NS`), as decimal strings (how DynamoDB and Step Functions hand them out).
    Ns(Vec<String>),
    /// Boolean (`BOOL`).
    Bool(bool),
}

/// An item: its keys and its other attributes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Item {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// Every attribute but the keys, by name.
    pub attrs: BTreeMap<String, Attr>,
}

/// An attribute read through [`Item::str`], [`Item::num`] or [`Item::json`] that is missing, of
/// another type, or (for [`Item::json`]) not the JSON document expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    /// No attribute `attr` of type `expected` (`S`, `N`) on the item `pk`/`sk`.
    #[error("item {pk}/{sk} has no {expected} attribute {attr:?}")]
    Missing {
        pk: String,
        sk: String,
        attr: String,
        expected: &'static str,
    },
    /// The string attribute `attr` of `pk`/`sk` does not decode as the JSON expected.
    #[error("corrupt item {pk}/{sk}: attribute {attr:?} does not decode: {error}")]
    Corrupt {
        pk: String,
        sk: String,
        attr: String,
        error: String,
    },
}

impl Item {
    fn missing(&self, attr: &str, expected: &'static str) -> ItemError {
        ItemError::Missing {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
            attr: attr.to_string(),
            expected,
        }
    }

    /// The string (`S`) attribute `attr`. Errors: [`ItemError::Missing`] when it is absent or
    /// not a string.
    pub fn str(&self, attr: &str) -> Result<&str, ItemError> {
        match self.attrs.get(attr) {
            Some(Attr::S(s)) => Ok(s),
            _ => Err(self.missing(attr, "S")),
        }
    }

    /// The number (`N`) attribute `attr`. Errors: [`ItemError::Missing`] when it is absent or
    /// not a number.
    pub fn num(&self, attr: &str) -> Result<i64, ItemError> {
        match self.attrs.get(attr) {
            Some(Attr::N(n)) => Ok(*n),
            _ => Err(self.missing(attr, "N")),
        }
    }

    /// The string attribute `attr` decoded as the JSON document `T` (how Ferry stores records:
    /// `record` = the record's JSON text). Errors: [`ItemError::Missing`] as [`Item::str`],
    /// [`ItemError::Corrupt`] when the text is not a `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, attr: &str) -> Result<T, ItemError> {
        serde_json::from_str(self.str(attr)?).map_err(|e| ItemError::Corrupt {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
            attr: attr.to_string(),
            error: e.to_string(),
        })
    }
}

/// A condition on the current state of one item, checked atomically with a write.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Condition {
    /// Write unconditionally.
    #[default]
    None,
    /// The item must not exist (`attribute_not_exists(pk)`).
    NotExists,
    /// The item must exist (`attribute_exists(pk)`).
    Exists,
    /// The item must exist and its attribute must equal the value (optimistic locking).
    AttrEquals(String, Attr),
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Put (create or replace) the item if the condition holds.
    Put { item: Item, condition: Condition },
    /// Fail the transaction unless the condition holds on `(pk, sk)`.
    Check {
        pk: String,
        sk: String,
        condition: Condition,
    },
    /// Delete the item (no error if it is absent).
    Delete { pk: String, sk: String },
}

/// Options of a [`Table::query`].
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only sort keys that start with this prefix (empty: all).
    pub sk_prefix: String,
    /// Newest (greatest sort key) first.
    pub descending: bool,
    /// At most this many items in the page (`None`: adapter's page size, at most 1 MB on DynamoDB).
    pub limit: Option<usize>,
    /// Continue after this sort key (the `next` of the previous page).
    pub after: Option<String>,
    /// Only these attributes of each item (DynamoDB's `ProjectionExpression`); the keys always
    /// come, an attribute an item lacks is left out. `None`: every attribute; `Some(vec![])`:
    /// the keys alone. Names follow the attribute-name rules (1 to 255 bytes, not `pk`/`sk`).
    /// A listing that needs a few small attributes of many items decodes only those.
    pub attributes: Option<Vec<String>>,
}

/// A page of query results, in sort-key order.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The items of this page (at most [`Query::limit`]).
    pub items: Vec<Item>,
    /// The sort key to pass as [`Query::after`] for the next page; `None` when this is the last.
    pub next: Option<String>,
}

/// What went wrong in a table operation.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A [`Condition`] did not hold; nothing was written. For a transaction, `index` is the
    /// position of the first failed operation when the adapter knows it.
    #[error("condition failed{}", index.map(|i| format!(" on operation {i}")).unwrap_or_default())]
    ConditionFailed { index: Option<usize> },
    /// Throttling, a timeout, or a transaction conflict: the caller may retry
    /// (the metadata API answers 503, the only status the metaflow client retries).
    #[error("transient store error: {0}")]
    Transient(String),
    /// The request itself is invalid (too large, bad key...). Not retryable.
    #[error("invalid request to the store: {0}")]
    Invalid(String),
    /// Anything else. Not retryable.
    #[error("store error: {0}")]
    Other(String),
}

/// The single-table port. All methods are atomic per call.
#[async_trait]
pub trait Table: Send + Sync + 'static {
    /// Read one item (strongly consistent).
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError>;

    /// Create or replace an item if `condition` holds.
    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError>;

    /// Delete an item if `condition` holds (no error when it is absent and the condition is `None`).
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError>;

    /// Atomically add `delta` to the numeric attribute `attr` (created at 0, with the item if
    /// needed) and return the new value. DynamoDB `UpdateItem ADD`.
    async fn add(&self, pk: &str, sk: &str, attr: &str, delta: i64) -> Result<i64, TableError>;

    /// Atomically add strings to the string-set attribute `attr` (created with the item if needed).
    /// Adding a member twice is a no-op. DynamoDB `UpdateItem ADD` on an `SS`.
    async fn add_to_set(
        &self,
        pk: &str,
        sk: &str,
        attr: &str,
        values: &[String],
    ) -> Result<(), TableError>;

    /// Set attributes on an item (created if absent) if `condition` holds; other attributes are
    /// kept. DynamoDB `UpdateItem SET`.
    async fn set(
        &self,
        pk: &str,
        sk: &str,
        attrs: BTreeMap<String, Attr>,
        condition: Condition,
    ) -> Result<(), TableError>;

    /// Items of one partition, in sort-key order.
    async fn query(&self, pk: &str, query: Query) -> Result<Page, TableError>;

    /// All operations or none (at most 100, on distinct items).
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), TableError>;

    /// Every item of partition `pk` whose sort key starts with `sk_prefix`, in sort-key order,
    /// following [`Page::next`] across pages (DynamoDB pages stop at 1 MB).
    async fn query_all(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, TableError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .query(
                    pk,
                    Query {
                        sk_prefix: sk_prefix.to_string(),
                        after,
                        ..Query::default()
                    },
                )
                .await?;
            out.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> Item {
        Item {
            pk: "p".into(),
            sk: "s".into(),
            attrs: BTreeMap::from([
                ("record".to_string(), Attr::S(r#"{"a": 1}"#.into())),
                ("bad".to_string(), Attr::S("not json".into())),
                ("count".to_string(), Attr::N(7)),
            ]),
        }
    }

    #[test]
    fn accessors_read_typed_attributes_or_say_what_is_wrong() {
        let it = item();
        assert_eq!(it.str("record").unwrap(), r#"{"a": 1}"#);
        assert_eq!(it.num("count").unwrap(), 7);
        let v: serde_json::Value = it.json("record").unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(
            it.str("count").unwrap_err(),
            ItemError::Missing {
                pk: "p".into(),
                sk: "s".into(),
                attr: "count".into(),
                expected: "S"
            }
        );
        assert!(matches!(
            it.num("record"),
            Err(ItemError::Missing { expected: "N", .. })
        ));
        assert!(matches!(it.num("absent"), Err(ItemError::Missing { .. })));
        let e = it.json::<serde_json::Value>("bad").unwrap_err();
        assert!(matches!(e, ItemError::Corrupt { .. }));
        assert!(
            e.to_string().contains("p/s") && e.to_string().contains("bad"),
            "{e}"
        );
    }
}
