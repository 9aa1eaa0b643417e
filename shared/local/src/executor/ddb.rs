//! DynamoDB JSON (`{"S": "x"}`, `{"NS": ["1"]}`...) to and from [`ferry_store::Attr`], and the
//! small expression subset the `dynamodb:*` integrations accept.

use std::collections::BTreeMap;

use ferry_store::{Attr, Condition, Item};
use serde_json::{Map, Value, json};

use super::error::StatesError;

/// `DynamoDB.ValidationException`.
pub fn validation(cause: impl Into<String>) -> StatesError {
    StatesError::new("DynamoDB.ValidationException", cause)
}

/// DynamoDB JSON -> [`Attr`]. Supported types: `S`, `N` (integers), `SS`, `NS`, `BOOL`.
pub fn to_attr(v: &Value) -> Result<Attr, StatesError> {
    let m = v.as_object().filter(|m| m.len() == 1).ok_or_else(|| {
        validation(format!(
            "an attribute value must be an object with one type key, got {v}"
        ))
    })?;
    let (t, x) = m.iter().next().expect("one entry");
    let strings = |x: &Value| -> Result<Vec<String>, StatesError> {
        x.as_array()
            .and_then(|a| {
                a.iter()
                    .map(|s| s.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| validation(format!("{t} must be an array of strings")))
    };
    Ok(match t.as_str() {
        "S" => Attr::S(
            x.as_str()
                .ok_or_else(|| validation("S must be a string"))?
                .to_string(),
        ),
        "N" => {
            let s = x.as_str().ok_or_else(|| validation("N must be a string"))?;
            Attr::N(
                s.trim()
                    .parse()
                    .map_err(|_| validation(format!("N {s:?}: only integers are supported")))?,
            )
        }
        "SS" => Attr::Ss(strings(x)?),
        "NS" => {
            let ns = strings(x)?;
            if let Some(bad) = ns.iter().find(|n| n.trim().parse::<f64>().is_err()) {
                return Err(validation(format!("NS member {bad:?} is not a number")));
            }
            Attr::Ns(ns)
        }
        "BOOL" => Attr::Bool(
            x.as_bool()
                .ok_or_else(|| validation("BOOL must be a boolean"))?,
        ),
        other => {
            return Err(validation(format!(
                "attribute type {other} is not supported (S, N, SS, NS, BOOL)"
            )));
        }
    })
}

/// [`Attr`] -> DynamoDB JSON.
pub fn from_attr(a: &Attr) -> Value {
    match a {
        Attr::S(s) => json!({"S": s}),
        Attr::N(n) => json!({"N": n.to_string()}),
        Attr::Ss(v) => json!({"SS": v}),
        Attr::Ns(v) => json!({"NS": v}),
        Attr::Bool(b) => json!({"BOOL": b}),
    }
}

/// An item as DynamoDB JSON (keys `pk`, `sk` included).
pub fn item_to_json(item: &Item) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("pk".into(), json!({"S": item.pk}));
    m.insert("sk".into(), json!({"S": item.sk}));
    for (k, v) in &item.attrs {
        m.insert(k.clone(), from_attr(v));
    }
    m
}

/// The `Key` parameter: `{"pk": {"S": ..}, "sk": {"S": ..}}` (Ferry's table schema).
pub fn key(v: Option<&Value>) -> Result<(String, String), StatesError> {
    let m = v
        .and_then(Value::as_object)
        .ok_or_else(|| validation("Key is required"))?;
    let get = |k: &str| match m.get(k).map(to_attr).transpose()? {
        Some(Attr::S(s)) => Ok(s),
        _ => Err(validation(
            "The provided key element does not match the schema (pk and sk, both S)",
        )),
    };
    if m.len() != 2 {
        return Err(validation(
            "The provided key element does not match the schema (pk and sk, both S)",
        ));
    }
    Ok((get("pk")?, get("sk")?))
}

/// The `Item` parameter of `putItem`.
pub fn item(v: Option<&Value>) -> Result<Item, StatesError> {
    let m = v
        .and_then(Value::as_object)
        .ok_or_else(|| validation("Item is required"))?;
    let mut attrs = BTreeMap::new();
    let (mut pk, mut sk) = (None, None);
    for (k, v) in m {
        match (k.as_str(), to_attr(v)?) {
            ("pk", Attr::S(s)) => pk = Some(s),
            ("sk", Attr::S(s)) => sk = Some(s),
            ("pk" | "sk", _) => return Err(validation("pk and sk must be strings (S)")),
            (_, a) => {
                attrs.insert(k.clone(), a);
            }
        }
    }
    match (pk, sk) {
        (Some(pk), Some(sk)) => Ok(Item { pk, sk, attrs }),
        _ => Err(validation(
            "One of the required keys was not given a value (pk, sk)",
        )),
    }
}

/// Resolve `#name` through `ExpressionAttributeNames`.
pub fn name(token: &str, names: Option<&Value>) -> Result<String, StatesError> {
    if token.starts_with('#') {
        names
            .and_then(|n| n.get(token))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| validation(format!("ExpressionAttributeNames has no {token}")))
    } else if token.is_empty()
        || !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        Err(validation(format!(
            "bad attribute name {token:?} in an expression"
        )))
    } else {
        Ok(token.to_string())
    }
}

/// Resolve `:value` through `ExpressionAttributeValues`.
pub fn value(token: &str, values: Option<&Value>) -> Result<Attr, StatesError> {
    let v = values
        .and_then(|n| n.get(token))
        .ok_or_else(|| validation(format!("ExpressionAttributeValues has no {token}")))?;
    to_attr(v)
}

/// `ConditionExpression`: `attribute_exists(pk)`, `attribute_not_exists(pk)` or `<name> = :v`.
pub fn condition(
    expr: Option<&str>,
    names: Option<&Value>,
    values: Option<&Value>,
) -> Result<Condition, StatesError> {
    let Some(e) = expr.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(Condition::None);
    };
    let inner = |prefix: &str| {
        e.strip_prefix(prefix)
            .and_then(|r| r.trim_start().strip_prefix('('))
            .and_then(|r| r.trim_end().strip_suffix(')'))
            .map(str::trim)
    };
    if let Some(n) = inner("attribute_not_exists") {
        let n = name(n, names)?;
        return if n == "pk" || n == "sk" {
            Ok(Condition::NotExists)
        } else {
            Err(validation(
                "attribute_not_exists is supported on the key only",
            ))
        };
    }
    if let Some(n) = inner("attribute_exists") {
        let n = name(n, names)?;
        return if n == "pk" || n == "sk" {
            Ok(Condition::Exists)
        } else {
            Err(validation("attribute_exists is supported on the key only"))
        };
    }
    if let Some((l, r)) = e.split_once('=') {
        return Ok(Condition::AttrEquals(
            name(l.trim(), names)?,
            value(r.trim(), values)?,
        ));
    }
    Err(validation(format!("unsupported ConditionExpression {e:?}")))
}

/// One action of an `UpdateExpression`.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// `SET name = :v`.
    Set(String, Attr),
    /// `ADD name :v` (a number or a string set).
    Add(String, Attr),
}

/// Parse `SET a = :x, #b = :y ADD c :n` (SET and ADD clauses, in any order).
pub fn update_expression(
    expr: &str,
    names: Option<&Value>,
    values: Option<&Value>,
) -> Result<Vec<Update>, StatesError> {
    let mut out = Vec::new();
    let toks: Vec<&str> = expr.split_whitespace().collect();
    // Re-join per clause: split on the clause keywords.
    let mut clause: Option<&str> = None;
    let mut buf = String::new();
    let flush = |clause: Option<&str>,
                 buf: &mut String,
                 out: &mut Vec<Update>|
     -> Result<(), StatesError> {
        let text = std::mem::take(buf);
        if text.trim().is_empty() {
            return Ok(());
        }
        let Some(c) = clause else {
            return Err(validation(format!(
                "UpdateExpression {expr:?} must start with SET or ADD"
            )));
        };
        for action in text.split(',') {
            let action = action.trim();
            match c {
                "SET" => {
                    let (l, r) = action
                        .split_once('=')
                        .ok_or_else(|| validation(format!("bad SET action {action:?}")))?;
                    out.push(Update::Set(
                        name(l.trim(), names)?,
                        value(r.trim(), values)?,
                    ));
                }
                _ => {
                    let (l, r) = action
                        .split_once(char::is_whitespace)
                        .ok_or_else(|| validation(format!("bad ADD action {action:?}")))?;
                    out.push(Update::Add(
                        name(l.trim(), names)?,
                        value(r.trim(), values)?,
                    ));
                }
            }
        }
        Ok(())
    };
    for t in toks {
        match t.to_ascii_uppercase().as_str() {
            kw @ ("SET" | "ADD") => {
                flush(clause, &mut buf, &mut out)?;
                clause = Some(if kw == "SET" { "SET" } else { "ADD" });
            }
            "REMOVE" | "DELETE" => {
                return Err(validation(format!(
                    "UpdateExpression clause {t} is not supported"
                )));
            }
            _ => {
                buf.push_str(t);
                buf.push(' ');
            }
        }
    }
    flush(clause, &mut buf, &mut out)?;
    if out.is_empty() {
        return Err(validation("UpdateExpression is empty"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_round_trip() {
        for v in [
            json!({"S": "x"}),
            json!({"N": "5"}),
            json!({"SS": ["a", "b"]}),
            json!({"NS": ["0", "1"]}),
            json!({"BOOL": true}),
        ] {
            assert_eq!(from_attr(&to_attr(&v).unwrap()), v);
        }
        for bad in [
            json!({"N": "1.5"}),
            json!({"M": {}}),
            json!({"S": 1}),
            json!({"NS": ["x"]}),
            json!("S"),
        ] {
            assert!(to_attr(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_items_and_expressions() {
        assert_eq!(
            key(Some(&json!({"pk": {"S": "a"}, "sk": {"S": "b"}}))).unwrap(),
            ("a".into(), "b".into())
        );
        assert!(key(Some(&json!({"pathspec": {"S": "a"}}))).is_err());
        let it = item(Some(
            &json!({"pk": {"S": "a"}, "sk": {"S": "b"}, "n": {"N": "3"}}),
        ))
        .unwrap();
        assert_eq!(it.attrs["n"], Attr::N(3));
        let names = json!({"#c": "count"});
        let values = json!({":one": {"N": "1"}, ":s": {"S": "v"}, ":ss": {"SS": ["0:t"]}});
        assert_eq!(
            update_expression(
                "SET a = :s, #c = :one ADD hits :one, parents :ss",
                Some(&names),
                Some(&values)
            )
            .unwrap(),
            vec![
                Update::Set("a".into(), Attr::S("v".into())),
                Update::Set("count".into(), Attr::N(1)),
                Update::Add("hits".into(), Attr::N(1)),
                Update::Add("parents".into(), Attr::Ss(vec!["0:t".into()])),
            ]
        );
        assert!(update_expression("REMOVE a", None, None).is_err());
        assert_eq!(
            condition(Some("attribute_not_exists(pk)"), None, None).unwrap(),
            Condition::NotExists
        );
        assert_eq!(
            condition(Some("#c = :one"), Some(&names), Some(&values)).unwrap(),
            Condition::AttrEquals("count".into(), Attr::N(1))
        );
    }
}
