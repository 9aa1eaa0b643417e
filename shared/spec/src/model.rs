//! The flow spec v1: what `ferry spec FLOW.py` prints and what the deploy use case compiles.
//!
//! The JSON shape is documented in `docs/flow-spec.md` and `docs/flow-spec.schema.json`.
//! Field names follow Metaflow's graph (`metaflow/graph.py`) and decorator attribute names.
//! Graph-derived fields (`in_funcs`, `split_parents`, `is_inside_foreach`, `matching_join`) are
//! not part of the spec: [`crate::graph::FlowGraph`] computes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The newest spec version this crate reads and writes: 2 added `@trigger` and
/// `@trigger_on_finish` ([`FlowDecorators::trigger`], [`FlowDecorators::trigger_on_finish`]).
pub const SPEC_VERSION: u32 = 2;

/// The oldest spec version this crate reads. A version 1 spec is a version 2 spec without
/// triggers, so the exporter writes the lowest version that can express a flow
/// ([`FlowSpec::minimal_version`]) and deploy handlers of either version read it.
pub const MIN_SPEC_VERSION: u32 = 1;

/// A whole flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// [`MIN_SPEC_VERSION`] to [`SPEC_VERSION`]; at least [`FlowSpec::minimal_version`].
    pub spec_version: u32,
    /// The flow's class name, e.g. `HelloFlow`.
    pub flow: String,
    /// The flow file's path relative to the code package root, e.g. `hello.py`.
    pub file: String,
    /// The `metaflow` version the exporter imported, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metaflow_version: Option<String>,
    /// Flow parameters, in declaration order.
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// Flow-level decorators.
    #[serde(default)]
    pub decorators: FlowDecorators,
    /// Steps, `start` first; order is otherwise the exporter's (Metaflow's `sorted_nodes`).
    pub steps: Vec<Step>,
}

impl FlowSpec {
    /// The lowest spec version that can express this flow: 2 when it has `@trigger` or
    /// `@trigger_on_finish`, else 1 (what the exporter writes, so that a flow without triggers
    /// stays readable by deploy handlers that know only version 1).
    pub fn minimal_version(&self) -> u32 {
        let d = &self.decorators;
        if d.trigger.is_some() || d.trigger_on_finish.is_some() {
            2
        } else {
            1
        }
    }
}

/// The type of a flow parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Str,
    Int,
    Float,
    Bool,
    /// `JSONType`: the value is any JSON document.
    Json,
}

/// A flow `Parameter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// The default as JSON (a JSON parameter's default is the parsed document); `None`: no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// Flow-level decorators Ferry understands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDecorators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Project>,
    /// `@pypi_base`: applies to every step without its own `@pypi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pypi_base: Option<PythonEnv>,
    /// `@conda_base`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conda_base: Option<PythonEnv>,
    /// `@trigger`: runs start when events are published (spec version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// `@trigger_on_finish`: runs start when upstream flows succeed (spec version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_on_finish: Option<TriggerOnFinish>,
    /// `@exit_hook` (every one the flow has, merged in order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_hook: Option<ExitHook>,
    /// Names of flow decorators that Ferry cannot deploy (e.g. `airflow_s3_key_sensor`); validation rejects
    /// them with a message each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<String>,
}

/// `@schedule`: when the deployed flow runs by itself.
///
/// (No `deny_unknown_fields` here: serde cannot combine it with the flattened `every`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    #[serde(flatten)]
    pub every: ScheduleKind,
    /// IANA time zone, e.g. `Europe/Paris`; `None`: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// The cadence of a [`Schedule`]. JSON: `{"kind": "daily"}` or `{"kind": "cron", "cron": "0 10 * * ? *"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ScheduleKind {
    /// `0 * * * ? *`
    Hourly,
    /// `0 0 * * ? *` (Metaflow's default for `@schedule()`).
    Daily,
    /// `0 0 ? * SUN *`
    Weekly,
    /// An EventBridge 6-field cron expression (without the `cron(...)` wrapper).
    Cron { cron: String },
}

impl ScheduleKind {
    /// The EventBridge cron expression (6 fields, no `cron(...)` wrapper).
    pub fn expression(&self) -> &str {
        match self {
            ScheduleKind::Hourly => "0 * * * ? *",
            ScheduleKind::Daily => "0 0 * * ? *",
            ScheduleKind::Weekly => "0 0 ? * SUN *",
            ScheduleKind::Cron { cron } => cron,
        }
    }
}

/// `@trigger(event=...)` or `@trigger(events=[...])`, as Metaflow's `TriggerDecorator` reads
/// it (`metaflow/plugins/events_decorator.py`): event names given as strings or as
/// `{"name": ..., "parameters": ...}`, parameter mappings given as a dict, a list of names or a
/// list of `(parameter, field)` pairs, all written here as one `parameter → field` map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The events, in declaration order. With several, every one must arrive before a run
    /// starts; with one, each arrival starts a run.
    pub events: Vec<TriggerEvent>,
    /// `options=`.
    #[serde(default, skip_serializing_if = "TriggerOptions::is_empty")]
    pub options: TriggerOptions,
}

/// One event of a [`Trigger`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerEvent {
    /// The event name as written (e.g. `data_ready`); with [`Self::namespace_prefix`], the
    /// logical name inside the namespace.
    pub name: String,
    /// Set when the name was given as `namespaced_event_name(name)`: Metaflow's
    /// `NAMESPACED_EVENTS_PREFIX` (default `mfns`). The deployment then listens to
    /// `<prefix>.<project>.<branch>.<name>`, or `<prefix>.<name>` without `@project`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_prefix: Option<String>,
    /// Flow parameter name → payload field that sets it. Empty: none given (a flow with one
    /// event then maps every parameter to the payload field of the same name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

/// `options=` of `@trigger` / `@trigger_on_finish`. Metaflow's Argo Workflows deployer reads
/// only `reset_at`; Ferry does the same and refuses any other key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerOptions {
    /// `options={"reset_at": {"cron": ..., "timezone": ...}}`: forget events of a
    /// several-event trigger that are still waiting for the others at every fire time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_at: Option<ResetAt>,
    /// Option keys Ferry does not know; validation rejects each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<String>,
}

impl TriggerOptions {
    /// No option given.
    pub fn is_empty(&self) -> bool {
        self.reset_at.is_none() && self.unsupported.is_empty()
    }
}

/// `reset_at`: a standard 5-field cron (minute hour day-of-month month day-of-week, as Argo
/// Events' conditions reset reads it) and its IANA time zone (absent: UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetAt {
    pub cron: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// `@trigger_on_finish(flow=...)` or `(flows=[...])`, as Metaflow's `TriggerOnFinishDecorator`
/// parses it: each upstream is a flow name with, optionally, the project and branch given in a
/// fully qualified name (`project.branch.Flow`) or as `{"name", "project", "project_branch"}`.
/// Absent project or branch: the deployment's own (Metaflow: "the upstream of the same project
/// and branch").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerOnFinish {
    /// The upstream flows, in declaration order; every one must succeed before a run starts.
    pub flows: Vec<UpstreamFlow>,
    /// `options=`.
    #[serde(default, skip_serializing_if = "TriggerOptions::is_empty")]
    pub options: TriggerOptions,
}

/// One upstream flow of a [`TriggerOnFinish`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFlow {
    /// The flow class name, e.g. `FooFlow`.
    pub flow: String,
    /// The `@project` name given explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The branch given explicitly, as Metaflow spells branches: `prod`, `prod.staging`,
    /// `test.my_experiment`, `user.bob`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

/// `@exit_hook(on_success=[...], on_error=[...], options={...})`
/// (`metaflow/plugins/exit_hook/exit_hook_decorator.py`): functions run once after the run
/// ends, as their own task, each in its own process (`exit_hook_script.py`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitHook {
    /// Functions to run when the run succeeds: a name defined in the flow file, or a dotted
    /// import path (`package.module.function`), as Metaflow resolves them.
    #[serde(default)]
    pub on_success: Vec<String>,
    /// Functions to run when the run fails.
    #[serde(default)]
    pub on_error: Vec<String>,
    /// `options={"image": ...}`: the hook task's container image (default: the `start`
    /// step's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// `@project(name=...)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub name: String,
    /// `branch=` given in the decorator itself, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// `production=True` given in the decorator itself.
    #[serde(default)]
    pub production: bool,
}

/// The Metaflow graph node type (`DAGNode.type`, with `split-switch` as `switch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepType {
    Start,
    Linear,
    /// Static fan-out to every step in `next`.
    Split,
    /// Dynamic fan-out over the artifact named by `foreach`.
    Foreach,
    /// Takes `inputs`; closes the innermost open split or foreach.
    Join,
    End,
    /// A conditional `self.next({...}, condition=...)`: not deployable, rejected by validation.
    Switch,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: StepType,
    /// Out-functions in `self.next(...)` order (Metaflow's `out_funcs`).
    #[serde(default)]
    pub next: Vec<String>,
    /// For `foreach` steps: the artifact iterated over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreach: Option<String>,
    /// `@parallel` (`num_parallel`): not deployable, rejected by validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_parallel: Option<u32>,
    #[serde(default)]
    pub decorators: StepDecorators,
    /// A generic workload: this argv runs instead of `python FLOW.py step ...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

/// Step decorators Ferry understands. Attribute names and units are Metaflow's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDecorators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch: Option<Catch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Batch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pypi: Option<PythonEnv>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conda: Option<PythonEnv>,
    /// Names of step decorators Ferry cannot deploy (e.g. `slurm`, `kubernetes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<String>,
}

/// `@retry(times=3, minutes_between_retries=2)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub times: u32,
    #[serde(default)]
    pub minutes_between_retries: u32,
}

/// `@catch(var=..., print_exception=...)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub var: Option<String>,
    #[serde(default = "yes")]
    pub print_exception: bool,
}

fn yes() -> bool {
    true
}

/// `@timeout(seconds=, minutes=, hours=)`, summed into seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeout {
    pub seconds: u64,
}

/// `@resources(cpu=, gpu=, memory=, shared_memory=)`. Memory in MiB.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_memory: Option<u64>,
}

/// `@batch(image=, queue=, iam_role=, cpu=, gpu=, memory=, shared_memory=)`. Memory in MiB.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_memory: Option<u64>,
}

/// `@environment(vars={...})`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// `@pypi`/`@pypi_base` (`packages`: name → version spec) or `@conda`/`@conda_base`
/// (`packages` = `libraries`). `disabled`: the step runs in the task image's own environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonEnv {
    #[serde(default)]
    pub packages: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    #[serde(default)]
    pub disabled: bool,
}
