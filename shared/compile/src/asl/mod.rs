//! The compiler: a flow spec and its graph → an Amazon States Language definition.
//!
//! # Shape
//! * every step is a `Task` state `arn:<partition>:states:::batch:submitJob.sync` named after
//!   the step ([`naming::step_state_name`]); its container overrides carry only the wrapper's
//!   argv (`<wrapper> run --task <url of tasks/<sha256>.json>`), the vCPU/memory/GPU
//!   requirements and the dynamic environment of `docs/runtime-contract.md` §2
//!   (`{"Name", "Value.$": <JSONPath>}`); state between Task states travels in the Batch job
//!   `Parameters` and each Task keeps only `{JobId, Parameters}` of the Batch result
//!   (`ResultSelector`);
//! * a split is a `Parallel` state (named by [`naming::parallel_state_name`]) with one branch per
//!   `next` step; the join reads the branch outputs as `$[i]`;
//! * a foreach is a `Map` with `ItemSelector` / `ItemProcessor` and `ResultPath: null` (the join
//!   reads the foreach task's own `{JobId, Parameters}`, passed through). Inline Maps read the
//!   split indexes with a `dynamodb:getItem` state (`<step>-cardinality`); distributed Maps read
//!   `foreach/<task id>.json` with an `s3:getObject` `ItemReader` and write child results with a
//!   `ResultWriter`. The last Task of a foreach body has `OutputPath: null`, so iteration results
//!   are `{}`.
//!
//! * with `--foreach-mode array`, a foreach whose body is a chain of plain steps becomes Batch
//!   array jobs under an inline Map over its chunks ([`array`]).
//! * `@exit_hook` adds a `Catch` to every top-level state, the hook Tasks and a `Fail` /
//!   `Succeed` state ([`exit_hook`]).
//!
//! # ASL features emitted (the executor implements exactly these)
//! State types `Task`, `Parallel`, `Map`, and with `@exit_hook` `Fail` (`ErrorPath`,
//! `CausePath`) and `Succeed`. Fields: `Comment`, `StartAt`, `States`,
//! `TimeoutSeconds` (top level only), `Type`, `Resource`, `Parameters` (with `.$` keys),
//! `ResultSelector`, `ResultPath` (`null` or `$.Foreach`), `OutputPath` (`null` only), `Next`,
//! `End`, `Retry` (`ErrorEquals`, `IntervalSeconds`, `MaxAttempts`, `BackoffRate`,
//! `MaxDelaySeconds`, `JitterStrategy: FULL`), `Catch` (`States.ALL`, `ResultPath` `$` or
//! `$.ExitHookError`), `Branches`, `ItemsPath`, `ItemSelector`,
//! `ItemProcessor` (`ProcessorConfig.Mode` `INLINE` | `DISTRIBUTED` with `ExecutionType: STANDARD`),
//! `ItemReader` (`s3:getObject`, `ReaderConfig.InputType: JSON`), `ResultWriter`
//! (`s3:putObject`), `MaxConcurrency`. Resources: `batch:submitJob.sync`, `dynamodb:getItem`.
//! Paths: `$`, `$.a.b`, `$.a['x.y']`, `$[i].a`, `$$.Execution.Name`, `$$.Map.Item.Value`.
//! Intrinsics: `States.Format` with `{}` placeholders.
//! Array form only: `batch:submitJob` (no `.sync`), `ArrayProperties`, `DependsOn` (`N_TO_N`),
//! `ResultPath: $.Array`, `$$.Map.Item.Value.<field>`, `States.StringToJson`.

use std::collections::HashSet;

use ferry_spec::FlowGraph;
use ferry_spec::model::{FlowSpec, StepType};
use serde_json::{Map, Value, json};

use crate::limits;
use crate::naming;
use crate::options::{CompileOptions, ForeachMode, MapMode};
use crate::output::{CompileError, Compiled, ForeachForm};
use crate::schedule::schedule_for;

pub mod array;
mod checks;
pub mod exit_hook;
mod input;
mod walk;

pub use array::{array_body, array_foreaches, array_form_allowed};
use input::Input;

/// Batch parameter carrying the run id (the execution name captured by `start`).
pub const PARAM_RUN_ID: &str = "metaflow.run_id";
/// Batch parameter carrying the deployer (read back by `get_existing_deployment`-style readers
/// from `States[StartAt].Parameters.Parameters`).
pub const PARAM_OWNER: &str = "metaflow.owner";
/// Batch parameter carrying the production token (start step only).
pub const PARAM_PRODUCTION_TOKEN: &str = "metaflow.production_token";

/// Static splits with more branches than this join through the state table instead of one
/// `FERRY_PARENT_<i>_TASK_ID` variable per branch (~110 characters each at worst): with the
/// wrapper bootstrap in the command (`crate::bootstrap`, ~1,200 characters) 56 branches keep a
/// join's worst case under Batch's 8,192-character overrides (`tests/it/bootstrap_limits.rs`).
pub const MAX_ENV_JOIN_BRANCHES: usize = 56;

/// Batch parameter key of the split parent of foreach `f`.
pub fn param_split_parent(f: &str) -> String {
    format!("split_parent_task_id_{f}")
}

/// Batch parameter key of the split index of foreach `f`.
pub fn param_split_index(f: &str) -> String {
    format!("split_index_{f}")
}

/// Compile `spec` (whose graph is `graph`) for the target described by `options`.
///
/// Errors: invalid or missing options, steps or decorators Ferry cannot deploy, out-of-range
/// settings (`@timeout` < 60 s, more than 10 Batch attempts, cpu/memory/GPUs out of Batch's
/// bounds or not a Fargate size, a workflow timeout over a year, tags too long or too many),
/// a bad `@schedule`, and any AWS
/// limit the output would break (definition > 1 MB, overrides > 8,192 characters, names).
pub fn compile(
    spec: &FlowSpec,
    graph: &FlowGraph,
    options: &CompileOptions,
) -> Result<Compiled, CompileError> {
    checks::check_options(options)?;
    checks::check_spec(spec, graph)?;
    checks::check_resources(spec, options)?;
    let wide = graph
        .nodes()
        .filter(|n| n.ty() == StepType::Split && n.next().len() > MAX_ENV_JOIN_BRANCHES)
        .map(|n| n.name().to_string())
        .collect();
    let arrays: HashSet<String> = array::array_foreaches(graph, options).into_iter().collect();
    let distributed = map_modes(graph, options);
    let foreach_forms = graph
        .sorted()
        .filter(|n| n.ty() == StepType::Foreach)
        .map(|n| {
            let step = n.name().to_string();
            let array_body = array::array_body(graph, &step);
            let (form, body) = if arrays.contains(&step) {
                ("array", array_body.clone().unwrap_or_default())
            } else if distributed.contains(&step) {
                ("map-distributed", Vec::new())
            } else {
                ("map-inline", Vec::new())
            };
            // Asked for array jobs and not given them: say why.
            let not_array = (options.foreach_mode != ForeachMode::Map)
                .then(|| array_body.err())
                .flatten();
            ForeachForm {
                step,
                form: form.to_string(),
                body,
                not_array,
            }
        })
        .collect();
    let mut walk = walk::Walk::new(spec, graph, options, distributed, wide, arrays);
    let start = graph.start().name().to_string();
    let mut states = Map::new();
    walk.chain(&start, None, Input::Execution, &mut states)?;
    let (image, role, ..) = walk::resources(&graph.start().step, options);
    let hooks = exit_hook::add(
        spec,
        options,
        (image, role),
        |image, role| walk.job_definition(image, role, None),
        &mut states,
    )?;
    let (mut descriptions, job_definitions) = walk.finish()?;
    let mut definition = Map::new();
    definition.insert(
        "Comment".into(),
        json!(format!(
            "Ferry: flow {} deployed as {}",
            spec.flow, options.state_machine_name
        )),
    );
    definition.insert("StartAt".into(), json!(naming::step_state_name(&start)));
    if let Some(t) = options.workflow_timeout_seconds {
        definition.insert("TimeoutSeconds".into(), json!(t));
    }
    definition.insert("States".into(), Value::Object(states));
    let definition = Value::Object(definition);
    let size = limits::json_len(&definition);
    if size > limits::MAX_DEFINITION_BYTES {
        return Err(CompileError::DefinitionTooLarge {
            bytes: size,
            limit: limits::MAX_DEFINITION_BYTES,
        });
    }
    let mut task_descriptions = Vec::with_capacity(graph.len());
    for node in graph.sorted() {
        if let Some(blob) = descriptions.remove(node.name()) {
            task_descriptions.push(blob);
        }
    }
    task_descriptions.extend(hooks);
    Ok(Compiled {
        definition,
        task_descriptions,
        job_definitions,
        schedule: schedule_for(spec, &options.state_machine_name)?,
        warnings: checks::machine_warnings(spec, options),
        foreach_forms,
    })
}

/// Which foreach steps get a distributed Map.
fn map_modes(graph: &FlowGraph, o: &CompileOptions) -> HashSet<String> {
    let foreaches: Vec<&str> = graph
        .nodes()
        .filter(|n| n.ty() == StepType::Foreach)
        .map(|n| n.name())
        .collect();
    let own = |f: &str| match o.map_mode {
        MapMode::Inline => false,
        MapMode::Distributed => true,
        MapMode::Auto => {
            o.max_workers > o.distributed_map_threshold
                || o.foreach_width_hints
                    .get(f)
                    .is_some_and(|w| *w > o.inline_width_limit)
        }
    };
    let mut out: HashSet<String> = HashSet::new();
    for f in &foreaches {
        if own(f) {
            out.insert(f.to_string());
            // Keep distributed Maps out of inline ones: make every enclosing Map distributed.
            for outer in graph.enclosing_foreaches(f) {
                out.insert(outer.to_string());
            }
        }
    }
    out
}
