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
//! # ASL features emitted (the executor implements exactly these)
//! State types `Task`, `Parallel`, `Map`. Fields: `Comment`, `StartAt`, `States`,
//! `TimeoutSeconds` (top level only), `Type`, `Resource`, `Parameters` (with `.$` keys),
//! `ResultSelector`, `ResultPath` (`null` or `$.Foreach`), `OutputPath` (`null` only), `Next`,
//! `End`, `Retry` (`ErrorEquals`, `IntervalSeconds`, `MaxAttempts`, `BackoffRate`,
//! `MaxDelaySeconds`, `JitterStrategy: FULL`), `Branches`, `ItemsPath`, `ItemSelector`,
//! `ItemProcessor` (`ProcessorConfig.Mode` `INLINE` | `DISTRIBUTED` with `ExecutionType: STANDARD`),
//! `ItemReader` (`s3:getObject`, `ReaderConfig.InputType: JSON`), `ResultWriter`
//! (`s3:putObject`), `MaxConcurrency`. Resources: `batch:submitJob.sync`, `dynamodb:getItem`.
//! Paths: `$`, `$.a.b`, `$.a['x.y']`, `$[i].a`, `$$.Execution.Name`, `$$.Map.Item.Value`,
//! `$$.State.RetryCount`. Intrinsics: `States.Format` with `{}` placeholders.

use std::collections::{BTreeMap, HashMap, HashSet};

use ferry_spec::FlowGraph;
use ferry_spec::model::{FlowSpec, Step, StepType};
use ferry_spec::task::{
    self as td, Fanout, Retries, StepCommand, StepInputs, TASK_DESCRIPTION_VERSION, TaskDescription,
};
use serde_json::{Map, Value, json};

use crate::canonical::{canonical_bytes, compact_bytes, sha256_hex};
use crate::limits;
use crate::naming;
use crate::options::{
    CompileOptions, DEFAULT_ATTEMPT_TIMEOUT_SECONDS, DEFAULT_CPU, DEFAULT_MEMORY_MIB, MapMode,
};
use crate::output::{CompileError, Compiled, JobDefinitionSpec, TaskDescriptionBlob};
use crate::schedule::schedule_for;

/// Batch parameter carrying the run id (the execution name captured by `start`).
pub const PARAM_RUN_ID: &str = "metaflow.run_id";
/// Batch parameter carrying the deployer (read back by `get_existing_deployment`-style readers
/// from `States[StartAt].Parameters.Parameters`).
pub const PARAM_OWNER: &str = "metaflow.owner";
/// Batch parameter carrying the production token (start step only).
pub const PARAM_PRODUCTION_TOKEN: &str = "metaflow.production_token";

/// Static splits with more branches than this join through the state table instead of one
/// `FERRY_PARENT_<i>_TASK_ID` variable per branch (which would outgrow Batch's 8,192-character
/// overrides past ~110 branches).
pub const MAX_ENV_JOIN_BRANCHES: usize = 64;

/// Batch attempts `@catch` adds (Metaflow's `NUM_FALLBACK_RETRIES`).
const CATCH_ERROR_RETRIES: u32 = 3;
/// Batch allows at most 10 attempts.
const MAX_BATCH_ATTEMPTS: u32 = 10;
/// Batch's minimum attempt timeout.
const MIN_TIMEOUT_SECONDS: u64 = 60;
/// State table items outlive the run by this much (Metaflow: 90 days).
const TTL_GRACE_SECONDS: u64 = 90 * 24 * 3600;

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
/// settings (`@timeout` < 60 s, more than 10 Batch attempts), a bad `@schedule`, and any AWS
/// limit the output would break (definition > 1 MB, overrides > 8,192 characters, names).
pub fn compile(
    spec: &FlowSpec,
    graph: &FlowGraph,
    options: &CompileOptions,
) -> Result<Compiled, CompileError> {
    check_options(options)?;
    check_spec(spec, graph)?;
    let modes = map_modes(graph, options);
    let mut c = Compiler {
        spec,
        graph,
        opts: options,
        distributed: modes,
        wide: graph
            .nodes()
            .filter(|n| n.ty() == StepType::Split && n.next().len() > MAX_ENV_JOIN_BRANCHES)
            .map(|n| n.name().to_string())
            .collect(),
        branch_stack: Vec::new(),
        visited: HashSet::new(),
        inputs: HashMap::new(),
        descriptions: HashMap::new(),
        job_definitions: BTreeMap::new(),
        job_definition_names: HashMap::new(),
    };
    let start = graph.start().name().to_string();
    let mut states = Map::new();
    c.chain(&start, None, Input::Execution, &mut states)?;
    if c.visited.len() != graph.len() {
        return Err(CompileError::Graph(
            "some steps are not reachable through the compiled transitions".to_string(),
        ));
    }
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
        if let Some(blob) = c.descriptions.remove(node.name()) {
            task_descriptions.push(blob);
        }
    }
    Ok(Compiled {
        definition,
        task_descriptions,
        job_definitions: c.job_definitions.into_values().collect(),
        schedule: schedule_for(spec, &options.state_machine_name)?,
    })
}

fn opt_err(option: &'static str, why: impl Into<String>) -> CompileError {
    CompileError::Option {
        option,
        why: why.into(),
    }
}

fn check_options(o: &CompileOptions) -> Result<(), CompileError> {
    naming::check_sfn_name(&o.state_machine_name)?;
    let required = [
        ("state_table_name", &o.state_table_name),
        ("job_queue", &o.job_queue),
        ("default_image", &o.default_image),
        ("owner", &o.owner),
        ("production_token", &o.production_token),
        ("code_package.key", &o.code_package.key),
        ("python", &o.python),
    ];
    for (name, value) in required {
        if value.trim().is_empty() {
            return Err(opt_err(name, "is required"));
        }
    }
    if !matches!(
        o.partition.as_str(),
        "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b"
    ) {
        return Err(opt_err(
            "partition",
            format!("unknown partition {:?}", o.partition),
        ));
    }
    match &o.blobs {
        td::BlobStoreRef::S3 { bucket, prefix } => {
            if bucket.is_empty()
                || !bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            {
                return Err(opt_err(
                    "blobs.bucket",
                    format!("{bucket:?} is not an S3 bucket name"),
                ));
            }
            if !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b))
            {
                return Err(opt_err(
                    "blobs.prefix",
                    "may only contain letters, digits and / _ . -",
                ));
            }
        }
        td::BlobStoreRef::Dir { path } => {
            if path.is_empty()
                || path.contains(['\'', '{', '}', '\\'])
                || path.chars().any(char::is_control)
            {
                return Err(opt_err("blobs.path", "must be a plain directory path"));
            }
        }
    }
    if o.wrapper_command.is_empty() || o.wrapper_command.iter().any(|a| a.is_empty()) {
        return Err(opt_err(
            "wrapper_command",
            "needs at least the wrapper executable",
        ));
    }
    if o.max_workers == 0 {
        return Err(opt_err("max_workers", "must be at least 1"));
    }
    if o.workflow_timeout_seconds == Some(0) {
        return Err(opt_err("workflow_timeout_seconds", "must be positive"));
    }
    if o.production_token.contains(char::is_whitespace) {
        return Err(opt_err("production_token", "must not contain whitespace"));
    }
    Ok(())
}

fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn check_spec(spec: &FlowSpec, graph: &FlowGraph) -> Result<(), CompileError> {
    if let Some(d) = spec.decorators.unsupported.first() {
        return Err(CompileError::Unsupported(format!(
            "Deploying flows with the @{d} flow decorator is not supported by Ferry. Remove it to deploy."
        )));
    }
    if graph.len() != spec.steps.len() {
        return Err(CompileError::Graph(
            "the graph and the spec have different steps".to_string(),
        ));
    }
    let mut seen = HashSet::new();
    for p in &spec.parameters {
        if !seen.insert(p.name.to_lowercase()) {
            return Err(CompileError::Parameter(format!(
                "Parameter *{}* is specified twice. Note that parameter names are case-insensitive.",
                p.name
            )));
        }
    }
    for step in &spec.steps {
        let Some(node) = graph.node(&step.name) else {
            return Err(CompileError::Graph(format!(
                "step {} is not in the graph",
                step.name
            )));
        };
        if node.step.ty != step.ty || node.step.next != step.next {
            return Err(CompileError::Graph(format!(
                "step {} differs from the graph",
                step.name
            )));
        }
        let s = &step.name;
        let serr = |why: String| CompileError::Step {
            step: s.clone(),
            why,
        };
        if !is_identifier(s) {
            return Err(serr("step names must be Python identifiers".to_string()));
        }
        if step.ty == StepType::Switch {
            return Err(CompileError::Unsupported(format!(
                "Step *{s}* is a switch; deploying flows with switch statements is not supported."
            )));
        }
        if step.num_parallel.is_some() {
            return Err(CompileError::Unsupported(format!(
                "Step *{s}* uses @parallel; deploying flows with @parallel is not supported."
            )));
        }
        let d = &step.decorators;
        if let Some(u) = d.unsupported.first() {
            return Err(CompileError::Unsupported(format!(
                "Step *{s}* uses @{u}, which Ferry cannot deploy. Remove it to deploy."
            )));
        }
        if step.ty == StepType::Foreach && d.catch.is_some() {
            return Err(serr("@catch is not supported on a foreach step; put it on the steps of the foreach body".to_string()));
        }
        if let Some(t) = &d.timeout
            && t.seconds < MIN_TIMEOUT_SECONDS
        {
            return Err(serr(format!(
                "the timeout should be at least {MIN_TIMEOUT_SECONDS} seconds for execution on AWS Batch (got {})",
                t.seconds
            )));
        }
        if attempts(step) > MAX_BATCH_ATTEMPTS {
            return Err(serr(format!(
                "@retry and @catch ask for {} attempts; AWS Batch allows at most {MAX_BATCH_ATTEMPTS}. Lower @retry(times=...).",
                attempts(step)
            )));
        }
        if let Some(env) = &d.environment {
            for k in env.vars.keys() {
                if !is_identifier(k) || k.starts_with("FERRY_") || k.starts_with("AWS_BATCH_") {
                    return Err(serr(format!(
                        "@environment variable {k:?} is not allowed: use letters, digits and _, and no FERRY_ or AWS_BATCH_ prefix"
                    )));
                }
            }
        }
        for (cpu, what) in [
            (d.resources.as_ref().and_then(|r| r.cpu), "@resources(cpu)"),
            (d.batch.as_ref().and_then(|r| r.cpu), "@batch(cpu)"),
        ] {
            if let Some(c) = cpu
                && !(c.is_finite() && c > 0.0)
            {
                return Err(serr(format!("{what} must be a positive number")));
            }
        }
        if let Some(argv) = &step.command
            && argv.is_empty()
        {
            return Err(serr(
                "a generic command needs at least one argument".to_string(),
            ));
        }
    }
    Ok(())
}

/// Batch attempts of a step: `@retry(times)` + 3 for `@catch` + 1.
fn attempts(step: &Step) -> u32 {
    let d = &step.decorators;
    let user = d.retry.as_ref().map_or(0, |r| r.times);
    let error = if d.catch.is_some() {
        CATCH_ERROR_RETRIES
    } else {
        0
    };
    user.saturating_add(error).saturating_add(1)
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

/// The shape of a state's input, which decides the JSONPaths a Task reads.
#[derive(Debug, Clone, Copy)]
enum Input<'a> {
    /// The execution input `{"Parameters": "<json>"}` (start).
    Execution,
    /// A Task output `{JobId, Parameters}`.
    Task,
    /// A Parallel output `[{JobId, Parameters}, ...]`.
    Branches,
    /// A Map item `{JobId, Parameters, Index}` of foreach `foreach`.
    MapItem { foreach: &'a str },
    /// The first state of a Parallel branch: the split task's `{JobId, Parameters}`.
    BranchStart { split: &'a str },
    /// A Map's input passed through: the foreach task's `{JobId, Parameters, ...}`.
    AfterMap,
}

impl Input<'_> {
    fn params_base(&self) -> &'static str {
        match self {
            Input::Branches => "$[0].Parameters",
            _ => "$.Parameters",
        }
    }
    fn run_id(&self) -> String {
        match self {
            Input::Execution => "$$.Execution.Name".to_string(),
            _ => format!("{}['{PARAM_RUN_ID}']", self.params_base()),
        }
    }
    fn split_parent(&self, f: &str) -> String {
        match self {
            Input::MapItem { foreach } if *foreach == f => "$.JobId".to_string(),
            Input::BranchStart { split } if *split == f => "$.JobId".to_string(),
            _ => format!("{}.{}", self.params_base(), param_split_parent(f)),
        }
    }
    fn split_index(&self, f: &str) -> String {
        match self {
            Input::MapItem { foreach } if *foreach == f => "$.Index".to_string(),
            _ => format!("{}.{}", self.params_base(), param_split_index(f)),
        }
    }
}

/// Where a Task goes next.
enum Next {
    State(String),
    End,
}

struct Compiler<'a> {
    spec: &'a FlowSpec,
    graph: &'a FlowGraph,
    opts: &'a CompileOptions,
    distributed: HashSet<String>,
    /// Static splits joined through the state table (more than [`MAX_ENV_JOIN_BRANCHES`]).
    wide: HashSet<String>,
    /// The branch being compiled of every enclosing static split: (split, branch index).
    branch_stack: Vec<(String, usize)>,
    visited: HashSet<String>,
    /// Input shape of each step's description (filled by the walk before the step's Task).
    inputs: HashMap<String, StepInputs>,
    descriptions: HashMap<String, TaskDescriptionBlob>,
    job_definitions: BTreeMap<String, JobDefinitionSpec>,
    /// Job definition names by (image, job role, shared memory).
    job_definition_names: HashMap<(String, Option<String>, Option<u64>), String>,
}

impl<'a> Compiler<'a> {
    fn node(&self, name: &str) -> Result<&'a ferry_spec::Node, CompileError> {
        self.graph
            .node(name)
            .ok_or_else(|| CompileError::Graph(format!("unknown step {name}")))
    }

    fn insert(
        &self,
        states: &mut Map<String, Value>,
        name: String,
        state: Value,
    ) -> Result<(), CompileError> {
        naming::check_sfn_name(&name)?;
        if states.insert(name.clone(), state).is_some() {
            return Err(CompileError::Graph(format!("two states are named {name}")));
        }
        Ok(())
    }

    /// Compile the steps from `first` until the step whose `next` is `exit` (or `end`) into
    /// `states`; returns that last step's name.
    fn chain(
        &mut self,
        first: &str,
        exit: Option<&str>,
        input: Input<'a>,
        states: &mut Map<String, Value>,
    ) -> Result<String, CompileError> {
        let mut cur = self.node(first)?;
        let mut input = input;
        if cur.ty() == StepType::Start {
            self.inputs
                .insert(cur.name().to_string(), StepInputs::Start);
        }
        loop {
            let name = cur.name();
            if !self.visited.insert(name.to_string()) {
                return Err(CompileError::Graph(format!("step {name} is reached twice")));
            }
            if name == self.graph.start().name() {
                self.inputs.insert(name.to_string(), StepInputs::Start);
            }
            match cur.ty() {
                StepType::Split => {
                    let join = cur
                        .matching_join
                        .clone()
                        .ok_or_else(|| CompileError::Graph(format!("split {name} has no join")))?;
                    let par = naming::parallel_state_name(cur.next());
                    self.task(states, cur.name(), input, Next::State(par.clone()))?;
                    let mut branches = Vec::new();
                    let mut tails = Vec::new();
                    for (i, b) in cur.next().iter().enumerate() {
                        self.inputs.insert(
                            b.clone(),
                            StepInputs::Parent {
                                step: name.to_string(),
                            },
                        );
                        let mut bs = Map::new();
                        self.branch_stack.push((name.to_string(), i));
                        let tail = self.chain(
                            b,
                            Some(&join),
                            Input::BranchStart { split: cur.name() },
                            &mut bs,
                        );
                        self.branch_stack.pop();
                        let tail = tail?;
                        tails.push(tail);
                        branches.push(json!({"StartAt": naming::step_state_name(b), "States": bs}));
                    }
                    self.insert(
                        states,
                        par,
                        json!({
                            "Type": "Parallel",
                            "Branches": branches,
                            "Next": naming::step_state_name(&join),
                        }),
                    )?;
                    self.inputs
                        .insert(join.clone(), StepInputs::StaticJoin { steps: tails });
                    cur = self.node(&join)?;
                    input = Input::Branches;
                }
                StepType::Foreach => {
                    let join = cur.matching_join.clone().ok_or_else(|| {
                        CompileError::Graph(format!("foreach {name} has no join"))
                    })?;
                    let [child] = cur.next() else {
                        return Err(CompileError::Graph(format!(
                            "foreach {name} needs one body step"
                        )));
                    };
                    let distributed = self.distributed.contains(name);
                    let map_name = naming::helper_state_name(name, "map");
                    let card_name = naming::helper_state_name(name, "cardinality");
                    let after = if distributed {
                        map_name.clone()
                    } else {
                        card_name.clone()
                    };
                    self.task(states, cur.name(), input, Next::State(after))?;
                    self.inputs.insert(
                        child.clone(),
                        StepInputs::Parent {
                            step: name.to_string(),
                        },
                    );
                    let mut body = Map::new();
                    let tail = self.chain(
                        child,
                        Some(&join),
                        Input::MapItem {
                            foreach: cur.name(),
                        },
                        &mut body,
                    )?;
                    let p = &self.opts.partition;
                    let mut map = Map::new();
                    map.insert("Type".into(), json!("Map"));
                    if distributed {
                        map.insert("ItemReader".into(), json!({
                            "Resource": format!("arn:{p}:states:::s3:getObject"),
                            "ReaderConfig": {"InputType": "JSON"},
                            "Parameters": {
                                "Bucket": self.opts.bucket(),
                                "Key.$": format!("States.Format('{}', $.JobId)", self.opts.object_key("foreach/{}.json")),
                            },
                        }));
                    } else {
                        self.insert(
                            states,
                            card_name,
                            json!({
                                "Type": "Task",
                                "Resource": format!("arn:{p}:states:::dynamodb:getItem"),
                                "Parameters": {
                                    "TableName": self.opts.state_table_name,
                                    "Key": {"pk": {"S.$": "$.JobId"}, "sk": {"S": "foreach"}},
                                    "ConsistentRead": true,
                                    "ProjectionExpression": "for_each_cardinality",
                                },
                                "ResultSelector": {"Indexes.$": "$.Item.for_each_cardinality.NS"},
                                "ResultPath": "$.Foreach",
                                "Retry": [{
                                    "ErrorEquals": ["States.TaskFailed"],
                                    "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2,
                                    "MaxDelaySeconds": 30, "JitterStrategy": "FULL",
                                }],
                                "Next": map_name,
                            }),
                        )?;
                        map.insert("ItemsPath".into(), json!("$.Foreach.Indexes"));
                    }
                    map.insert(
                        "ItemSelector".into(),
                        json!({
                            "JobId.$": "$.JobId",
                            "Parameters.$": "$.Parameters",
                            "Index.$": "$$.Map.Item.Value",
                        }),
                    );
                    let processor = if distributed {
                        json!({"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"})
                    } else {
                        json!({"Mode": "INLINE"})
                    };
                    map.insert(
                        "ItemProcessor".into(),
                        json!({
                            "ProcessorConfig": processor,
                            "StartAt": naming::step_state_name(child),
                            "States": body,
                        }),
                    );
                    map.insert("MaxConcurrency".into(), json!(self.opts.max_workers));
                    if distributed {
                        map.insert("ResultWriter".into(), json!({
                            "Resource": format!("arn:{p}:states:::s3:putObject"),
                            "Parameters": {"Bucket": self.opts.bucket(), "Prefix": self.opts.object_key("map-results")},
                        }));
                    }
                    map.insert("ResultPath".into(), Value::Null);
                    map.insert("Next".into(), json!(naming::step_state_name(&join)));
                    self.insert(states, map_name, Value::Object(map))?;
                    self.inputs
                        .insert(join.clone(), StepInputs::ForeachJoin { step: tail });
                    cur = self.node(&join)?;
                    input = Input::AfterMap;
                }
                _ => {
                    let terminal = cur.ty() == StepType::End
                        || cur.next().is_empty()
                        || exit.is_some_and(|e| cur.next().iter().any(|n| n == e));
                    if terminal {
                        self.task(states, cur.name(), input, Next::End)?;
                        return Ok(name.to_string());
                    }
                    let [next] = cur.next() else {
                        return Err(CompileError::Graph(format!(
                            "step {name} has several next steps but is not a split"
                        )));
                    };
                    self.task(
                        states,
                        cur.name(),
                        input,
                        Next::State(naming::step_state_name(next)),
                    )?;
                    if !matches!(self.node(next)?.ty(), StepType::Join) {
                        self.inputs.insert(
                            next.clone(),
                            StepInputs::Parent {
                                step: name.to_string(),
                            },
                        );
                    }
                    cur = self.node(next)?;
                    input = Input::Task;
                }
            }
        }
    }

    /// Emit the Task state of `step` and its task description.
    fn task(
        &mut self,
        states: &mut Map<String, Value>,
        step_name: &str,
        input: Input<'a>,
        next: Next,
    ) -> Result<(), CompileError> {
        let node = self.node(step_name)?;
        let step = &node.step;
        let g = self.graph;
        let o = self.opts;
        let inputs =
            self.inputs.get(step_name).cloned().ok_or_else(|| {
                CompileError::Graph(format!("no input shape for step {step_name}"))
            })?;
        let tail_of = g
            .foreach_of_body_tail(step_name)
            .map(|n| n.name().to_string());
        let first_of = g.foreach_of_child(step_name).map(|n| n.name().to_string());
        let d = &step.decorators;
        let total_attempts = attempts(step);
        let delayed = d
            .retry
            .as_ref()
            .is_some_and(|r| r.minutes_between_retries > 0 && r.times > 0);

        // Dynamic environment (runtime contract §2).
        let mut env: Vec<(String, String)> = vec![(td::ENV_RUN_ID.to_string(), input.run_id())];
        match &inputs {
            StepInputs::Start => {
                if !self.spec.parameters.is_empty() {
                    env.push((td::ENV_PARAMETERS.to_string(), "$.Parameters".to_string()));
                }
            }
            StepInputs::Parent { .. } => {
                env.push((td::ENV_PARENT_TASK_ID.to_string(), "$.JobId".to_string()));
            }
            StepInputs::StaticJoin { steps } => {
                match g.parent_of_join(step_name).map(|n| n.name()) {
                    Some(split) if self.wide.contains(split) => {
                        env.push((
                            td::ENV_SPLIT_PARENT_TASK_ID.to_string(),
                            input.split_parent(split),
                        ));
                    }
                    _ => {
                        for i in 0..steps.len() {
                            env.push((td::env_parent_task_id(i), format!("$[{i}].JobId")));
                        }
                    }
                }
            }
            StepInputs::ForeachJoin { .. } => {
                env.push((
                    td::ENV_SPLIT_PARENT_TASK_ID.to_string(),
                    "$.JobId".to_string(),
                ));
            }
        }
        if first_of.is_some() {
            env.push((td::ENV_SPLIT_INDEX.to_string(), "$.Index".to_string()));
        }
        // Static values (`Value`) as opposed to paths (`Value.$`).
        let mut fixed: Vec<(String, String)> = Vec::new();
        if let Some(f) = &tail_of {
            env.push((
                td::ENV_TAIL_SPLIT_PARENT_TASK_ID.to_string(),
                input.split_parent(f),
            ));
            env.push((td::ENV_FOREACH_INDEX.to_string(), input.split_index(f)));
        } else if let Some((split, index)) = self.wide_branch_tail(node) {
            env.push((
                td::ENV_TAIL_SPLIT_PARENT_TASK_ID.to_string(),
                input.split_parent(&split),
            ));
            fixed.push((td::ENV_FOREACH_INDEX.to_string(), index.to_string()));
        }
        let join_parent = env
            .iter()
            .any(|(n, _)| n == td::ENV_TAIL_SPLIT_PARENT_TASK_ID);
        // Transitional: wrappers written before FERRY_TAIL_SPLIT_PARENT_TASK_ID read the tail's
        // split parent from FERRY_SPLIT_PARENT_TASK_ID; give it to them when the step does not
        // use that variable itself (runtime contract §2).
        if join_parent && !env.iter().any(|(n, _)| n == td::ENV_SPLIT_PARENT_TASK_ID) {
            let v = env
                .iter()
                .find(|(n, _)| n == td::ENV_TAIL_SPLIT_PARENT_TASK_ID)
                .map(|(_, v)| v.clone());
            if let Some(v) = v {
                env.push((td::ENV_SPLIT_PARENT_TASK_ID.to_string(), v));
            }
        }
        if delayed {
            env.push((
                td::ENV_RETRY_COUNT.to_string(),
                "States.Format('{}', $$.State.RetryCount)".to_string(),
            ));
        }

        // Batch parameters: static identity + carried state.
        // Identity (flow, owner, token) only on the start state, where deployment readers look
        // (`States[StartAt].Parameters.Parameters`): the definition stays small for big flows.
        let mut params = Map::new();
        if matches!(inputs, StepInputs::Start) {
            params.insert("metaflow.flow_name".into(), json!(self.spec.flow));
            params.insert(PARAM_OWNER.into(), json!(o.owner));
            params.insert(PARAM_PRODUCTION_TOKEN.into(), json!(o.production_token));
        }
        params.insert("step_name".into(), json!(step_name));
        params.insert(format!("{PARAM_RUN_ID}.$"), json!(input.run_id()));
        for (f, is_foreach) in self.carried(node) {
            params.insert(
                format!("{}.$", param_split_parent(f)),
                json!(input.split_parent(f)),
            );
            if is_foreach {
                params.insert(
                    format!("{}.$", param_split_index(f)),
                    json!(input.split_index(f)),
                );
            }
        }

        // The task description.
        let description = self.description(step, inputs, join_parent, total_attempts);
        let bytes = compact_bytes(&description).map_err(|e| CompileError::Graph(e.to_string()))?;
        let key = format!("tasks/{}.json", sha256_hex(&bytes));
        let url = o.blob_url(&key);

        // Resources and the job definition.
        let (image, role, cpu, memory, gpu, shm) = resources(step, o);
        let job_definition = self.job_definition(image, role, shm);
        // The job definition already asks for the defaults (1 vCPU, 4,096 MiB): override only
        // what differs.
        let mut requirements = Vec::new();
        if cpu != DEFAULT_CPU {
            requirements.push(json!({"Type": "VCPU", "Value": format_cpu(cpu)}));
        }
        if memory != DEFAULT_MEMORY_MIB {
            requirements.push(json!({"Type": "MEMORY", "Value": memory.to_string()}));
        }
        if gpu > 0 {
            requirements.push(json!({"Type": "GPU", "Value": gpu.to_string()}));
        }
        let mut command: Vec<Value> = o.wrapper_command.iter().map(|s| json!(s)).collect();
        command.extend([json!("run"), json!("--task"), json!(url)]);
        let mut overrides = json!({
            "Command": command,
            "Environment": env
                .iter()
                .map(|(n, p)| json!({"Name": n, "Value.$": p}))
                .chain(fixed.iter().map(|(n, v)| json!({"Name": n, "Value": v})))
                .collect::<Vec<_>>(),
        });
        if !requirements.is_empty() {
            overrides["ResourceRequirements"] = Value::Array(requirements);
        }
        let chars = limits::overrides_upper_bound(&overrides);
        if chars > limits::MAX_OVERRIDES_CHARS {
            return Err(CompileError::OverridesTooLarge {
                step: step_name.to_string(),
                chars,
                limit: limits::MAX_OVERRIDES_CHARS,
            });
        }
        let queue = d
            .batch
            .as_ref()
            .and_then(|b| b.queue.clone())
            .unwrap_or_else(|| o.job_queue.clone());
        let mut submit = Map::new();
        submit.insert(
            "JobName".into(),
            json!(naming::batch_job_name(&self.spec.flow, step_name)),
        );
        submit.insert("JobQueue".into(), json!(queue));
        submit.insert("JobDefinition".into(), json!(job_definition));
        submit.insert("Parameters".into(), Value::Object(params));
        submit.insert("ContainerOverrides".into(), overrides);
        let batch_attempts = if delayed { 1 } else { total_attempts };
        submit.insert("RetryStrategy".into(), json!({"Attempts": batch_attempts}));
        let timeout = d
            .timeout
            .as_ref()
            .map_or(DEFAULT_ATTEMPT_TIMEOUT_SECONDS, |t| t.seconds);
        submit.insert("Timeout".into(), json!({"AttemptDurationSeconds": timeout}));
        if !o.batch_tags.is_empty() {
            submit.insert("Tags".into(), json!(o.batch_tags));
            submit.insert("PropagateTags".into(), json!(true));
        }

        let mut retry = vec![json!({
            "ErrorEquals": ["Batch.AWSBatchException"],
            "IntervalSeconds": 2, "MaxAttempts": 10, "BackoffRate": 2,
            "MaxDelaySeconds": 60, "JitterStrategy": "FULL",
        })];
        if delayed && let Some(r) = &d.retry {
            retry.push(json!({
                "ErrorEquals": ["States.TaskFailed"],
                "IntervalSeconds": u64::from(r.minutes_between_retries) * 60,
                "MaxAttempts": total_attempts - 1,
                "BackoffRate": 1,
            }));
        }
        let mut state = Map::new();
        state.insert("Type".into(), json!("Task"));
        state.insert(
            "Resource".into(),
            json!(format!("arn:{}:states:::batch:submitJob.sync", o.partition)),
        );
        state.insert("Parameters".into(), Value::Object(submit));
        state.insert(
            "ResultSelector".into(),
            json!({"JobId.$": "$.JobId", "Parameters.$": "$.Parameters"}),
        );
        if tail_of.is_some() {
            // Iteration results are not read (the join reads the foreach task's output):
            // keep them `{}` so wide Maps stay far below the 256 KiB state limit.
            state.insert("OutputPath".into(), Value::Null);
        }
        state.insert("Retry".into(), Value::Array(retry));
        match next {
            Next::State(n) => state.insert("Next".into(), json!(n)),
            Next::End => state.insert("End".into(), json!(true)),
        };
        self.insert(
            states,
            naming::step_state_name(step_name),
            Value::Object(state),
        )?;
        self.descriptions.insert(
            step_name.to_string(),
            TaskDescriptionBlob {
                step: step_name.to_string(),
                key,
                description,
                bytes,
            },
        );
        Ok(())
    }

    /// The fan-outs whose split task id a step carries in its Batch parameters: every
    /// enclosing foreach (with its index) and every enclosing wide static split, outermost
    /// first; not the one the step closes.
    fn carried(&self, node: &'a ferry_spec::Node) -> Vec<(&'a str, bool)> {
        let closes = self.graph.parent_of_join(node.name()).map(|n| n.name());
        node.split_parents
            .iter()
            .map(String::as_str)
            .filter(|p| Some(*p) != closes)
            .filter_map(|p| {
                let ty = self.graph.node(p)?.ty();
                match ty {
                    StepType::Foreach => Some((p, true)),
                    StepType::Split if self.wide.contains(p) => Some((p, false)),
                    _ => None,
                }
            })
            .collect()
    }

    /// For the last step of a branch of a wide static split: the split and the branch index.
    fn wide_branch_tail(&self, node: &ferry_spec::Node) -> Option<(String, usize)> {
        let [next] = node.next() else { return None };
        let split = self.graph.parent_of_join(next)?;
        if split.ty() != StepType::Split || !self.wide.contains(split.name()) {
            return None;
        }
        self.branch_stack
            .iter()
            .rev()
            .find(|(s, _)| s == split.name())
            .map(|(s, i)| (s.clone(), *i))
    }

    fn description(
        &self,
        step: &Step,
        inputs: StepInputs,
        join_parent: bool,
        total_attempts: u32,
    ) -> TaskDescription {
        let o = self.opts;
        let d = &step.decorators;
        let mut environment = o.environment.clone();
        if let Some(e) = &d.environment {
            environment.extend(e.vars.clone());
        }
        let default_parameters = if matches!(inputs, StepInputs::Start) {
            self.spec
                .parameters
                .iter()
                .filter_map(|p| p.default.clone().map(|v| (p.name.clone(), v)))
                .collect()
        } else {
            BTreeMap::new()
        };
        TaskDescription {
            version: TASK_DESCRIPTION_VERSION,
            flow: self.spec.flow.clone(),
            step: step.name.clone(),
            flow_file: self.spec.file.clone(),
            code_package: o.code_package.clone(),
            command: match &step.command {
                Some(argv) => StepCommand::Argv { argv: argv.clone() },
                None => StepCommand::Metaflow {
                    python: o.python.clone(),
                },
            },
            environment,
            retries: Retries {
                max_user_code_retries: d.retry.as_ref().map_or(0, |r| r.times),
                total_attempts,
            },
            metadata: o.metadata.clone(),
            datastore: o.datastore.clone(),
            blobs: o.blobs.clone(),
            state_table: o.state_table.clone(),
            production_token: o.production_token.clone(),
            owner: o.owner.clone(),
            namespace: o.namespace.clone(),
            project: o.project.clone(),
            tags: o.tags.clone(),
            default_parameters,
            inputs,
            fanout: Fanout {
                foreach: step.ty == StepType::Foreach,
                items_object: step.ty == StepType::Foreach && self.distributed.contains(&step.name),
                join_parent,
            },
            state_ttl_seconds: o
                .workflow_timeout_seconds
                .map_or((366 + 90) * 24 * 3600, |t| {
                    t.saturating_add(TTL_GRACE_SECONDS)
                }),
        }
    }

    fn job_definition(&mut self, image: String, role: Option<String>, shm: Option<u64>) -> String {
        let cache_key = (image, role, shm);
        if let Some(name) = self.job_definition_names.get(&cache_key) {
            return name.clone();
        }
        let (image, role, shm) = cache_key.clone();
        let o = self.opts;
        let mut spec = JobDefinitionSpec {
            name: String::new(),
            image,
            job_role_arn: role,
            execution_role_arn: o.execution_role_arn.clone(),
            platform: o.platform,
            shared_memory_mib: shm,
            vcpus: format_cpu(DEFAULT_CPU),
            memory_mib: DEFAULT_MEMORY_MIB,
        };
        let bytes = canonical_bytes(&spec).unwrap_or_default();
        spec.name = format!("ferry-{}", &sha256_hex(&bytes)[..40]);
        let name = spec.name.clone();
        self.job_definitions.entry(name.clone()).or_insert(spec);
        self.job_definition_names.insert(cache_key, name.clone());
        name
    }
}

/// Image, job role, vCPUs, memory (MiB), GPUs and shared memory of a step: the maximum over
/// `@resources` and `@batch` with Metaflow's defaults (1 vCPU, 4,096 MiB).
#[allow(clippy::type_complexity)]
fn resources(
    step: &Step,
    o: &CompileOptions,
) -> (String, Option<String>, f64, u64, u32, Option<u64>) {
    let d = &step.decorators;
    let r = d.resources.clone().unwrap_or_default();
    let b = d.batch.clone().unwrap_or_default();
    let cpu = [r.cpu, b.cpu]
        .into_iter()
        .flatten()
        .fold(DEFAULT_CPU, f64::max);
    let memory = [r.memory, b.memory]
        .into_iter()
        .flatten()
        .fold(DEFAULT_MEMORY_MIB, u64::max);
    let gpu = [r.gpu, b.gpu].into_iter().flatten().fold(0, u32::max);
    let shm = [r.shared_memory, b.shared_memory]
        .into_iter()
        .flatten()
        .max();
    let image = b.image.unwrap_or_else(|| o.default_image.clone());
    let role = b.iam_role.or_else(|| o.job_role_arn.clone());
    (image, role, cpu, memory, gpu, shm)
}

/// vCPUs as Metaflow prints them (`%g`): `1`, `0.5`, `2.25`.
fn format_cpu(cpu: f64) -> String {
    if cpu.fract() == 0.0 && cpu < 1e15 {
        format!("{}", cpu as u64)
    } else {
        format!("{cpu}")
    }
}
