//! AWS limits the compiled output must respect (contract aws-limits), and a checker that walks
//! any definition this crate emits and lists every limit or structure rule it breaks.

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::naming;

pub use ferry_spec::array_job::{MAX_ARRAY_SIZE, MIN_ARRAY_SIZE};
/// Batch: at most 20 job dependencies per job
/// (<https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html>).
pub const MAX_JOB_DEPENDENCIES: usize = 20;

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
/// Split indexes.
const MAX_NUMBER_CHARS: usize = 20;

/// Step Functions' `TimeoutSeconds` of a state machine (`--workflow-timeout`): 1 to 31,536,000
/// seconds (one year, the longest a Standard workflow execution may run).
pub const MAX_WORKFLOW_TIMEOUT_SECONDS: u64 = 31_536_000;
/// The longest run tag (`--tag`), in characters: Metaflow's `MAX_TAG_SIZE`.
pub const MAX_TAG_CHARS: usize = 500;
/// The most run tags (`--tag`) a deployment may set: Metaflow's `MAX_USER_TAG_SET_SIZE`.
pub const MAX_TAGS: usize = 50;
/// AWS resource tags (state machine tags `ferry:flow`/`ferry:owner`, Batch job tags): values of
/// at most 256 characters.
pub const MAX_AWS_TAG_VALUE_CHARS: usize = 256;
/// AWS resource tag keys: at most 128 characters.
pub const MAX_AWS_TAG_KEY_CHARS: usize = 128;
/// AWS Batch: a job on EC2 needs at least 4 MiB of memory.
pub const MIN_MEMORY_MIB: u64 = 4;
/// More memory than any EC2 instance type has (32 TiB, the largest u7in instances), in MiB: a
/// larger `memory=` is a unit mistake (MiB, not bytes).
pub const MAX_MEMORY_MIB: u64 = 32 * 1024 * 1024;
/// More vCPUs than any EC2 instance type has (896).
pub const MAX_VCPUS: f64 = 896.0;
/// More GPUs than any EC2 instance type has (16).
pub const MAX_GPUS: u32 = 16;

/// The most vCPUs a Fargate task has.
pub const FARGATE_MAX_VCPUS: f64 = 16.0;
/// The most memory a Fargate task has, in MiB (120 GiB, with 16 vCPUs).
pub const FARGATE_MAX_MEMORY_MIB: u64 = 122_880;

/// The largest task Fargate runs, as a step would ask for it.
fn fargate_largest() -> String {
    format!(
        "the largest task Fargate runs is cpu={FARGATE_MAX_VCPUS}, memory={FARGATE_MAX_MEMORY_MIB}, without GPUs"
    )
}

/// Why `cpu` vCPUs with `memory` MiB is not a Fargate task size, if it is not. Fargate accepts
/// 0.25, 0.5, 1, 2, 4, 8 or 16 vCPUs, each with its own memory range and step (AWS Batch user
/// guide, "Fargate job definitions": `VCPU` and `MEMORY` resource requirements). Past the
/// largest size, the message names it.
pub fn fargate_size_problem(cpu: f64, memory: u64) -> Option<String> {
    // (vCPUs, lowest MiB, highest MiB, step MiB)
    const SIZES: [(f64, u64, u64, u64); 7] = [
        (0.25, 512, 2048, 512), // 512, 1024 or 2048
        (0.5, 1024, 4096, 1024),
        (1.0, 2048, 8192, 1024),
        (2.0, 4096, 16384, 1024),
        (4.0, 8192, 30720, 1024),
        (8.0, 16384, 61440, 4096),
        (16.0, 32768, FARGATE_MAX_MEMORY_MIB, 8192),
    ];
    if memory > FARGATE_MAX_MEMORY_MIB {
        return Some(format!(
            "{memory} MiB of memory is more than a Fargate task has: {}; lower memory= (and cpu=) to a size Fargate runs",
            fargate_largest()
        ));
    }
    if cpu > FARGATE_MAX_VCPUS {
        return Some(format!(
            "{cpu} vCPUs are more than a Fargate task has: {}; lower cpu=",
            fargate_largest()
        ));
    }
    let Some(&(_, low, high, step)) = SIZES.iter().find(|s| s.0 == cpu) else {
        return Some(format!(
            "Fargate runs 0.25, 0.5, 1, 2, 4, 8 or 16 vCPUs, not {cpu}: set cpu= to one of them"
        ));
    };
    let fits = if cpu == 0.25 {
        [512, 1024, 2048].contains(&memory)
    } else {
        (low..=high).contains(&memory) && (memory - low).is_multiple_of(step)
    };
    if fits {
        return None;
    }
    Some(format!(
        "Fargate runs {cpu} vCPU with {low} to {high} MiB of memory in steps of {step} MiB, not {memory} MiB: set memory= to one of those, or change cpu="
    ))
}

/// Why a step asking for `gpu` GPUs cannot run on Fargate, if it cannot.
pub fn fargate_gpu_problem(gpu: u32) -> Option<String> {
    (gpu > 0).then(|| {
        format!(
            "GPUs are not available on Fargate, where this stack runs every task ({}): remove gpu=",
            fargate_largest()
        )
    })
}

/// What one machine can give a step: the compute of the embedded stack (`ferry up`), where
/// every task runs on the machine itself. A deploy there warns about steps that ask for more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineCapacity {
    /// The memory a step can get, in MiB (the machine's, or the cgroup's `ferry up` runs in).
    pub memory_mib: u64,
    /// The GPUs it has.
    pub gpus: u32,
    /// Why a step's `memory=` is not enforced there; `None` when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_not_enforced: Option<String>,
}

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
            } else if path.contains("Index") || path.contains("split_index") {
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
/// scope (also a `Catch`'s), every state reachable, a terminal state in every scope, Batch job
/// names, container overrides, and the total size. Empty when the definition is fine.
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
        let Some(st) = states.get(&s) else { continue };
        if let Some(next) = st.get("Next").and_then(Value::as_str) {
            todo.push_back(next.to_string());
        }
        for c in catchers(st) {
            if let Some(next) = c.get("Next").and_then(Value::as_str) {
                todo.push_back(next.to_string());
            }
        }
    }
    for name in states.keys() {
        if !seen.contains(name) {
            problems.push(format!("{at}: state {name} is not reachable"));
        }
    }
}

/// The `Catch` entries of a state.
fn catchers(state: &Value) -> &[Value] {
    state
        .get("Catch")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn check_state(
    name: &str,
    state: &Value,
    scope: &Map<String, Value>,
    problems: &mut Vec<String>,
    terminal: &mut bool,
    all: &mut HashSet<String>,
) {
    let ty = state.get("Type").and_then(Value::as_str);
    for c in catchers(state) {
        match c.get("Next").and_then(Value::as_str) {
            Some(n) if scope.contains_key(n) => {}
            Some(n) => problems.push(format!(
                "{name}: Catch Next {n} does not resolve in its scope"
            )),
            None => problems.push(format!("{name}: a Catch without Next")),
        }
    }
    if matches!(ty, Some("Fail" | "Succeed")) {
        // Terminal by type: neither Next nor End.
        if state.get("Next").is_some() || state.get("End").is_some() {
            problems.push(format!(
                "{name}: a {} state takes neither Next nor End",
                ty.unwrap_or("")
            ));
        }
        *terminal = true;
        return;
    }
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
    match ty {
        Some("Task") => {
            let params = state.get("Parameters");
            if let Some(job) = params
                .and_then(|p| p.get("JobName"))
                .and_then(Value::as_str)
                && !naming::is_valid_batch_name(job)
            {
                problems.push(format!("{name}: invalid Batch job name {job:?}"));
            }
            if let Some(a) = params.and_then(|p| p.get("ArrayProperties")) {
                match (a.get("Size").and_then(Value::as_u64), a.get("Size.$")) {
                    (Some(n), None) if (MIN_ARRAY_SIZE..=MAX_ARRAY_SIZE).contains(&n) => {}
                    (None, Some(Value::String(_))) => {}
                    _ => problems.push(format!(
                        "{name}: ArrayProperties needs Size {MIN_ARRAY_SIZE}..={MAX_ARRAY_SIZE} \
                         or a Size.$ path"
                    )),
                }
            }
            if let Some(deps) = params.and_then(|p| p.get("DependsOn")) {
                let deps = deps.as_array().map_or(&[][..], Vec::as_slice);
                if deps.len() > MAX_JOB_DEPENDENCIES {
                    problems.push(format!(
                        "{name}: {} job dependencies (> {MAX_JOB_DEPENDENCIES})",
                        deps.len()
                    ));
                }
                let n_to_n = deps
                    .iter()
                    .any(|d| d.get("Type").and_then(Value::as_str) == Some("N_TO_N"));
                if n_to_n && params.and_then(|p| p.get("ArrayProperties")).is_none() {
                    problems.push(format!("{name}: an N_TO_N dependency of a non-array job"));
                }
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
