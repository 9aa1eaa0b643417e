//! The walk over the graph that emits states, task descriptions and job definitions.

use std::collections::{BTreeMap, HashMap, HashSet};

use ferry_spec::FlowGraph;
use ferry_spec::model::{FlowSpec, Step, StepType};
use ferry_spec::task::{
    self as td, Fanout, Retries, StepCommand, StepInputs, TASK_DESCRIPTION_VERSION, TaskDescription,
};
use serde_json::{Map, Value, json};

use super::array::{self, ArrayRole};
use super::checks::attempts;
use super::input::Input;
use super::{
    PARAM_OWNER, PARAM_PRODUCTION_TOKEN, PARAM_RUN_ID, param_split_index, param_split_parent,
};
use crate::canonical::{canonical_bytes, compact_bytes, sha256_hex};
use crate::limits;
use crate::naming;
use crate::options::{
    CompileOptions, DEFAULT_ATTEMPT_TIMEOUT_SECONDS, DEFAULT_CPU, DEFAULT_MEMORY_MIB,
};
use crate::output::{CompileError, JobDefinitionSpec, TaskDescriptionBlob};

/// The largest `MaxConcurrency` a distributed Map accepts.
const MAX_DISTRIBUTED_CONCURRENCY: u32 = 10_000;
/// State table items outlive the run by this much (Metaflow: 90 days).
const TTL_GRACE_SECONDS: u64 = 90 * 24 * 3600;

/// Where a Task goes next.
enum Next {
    State(String),
    End,
}

/// The compiler's state during one walk.
pub(super) struct Walk<'a> {
    spec: &'a FlowSpec,
    graph: &'a FlowGraph,
    opts: &'a CompileOptions,
    distributed: HashSet<String>,
    /// Static splits joined through the state table (more than [`MAX_ENV_JOIN_BRANCHES`]).
    wide: HashSet<String>,
    /// Foreach steps compiled to Batch array jobs.
    arrays: HashSet<String>,
    /// The body steps of array-form foreaches and where they sit.
    array_roles: HashMap<String, ArrayRole>,
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

impl<'a> Walk<'a> {
    pub(super) fn new(
        spec: &'a FlowSpec,
        graph: &'a FlowGraph,
        opts: &'a CompileOptions,
        distributed: HashSet<String>,
        wide: HashSet<String>,
        arrays: HashSet<String>,
    ) -> Self {
        Walk {
            spec,
            graph,
            opts,
            distributed,
            wide,
            arrays,
            array_roles: HashMap::new(),
            branch_stack: Vec::new(),
            visited: HashSet::new(),
            inputs: HashMap::new(),
            descriptions: HashMap::new(),
            job_definitions: BTreeMap::new(),
            job_definition_names: HashMap::new(),
        }
    }

    /// The task descriptions by step and the job definitions, once every step is compiled.
    #[allow(clippy::type_complexity)]
    pub(super) fn finish(
        self,
    ) -> Result<(HashMap<String, TaskDescriptionBlob>, Vec<JobDefinitionSpec>), CompileError> {
        if self.visited.len() != self.graph.len() {
            return Err(CompileError::Graph(
                "some steps are not reachable through the compiled transitions".to_string(),
            ));
        }
        Ok((
            self.descriptions,
            self.job_definitions.into_values().collect(),
        ))
    }

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
    pub(super) fn chain(
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
                    let map_name = naming::helper_state_name(name, "map");
                    if self.arrays.contains(name) {
                        self.array_foreach(states, cur.name(), input, child, &join, map_name)?;
                        cur = self.node(&join)?;
                        input = Input::AfterMap;
                        continue;
                    }
                    let distributed = self.distributed.contains(name);
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
                    // A distributed Map runs at most 10,000 child executions at once.
                    let concurrency = if distributed {
                        self.opts.max_workers.min(MAX_DISTRIBUTED_CONCURRENCY)
                    } else {
                        self.opts.max_workers
                    };
                    map.insert("MaxConcurrency".into(), json!(concurrency));
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
                    // An array-form body keeps its chunk input from step to step.
                    if !matches!(input, Input::ArrayChunk { .. }) {
                        input = Input::Task;
                    }
                }
            }
        }
    }

    /// Emit foreach `name` in the array form ([`array`]): its Task, the chunk list state, and
    /// the chunk Map whose iteration submits one array job per body step.
    fn array_foreach(
        &mut self,
        states: &mut Map<String, Value>,
        name: &'a str,
        input: Input<'a>,
        child: &str,
        join: &str,
        map_name: String,
    ) -> Result<(), CompileError> {
        let body_steps = array::array_form_allowed(self.graph, name).ok_or_else(|| {
            CompileError::Graph(format!("foreach {name} cannot take the array form"))
        })?;
        let n = body_steps.len();
        for (i, b) in body_steps.into_iter().enumerate() {
            let role = ArrayRole {
                first: i == 0,
                last: i + 1 == n,
            };
            self.array_roles.insert(b, role);
        }
        let chunks_name = naming::helper_state_name(name, "chunks");
        self.task(states, name, input, Next::State(chunks_name.clone()))?;
        self.inputs.insert(
            child.to_string(),
            StepInputs::Parent {
                step: name.to_string(),
            },
        );
        let mut body = Map::new();
        let tail = self.chain(
            child,
            Some(join),
            Input::ArrayChunk { foreach: name },
            &mut body,
        )?;
        self.insert(
            states,
            chunks_name,
            array::chunks_state(self.opts, &map_name),
        )?;
        let map = array::chunk_map(
            &naming::step_state_name(child),
            body,
            &naming::step_state_name(join),
        );
        self.insert(states, map_name, map)?;
        self.inputs
            .insert(join.to_string(), StepInputs::ForeachJoin { step: tail });
        Ok(())
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
        let array_role = self.array_roles.get(step_name).cloned();
        let d = &step.decorators;
        let total_attempts = attempts(step);
        // `@retry(minutes_between_retries=M)`: every attempt runs in the one Batch job (so one
        // task id); the wrapper waits M minutes before each retry (runtime contract §7).
        let retry_wait_seconds = d
            .retry
            .as_ref()
            .filter(|_| total_attempts > 1)
            .map_or(0, |r| u64::from(r.minutes_between_retries) * 60);

        // Dynamic environment (runtime contract §2).
        let mut env: Vec<(String, String)> = vec![(td::ENV_RUN_ID.to_string(), input.run_id())];
        match &inputs {
            // Also without flow parameters: the trigger's text carries run tags and the
            // resume section (runtime contract §2, §9).
            StepInputs::Start => {
                env.push((td::ENV_PARAMETERS.to_string(), "$.Parameters".to_string()));
            }
            // A later array-form body step: the parent is the previous array job's child with
            // the same index (the wrapper adds it).
            StepInputs::Parent { .. } if array_role.as_ref().is_some_and(|r| !r.first) => {
                env.push((
                    ferry_spec::array_job::ENV_PARENT_ARRAY_JOB_ID.to_string(),
                    "$.Array.JobId".to_string(),
                ));
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
            // Not a step's: the exit hook's Task is built by `exit_hook`.
            StepInputs::ExitHook => {}
        }
        if array_role.is_some() {
            // Split and foreach indexes come from the array index (runtime contract §2).
            env.push((
                ferry_spec::array_job::ENV_ARRAY_OFFSET.to_string(),
                "$.Offset".to_string(),
            ));
            env.push((
                ferry_spec::array_job::ENV_ARRAY_COUNT.to_string(),
                "$.Count".to_string(),
            ));
        } else if first_of.is_some() {
            env.push((td::ENV_SPLIT_INDEX.to_string(), "$.Index".to_string()));
        }
        // Static values (`Value`) as opposed to paths (`Value.$`).
        let mut fixed: Vec<(String, String)> = Vec::new();
        if let Some(f) = &tail_of {
            env.push((
                td::ENV_TAIL_SPLIT_PARENT_TASK_ID.to_string(),
                input.split_parent(f),
            ));
            if array_role.is_none() {
                env.push((td::ENV_FOREACH_INDEX.to_string(), input.split_index(f)));
            }
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
            if is_foreach && !self.arrays.contains(f) {
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
        if let Some(role) = &array_role {
            submit.insert("ArrayProperties".into(), json!({"Size.$": "$.Size"}));
            if !role.first {
                submit.insert(
                    "DependsOn".into(),
                    json!([{"JobId.$": "$.Array.JobId", "Type": "N_TO_N"}]),
                );
            }
        }
        submit.insert("RetryStrategy".into(), json!({"Attempts": total_attempts}));
        // A retry's wait runs inside its attempt: Batch's limit leaves the step its whole
        // `@timeout` after it (Metaflow enforces `@timeout` itself, inside the task).
        let timeout = d
            .timeout
            .as_ref()
            .map_or(DEFAULT_ATTEMPT_TIMEOUT_SECONDS, |t| t.seconds)
            .saturating_add(retry_wait_seconds);
        submit.insert("Timeout".into(), json!({"AttemptDurationSeconds": timeout}));
        if !o.batch_tags.is_empty() {
            submit.insert("Tags".into(), json!(o.batch_tags));
            submit.insert("PropagateTags".into(), json!(true));
        }

        let retry = vec![json!({
            "ErrorEquals": ["Batch.AWSBatchException"],
            "IntervalSeconds": 2, "MaxAttempts": 10, "BackoffRate": 2,
            "MaxDelaySeconds": 60, "JitterStrategy": "FULL",
        })];
        let mut state = Map::new();
        state.insert("Type".into(), json!("Task"));
        // Array-form body steps before the last are submitted without waiting: the next
        // one's N_TO_N dependency orders the children; the chunk input stays, the job id goes
        // to `$.Array`.
        let fire_and_forget = array_role.as_ref().is_some_and(|r| !r.last);
        let resource = if fire_and_forget {
            "batch:submitJob"
        } else {
            "batch:submitJob.sync"
        };
        state.insert(
            "Resource".into(),
            json!(format!("arn:{}:states:::{resource}", o.partition)),
        );
        state.insert("Parameters".into(), Value::Object(submit));
        if fire_and_forget {
            state.insert("ResultSelector".into(), json!({"JobId.$": "$.JobId"}));
            state.insert("ResultPath".into(), json!("$.Array"));
        } else {
            state.insert(
                "ResultSelector".into(),
                json!({"JobId.$": "$.JobId", "Parameters.$": "$.Parameters"}),
            );
        }
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
                minutes_between_retries: d
                    .retry
                    .as_ref()
                    .filter(|_| total_attempts > 1)
                    .map_or(0, |r| r.minutes_between_retries),
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
            python_env: o.python_envs.get(&step.name).cloned(),
        }
    }

    /// The job definition of (image, job role, shared memory), registered once per walk.
    pub(super) fn job_definition(
        &mut self,
        image: String,
        role: Option<String>,
        shm: Option<u64>,
    ) -> String {
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

/// Image, job role, vCPUs, memory (MiB), GPUs and shared memory of a step, as Metaflow's
/// `compute_resource_attributes` (`metaflow/plugins/aws/aws_utils.py`) computes them: the
/// larger of `@resources` and `@batch` when both give a value, the one given otherwise, and
/// Metaflow's defaults (1 vCPU, 4,096 MiB, no GPU) only when neither does; so
/// `@resources(memory=512)` asks for 512 MiB, not 4,096.
#[allow(clippy::type_complexity)]
pub(super) fn resources(
    step: &Step,
    o: &CompileOptions,
) -> (String, Option<String>, f64, u64, u32, Option<u64>) {
    let d = &step.decorators;
    let r = d.resources.clone().unwrap_or_default();
    let b = d.batch.clone().unwrap_or_default();
    let cpu = [r.cpu, b.cpu]
        .into_iter()
        .flatten()
        .reduce(f64::max)
        .unwrap_or(DEFAULT_CPU);
    let memory = [r.memory, b.memory]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(DEFAULT_MEMORY_MIB);
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
