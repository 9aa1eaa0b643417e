//! Canonical JSON and content addresses.

use serde::Serialize;
use serde_json::Value;

/// `value` as compact JSON bytes: struct fields in declaration order, `BTreeMap`s sorted, so the
/// same description always gives the same bytes (and the same content address). Fast path for
/// task descriptions, whose only free-form maps are `BTreeMap`s.
pub fn compact_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(value)
}

/// `value` as canonical JSON bytes: compact, every object's keys sorted.
pub fn canonical_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let v = serde_json::to_value(value)?;
    serde_json::to_vec(&sorted(v))
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

pub use ferry_spec::digest::sha256_hex;
