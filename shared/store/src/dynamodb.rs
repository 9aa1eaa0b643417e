//! [`DynamoTable`]: the [`Table`] port over one DynamoDB table (feature `aws`).
//!
//! The table has a string partition key `pk` and a string sort key `sk` (see
//! [`DynamoTable::create_table_if_missing`]). Attributes are stored natively (`S`, `N`, `SS`,
//! `NS`, `BOOL`), so what other AWS services read (e.g. a Step Functions `dynamodb:getItem` on a
//! `NS`) is what Ferry wrote.
//!
//! Mapping of the port:
//! - conditions: `ConditionExpression` (`attribute_not_exists(pk)`, `attribute_exists(pk)`,
//!   `attribute_exists(pk) AND #c = :c`);
//! - `add`: `UpdateItem ADD #a :d` returning `UPDATED_NEW`; `add_to_set`: `ADD` of an `SS`;
//! - `set`: `UpdateItem SET … REMOVE …` (an empty set removes the attribute);
//! - `query`: `pk = :pk AND begins_with(sk, :p)`, `ScanIndexForward`, `Limit` (one more than asked,
//!   so `next` is exact), `ExclusiveStartKey`;
//! - `transact`: `TransactWriteItems`.
//!
//! Errors: `ConditionalCheckFailed` (also inside `TransactionCanceled`) is
//! [`TableError::ConditionFailed`]; throttling, `ProvisionedThroughputExceeded`,
//! `RequestLimitExceeded`, `TransactionConflict`, timeouts, connection failures and 5xx answers are
//! [`TableError::Transient`]; `ValidationException` is [`TableError::Invalid`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, KeySchemaElement,
    KeyType, Put, ReturnValue, ScalarAttributeType, TableStatus, TransactWriteItem,
};

use crate::table::{Attr, Condition, Item, Page, Query, Table, TableError, WriteOp};
use crate::validate;

/// A [`Table`] on a DynamoDB table with string keys `pk` and `sk`.
#[derive(Debug, Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

type Av = AttributeValue;

impl DynamoTable {
    /// A table adapter on the existing DynamoDB table `table`, using `client` (whose endpoint,
    /// region and credentials come from its configuration; `AWS_ENDPOINT_URL` is honoured by
    /// `aws_config::load_defaults`).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTable {
            client,
            table: table.into(),
        }
    }

    /// The DynamoDB table name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Create the table `name` (on-demand billing, hash key `pk` and range key `sk`, both strings)
    /// unless it exists, and wait (up to 60 s) until it is `ACTIVE`. For tests and local tooling;
    /// deployments create the table through the SAM template.
    ///
    /// Errors: [`TableError::Transient`] / [`TableError::Other`] from the DynamoDB calls, or when
    /// the table does not become active in time.
    pub async fn create_table_if_missing(client: &Client, name: &str) -> Result<(), TableError> {
        let described = client.describe_table().table_name(name).send().await;
        let exists = match described {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                false
            }
            Err(e) => return Err(classify(e)),
        };
        if !exists {
            let key = |attr: &str, kind: KeyType| {
                KeySchemaElement::builder()
                    .attribute_name(attr)
                    .key_type(kind)
                    .build()
                    .map_err(build_err)
            };
            let def = |attr: &str| {
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_err)
            };
            let created = client
                .create_table()
                .table_name(name)
                .billing_mode(BillingMode::PayPerRequest)
                .key_schema(key("pk", KeyType::Hash)?)
                .key_schema(key("sk", KeyType::Range)?)
                .attribute_definitions(def("pk")?)
                .attribute_definitions(def("sk")?)
                .send()
                .await;
            match created {
                Ok(_) => {}
                // Someone else created it meanwhile.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_in_use_exception()) => {}
                Err(e) => return Err(classify(e)),
            }
        }
        for _ in 0..600 {
            let out = client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(classify)?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(TableError::Other(format!(
            "DynamoDB table {name} did not become ACTIVE"
        )))
    }

    fn key(pk: &str, sk: &str) -> HashMap<String, Av> {
        HashMap::from([
            ("pk".to_string(), Av::S(pk.to_string())),
            ("sk".to_string(), Av::S(sk.to_string())),
        ])
    }
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> TableError {
    TableError::Other(format!("building a DynamoDB request: {e}"))
}

/// The port's error for an SDK error (see the module docs).
fn classify<E, R>(e: SdkError<E, R>) -> TableError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + RawStatus,
{
    let text = format!("dynamodb: {}", DisplayErrorContext(&e));
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            return TableError::Transient(text);
        }
        _ => {}
    }
    match e.code() {
        Some("ConditionalCheckFailedException") => TableError::ConditionFailed { index: None },
        Some(
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TransactionConflictException"
            | "TransactionInProgressException"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "LimitExceededException",
        ) => TableError::Transient(text),
        Some("ValidationException" | "ItemCollectionSizeLimitExceededException") => {
            TableError::Invalid(text)
        }
        _ if e.raw_response().is_some_and(|r| r.is_server_error()) => TableError::Transient(text),
        _ => TableError::Other(text),
    }
}

/// Access to the HTTP status of a raw response, for [`classify`].
trait RawStatus {
    fn is_server_error(&self) -> bool;
}

impl RawStatus for aws_sdk_dynamodb::config::http::HttpResponse {
    fn is_server_error(&self) -> bool {
        self.status().is_server_error()
    }
}

// ---- attribute conversion --------------------------------------------------------------------

fn to_av(attr: &Attr) -> Av {
    match attr {
        Attr::S(s) => Av::S(s.clone()),
        Attr::N(n) => Av::N(n.to_string()),
        Attr::Ss(v) => Av::Ss(v.clone()),
        Attr::Ns(v) => Av::Ns(v.clone()),
        Attr::Bool(b) => Av::Bool(*b),
    }
}

fn from_av(name: &str, av: &Av) -> Result<Attr, TableError> {
    let attr = match av {
        Av::S(s) => Attr::S(s.clone()),
        Av::N(n) => Attr::N(n.parse().map_err(|_| {
            TableError::Other(format!(
                "dynamodb: attribute {name:?} = {n} is not a 64-bit integer"
            ))
        })?),
        Av::Ss(v) => Attr::Ss(v.clone()),
        Av::Ns(v) => Attr::Ns(v.clone()),
        Av::Bool(b) => Attr::Bool(*b),
        other => {
            return Err(TableError::Other(format!(
                "dynamodb: attribute {name:?} has an unsupported type ({other:?})"
            )));
        }
    };
    // Sets in canonical (sorted) order, like every adapter.
    Ok(validate::value(attr)?.unwrap_or(Attr::Ss(Vec::new())))
}

fn to_item(mut map: HashMap<String, Av>) -> Result<Item, TableError> {
    let mut key = |k: &str| match map.remove(k) {
        Some(Av::S(s)) => Ok(s),
        _ => Err(TableError::Other(format!(
            "dynamodb: item without a string {k}"
        ))),
    };
    let (pk, sk) = (key("pk")?, key("sk")?);
    let attrs = map
        .iter()
        .map(|(k, v)| Ok((k.clone(), from_av(k, v)?)))
        .collect::<Result<_, TableError>>()?;
    Ok(Item { pk, sk, attrs })
}

fn item_map(item: &Item) -> HashMap<String, Av> {
    let mut map = DynamoTable::key(&item.pk, &item.sk);
    map.extend(item.attrs.iter().map(|(k, v)| (k.clone(), to_av(v))));
    map
}

/// A condition as an expression with its placeholders (`#c`, `:c`); `None` when unconditional.
struct Expr {
    text: String,
    names: HashMap<String, String>,
    values: HashMap<String, Av>,
}

fn condition_expr(c: &Condition) -> Option<Expr> {
    let plain = |t: &str| Expr {
        text: t.into(),
        names: HashMap::new(),
        values: HashMap::new(),
    };
    match c {
        Condition::None => None,
        Condition::NotExists => Some(plain("attribute_not_exists(pk)")),
        Condition::Exists => Some(plain("attribute_exists(pk)")),
        Condition::AttrEquals(name, v) => Some(Expr {
            text: "attribute_exists(pk) AND #c = :c".into(),
            names: HashMap::from([("#c".to_string(), name.clone())]),
            values: HashMap::from([(":c".to_string(), to_av(v))]),
        }),
    }
}

/// `Some(map)` when non-empty (DynamoDB refuses empty expression maps).
fn non_empty<V>(m: HashMap<String, V>) -> Option<HashMap<String, V>> {
    (!m.is_empty()).then_some(m)
}

/// The first `ConditionalCheckFailed` of a cancelled transaction, or how else to report it.
fn cancelled(reasons: &[aws_sdk_dynamodb::types::CancellationReason], text: String) -> TableError {
    let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
    if let Some(i) = codes.iter().position(|c| *c == "ConditionalCheckFailed") {
        return TableError::ConditionFailed { index: Some(i) };
    }
    if codes.iter().any(|c| {
        matches!(
            *c,
            "TransactionConflict"
                | "ThrottlingError"
                | "ProvisionedThroughputExceeded"
                | "RequestLimitExceeded"
        )
    }) {
        return TableError::Transient(text);
    }
    if codes.contains(&"ValidationError") {
        return TableError::Invalid(text);
    }
    TableError::Other(text)
}

// ---- the port --------------------------------------------------------------------------------

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        validate::keys(pk, sk)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item.map(to_item).transpose()
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        validate::keys(&item.pk, &item.sk)?;
        let item = Item {
            attrs: validate::attrs(item.attrs)?,
            ..item
        };
        let condition = validate::condition(condition)?;
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_map(&item)));
        if let Some(e) = condition_expr(&condition) {
            req = req
                .condition_expression(e.text)
                .set_expression_attribute_names(non_empty(e.names))
                .set_expression_attribute_values(non_empty(e.values));
        }
        req.send().await.map_err(classify)?;
        Ok(())
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError> {
        validate::keys(pk, sk)?;
        let condition = validate::condition(condition)?;
        let mut req = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)));
        if let Some(e) = condition_expr(&condition) {
            req = req
                .condition_expression(e.text)
                .set_expression_attribute_names(non_empty(e.names))
                .set_expression_attribute_values(non_empty(e.values));
        }
        req.send().await.map_err(classify)?;
        Ok(())
    }

    async fn add(&self, pk: &str, sk: &str, attr: &str, delta: i64) -> Result<i64, TableError> {
        validate::keys(pk, sk)?;
        validate::attr_name(attr)?;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .update_expression("ADD #a :d")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":d", Av::N(delta.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(classify)?;
        match out.attributes().and_then(|a| a.get(attr)) {
            Some(v) => match from_av(attr, v)? {
                Attr::N(n) => Ok(n),
                _ => Err(TableError::Other(format!(
                    "dynamodb: {attr:?} is not a number after ADD"
                ))),
            },
            None => Err(TableError::Other(format!(
                "dynamodb: ADD returned no {attr:?}"
            ))),
        }
    }

    async fn add_to_set(
        &self,
        pk: &str,
        sk: &str,
        attr: &str,
        values: &[String],
    ) -> Result<(), TableError> {
        validate::keys(pk, sk)?;
        validate::attr_name(attr)?;
        let Some(Attr::Ss(members)) = validate::value(Attr::Ss(values.to_vec()))? else {
            return Ok(());
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .update_expression("ADD #a :v")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":v", Av::Ss(members))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn set(
        &self,
        pk: &str,
        sk: &str,
        attrs: BTreeMap<String, Attr>,
        condition: Condition,
    ) -> Result<(), TableError> {
        validate::keys(pk, sk)?;
        let changes = validate::set_attrs(attrs)?;
        let condition = validate::condition(condition)?;
        let (mut sets, mut removes) = (Vec::new(), Vec::new());
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        for (i, (name, v)) in changes.into_iter().enumerate() {
            names.insert(format!("#a{i}"), name);
            match v {
                Some(v) => {
                    sets.push(format!("#a{i} = :v{i}"));
                    values.insert(format!(":v{i}"), to_av(&v));
                }
                None => removes.push(format!("#a{i}")),
            }
        }
        let mut update = Vec::new();
        if !sets.is_empty() {
            update.push(format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            update.push(format!("REMOVE {}", removes.join(", ")));
        }
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)));
        if !update.is_empty() {
            req = req.update_expression(update.join(" "));
        }
        if let Some(e) = condition_expr(&condition) {
            req = req.condition_expression(e.text);
            names.extend(e.names);
            values.extend(e.values);
        }
        req.set_expression_attribute_names(non_empty(names))
            .set_expression_attribute_values(non_empty(values))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn query(&self, pk: &str, query: Query) -> Result<Page, TableError> {
        if pk.is_empty() || pk.len() > validate::MAX_PK_BYTES {
            return Err(TableError::Invalid("pk must be 1 to 2,048 bytes".into()));
        }
        let limit = validate::limit(query.limit)?;
        validate::projection(query.attributes.as_deref())?;
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .scan_index_forward(!query.descending)
            .expression_attribute_values(":pk", Av::S(pk.to_string()));
        req = if query.sk_prefix.is_empty() {
            req.key_condition_expression("pk = :pk")
        } else {
            req.key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .expression_attribute_values(":p", Av::S(query.sk_prefix.clone()))
        };
        if let Some(l) = limit {
            // One more than asked tells whether there is a next page.
            req = req.limit(i32::try_from(l.saturating_add(1)).unwrap_or(i32::MAX));
        }
        if let Some(after) = &query.after {
            req = req.set_exclusive_start_key(Some(Self::key(pk, after)));
        }
        if let Some(names) = &query.attributes {
            // Placeholders for every name: attribute names may be reserved words.
            let mut placeholders = vec!["pk".to_string(), "sk".to_string()];
            for (i, n) in names.iter().enumerate() {
                let p = format!("#a{i}");
                req = req.expression_attribute_names(&p, n);
                placeholders.push(p);
            }
            req = req.projection_expression(placeholders.join(", "));
        }
        let out = req.send().await.map_err(classify)?;
        let more = out
            .last_evaluated_key()
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        let mut items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(to_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match limit {
            Some(l) if items.len() > l => {
                items.truncate(l);
                items.last().map(|i| i.sk.clone())
            }
            _ => more,
        };
        Ok(Page { items, next })
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        let ops = validate::transact(ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        let mut items = Vec::with_capacity(ops.len());
        for op in &ops {
            let item = match op {
                WriteOp::Put { item, condition } => {
                    let mut put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item_map(item)));
                    if let Some(e) = condition_expr(condition) {
                        put = put
                            .condition_expression(e.text)
                            .set_expression_attribute_names(non_empty(e.names))
                            .set_expression_attribute_values(non_empty(e.values));
                    }
                    TransactWriteItem::builder()
                        .put(put.build().map_err(build_err)?)
                        .build()
                }
                WriteOp::Check { pk, sk, condition } => {
                    // A ConditionCheck needs an expression: `None` becomes one that always holds.
                    let e = condition_expr(condition).unwrap_or(Expr {
                        text: "attribute_exists(pk) OR attribute_not_exists(pk)".into(),
                        names: HashMap::new(),
                        values: HashMap::new(),
                    });
                    let check = ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(Self::key(pk, sk)))
                        .condition_expression(e.text)
                        .set_expression_attribute_names(non_empty(e.names))
                        .set_expression_attribute_values(non_empty(e.values))
                        .build()
                        .map_err(build_err)?;
                    TransactWriteItem::builder().condition_check(check).build()
                }
                WriteOp::Delete { pk, sk } => {
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(Self::key(pk, sk)))
                        .build()
                        .map_err(build_err)?;
                    TransactWriteItem::builder().delete(delete).build()
                }
            };
            items.push(item);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) =
                    e.as_service_error()
                {
                    let text = format!("dynamodb: {}", DisplayErrorContext(&e));
                    return Err(cancelled(c.cancellation_reasons(), text));
                }
                Err(classify(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_smithy_types::body::SdkBody;

    fn service(code: &str, status: u16) -> SdkError<PutItemError, HttpResponse> {
        let err = PutItemError::generic(ErrorMetadata::builder().code(code).message("m").build());
        SdkError::service_error(
            err,
            HttpResponse::new(status.try_into().unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn service_errors_map_to_the_port() {
        let kind = |code, status| match classify(service(code, status)) {
            TableError::ConditionFailed { index: None } => "condition",
            TableError::Transient(_) => "transient",
            TableError::Invalid(_) => "invalid",
            TableError::Other(_) => "other",
            e => panic!("unexpected {e:?}"),
        };
        assert_eq!(kind("ConditionalCheckFailedException", 400), "condition");
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "TransactionConflictException",
        ] {
            assert_eq!(kind(code, 400), "transient", "{code}");
        }
        assert_eq!(kind("InternalServerError", 500), "transient");
        assert_eq!(kind("SomethingNew", 503), "transient", "any 5xx");
        assert_eq!(kind("ValidationException", 400), "invalid");
        assert_eq!(kind("ResourceNotFoundException", 400), "other");
        let timeout = SdkError::<PutItemError, HttpResponse>::timeout_error("slow");
        assert!(matches!(classify(timeout), TableError::Transient(_)));
    }

    #[test]
    fn cancellation_reasons_map_to_the_port() {
        let reasons = |codes: &[&str]| -> Vec<CancellationReason> {
            codes
                .iter()
                .map(|c| CancellationReason::builder().code(*c).build())
                .collect()
        };
        let r = cancelled(
            &reasons(&[
                "None",
                "None",
                "ConditionalCheckFailed",
                "ConditionalCheckFailed",
            ]),
            String::new(),
        );
        assert!(
            matches!(r, TableError::ConditionFailed { index: Some(2) }),
            "{r:?}"
        );
        let r = cancelled(&reasons(&["None", "TransactionConflict"]), String::new());
        assert!(matches!(r, TableError::Transient(_)), "{r:?}");
        let r = cancelled(&reasons(&["ThrottlingError"]), String::new());
        assert!(matches!(r, TableError::Transient(_)), "{r:?}");
        let r = cancelled(&reasons(&["ValidationError", "None"]), String::new());
        assert!(matches!(r, TableError::Invalid(_)), "{r:?}");
    }
}
