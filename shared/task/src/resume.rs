//! Tasks of a resumed run (`docs/runtime-contract.md` §9): each task decides for itself whether
//! it clones its origin counterpart or runs, the way Metaflow's runtime decides in `resume`.
//!
//! - The run's resume section travels in the execution input, inside the trigger's parameters
//!   (`ferry.resume`), which only `start` receives. `start` records it in the state table
//!   (`pk = run#<execution name>`, `sk = resume`) before anything runs; every other task reads it
//!   there (one read; a normal run has no such item).
//! - The section points at the clone plan ([`ClonePlan`], content-addressed in the deployment's
//!   blob store): origin task ids by step and [`IndexPath`].
//! - A task's index path comes from its parent's: the lineage item a cloned task writes
//!   (`pk = <task id>`, `sk = resume`, `path`, `origin_task_id`), plus the split index for the
//!   first step of a foreach body. A parent without one was not cloned, so the task runs
//!   (Metaflow clones a task only when its inputs were cloned).
//! - A cloned task runs Metaflow's `step <step> --clone-only <origin run>/<step>/<origin task>`:
//!   the new task's datastore points at the origin's artifacts (content-addressed, nothing is
//!   copied) and its metadata carries `origin-run-id`/`origin-task-id`. Every task that runs gets
//!   `--clone-run-id <origin run>`, so its `origin-run-id` metadata names the origin too.

use std::collections::BTreeMap;
use std::ffi::OsString;

use ferry_spec::resume::{ClonePlan, IndexPath, ResumeSection};
use ferry_spec::task::{StepCommand, StepInputs, TaskDescription, env_parent_task_id};
use ferry_store::{Attr, Blobs, Condition, Item, Table};

use crate::command::Invocation;
use crate::description::sha256_hex;
use crate::env::{TaskEnv, validate_id};
use crate::error::TaskError;
use crate::fanout::ATTR_TTL;
use crate::transient::with_retries;

/// Sort key of the run's resume item and of a cloned task's lineage item.
pub const SK_RESUME: &str = "resume";
/// `S` attribute of the run's resume item: the [`ResumeSection`] as JSON.
pub const ATTR_SECTION: &str = "section";
/// `S` attribute of a lineage item: the task's [`IndexPath`].
pub const ATTR_PATH: &str = "path";
/// `S` attribute of a lineage item: the origin task it was cloned from.
pub const ATTR_ORIGIN_TASK: &str = "origin_task_id";

/// Partition key of the run's resume item: `run#<execution name>`.
pub fn run_pk(execution: &str) -> String {
    format!("run#{execution}")
}

/// A resumed run as one of its tasks sees it.
#[derive(Debug, Clone)]
pub struct Resume {
    /// The section of the execution input.
    pub section: ResumeSection,
    /// The clone plan it points at (checked).
    pub plan: ClonePlan,
}

/// What a task of a resumed run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Clone the origin task `origin_task_id`; the task's index path is `path`.
    Clone {
        origin_task_id: String,
        path: IndexPath,
    },
    /// Run the step (its origin counterpart failed, never ran, or runs again by `--step`).
    Run,
}

/// The resume section of the task's run, if it is a resumed run, with its plan. `start` passes
/// the section it found in its trigger parameters (`from_trigger`) and records it for the other
/// tasks; they read it from `table`. Errors: the store fails, the plan is missing, altered
/// (sha256) or of another flow or run.
pub async fn load(
    table: &dyn Table,
    desc: &TaskDescription,
    env: &TaskEnv,
    from_trigger: Option<ResumeSection>,
) -> Result<Option<Resume>, TaskError> {
    let pk = run_pk(&env.execution);
    let section = match (&desc.inputs, from_trigger) {
        (StepInputs::Start, Some(section)) => {
            let text =
                serde_json::to_string(&section).map_err(|e| TaskError::Resume(e.to_string()))?;
            let attrs = BTreeMap::from([
                (ATTR_SECTION.to_string(), Attr::S(text)),
                (ATTR_TTL.to_string(), Attr::N(ttl(desc.state_ttl_seconds))),
            ]);
            let item = Item {
                pk: pk.clone(),
                sk: SK_RESUME.to_string(),
                attrs,
            };
            with_retries("recording the run's resume section", || {
                table.put(item.clone(), Condition::None)
            })
            .await
            .map_err(|e| TaskError::Store(e.to_string()))?;
            section
        }
        (StepInputs::Start, None) => return Ok(None),
        (_, _) => {
            let item = with_retries("reading the run's resume section", || {
                table.get(&pk, SK_RESUME)
            })
            .await
            .map_err(|e| TaskError::Store(e.to_string()))?;
            let Some(item) = item else { return Ok(None) };
            let Some(Attr::S(text)) = item.attrs.get(ATTR_SECTION) else {
                return Err(TaskError::Resume(format!(
                    "the resume item of {pk} has no {ATTR_SECTION}"
                )));
            };
            serde_json::from_str(text).map_err(|e| {
                TaskError::Resume(format!("the resume section of {pk} is not valid: {e}"))
            })?
        }
    };
    let blobs = crate::stores::open_blobs(&desc.blobs).await?;
    let plan = fetch_plan(blobs.as_ref(), &section).await?;
    if plan.flow != desc.flow || plan.origin_run_id != section.origin_run_id {
        return Err(TaskError::Resume(format!(
            "the clone plan {} is for {}/{}, not {}/{}",
            section.plan.key, plan.flow, plan.origin_run_id, desc.flow, section.origin_run_id
        )));
    }
    Ok(Some(Resume { section, plan }))
}

/// Fetch the clone plan `section` points at and check it (sha256 against the pointer, format).
pub async fn fetch_plan(
    blobs: &dyn Blobs,
    section: &ResumeSection,
) -> Result<ClonePlan, TaskError> {
    let key = &section.plan.key;
    let bytes = with_retries(&format!("reading the clone plan {key}"), || blobs.get(key))
        .await
        .map_err(|e| TaskError::Store(e.to_string()))?
        .ok_or_else(|| TaskError::Resume(format!("the clone plan {key} is missing")))?;
    let got = sha256_hex(&bytes);
    if got != section.plan.sha256 {
        return Err(TaskError::Resume(format!(
            "the clone plan {key} has sha256 {got}, expected {}",
            section.plan.sha256
        )));
    }
    let plan: ClonePlan = serde_json::from_slice(&bytes)
        .map_err(|e| TaskError::Resume(format!("the clone plan {key} is not valid: {e}")))?;
    plan.check().map_err(TaskError::Resume)?;
    Ok(plan)
}

impl Resume {
    /// Decide whether this task clones or runs: it clones when its step and index path are in
    /// the plan. Generic (argv) steps always run (Metaflow cannot clone them).
    pub async fn decide(
        &self,
        table: &dyn Table,
        desc: &TaskDescription,
        env: &TaskEnv,
    ) -> Result<Decision, TaskError> {
        if !matches!(desc.command, StepCommand::Metaflow { .. }) {
            return Ok(Decision::Run);
        }
        let path = match &desc.inputs {
            StepInputs::Start => Some(IndexPath::default()),
            StepInputs::Parent { .. } => {
                let parent = lineage(table, &env.parent_task_id()?).await?;
                match (parent, env.split_index()?) {
                    (Some(p), Some(i)) => Some(p.push(i)),
                    (p, None) => p,
                    (None, Some(_)) => None,
                }
            }
            // A static join sits at its split's foreach depth: its first parent's path (or,
            // for a wide split joined through the state table, the split task's).
            StepInputs::StaticJoin { .. } => {
                let first = if env.has(&env_parent_task_id(0)) {
                    env.static_parent_task_id(0)?
                } else {
                    env.split_parent_task_id()?
                };
                lineage(table, &first).await?
            }
            // A foreach join sits at its foreach task's depth.
            StepInputs::ForeachJoin { .. } => lineage(table, &env.split_parent_task_id()?).await?,
            // The exit hook runs its functions again in every run (it is not a step).
            StepInputs::ExitHook => None,
        };
        Ok(match path {
            Some(path) => match self.plan.origin_task(&desc.step, &path) {
                Some(origin) => Decision::Clone {
                    origin_task_id: origin.to_string(),
                    path,
                },
                None => Decision::Run,
            },
            None => Decision::Run,
        })
    }

    /// Turn the step invocation into what `decision` asks for: `--clone-only <origin pathspec>`
    /// for a clone, and `--clone-run-id <origin run>` always (Metaflow's runtime passes both to
    /// the `step` command of a resumed run).
    pub fn apply(&self, decision: &Decision, desc: &TaskDescription, step: &mut Invocation) {
        let origin_run = &self.section.origin_run_id;
        if let Decision::Clone { origin_task_id, .. } = decision {
            step.args.push(OsString::from("--clone-only"));
            step.args.push(OsString::from(format!(
                "{origin_run}/{}/{origin_task_id}",
                desc.step
            )));
        }
        step.args.push(OsString::from("--clone-run-id"));
        step.args.push(OsString::from(origin_run));
    }
}

/// Record that task `task_id` was cloned from `origin_task_id` at `path`, so its children can
/// find their own origin counterparts.
pub async fn record_lineage(
    table: &dyn Table,
    task_id: &str,
    origin_task_id: &str,
    path: &IndexPath,
    ttl_seconds: u64,
) -> Result<(), TaskError> {
    let attrs = BTreeMap::from([
        (ATTR_PATH.to_string(), Attr::S(path.to_string())),
        (
            ATTR_ORIGIN_TASK.to_string(),
            Attr::S(origin_task_id.to_string()),
        ),
        (ATTR_TTL.to_string(), Attr::N(ttl(ttl_seconds))),
    ]);
    let item = Item {
        pk: task_id.to_string(),
        sk: SK_RESUME.to_string(),
        attrs,
    };
    with_retries("recording the cloned task's lineage", || {
        table.put(item.clone(), Condition::None)
    })
    .await
    .map_err(|e| TaskError::Store(e.to_string()))
}

/// The index path of task `task_id` if it was cloned (its lineage item), else `None`.
pub async fn lineage(table: &dyn Table, task_id: &str) -> Result<Option<IndexPath>, TaskError> {
    validate_id("a parent task id", task_id)?;
    let item = with_retries("reading a parent's lineage", || {
        table.get(task_id, SK_RESUME)
    })
    .await
    .map_err(|e| TaskError::Store(e.to_string()))?;
    let Some(item) = item else { return Ok(None) };
    match item.attrs.get(ATTR_PATH) {
        Some(Attr::S(p)) => IndexPath::parse(p).map(Some).map_err(TaskError::Resume),
        _ => Err(TaskError::Resume(format!(
            "the lineage item of {task_id} has no {ATTR_PATH}"
        ))),
    }
}

fn ttl(seconds: u64) -> i64 {
    chrono::Utc::now()
        .timestamp()
        .saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX / 2))
}
