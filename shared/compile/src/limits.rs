//! AWS limits the compiled output must respect (contract aws-limits), and a checker that walks
//! any definition this crate emits and lists every limit or structure rule it breaks.

use std::collections::{HashSet, VecDeque};

use serde_json::{Map, Value};

use crate::naming;

/// Step Functions definitions are at most 1 MB; keep headroom for the rest of the
/// `CreateStateMachine` request (also 1 MB).
pub const MAX_DEFINITION_BYTES: usize = 1_000_000;
/// Batch container overrides (command + environment): 8,192 characters.
pub const MAX_OVERRIDES_CHARS: usize = 8_192;
/// The longest trigger `Parameters` string (JSON-escaped length) an execution may carry: it
/// reaches the start task as `FERRY_PARAMETERS`. `ferry trigger` must refuse longer ones.
pub const MAX_TRIGGER_PARAMETERS_CHARS: usize = 4_096;
/// Execution names (run ids) are at most 80 characters.
const MAX_RUN_ID_CHARS: usize = 80;
/// Batch job ids are UUIDs (36); allow some slack.
const MAX_JOB_ID_CHARS: usize = 64;
/// Split indexes and retry counts.
const MAX_NUMBER_CHARS: usize = 20;

/// An upper bound of the characters Batch counts for `overrides` (the `ContainerOverrides` of a
/// Task state) once Step Functions resolves its `Value.$` paths: each dynamic value is replaced
/// by the longest value it can take, and the JSON is measured.
pub fn overrides_upper_bound(overrides: &Value) -> usize {
    let mut len = json_len(overrides);
    let env = overrides.get("Environment").and_then(Value::as_array);
    for entry in env.into_iter().flatten() {
        if let Some(path) = entry.get("Value.$").and_then(Value::as_str) {
            let max = if path == "$.Parameters" {
                MAX_TRIGGER_PARAMETERS_CHARS
            } else if path.contains("run_id") || path.contains("Execution.Name") {
                MAX_RUN_ID_CHARS
            } else if path.contains("Index")
                || path.contains("split_index")
                || path.contains("RetryCount")
            {
                MAX_NUMBER_CHARS
            } else {
                MAX_JOB_ID_CHARS
            };
            // `"Value.$":"<path>"` becomes `"Value":"<value>"`; paths need no JSON escaping.
            len = len + max + "Value".len() - "Value.$".len() - path.len();
        }
    }
    len
}

/// The length in bytes of `value` as compact JSON, without building the string.
pub fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut c, value);
    c.0
}

/// Every problem of `definition` against the AWS limits and ASL structure rules this crate
/// relies on: state names (≤ 80, allowed characters), `StartAt`/`Next` resolving inside their
/// scope, every state reachable, a terminal state in every scope, Batch job names, container
/// overrides, and the total size. Empty when the definition is fine.
pub fn check_definition(definition: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let size = json_len(definition);
    if size > MAX_DEFINITION_BYTES {
        problems.push(format!(
            "definition is {size} bytes (> {MAX_DEFINITION_BYTES})"
        ));
    }
    let mut all_names = HashSet::new();
    check_scope(definition, "top", &mut problems, &mut all_names);
    problems
}

fn check_scope(scope: &Value, at: &str, problems: &mut Vec<String>, all: &mut HashSet<String>) {
    let Some(states) = scope.get("States").and_then(Value::as_object) else {
        problems.push(format!("{at}: no States"));
        return;
    };
    let Some(start) = scope.get("StartAt").and_then(Value::as_str) else {
        problems.push(format!("{at}: no StartAt"));
        return;
    };
    if !states.contains_key(start) {
        problems.push(format!("{at}: StartAt {start} is not a state"));
    }
    let mut terminal = false;
    for (name, state) in states {
        if !naming::is_valid_sfn_name(name) {
            problems.push(format!("{at}: invalid state name {name:?}"));
        }
        if !all.insert(name.clone()) {
            problems.push(format!(
                "{at}: state name {name} used twice in the definition"
            ));
        }
        check_state(name, state, states, problems, &mut terminal, all);
    }
    if !terminal {
        problems.push(format!("{at}: no terminal state"));
    }
    // Reachability from StartAt.
    let mut seen = HashSet::new();
    let mut todo = VecDeque::from([start.to_string()]);
    while let Some(s) = todo.pop_front() {
        if !seen.insert(s.clone()) {
            continue;
        }
        if let Some(next) = states
            .get(&s)
            .and_then(|st| st.get("Next"))
            .and_then(Value::as_str)
        {
            todo.push_back(next.to_string());
        }
    }
    for name in states.keys() {
        if !seen.contains(name) {
            problems.push(format!("{at}: state {name} is not reachable"));
        }
    }
}

fn check_state(
    name: &str,
    state: &Value,
    scope: &Map<String, Value>,
    problems: &mut Vec<String>,
    terminal: &mut bool,
    all: &mut HashSet<String>,
) {
    let next = state.get("Next").and_then(Value::as_str);
    let end = state.get("End").and_then(Value::as_bool) == Some(true);
    match (next, end) {
        (Some(n), false) => {
            if !scope.contains_key(n) {
                problems.push(format!("{name}: Next {n} does not resolve in its scope"));
            }
        }
        (None, true) => *terminal = true,
        _ => problems.push(format!("{name}: needs exactly one of Next and End")),
    }
    match state.get("Type").and_then(Value::as_str) {
        Some("Task") => {
            let params = state.get("Parameters");
            if let Some(job) = params
                .and_then(|p| p.get("JobName"))
                .and_then(Value::as_str)
                && !naming::is_valid_batch_name(job)
            {
                problems.push(format!("{name}: invalid Batch job name {job:?}"));
            }
            if let Some(o) = params.and_then(|p| p.get("ContainerOverrides")) {
                let chars = overrides_upper_bound(o);
                if chars > MAX_OVERRIDES_CHARS {
                    problems.push(format!("{name}: overrides can reach {chars} characters"));
                }
            }
        }
        Some("Parallel") => match state.get("Branches").and_then(Value::as_array) {
            Some(branches) if !branches.is_empty() => {
                for (i, b) in branches.iter().enumerate() {
                    check_scope(b, &format!("{name}.Branches[{i}]"), problems, all);
                }
            }
            _ => problems.push(format!("{name}: Parallel without branches")),
        },
        Some("Map") => match state.get("ItemProcessor") {
            Some(p) => check_scope(p, &format!("{name}.ItemProcessor"), problems, all),
            None => problems.push(format!("{name}: Map without ItemProcessor")),
        },
        other => problems.push(format!("{name}: unexpected Type {other:?}")),
    }
}
