//! Checks and normalisation shared by every `Table` adapter, so that all of them accept and
//! reject the same requests (DynamoDB's rules) and hand back attributes in the same shape.

use std::collections::{BTreeMap, HashSet};

use crate::table::{Attr, Condition, TableError, WriteOp};

/// DynamoDB's limit on a partition key value, in bytes.
pub(crate) const MAX_PK_BYTES: usize = 2048;
/// DynamoDB's limit on a sort key value, in bytes.
pub(crate) const MAX_SK_BYTES: usize = 1024;
/// DynamoDB's limit on the operations of one transaction.
pub(crate) const MAX_TRANSACT_OPS: usize = 100;

fn invalid(msg: impl Into<String>) -> TableError {
    TableError::Invalid(msg.into())
}

/// Both keys are non-empty and within DynamoDB's size limits.
pub(crate) fn keys(pk: &str, sk: &str) -> Result<(), TableError> {
    if pk.is_empty() || sk.is_empty() {
        return Err(invalid("pk and sk must not be empty"));
    }
    if pk.len() > MAX_PK_BYTES {
        return Err(invalid(format!("pk is longer than {MAX_PK_BYTES} bytes")));
    }
    if sk.len() > MAX_SK_BYTES {
        return Err(invalid(format!("sk is longer than {MAX_SK_BYTES} bytes")));
    }
    Ok(())
}

/// An attribute name other than the keys: non-empty, at most 255 bytes, not `pk`/`sk`.
pub(crate) fn attr_name(name: &str) -> Result<(), TableError> {
    if name.is_empty() || name.len() > 255 {
        return Err(invalid(format!(
            "attribute name {name:?} must be 1 to 255 bytes"
        )));
    }
    if name == "pk" || name == "sk" {
        return Err(invalid(format!(
            "attribute name {name:?} is reserved for the keys"
        )));
    }
    Ok(())
}

/// Sort and de-duplicate a set's members; number-set members must be decimal numbers and are
/// ordered numerically.
fn normalize_set(mut members: Vec<String>, numbers: bool) -> Result<Vec<String>, TableError> {
    if numbers {
        for m in &members {
            if m.trim().is_empty() || m.parse::<f64>().map(|f| !f.is_finite()).unwrap_or(true) {
                return Err(invalid(format!("number set member {m:?} is not a number")));
            }
        }
        members.sort_by(|a, b| {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            x.total_cmp(&y).then_with(|| a.cmp(b))
        });
    } else {
        members.sort();
    }
    members.dedup();
    Ok(members)
}

/// A value in canonical form: sets sorted and de-duplicated. `None` for an empty set, which
/// DynamoDB cannot store (the attribute is absent instead).
pub(crate) fn value(attr: Attr) -> Result<Option<Attr>, TableError> {
    Ok(match attr {
        Attr::Ss(v) if v.is_empty() => None,
        Attr::Ns(v) if v.is_empty() => None,
        Attr::Ss(v) => Some(Attr::Ss(normalize_set(v, false)?)),
        Attr::Ns(v) => Some(Attr::Ns(normalize_set(v, true)?)),
        other => Some(other),
    })
}

/// Attributes in canonical form: names checked, empty sets dropped, sets sorted.
pub(crate) fn attrs(attrs: BTreeMap<String, Attr>) -> Result<BTreeMap<String, Attr>, TableError> {
    let mut out = BTreeMap::new();
    for (name, v) in attrs {
        attr_name(&name)?;
        if let Some(v) = value(v)? {
            out.insert(name, v);
        }
    }
    Ok(out)
}

/// Attributes for a `set`: like [`attrs`] but an empty set stays as `None` (remove the attribute).
pub(crate) fn set_attrs(
    attrs: BTreeMap<String, Attr>,
) -> Result<BTreeMap<String, Option<Attr>>, TableError> {
    let mut out = BTreeMap::new();
    for (name, v) in attrs {
        attr_name(&name)?;
        out.insert(name, value(v)?);
    }
    Ok(out)
}

/// A condition in canonical form (its value normalised like a stored one).
pub(crate) fn condition(c: Condition) -> Result<Condition, TableError> {
    Ok(match c {
        Condition::AttrEquals(name, v) => {
            attr_name(&name)?;
            match value(v)? {
                Some(v) => Condition::AttrEquals(name, v),
                None => return Err(invalid("a condition cannot compare with an empty set")),
            }
        }
        other => other,
    })
}

/// A transaction in canonical form: at most 100 operations on distinct items, each checked.
pub(crate) fn transact(ops: Vec<WriteOp>) -> Result<Vec<WriteOp>, TableError> {
    if ops.len() > MAX_TRANSACT_OPS {
        return Err(invalid(format!(
            "a transaction has at most {MAX_TRANSACT_OPS} operations"
        )));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let op = match op {
            WriteOp::Put { item, condition: c } => {
                keys(&item.pk, &item.sk)?;
                let item = crate::table::Item {
                    attrs: attrs(item.attrs)?,
                    ..item
                };
                WriteOp::Put {
                    item,
                    condition: condition(c)?,
                }
            }
            WriteOp::Check {
                pk,
                sk,
                condition: c,
            } => {
                keys(&pk, &sk)?;
                WriteOp::Check {
                    pk,
                    sk,
                    condition: condition(c)?,
                }
            }
            WriteOp::Delete { pk, sk } => {
                keys(&pk, &sk)?;
                WriteOp::Delete { pk, sk }
            }
        };
        let key = match &op {
            WriteOp::Put { item, .. } => (item.pk.clone(), item.sk.clone()),
            WriteOp::Check { pk, sk, .. } | WriteOp::Delete { pk, sk } => (pk.clone(), sk.clone()),
        };
        if !seen.insert(key) {
            return Err(invalid("a transaction cannot touch one item twice"));
        }
        out.push(op);
    }
    Ok(out)
}

/// The attribute names of a query's projection ([`crate::table::Query::attributes`]): each
/// a valid attribute name.
pub(crate) fn projection(names: Option<&[String]>) -> Result<(), TableError> {
    for n in names.unwrap_or_default() {
        attr_name(n)?;
    }
    Ok(())
}

/// The page size of a query: `None` or at least 1.
pub(crate) fn limit(limit: Option<usize>) -> Result<Option<usize>, TableError> {
    match limit {
        Some(0) => Err(invalid("a query limit must be at least 1")),
        other => Ok(other),
    }
}

/// Whether `condition` holds on an item whose current attributes are `current` (`None`: absent).
pub(crate) fn holds(condition: &Condition, current: Option<&BTreeMap<String, Attr>>) -> bool {
    match condition {
        Condition::None => true,
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::AttrEquals(name, v) => current.and_then(|a| a.get(name)) == Some(v),
    }
}

/// A blob-listing prefix: any string whose folder part (up to the last `/`) is a valid key, so
/// that `../` or `/etc/` prefixes are refused like the keys they would match.
pub(crate) fn blob_prefix(prefix: &str) -> Result<(), crate::blobs::BlobError> {
    if prefix.contains('\\') || prefix.contains('\0') {
        return Err(crate::blobs::BlobError::InvalidKey(
            prefix.to_string(),
            "contains a backslash or NUL",
        ));
    }
    match prefix.rfind('/') {
        Some(i) => crate::blobs::validate_key(&prefix[..i]),
        None => Ok(()),
    }
}
