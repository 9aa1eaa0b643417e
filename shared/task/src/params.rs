//! Parameters for Metaflow's hidden `init` command: deploy-time defaults merged with the
//! trigger's `FERRY_PARAMETERS`, handed over as `METAFLOW_INIT_<NAME>` environment variables.
//!
//! `init` is a click command under `auto_envvar_prefix="METAFLOW"`, so parameter `alpha-beta`
//! reads `METAFLOW_INIT_ALPHA_BETA`, and click parses the text exactly as it would parse the
//! command-line option: a JSON string value is passed as its raw text, every other JSON value
//! (number, boolean, object, array) as its compact JSON text. No shell is involved, so `$HOME`,
//! backticks, quotes and non-ASCII text arrive byte-exact. `null` means "no value" (the flow's
//! own default applies).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::TaskError;

/// The prefix click gives the `init` command's options.
pub const INIT_ENV_PREFIX: &str = "METAFLOW_INIT_";

/// The trigger's parameters as JSON text: `FERRY_PARAMETERS` itself, or, when it points at a
/// parameters blob ([`ferry_spec::task::PARAMETERS_BLOB`]), the blob's text after its sha256 is
/// checked. `None` when there are none.
pub async fn trigger_text(
    trigger: Option<&str>,
    blobs: &ferry_spec::task::BlobStoreRef,
) -> Result<Option<String>, TaskError> {
    let Some(text) = trigger else { return Ok(None) };
    let pointer = serde_json::from_str::<Value>(text).ok().and_then(|v| {
        let map = v.as_object()?;
        let blob = map.get(ferry_spec::task::PARAMETERS_BLOB)?.as_object()?;
        (map.len() == 1).then(|| {
            (
                blob.get("key").and_then(Value::as_str).map(str::to_string),
                blob.get("sha256")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )
        })
    });
    let Some((key, sha)) = pointer else {
        return Ok(Some(text.to_string()));
    };
    let (Some(key), Some(sha)) = (key, sha) else {
        return Err(TaskError::Parameters(
            "the parameters blob pointer needs a key and a sha256".into(),
        ));
    };
    let store = crate::stores::open_blobs(blobs).await?;
    let bytes = store
        .get(&key)
        .await
        .map_err(|e| TaskError::Parameters(format!("reading the parameters blob {key}: {e}")))?
        .ok_or_else(|| TaskError::Parameters(format!("the parameters blob {key} is missing")))?;
    let got = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if got != sha {
        return Err(TaskError::Parameters(format!(
            "the parameters blob {key} has sha256 {got}, expected {sha}"
        )));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| TaskError::Parameters(format!("the parameters blob {key} is not UTF-8")))
}

/// Take the run tags given at trigger time ([`ferry_spec::task::PARAMETERS_TAGS`]) out of the
/// trigger's parameters text: returns the remaining text and the tags (non-empty strings without
/// NUL, at most 500 bytes each, as Metaflow's tag rules).
pub fn split_trigger_tags(
    text: Option<String>,
) -> Result<(Option<String>, Vec<String>), TaskError> {
    let (text, tags) = take_key(text, ferry_spec::task::PARAMETERS_TAGS);
    let Some(tags) = tags else {
        return Ok((text, Vec::new()));
    };
    let bad = || {
        TaskError::Parameters(format!(
            "{} must be a list of non-empty tags of at most 500 bytes",
            ferry_spec::task::PARAMETERS_TAGS
        ))
    };
    let tags: Vec<String> = match tags {
        Value::Array(items) => items
            .into_iter()
            .map(|t| match t {
                Value::String(s) if !s.is_empty() && s.len() <= 500 && !s.contains('\0') => Ok(s),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(bad()),
    };
    Ok((text, tags))
}

/// Take the resume section ([`ferry_spec::resume::PARAMETERS_RESUME`]) out of the trigger's
/// parameters text: returns the remaining text and the section of a resumed run.
pub fn split_trigger_resume(
    text: Option<String>,
) -> Result<(Option<String>, Option<ferry_spec::resume::ResumeSection>), TaskError> {
    let (text, section) = take_key(text, ferry_spec::resume::PARAMETERS_RESUME);
    let Some(section) = section else {
        return Ok((text, None));
    };
    let section = serde_json::from_value(section).map_err(|e| {
        TaskError::Parameters(format!(
            "{} is not a resume section: {e}",
            ferry_spec::resume::PARAMETERS_RESUME
        ))
    })?;
    Ok((text, Some(section)))
}

/// Take the events that started an event-triggered run ([`ferry_spec::task::PARAMETERS_TRIGGERS`])
/// out of the trigger's parameters text: returns the remaining text and the events as compact
/// JSON text, the value of Metaflow's `execution-triggers` task metadata (a list of objects with
/// `timestamp`, `id`, `name` and `type`, as `argo_workflows_decorator.py` records it).
pub fn split_trigger_events(
    text: Option<String>,
) -> Result<(Option<String>, Option<String>), TaskError> {
    let key = ferry_spec::task::PARAMETERS_TRIGGERS;
    let (text, events) = take_key(text, key);
    let Some(events) = events else {
        return Ok((text, None));
    };
    let well_formed = events.as_array().is_some_and(|items| {
        items.iter().all(|e| {
            e.get("name").is_some_and(Value::is_string)
                && e.get("type").is_some_and(Value::is_string)
        })
    });
    if !well_formed {
        return Err(TaskError::Parameters(format!(
            "{key} must be a list of events, each with a name and a type"
        )));
    }
    Ok((text, Some(events.to_string())))
}

/// Remove `key` from the trigger's parameters text when that text is a JSON object holding it:
/// the remaining text (compact JSON) and the key's value. Any other text is returned unchanged.
fn take_key(text: Option<String>, key: &str) -> (Option<String>, Option<Value>) {
    let Some(text) = text else {
        return (None, None);
    };
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(&text) else {
        return (Some(text), None);
    };
    match map.remove(key) {
        Some(v) => (Some(Value::Object(map).to_string()), Some(v)),
        None => (Some(text), None),
    }
}

/// Merge `defaults` with the trigger's parameters (a JSON object as text, as carried by
/// `FERRY_PARAMETERS`; empty or `null` means none) and return the `init` environment, sorted by
/// variable name.
pub fn init_env(
    defaults: &BTreeMap<String, Value>,
    trigger: Option<&str>,
) -> Result<Vec<(String, String)>, TaskError> {
    let mut merged: BTreeMap<String, Value> = defaults.clone();
    if let Some(text) = trigger.filter(|t| !t.trim().is_empty()) {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => merged.extend(map),
            Ok(Value::Null) => {}
            Ok(other) => {
                return Err(TaskError::Parameters(format!(
                    "FERRY_PARAMETERS must be a JSON object, got {}",
                    kind(&other)
                )));
            }
            Err(e) => {
                return Err(TaskError::Parameters(format!(
                    "FERRY_PARAMETERS is not JSON: {e}"
                )));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (name, value) in merged {
        let var = env_name(&name)?;
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s,
            other => other.to_string(),
        };
        if text.contains('\0') {
            return Err(TaskError::Parameters(format!(
                "the value of {name:?} contains a NUL byte"
            )));
        }
        if out.insert(var.clone(), text).is_some() {
            return Err(TaskError::Parameters(format!(
                "two parameters map to {var}"
            )));
        }
    }
    Ok(out.into_iter().collect())
}

/// `METAFLOW_INIT_<NAME>` for a parameter name (upper-cased, `-` → `_`). Names must be
/// 1-128 characters of `[A-Za-z0-9_-]`.
pub fn env_name(name: &str) -> Result<String, TaskError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(TaskError::Parameters(format!(
            "parameter name {name:?} must be 1-128 characters of [A-Za-z0-9_-]"
        )));
    }
    Ok(format!(
        "{INIT_ENV_PREFIX}{}",
        name.to_ascii_uppercase().replace('-', "_")
    ))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_trigger_over_defaults() {
        let defaults: BTreeMap<String, Value> = [
            ("alpha".to_string(), json!(0.5)),
            ("my-name".to_string(), json!("x")),
        ]
        .into();
        let env = init_env(
            &defaults,
            Some(r#"{"my-name": "$HOME `echo hi`", "cfg": {"a": [1, true]}, "n": null}"#),
        )
        .unwrap();
        assert_eq!(
            env,
            vec![
                ("METAFLOW_INIT_ALPHA".to_string(), "0.5".to_string()),
                (
                    "METAFLOW_INIT_CFG".to_string(),
                    r#"{"a":[1,true]}"#.to_string()
                ),
                (
                    "METAFLOW_INIT_MY_NAME".to_string(),
                    "$HOME `echo hi`".to_string()
                ),
            ]
        );
    }

    #[test]
    fn trigger_tags_are_taken_out_of_the_parameters() {
        let text = r#"{"alpha": 1, "ferry.tags": ["nightly", "café run"]}"#.to_string();
        let (rest, tags) = split_trigger_tags(Some(text)).unwrap();
        assert_eq!(tags, ["nightly", "café run"]);
        assert_eq!(rest.as_deref(), Some(r#"{"alpha":1}"#));
        let (rest, tags) = split_trigger_tags(Some("{}".into())).unwrap();
        assert!(tags.is_empty());
        assert_eq!(rest.as_deref(), Some("{}"));
        for bad in [
            r#"{"ferry.tags": "x"}"#,
            r#"{"ferry.tags": [""]}"#,
            r#"{"ferry.tags": [1]}"#,
        ] {
            assert!(split_trigger_tags(Some(bad.into())).is_err(), "{bad}");
        }
    }

    #[test]
    fn trigger_events_are_taken_out_of_the_parameters() {
        let text = r#"{"day": "2026-12-01", "ferry.triggers": [{"timestamp": 1764547200, "id": "e1", "name": "data_ready", "type": "event"}]}"#;
        let (rest, events) = split_trigger_events(Some(text.to_string())).unwrap();
        assert_eq!(rest.as_deref(), Some(r#"{"day":"2026-12-01"}"#));
        let events: Value = serde_json::from_str(&events.unwrap()).unwrap();
        assert_eq!(events[0]["name"], "data_ready");
        assert_eq!(events[0]["type"], "event");
        // What is left is a valid `init` input: the key is not taken for a parameter.
        assert!(init_env(&BTreeMap::new(), rest.as_deref()).is_ok());
        assert!(init_env(&BTreeMap::new(), Some(text)).is_err());
        for bad in [
            r#"{"ferry.triggers": "data_ready"}"#,
            r#"{"ferry.triggers": [{"id": "e1"}]}"#,
        ] {
            assert!(
                split_trigger_events(Some(bad.to_string())).is_err(),
                "{bad}"
            );
        }
        let (rest, events) = split_trigger_events(Some(r#"{"a": 1}"#.into())).unwrap();
        assert_eq!((rest.as_deref(), events), (Some(r#"{"a": 1}"#), None));
    }

    #[test]
    fn refuses_bad_input() {
        assert!(init_env(&BTreeMap::new(), Some("[1]")).is_err());
        assert!(init_env(&BTreeMap::new(), Some("{")).is_err());
        assert!(init_env(&BTreeMap::new(), Some(r#"{"a b": 1}"#)).is_err());
        assert!(init_env(&BTreeMap::new(), Some(r#"{"a": "x\u0000"}"#)).is_err());
        assert!(init_env(&BTreeMap::new(), Some(r#"{"a-b": 1, "a_b": 2}"#)).is_err());
        assert!(init_env(&BTreeMap::new(), Some("")).unwrap().is_empty());
    }
}
