//! The resume request: given a run of a deployment (its execution, the deployment's holder and
//! the origin version's flow graph) and what the metadata service recorded for its tasks, decide
//! whether it may be resumed and build the new execution's input and clone plan
//! (`docs/resume.md`, `docs/runtime-contract.md` §9).
//!
//! The rules follow Metaflow's `resume` (`metaflow/cli_components/run_cmds.py`,
//! `metaflow/runtime.py`): without a step, every successful task of the origin is cloned and the
//! rest runs; with `--step S`, `S` and every step after it run again (`steps_to_rerun`). The
//! origin's parameters are reused as they were. Refused, each with what to do: a run still
//! running, a succeeded run without `--step`, a step the flow does not have, a run without any
//! recorded task, and a user who is not the deployment's owner and has not its production token
//! (the rule of `ferry deploy`, [`crate::tokens::authorized`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use ferry_spec::FlowGraph;
use ferry_spec::resume::{
    CLONE_PLAN_PREFIX, CLONE_PLAN_VERSION, ClonePlan, IndexPath, PARAMETERS_RESUME, PlanRef,
    ResumeSection,
};
use ferry_spec::task::{StepInputs, TaskDescription};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::keys::sha256_hex;
use crate::tokens::{Holder, authorized};
use ferry_control::ExecutionStatus;

/// How many resumes of resumes the planner follows to find a cloned task's foreach indexes.
pub const MAX_ORIGIN_DEPTH: usize = 16;

/// The steps of a deployed version, in a topological order (`start` first), with their next
/// steps: what the planner needs of a flow's graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepGraph {
    order: Vec<String>,
    next: BTreeMap<String, Vec<String>>,
}

impl StepGraph {
    /// The graph of a flow spec.
    pub fn from_flow_graph(graph: &FlowGraph) -> Self {
        StepGraph {
            order: graph.sorted().map(|n| n.name().to_string()).collect(),
            next: graph
                .nodes()
                .map(|n| (n.name().to_string(), n.next().to_vec()))
                .collect(),
        }
    }

    /// The graph of a deployed version, rebuilt from its task descriptions (one per step; each
    /// names the steps it takes its inputs from). Errors: no `start`, a parent step without a
    /// description, a cycle. The `@exit_hook` task is not a step of the graph: it is left out.
    pub fn from_descriptions(descriptions: &[TaskDescription]) -> Result<Self, String> {
        let descriptions: Vec<&TaskDescription> = descriptions
            .iter()
            .filter(|d| !matches!(d.inputs, StepInputs::ExitHook))
            .collect();
        let mut next: BTreeMap<String, Vec<String>> = descriptions
            .iter()
            .map(|d| (d.step.clone(), Vec::new()))
            .collect();
        let mut parents: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for d in &descriptions {
            let from: Vec<String> = match &d.inputs {
                StepInputs::Start | StepInputs::ExitHook => Vec::new(),
                StepInputs::Parent { step } | StepInputs::ForeachJoin { step } => {
                    vec![step.clone()]
                }
                StepInputs::StaticJoin { steps } => steps.clone(),
            };
            for p in &from {
                next.get_mut(p)
                    .ok_or_else(|| {
                        format!(
                            "step {} takes inputs from {p}, which has no task description",
                            d.step
                        )
                    })?
                    .push(d.step.clone());
            }
            parents.insert(d.step.clone(), from);
        }
        if !next.contains_key(ferry_spec::graph::START) {
            return Err("no task description of the start step".into());
        }
        // Kahn's algorithm, taking ready steps in description order.
        let mut order: Vec<String> = Vec::new();
        let mut done: BTreeSet<String> = BTreeSet::new();
        while order.len() < descriptions.len() {
            let ready = descriptions.iter().find(|d| {
                !done.contains(&d.step) && parents[&d.step].iter().all(|p| done.contains(p))
            });
            let Some(d) = ready else {
                return Err("the steps' inputs form a cycle".into());
            };
            done.insert(d.step.clone());
            order.push(d.step.clone());
        }
        Ok(StepGraph { order, next })
    }

    /// Step names in topological order.
    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// Whether the flow has step `step`.
    pub fn contains(&self, step: &str) -> bool {
        self.next.contains_key(step)
    }

    /// `step` and every step reachable from it (Metaflow's `steps_to_rerun`), in topological
    /// order.
    pub fn steps_to_rerun(&self, step: &str) -> Vec<String> {
        let mut rerun: BTreeSet<String> = BTreeSet::from([step.to_string()]);
        for name in &self.order {
            if rerun.contains(name) {
                rerun.extend(self.next.get(name).into_iter().flatten().cloned());
            }
        }
        self.order
            .iter()
            .filter(|n| rerun.contains(*n))
            .cloned()
            .collect()
    }
}

/// The task description URLs a compiled definition's Batch tasks run (`<wrapper> run --task
/// <url>`, `docs/runtime-contract.md` §2), each once.
pub fn task_description_urls(definition: &str) -> Result<Vec<String>, String> {
    let v: Value =
        serde_json::from_str(definition).map_err(|e| format!("the definition is not JSON: {e}"))?;
    let mut out = Vec::new();
    collect_task_urls(&v, &mut out);
    if out.is_empty() {
        return Err("the definition runs no Ferry task".into());
    }
    Ok(out)
}

fn collect_task_urls(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(cmd)) = m.get("Command") {
                let args: Vec<&str> = cmd.iter().filter_map(Value::as_str).collect();
                if let Some(i) = args.iter().position(|a| *a == "--task")
                    && let Some(url) = args.get(i + 1)
                    && !out.iter().any(|u| u == url)
                {
                    out.push(url.to_string());
                }
            }
            for (k, child) in m {
                if k != "Command" {
                    collect_task_urls(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|c| collect_task_urls(c, out)),
        _ => {}
    }
}

/// One metadata row of a run's tasks, as the metadata service's `GET
/// /flows/{flow}/runs/{run}/metadata` answers it (`docs/metadata-service.md`); other fields are
/// ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetadataRow {
    /// The step.
    pub step_name: String,
    /// The task id (a string, or a number for ids the service allocated).
    #[serde(deserialize_with = "id_text")]
    pub task_id: String,
    /// `attempt_ok`, `foreach-execution-path`, `origin-run-id`, …
    pub field_name: String,
    /// The value (a string almost always).
    pub value: Value,
    /// Tags of the row; `attempt_id:<n>` says which attempt wrote it.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

impl MetadataRow {
    fn text(&self) -> String {
        match &self.value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    fn attempt(&self) -> Option<u32> {
        self.tags
            .iter()
            .flatten()
            .find_map(|t| t.strip_prefix("attempt_id:")?.parse().ok())
    }
}

/// Where the planner reads a run's task metadata (the metadata service over HTTP in the CLI).
#[async_trait]
pub trait RunMetadata: Send + Sync {
    /// Every metadata row of run `run_id` of `flow`; empty when the run is unknown.
    async fn run_metadata(&self, flow: &str, run_id: &str) -> Result<Vec<MetadataRow>, String>;
}

/// A task of the origin run, as the metadata service recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginTask {
    /// The step.
    pub step: String,
    /// The task id.
    pub task_id: String,
    /// Its latest attempt that recorded `attempt_ok` succeeded (Metaflow's `_task_ok`).
    pub ok: bool,
    /// Its foreach indexes.
    pub path: IndexPath,
}

/// The tasks of run `run_id` with their outcome and index path. A task cloned from an earlier
/// run (a resume of a resume) has no `foreach-execution-path` of its own: its origin's is used,
/// following `origin-run-id`/`origin-task-id` up to [`MAX_ORIGIN_DEPTH`] runs back.
pub async fn origin_tasks(
    src: &dyn RunMetadata,
    flow: &str,
    run_id: &str,
) -> Result<Vec<OriginTask>, ResumeError> {
    let rows = src
        .run_metadata(flow, run_id)
        .await
        .map_err(ResumeError::Metadata)?;
    let mut tasks = summarize(&rows);
    let mut cache: HashMap<String, Vec<TaskSummary>> = HashMap::new();
    for t in tasks.iter_mut() {
        let mut depth = 0;
        while t.path.is_none() {
            let Some((orun, otask)) = t.origin.clone() else {
                break;
            };
            depth += 1;
            if depth > MAX_ORIGIN_DEPTH {
                break;
            }
            if !cache.contains_key(&orun) {
                let rows = src
                    .run_metadata(flow, &orun)
                    .await
                    .map_err(ResumeError::Metadata)?;
                cache.insert(orun.clone(), summarize(&rows));
            }
            let found = cache[&orun]
                .iter()
                .find(|o| o.step == t.step && o.task_id == otask)
                .cloned();
            match found {
                Some(o) => {
                    t.path = o.path;
                    t.origin = o.origin;
                }
                None => break,
            }
        }
    }
    Ok(tasks
        .into_iter()
        .map(|t| OriginTask {
            step: t.step,
            task_id: t.task_id,
            ok: t.ok,
            path: t.path.unwrap_or_default(),
        })
        .collect())
}

#[derive(Debug, Clone)]
struct TaskSummary {
    step: String,
    task_id: String,
    ok: bool,
    /// `None`: no `foreach-execution-path` (outside any foreach, or a clone).
    path: Option<IndexPath>,
    origin: Option<(String, String)>,
}

/// One summary per task, in the order of first appearance.
fn summarize(rows: &[MetadataRow]) -> Vec<TaskSummary> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut by_task: HashMap<(String, String), Vec<&MetadataRow>> = HashMap::new();
    for r in rows {
        let key = (r.step_name.clone(), r.task_id.clone());
        by_task
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(r);
    }
    order
        .into_iter()
        .map(|key| {
            let rows = &by_task[&key];
            let field = |name: &str| rows.iter().find(|r| r.field_name == name).map(|r| r.text());
            let ok = rows
                .iter()
                .filter(|r| r.field_name == "attempt_ok")
                .max_by_key(|r| r.attempt().unwrap_or(0))
                .is_some_and(|r| r.text() == "True");
            let path = field("foreach-execution-path")
                .and_then(|p| IndexPath::from_foreach_execution_path(&p).ok());
            let origin = match (field("origin-run-id"), field("origin-task-id")) {
                (Some(run), Some(task)) => Some((run, task)),
                _ => None,
            };
            TaskSummary {
                step: key.0,
                task_id: key.1,
                ok,
                path,
                origin,
            }
        })
        .collect()
}

/// What the caller asks for.
#[derive(Debug, Clone)]
pub struct ResumeRequest<'a> {
    /// The origin execution's name (the run id is `sfn-<name>`).
    pub origin_execution: &'a str,
    /// Its deployment (state machine) name.
    pub deployment: &'a str,
    /// Its status.
    pub status: ExecutionStatus,
    /// The flow class name.
    pub flow: &'a str,
    /// The steps of the version the origin ran.
    pub graph: &'a StepGraph,
    /// The deployment's owner and token.
    pub holder: &'a Holder,
    /// Who resumes.
    pub user: &'a str,
    /// The token they give (`--authorize`, or the one their CLI stored).
    pub authorize: Option<&'a str>,
    /// `--step`.
    pub step: Option<&'a str>,
    /// `--tag` values for the new run.
    pub tags: &'a [String],
    /// The origin's trigger parameters as JSON text (the execution input's `Parameters`, with a
    /// parameters blob already read); `None` when the input had none.
    pub parameters: Option<&'a str>,
    /// The origin run's tasks ([`origin_tasks`]).
    pub tasks: &'a [OriginTask],
}

/// A permitted resume: what to store and start.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumePlan {
    /// The origin run id, `sfn-<execution name>`.
    pub origin_run_id: String,
    /// The first step that runs again (`--step`, or where the origin failed); `None` when every
    /// task of the origin succeeded.
    pub resume_step: Option<String>,
    /// The steps whose tasks all run again (`--step` and after).
    pub rerun_steps: Vec<String>,
    /// The clone plan, and its bytes and blob key (`resume/<sha256>.json`).
    pub plan: ClonePlan,
    /// The plan's JSON bytes.
    pub plan_bytes: Vec<u8>,
    /// Where the plan goes.
    pub plan_ref: PlanRef,
    /// The new execution's `Parameters` JSON text (the origin's parameters, the new tags and the
    /// resume section).
    pub parameters: String,
    /// How many origin tasks the new run clones.
    pub cloned_tasks: usize,
}

impl ResumePlan {
    /// The new execution's input, `{"Parameters": "<JSON text>"}`.
    pub fn input(&self) -> String {
        serde_json::json!({ "Parameters": self.parameters }).to_string()
    }
}

/// Why a run cannot be resumed. Each message says why and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// The user is neither the deployment's owner nor holds its token.
    #[error(
        "{run_id} is a run of {deployment}, deployed by the user {owner}: resuming it starts a production run in its namespace, which needs the deployment's production token. {} Ask {owner} for it and call `ferry resume {run_id} --authorize MY_TOKEN` (with or without the production: prefix).",
        if *token_given { "The token given (--authorize, or stored on this machine) is not the token of this deployment." } else { "You gave no --authorize, and no token for this flow is stored on this machine." }
    )]
    NotAuthorized {
        /// The origin run id.
        run_id: String,
        /// The deployment (state machine) name.
        deployment: String,
        /// Its owner.
        owner: String,
        /// A token was given, and it is not the deployment's.
        token_given: bool,
    },
    /// The origin is still running.
    #[error(
        "{run_id} is still running: only a run that has ended can be resumed. Wait for it to end (`ferry status {run_id}`), or stop it with `ferry terminate {run_id}`, then resume it."
    )]
    Running {
        /// The origin run id.
        run_id: String,
    },
    /// The origin succeeded and no step was given.
    #[error(
        "{run_id} succeeded: there is nothing to resume. To run steps of it again, name the first one: `ferry resume {run_id} --step STEP` (steps: {steps})."
    )]
    Succeeded {
        /// The origin run id.
        run_id: String,
        /// The flow's steps, comma-separated.
        steps: String,
    },
    /// `--step` names no step of the flow (Metaflow's wording, then what to do).
    #[error(
        "invalid step name {step} specified, must be step present in current form of execution graph. Valid step names include: {valid}. Give one of them with --step."
    )]
    UnknownStep {
        /// The step given.
        step: String,
        /// The flow's steps, comma-separated.
        valid: String,
    },
    /// The metadata service has no task of the origin: nothing can be cloned.
    #[error(
        "{run_id} recorded no task in the metadata service (it failed before `start` ran, or its metadata is gone), so nothing can be cloned from it: trigger a new run with `ferry trigger` instead."
    )]
    NoTasks {
        /// The origin run id.
        run_id: String,
    },
    /// The origin's input is not what a Ferry trigger writes.
    #[error(
        "the input of {run_id} is not a Ferry trigger's ({why}), so its parameters cannot be reused: trigger a new run with `ferry trigger` instead."
    )]
    BadInput {
        /// The origin run id.
        run_id: String,
        /// What is wrong with it.
        why: String,
    },
    /// The metadata service could not be read.
    #[error("reading the origin run's metadata: {0}")]
    Metadata(String),
}

/// Decide and build a resume of `req.origin`. Refusals: see [`ResumeError`] (checked in that
/// order: token, status, step, recorded tasks, input).
pub fn plan_resume(req: &ResumeRequest<'_>) -> Result<ResumePlan, ResumeError> {
    let run_id = ferry_spec::task::run_id_for_execution(req.origin_execution);
    if !authorized(req.holder, req.user, req.authorize) {
        return Err(ResumeError::NotAuthorized {
            run_id,
            deployment: req.deployment.to_string(),
            owner: req.holder.owner.clone(),
            token_given: req.authorize.is_some_and(|t| !t.trim().is_empty()),
        });
    }
    let steps = req.graph.names().join(", ");
    match req.status {
        ExecutionStatus::Running => return Err(ResumeError::Running { run_id }),
        ExecutionStatus::Succeeded if req.step.is_none() => {
            return Err(ResumeError::Succeeded { run_id, steps });
        }
        _ => {}
    }
    let rerun_steps = match req.step {
        Some(step) => {
            if !req.graph.contains(step) {
                return Err(ResumeError::UnknownStep {
                    step: step.to_string(),
                    valid: req.graph.names().join(","),
                });
            }
            req.graph.steps_to_rerun(step)
        }
        None => Vec::new(),
    };
    let in_graph: Vec<&OriginTask> = req
        .tasks
        .iter()
        .filter(|t| req.graph.contains(&t.step))
        .collect();
    if in_graph.is_empty() {
        return Err(ResumeError::NoTasks { run_id });
    }

    let mut tasks: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut cloned = 0;
    for t in &in_graph {
        if !t.ok || rerun_steps.contains(&t.step) {
            continue;
        }
        // Several successful tasks at one index (delayed retries on older Ferry versions made
        // one task id per attempt): keep the first; they hold the same results.
        let entry = tasks.entry(t.step.clone()).or_default();
        if let std::collections::btree_map::Entry::Vacant(slot) = entry.entry(t.path.to_string()) {
            slot.insert(t.task_id.clone());
            cloned += 1;
        }
    }
    let resume_step = match req.step {
        Some(s) => Some(s.to_string()),
        None => first_unfinished_step(req.graph, &in_graph),
    };

    let plan = ClonePlan {
        version: CLONE_PLAN_VERSION,
        flow: req.flow.to_string(),
        origin_run_id: run_id.clone(),
        rerun_steps: rerun_steps.clone(),
        tasks,
    };
    let plan_bytes = serde_json::to_vec(&plan).map_err(|e| ResumeError::BadInput {
        run_id: run_id.clone(),
        why: e.to_string(),
    })?;
    let sha = sha256_hex(&plan_bytes);
    let plan_ref = PlanRef {
        key: format!("{CLONE_PLAN_PREFIX}{sha}.json"),
        sha256: sha,
    };
    let parameters = new_parameters(
        req.parameters,
        req.tags,
        &ResumeSection {
            origin_run_id: run_id.clone(),
            resume_step: resume_step.clone(),
            plan: plan_ref.clone(),
        },
    )
    .map_err(|why| ResumeError::BadInput {
        run_id: run_id.clone(),
        why,
    })?;
    Ok(ResumePlan {
        origin_run_id: run_id,
        resume_step,
        rerun_steps,
        plan,
        plan_bytes,
        plan_ref,
        parameters,
        cloned_tasks: cloned,
    })
}

/// The first step, in topological order, with a task that did not succeed or with no task at
/// all: where the origin failed or stopped.
fn first_unfinished_step(graph: &StepGraph, tasks: &[&OriginTask]) -> Option<String> {
    graph
        .names()
        .iter()
        .find(|n| {
            let mine: Vec<_> = tasks.iter().filter(|t| &t.step == *n).collect();
            mine.is_empty() || mine.iter().any(|t| !t.ok && !ok_elsewhere(tasks, t))
        })
        .cloned()
}

/// Whether another task of the same step and index succeeded (a failed attempt's task id next
/// to the successful one's).
fn ok_elsewhere(tasks: &[&OriginTask], t: &OriginTask) -> bool {
    tasks
        .iter()
        .any(|o| o.ok && o.step == t.step && o.path == t.path)
}

/// The new run's trigger parameters: the origin's, without its run tags and any earlier resume
/// section, plus `tags` and `section`.
fn new_parameters(
    origin: Option<&str>,
    tags: &[String],
    section: &ResumeSection,
) -> Result<String, String> {
    let mut map: Map<String, Value> = match origin.map(str::trim).filter(|t| !t.is_empty()) {
        None => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(Value::Null) => Map::new(),
            Ok(_) => return Err("its Parameters is not a JSON object".into()),
            Err(e) => return Err(format!("its Parameters is not JSON: {e}")),
        },
    };
    if map.contains_key(ferry_spec::task::PARAMETERS_BLOB) {
        return Err("its parameters blob was not read".into());
    }
    map.remove(ferry_spec::task::PARAMETERS_TAGS);
    map.remove(PARAMETERS_RESUME);
    if !tags.is_empty() {
        map.insert(
            ferry_spec::task::PARAMETERS_TAGS.to_string(),
            Value::from(tags.to_vec()),
        );
    }
    map.insert(
        PARAMETERS_RESUME.to_string(),
        serde_json::to_value(section).map_err(|e| e.to_string())?,
    );
    Ok(Value::Object(map).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_spec::model::FlowSpec;
    use serde_json::json;

    fn graph() -> StepGraph {
        let spec: FlowSpec = serde_json::from_value(json!({
            "spec_version": 1, "flow": "ResumeFlow", "file": "f.py",
            "steps": [
                {"name": "start", "type": "foreach", "next": ["body"], "foreach": "items"},
                {"name": "body", "type": "linear", "next": ["join"]},
                {"name": "join", "type": "join", "next": ["train"]},
                {"name": "train", "type": "linear", "next": ["end"]},
                {"name": "end", "type": "end", "next": []}
            ]
        }))
        .unwrap();
        StepGraph::from_flow_graph(&FlowGraph::new(&spec).unwrap())
    }

    fn execution(status: ExecutionStatus) -> ExecutionStatus {
        status
    }

    fn holder() -> Holder {
        Holder {
            owner: "alice".into(),
            token: "resumeflow-0-abcd".into(),
        }
    }

    fn row(step: &str, task: &str, field: &str, value: &str, attempt: u32) -> MetadataRow {
        MetadataRow {
            step_name: step.into(),
            task_id: task.into(),
            field_name: field.into(),
            value: json!(value),
            tags: Some(vec![format!("attempt_id:{attempt}")]),
        }
    }

    /// The metadata of a run that failed at train; body split `failed_body` failed too when set.
    fn failed_run(failed_body: Option<usize>) -> Vec<MetadataRow> {
        let mut rows = vec![
            row("_parameters", "s-params", "attempt_ok", "True", 0),
            row("start", "s", "attempt_ok", "True", 0),
        ];
        for i in 0..3 {
            let id = format!("b{i}");
            rows.push(row(
                "body",
                &id,
                "foreach-execution-path",
                &format!("start:{i}"),
                0,
            ));
            let ok = if Some(i) == failed_body {
                "False"
            } else {
                "True"
            };
            rows.push(row("body", &id, "attempt_ok", ok, 0));
        }
        if failed_body.is_none() {
            rows.push(row("join", "j", "attempt_ok", "True", 0));
            rows.push(row("train", "t", "attempt_ok", "False", 0));
            rows.push(row("train", "t", "attempt_ok", "False", 1));
        }
        rows
    }

    struct Runs(HashMap<String, Vec<MetadataRow>>);

    #[async_trait]
    impl RunMetadata for Runs {
        async fn run_metadata(&self, _: &str, run: &str) -> Result<Vec<MetadataRow>, String> {
            Ok(self.0.get(run).cloned().unwrap_or_default())
        }
    }

    fn tasks_of(rows: Vec<MetadataRow>) -> Vec<OriginTask> {
        let runs = Runs(HashMap::from([("sfn-orig".to_string(), rows)]));
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(origin_tasks(&runs, "ResumeFlow", "sfn-orig"))
            .unwrap()
    }

    fn request<'a>(
        origin: &'a ExecutionStatus,
        graph: &'a StepGraph,
        holder: &'a Holder,
        tasks: &'a [OriginTask],
        step: Option<&'a str>,
    ) -> ResumeRequest<'a> {
        ResumeRequest {
            origin_execution: "orig",
            deployment: "ResumeFlow",
            status: *origin,
            flow: "ResumeFlow",
            graph,
            holder,
            user: "alice",
            authorize: None,
            step,
            tags: &[],
            parameters: Some(r#"{"width": 3, "ferry.tags": ["old"]}"#),
            tasks,
        }
    }

    #[test]
    fn a_run_failed_at_train_clones_everything_before_train() {
        let (g, h) = (graph(), holder());
        let origin = execution(ExecutionStatus::Failed);
        let tasks = tasks_of(failed_run(None));
        let p = plan_resume(&request(&origin, &g, &h, &tasks, None)).unwrap();
        assert_eq!(p.resume_step.as_deref(), Some("train"));
        assert!(p.rerun_steps.is_empty());
        assert_eq!(p.cloned_tasks, 5);
        assert_eq!(
            serde_json::to_value(&p.plan.tasks).unwrap(),
            json!({"start": {"": "s"}, "body": {"0": "b0", "1": "b1", "2": "b2"}, "join": {"": "j"}})
        );
        assert_eq!(p.plan_ref.key, format!("resume/{}.json", p.plan_ref.sha256));
        assert_eq!(p.plan_ref.sha256, sha256_hex(&p.plan_bytes));
        let params: Value = serde_json::from_str(&p.parameters).unwrap();
        assert_eq!(
            params["width"],
            json!(3),
            "the origin's parameters are reused"
        );
        assert!(
            params.get("ferry.tags").is_none(),
            "the origin's run tags are not"
        );
        assert_eq!(params["ferry.resume"]["origin_run_id"], json!("sfn-orig"));
        assert_eq!(params["ferry.resume"]["resume_step"], json!("train"));
        assert_eq!(params["ferry.resume"]["plan"]["key"], json!(p.plan_ref.key));
        let input: Value = serde_json::from_str(&p.input()).unwrap();
        assert_eq!(input["Parameters"], json!(p.parameters));
    }

    #[test]
    fn a_failed_split_reruns_alone() {
        let (g, h) = (graph(), holder());
        let origin = execution(ExecutionStatus::Failed);
        let tasks = tasks_of(failed_run(Some(1)));
        let p = plan_resume(&request(&origin, &g, &h, &tasks, None)).unwrap();
        assert_eq!(p.resume_step.as_deref(), Some("body"));
        assert_eq!(
            serde_json::to_value(&p.plan.tasks).unwrap(),
            json!({"start": {"": "s"}, "body": {"0": "b0", "2": "b2"}})
        );
    }

    #[test]
    fn a_step_reruns_it_and_everything_after() {
        let (g, h) = (graph(), holder());
        let origin = execution(ExecutionStatus::Succeeded);
        let mut rows = failed_run(None);
        rows.push(row("train", "t", "attempt_ok", "True", 2));
        rows.push(row("end", "e", "attempt_ok", "True", 0));
        let tasks = tasks_of(rows);
        let mut req = request(&origin, &g, &h, &tasks, Some("body"));
        let tags = vec!["again".to_string()];
        req.tags = &tags;
        let p = plan_resume(&req).unwrap();
        assert_eq!(p.rerun_steps, ["body", "join", "train", "end"]);
        assert_eq!(
            serde_json::to_value(&p.plan.tasks).unwrap(),
            json!({"start": {"": "s"}})
        );
        let params: Value = serde_json::from_str(&p.parameters).unwrap();
        assert_eq!(params["ferry.tags"], json!(["again"]));
    }

    #[test]
    fn refusals_say_why_and_what_to_do() {
        let (g, h) = (graph(), holder());
        let tasks = tasks_of(failed_run(None));
        let running = execution(ExecutionStatus::Running);
        let e = plan_resume(&request(&running, &g, &h, &tasks, None)).unwrap_err();
        assert!(matches!(e, ResumeError::Running { .. }));
        assert!(e.to_string().contains("ferry terminate sfn-orig"), "{e}");

        let done = execution(ExecutionStatus::Succeeded);
        let e = plan_resume(&request(&done, &g, &h, &tasks, None)).unwrap_err();
        assert!(e.to_string().contains("--step STEP"), "{e}");
        assert!(
            e.to_string().contains("start, body, join, train, end"),
            "{e}"
        );

        let failed = execution(ExecutionStatus::Failed);
        let e = plan_resume(&request(&failed, &g, &h, &tasks, Some("nope"))).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid step name nope specified, must be step present"),
            "{e}"
        );

        let mut req = request(&failed, &g, &h, &tasks, None);
        req.user = "bob";
        let e = plan_resume(&req).unwrap_err();
        assert!(e.to_string().contains("--authorize MY_TOKEN"), "{e}");
        assert!(e.to_string().contains("gave no --authorize"), "{e}");
        req.authorize = Some("resumeflow-1-zzzz");
        let e = plan_resume(&req).unwrap_err();
        assert!(e.to_string().contains("is not the token"), "{e}");
        req.authorize = Some("production:resumeflow-0-abcd");
        assert!(plan_resume(&req).is_ok(), "the token holder may resume");

        let none: Vec<OriginTask> = Vec::new();
        let e = plan_resume(&request(&failed, &g, &h, &none, None)).unwrap_err();
        assert!(matches!(e, ResumeError::NoTasks { .. }), "{e}");
    }

    #[test]
    fn a_deployed_version_s_steps_come_back_from_its_definition() {
        let spec: FlowSpec = serde_json::from_value(json!({
            "spec_version": 1, "flow": "ResumeFlow", "file": "f.py",
            "steps": [
                {"name": "start", "type": "foreach", "next": ["body"], "foreach": "items"},
                {"name": "body", "type": "split", "next": ["a", "b"]},
                {"name": "a", "type": "linear", "next": ["inner"]},
                {"name": "b", "type": "linear", "next": ["inner"]},
                {"name": "inner", "type": "join", "next": ["join"]},
                {"name": "join", "type": "join", "next": ["end"]},
                {"name": "end", "type": "end", "next": []}
            ]
        }))
        .unwrap();
        let fg = FlowGraph::new(&spec).unwrap();
        let compiled = ferry_compile::compile(
            &spec,
            &fg,
            &ferry_compile::CompileOptions {
                state_machine_name: "ResumeFlow".into(),
                state_table_name: "ferry-state".into(),
                job_queue: "q".into(),
                default_image: "python:3.12".into(),
                owner: "alice".into(),
                production_token: "resumeflow-0-abcd".into(),
                blobs: ferry_spec::task::BlobStoreRef::S3 {
                    bucket: "ferry-test".into(),
                    prefix: "ferry".into(),
                },
                code_package: ferry_spec::task::PackageRef {
                    key: format!("code/{}.tgz", "0".repeat(64)),
                    sha256: "0".repeat(64),
                },
                ..Default::default()
            },
        )
        .unwrap();
        let urls = task_description_urls(&compiled.definition.to_string()).unwrap();
        assert_eq!(urls.len(), 7, "one task description per step: {urls:?}");
        let descriptions: Vec<TaskDescription> = compiled
            .task_descriptions
            .iter()
            .map(|d| {
                assert!(
                    urls.iter().any(|u| u.ends_with(&d.key)),
                    "{} in {urls:?}",
                    d.key
                );
                d.description.clone()
            })
            .collect();
        let rebuilt = StepGraph::from_descriptions(&descriptions).unwrap();
        let from_spec = StepGraph::from_flow_graph(&fg);
        assert_eq!(rebuilt.names().len(), 7);
        for step in from_spec.names() {
            assert_eq!(
                rebuilt.steps_to_rerun(step),
                from_spec.steps_to_rerun(step),
                "{step}"
            );
        }
        assert_eq!(rebuilt.names()[0], "start");
        assert_eq!(rebuilt.names()[6], "end");
    }

    #[test]
    fn clones_of_clones_find_their_indexes_in_the_first_run() {
        // sfn-orig is itself a resume of sfn-first: its body tasks are clones.
        let mut first = Vec::new();
        let mut orig = vec![row("start", "s2", "attempt_ok", "True", 0)];
        for i in 0..3 {
            first.push(row(
                "body",
                &format!("f{i}"),
                "foreach-execution-path",
                &format!("start:{i}"),
                0,
            ));
            first.push(row("body", &format!("f{i}"), "attempt_ok", "True", 0));
            let id = format!("c{i}");
            orig.push(row("body", &id, "origin-run-id", "sfn-first", 0));
            orig.push(row(
                "body",
                &id,
                "origin-task-id",
                &format!("f{}", 2 - i),
                0,
            ));
            orig.push(row("body", &id, "attempt_ok", "True", 0));
        }
        let runs = Runs(HashMap::from([
            ("sfn-orig".to_string(), orig),
            ("sfn-first".to_string(), first),
        ]));
        let tasks = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(origin_tasks(&runs, "ResumeFlow", "sfn-orig"))
            .unwrap();
        let paths: BTreeMap<String, String> = tasks
            .iter()
            .filter(|t| t.step == "body")
            .map(|t| (t.task_id.clone(), t.path.to_string()))
            .collect();
        assert_eq!(
            paths,
            BTreeMap::from([
                ("c0".to_string(), "2".to_string()),
                ("c1".to_string(), "1".to_string()),
                ("c2".to_string(), "0".to_string()),
            ])
        );
    }
}
