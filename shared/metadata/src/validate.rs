//! Input validation: names from the path, and the typed fields of request bodies.
//!
//! Every check runs before anything is written, so a bad request never leaves a partial write.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Longest name accepted (flow, step, run or task alias, artifact or field name), in bytes;
/// svc's columns are `VARCHAR(255)`.
pub const MAX_NAME_BYTES: usize = 255;

/// Check a name taken from the path or a body: non-empty, at most 255 bytes, no `/` (names are
/// pathspec components), not `.` or `..` (HTTP clients remove such segments from a URL, so the
/// client could never read the object back), no control characters.
pub fn name(kind: &str, value: &str) -> ApiResult<()> {
    if value.is_empty() {
        return Err(ApiError::bad(format!("{kind} must not be empty")));
    }
    if value == "." || value == ".." {
        return Err(ApiError::bad(format!(
            "{kind} {value:?} is not a usable name: HTTP clients drop \".\" and \"..\" segments from URLs, so nothing could read it back; use another name"
        )));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(ApiError::bad(format!(
            "{kind} is {} bytes long; the limit is {MAX_NAME_BYTES}",
            value.len()
        )));
    }
    if value.contains('/') {
        return Err(ApiError::bad(format!(
            "{kind} {value:?} must not contain '/'"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad(format!(
            "{kind} {value:?} must not contain control characters"
        )));
    }
    Ok(())
}

/// True for a path segment that addresses the numeric id column (svc `str.isnumeric()`):
/// non-empty and all ASCII digits.
pub fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A numeric id from a path segment (`None` when it is too large for an i64: it cannot exist).
pub fn parse_id(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().filter(|n| *n >= 0)
}

/// Parse a request body as JSON.
pub fn json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("the body is not valid JSON: {e}")))
}

/// Parse a request body that must be a JSON object (an empty body counts as `{}`).
pub fn object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match json(body)? {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::bad(format!(
            "the body must be a JSON object, not {}",
            kind_of(&other)
        ))),
    }
}

/// Parse a request body that must be a JSON array of objects.
pub fn array_of_objects(body: &[u8], what: &str) -> ApiResult<Vec<Map<String, Value>>> {
    match json(body)? {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(m) => Ok(m),
                other => Err(ApiError::bad(format!(
                    "{what}[{i}] must be a JSON object, not {}",
                    kind_of(&other)
                ))),
            })
            .collect(),
        other => Err(ApiError::bad(format!(
            "the body must be a JSON array of {what}, not {}",
            kind_of(&other)
        ))),
    }
}

/// The JSON type name of a value, for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An optional string field (absent or `null` gives `None`).
pub fn opt_str(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad(format!(
            "{key} must be a string, not {}",
            kind_of(other)
        ))),
    }
}

/// A required string field.
pub fn req_str(obj: &Map<String, Value>, key: &str) -> ApiResult<String> {
    opt_str(obj, key)?.ok_or_else(|| ApiError::bad(format!("{key} is required")))
}

/// A metadata row's `value` as the string svc stores (`metadata_v3.value TEXT NOT NULL`, written
/// through psycopg2): a string as is; a number or boolean as its JSON text (`4`, `-2.5`, `true`,
/// as Postgres casts the literal to text); a list of strings (the client's `foreach-stack`) as a
/// Postgres text array (`{i=0,"a b"}`, [`postgres_text_array`]). Anything else (`null`, an
/// object, a list holding other values) is a 400: svc fails to insert such a row.
pub fn metadata_value(v: &Value) -> ApiResult<String> {
    let refuse = || {
        ApiError::bad(format!(
            "value must be a string (or a number, a boolean or a list of strings, stored as text), not {}",
            match v {
                Value::Array(_) => "a list holding other values",
                other => kind_of(other),
            }
        ))
    };
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(_) | Value::Bool(_) => Ok(v.to_string()),
        Value::Array(items) => {
            let strings: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            strings.map(|s| postgres_text_array(&s)).ok_or_else(refuse)
        }
        Value::Null | Value::Object(_) => Err(refuse()),
    }
}

/// The text Postgres gives a `text[]` (its `array_out`): `{a,b}`, where an element is quoted when
/// it is empty, is `NULL` in any case, or holds `{`, `}`, `,`, `"`, `\` or white space; inside
/// quotes `"` and `\` are escaped with `\`.
pub fn postgres_text_array(items: &[&str]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let quote = item.is_empty()
            || item.eq_ignore_ascii_case("null")
            || item.chars().any(|c| {
                matches!(c, '{' | '}' | ',' | '"' | '\\')
                    || matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
            });
        if !quote {
            out.push_str(item);
            continue;
        }
        out.push('"');
        for c in item.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// An optional string-or-integer field, as a string (ids the client sends either way).
pub fn opt_id(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(ApiError::bad(format!(
            "{key} must be a string or a non-negative integer, not {}",
            kind_of(other)
        ))),
    }
}

/// An optional list of strings (`tags`, `system_tags`); `null` or absent gives `None`.
pub fn opt_tags(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<Vec<String>>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => tag_list(key, v).map(Some),
    }
}

/// A list of strings; anything else is a 400 naming the field.
pub fn tag_list(key: &str, v: &Value) -> ApiResult<Vec<String>> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|t| match t {
                Value::String(s) => Ok(s.clone()),
                other => Err(ApiError::bad(format!(
                    "{key} must be a list of strings; it holds {}",
                    kind_of(other)
                ))),
            })
            .collect(),
        other => Err(ApiError::bad(format!(
            "{key} must be a list, not {}",
            kind_of(other)
        ))),
    }
}

/// An optional non-negative integer field (`attempt_id`), defaulting to `default`.
pub fn opt_u32(obj: &Map<String, Value>, key: &str, default: u32) -> ApiResult<u32> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n < 100_000)
            .ok_or_else(|| ApiError::bad(format!("{key} must be an integer from 0 to 99999"))),
        Some(Value::String(s)) if is_numeric(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| *n < 100_000)
            .ok_or_else(|| ApiError::bad(format!("{key} must be an integer from 0 to 99999"))),
        Some(other) => Err(ApiError::bad(format!(
            "{key} must be an integer, not {}",
            kind_of(other)
        ))),
    }
}

/// Whether run/task creation should fill `last_heartbeat_ts` (svc
/// `has_heartbeat_capable_version_tag`): a `metaflow_version:` system tag with version ≥ 2.2.12,
/// or 1.14.x up to 2.0, or one that does not parse as a version.
pub fn heartbeat_capable(system_tags: Option<&[String]>) -> bool {
    let Some(tags) = system_tags else {
        return false;
    };
    let Some(ver) = tags
        .iter()
        .find_map(|t| t.strip_prefix("metaflow_version:"))
    else {
        return false;
    };
    let release = ver.split(['+', '-']).next().unwrap_or("");
    let parts: Vec<Option<u64>> = release
        .split('.')
        .map(|p| {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect();
    let Some(Some(major)) = parts.first().copied() else {
        return true; // unparseable: assume a modern client
    };
    let minor = parts.get(1).copied().flatten().unwrap_or(0);
    let patch = parts.get(2).copied().flatten().unwrap_or(0);
    let v = (major, minor, patch);
    v >= (2, 2, 12) || ((1, 14, 0)..(2, 0, 0)).contains(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(v: &str) -> bool {
        heartbeat_capable(Some(&[format!("metaflow_version:{v}")]))
    }

    #[test]
    fn heartbeat_capability_table() {
        assert!(cap("2.2.12"));
        assert!(!cap("2.2.11"));
        assert!(!cap("2.0.5"));
        assert!(cap("1.14.0"));
        assert!(cap("custom-1"));
        assert!(cap("2.19.39"));
        assert!(!heartbeat_capable(Some(&["runtime:dev".to_string()])));
        assert!(!heartbeat_capable(None));
    }

    #[test]
    fn metadata_values_become_svc_text() {
        use serde_json::json;
        let text = |v: Value| metadata_value(&v).unwrap();
        assert_eq!(text(json!("x")), "x");
        assert_eq!(text(json!(7)), "7");
        assert_eq!(text(json!(true)), "true");
        assert_eq!(text(json!(["i=0", "j=1"])), "{i=0,j=1}");
        assert_eq!(
            text(json!(["", "null", "a\tb", "x{y", "q\"", "b\\s"])),
            "{\"\",\"null\",\"a\tb\",\"x{y\",\"q\\\"\",\"b\\\\s\"}"
        );
        for bad in [
            json!(null),
            json!({"a": 1}),
            json!([1]),
            json!([["a"]]),
            json!(["a", null]),
        ] {
            assert!(metadata_value(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(name("flow", "HelloFlow").is_ok());
        assert!(name("flow", "a/b").is_err());
        assert!(name("flow", "").is_err());
        assert!(name("flow", &"x".repeat(256)).is_err());
        assert!(name("flow", &"x".repeat(255)).is_ok());
        assert!(name("flow", ".").is_err() && name("flow", "..").is_err());
        assert!(name("flow", "...").is_ok() && name("flow", ".x").is_ok());
        assert!(is_numeric("12") && !is_numeric("1a") && !is_numeric(""));
    }
}
