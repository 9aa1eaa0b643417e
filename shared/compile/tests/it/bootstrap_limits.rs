//! The wrapper bootstrap travels in every task's container overrides (8,192 characters with the
//! environment): the widest shapes the compiler emits must still fit with it.

use crate::common;

use common::*;
use ferry_compile::CompileOptions;
use ferry_compile::asl::MAX_ENV_JOIN_BRANCHES;
use ferry_compile::bootstrap::{ARCHITECTURES, BOOTSTRAP_SCRIPT, bootstrap_command};
use ferry_compile::limits::{MAX_OVERRIDES_CHARS, overrides_upper_bound};
use ferry_spec::model::Parameter;
use serde_json::Value;

fn bootstrap_options(name: &str) -> CompileOptions {
    let sha = "f".repeat(64);
    let hashes: Vec<(&str, &str)> = ARCHITECTURES.iter().map(|a| (*a, sha.as_str())).collect();
    CompileOptions {
        // The longest bucket name S3 allows.
        wrapper_command: bootstrap_command(
            "python3",
            &"b".repeat(63),
            "ferry/bin/task-wrapper-",
            &hashes,
        )
        .unwrap(),
        ..aws_options(name)
    }
}

/// Every Task state's overrides, with their worst-case length.
fn task_overrides(v: &Value, out: &mut Vec<(String, usize)>) {
    if let Some(states) = v.get("States").and_then(Value::as_object) {
        for (name, s) in states {
            if let Some(o) = s.pointer("/Parameters/ContainerOverrides") {
                out.push((name.clone(), overrides_upper_bound(o)));
            }
            for b in s
                .get("Branches")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                task_overrides(b, out);
            }
            if let Some(p) = s.get("ItemProcessor") {
                task_overrides(p, out);
            }
        }
    }
}

#[test]
fn the_widest_env_join_and_a_start_with_parameters_fit_with_the_bootstrap() {
    let mut spec = wide_split(MAX_ENV_JOIN_BRANCHES, 78);
    // `start` gets FERRY_PARAMETERS (up to 4,096 characters).
    spec.parameters.push(
        serde_json::from_value::<Parameter>(serde_json::json!({
            "name": "alpha", "type": "float", "default": 0.5
        }))
        .unwrap(),
    );
    let c = compile_ok(&spec, &bootstrap_options("WideFlow"));
    let mut all = Vec::new();
    task_overrides(&c.definition, &mut all);
    assert!(all.len() >= MAX_ENV_JOIN_BRANCHES + 3, "{all:?}");
    let (worst, chars) = all.iter().max_by_key(|(_, n)| *n).unwrap();
    assert!(
        *chars <= MAX_OVERRIDES_CHARS,
        "{worst}: {chars} > {MAX_OVERRIDES_CHARS}"
    );
    // The script is one argument of the command, verbatim.
    let start = c.definition["States"]["start"]["Parameters"]["ContainerOverrides"]["Command"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(start[2], BOOTSTRAP_SCRIPT);
}
