//! A flow parameter's value as it travels in a run's `Parameters` object (the JSON text of
//! Metaflow's `{"Parameters": "<text>"}` execution input, contract metaflow-sfn §7): `str`
//! values as strings, `int`/`float` as numbers, `bool` as booleans, and `json` (`JSONType`)
//! as the document's JSON text in a string (Metaflow passes JSONType values through
//! `json.dumps`). The task wrapper hands each to Metaflow's `init` command, whose click types
//! parse it again.
//!
//! [`from_text`] converts a command-line value (`ferry trigger --alpha 0.5`); [`from_json`] an
//! event payload field (`@trigger` mappings), accepting what reaches a Metaflow flow on Argo
//! Workflows unchanged (a string `"5"` for an `int`, a number for a `str`) and refusing what
//! would fail in the flow's start step there.

use serde_json::Value;

use crate::model::ParamType;

/// A value that cannot become the parameter's type. `Display`: "`<value>` is not <what>".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given} is not {expected}")]
pub struct ParamValueError {
    /// The value as given (a JSON text for payload values, quoted text for command-line ones).
    pub given: String,
    /// What the type needs, e.g. "an integer".
    pub expected: &'static str,
}

/// The truthy and falsy words of click's `BOOL` type (Metaflow parameters are click options).
const TRUE_WORDS: &[&str] = &["true", "1", "yes", "y", "t", "on"];
const FALSE_WORDS: &[&str] = &["false", "0", "no", "n", "f", "off"];

fn expected(ty: ParamType) -> &'static str {
    match ty {
        ParamType::Str => "a string",
        ParamType::Int => "an integer",
        ParamType::Float => "a finite number",
        ParamType::Bool => "a boolean (true/false)",
        ParamType::Json => "a JSON document",
    }
}

/// Parse a command-line value for a parameter of type `ty`.
pub fn from_text(ty: ParamType, raw: &str) -> Result<Value, ParamValueError> {
    let bad = || ParamValueError {
        given: format!("{raw:?}"),
        expected: expected(ty),
    };
    Ok(match ty {
        ParamType::Str => Value::String(raw.to_string()),
        ParamType::Int => Value::from(raw.trim().parse::<i64>().map_err(|_| bad())?),
        ParamType::Float => {
            let f = raw.trim().parse::<f64>().map_err(|_| bad())?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(bad)?
        }
        ParamType::Bool => {
            let word = raw.trim().to_ascii_lowercase();
            if TRUE_WORDS.contains(&word.as_str()) {
                Value::Bool(true)
            } else if FALSE_WORDS.contains(&word.as_str()) {
                Value::Bool(false)
            } else {
                return Err(bad());
            }
        }
        ParamType::Json => {
            let doc: Value = serde_json::from_str(raw).map_err(|_| bad())?;
            Value::String(doc.to_string())
        }
    })
}

/// Convert an event payload value for a parameter of type `ty`. `Ok(None)` for JSON `null`:
/// the parameter keeps its default, as when the field is absent.
///
/// - `str`: a string as it is; a number, boolean, object or array as its compact JSON text.
/// - `int`: an integral number (`5`, `5.0`) or a string holding an integer (`"5"`).
/// - `float`: a number, or a string holding a finite number.
/// - `bool`: a boolean, `0`/`1`, or a string click's `BOOL` reads (`"true"`, `"no"`, ...).
/// - `json`: an object, array, number or boolean as that document; a string must hold JSON
///   text (Argo hands a string to `JSONType` as raw text, which `json.loads` then parses).
pub fn from_json(ty: ParamType, value: &Value) -> Result<Option<Value>, ParamValueError> {
    let bad = || ParamValueError {
        given: value.to_string(),
        expected: expected(ty),
    };
    if value.is_null() {
        return Ok(None);
    }
    let out = match (ty, value) {
        (ParamType::Str, Value::String(s)) => Value::String(s.clone()),
        (ParamType::Str, other) => Value::String(other.to_string()),
        (ParamType::Int, Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => return Err(bad()),
        },
        (ParamType::Float, Value::Number(n)) => Value::Number(n.clone()),
        (ParamType::Bool, Value::Bool(b)) => Value::Bool(*b),
        (ParamType::Bool, Value::Number(n)) => match n.as_i64() {
            Some(1) => Value::Bool(true),
            Some(0) => Value::Bool(false),
            _ => return Err(bad()),
        },
        (ParamType::Json, Value::String(s)) => from_text(ParamType::Json, s).map_err(|_| bad())?,
        (ParamType::Json, other) => Value::String(other.to_string()),
        (ParamType::Int | ParamType::Float | ParamType::Bool, Value::String(s)) => {
            from_text(ty, s).map_err(|_| bad())?
        }
        _ => return Err(bad()),
    };
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_values() {
        assert_eq!(from_text(ParamType::Int, " 42 ").unwrap(), json!(42));
        assert_eq!(from_text(ParamType::Float, "0.5").unwrap(), json!(0.5));
        assert_eq!(from_text(ParamType::Bool, "Yes").unwrap(), json!(true));
        assert_eq!(from_text(ParamType::Bool, "off").unwrap(), json!(false));
        assert_eq!(
            from_text(ParamType::Json, r#"{"a": [1, 2]}"#).unwrap(),
            json!(r#"{"a":[1,2]}"#)
        );
        assert_eq!(from_text(ParamType::Str, "$HOME").unwrap(), json!("$HOME"));
        let e = from_text(ParamType::Int, "4.5").unwrap_err();
        assert_eq!(e.to_string(), "\"4.5\" is not an integer");
        assert!(from_text(ParamType::Float, "inf").is_err());
        assert!(from_text(ParamType::Bool, "maybe").is_err());
        assert!(from_text(ParamType::Json, "{").is_err());
    }

    #[test]
    fn payload_values_of_every_type() {
        let ok = |ty, v: Value| from_json(ty, &v).unwrap().unwrap();
        assert_eq!(ok(ParamType::Str, json!("2026-12-01")), json!("2026-12-01"));
        assert_eq!(ok(ParamType::Str, json!(5)), json!("5"));
        assert_eq!(ok(ParamType::Str, json!(true)), json!("true"));
        assert_eq!(ok(ParamType::Str, json!({"a": 1})), json!(r#"{"a":1}"#));
        assert_eq!(ok(ParamType::Int, json!(7)), json!(7));
        assert_eq!(ok(ParamType::Int, json!(7.0)), json!(7));
        assert_eq!(ok(ParamType::Int, json!("7")), json!(7));
        assert_eq!(ok(ParamType::Float, json!(2)), json!(2));
        assert_eq!(ok(ParamType::Float, json!("2.5")), json!(2.5));
        assert_eq!(ok(ParamType::Bool, json!(false)), json!(false));
        assert_eq!(ok(ParamType::Bool, json!(1)), json!(true));
        assert_eq!(ok(ParamType::Bool, json!("True")), json!(true));
        assert_eq!(
            ok(ParamType::Json, json!({"k": [1]})),
            json!(r#"{"k":[1]}"#)
        );
        assert_eq!(ok(ParamType::Json, json!("[1, 2]")), json!("[1,2]"));
        assert_eq!(ok(ParamType::Json, json!(3)), json!("3"));
        assert_eq!(from_json(ParamType::Int, &Value::Null).unwrap(), None);
    }

    #[test]
    fn payload_values_that_cannot_become_the_type() {
        let err = |ty, v: Value| from_json(ty, &v).unwrap_err().to_string();
        assert_eq!(
            err(ParamType::Int, json!("soon")),
            "\"soon\" is not an integer"
        );
        assert_eq!(err(ParamType::Int, json!(1.5)), "1.5 is not an integer");
        assert_eq!(err(ParamType::Int, json!(true)), "true is not an integer");
        assert_eq!(err(ParamType::Int, json!([1])), "[1] is not an integer");
        assert_eq!(
            err(ParamType::Float, json!("x")),
            "\"x\" is not a finite number"
        );
        assert_eq!(
            err(ParamType::Float, json!({})),
            "{} is not a finite number"
        );
        assert_eq!(
            err(ParamType::Bool, json!(2)),
            "2 is not a boolean (true/false)"
        );
        assert_eq!(
            err(ParamType::Bool, json!("perhaps")),
            "\"perhaps\" is not a boolean (true/false)"
        );
        assert_eq!(
            err(ParamType::Json, json!("not json")),
            "\"not json\" is not a JSON document"
        );
    }
}
