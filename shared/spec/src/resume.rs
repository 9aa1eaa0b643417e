//! Resuming a run: the `ferry.resume` section of an execution's input and the clone plan it
//! points at (`docs/runtime-contract.md` §9, `docs/resume.md`).
//!
//! `ferry resume` starts a new execution of the same state machine whose input is the origin's
//! `{"Parameters": "<JSON text>"}` with one more key in that JSON text, [`PARAMETERS_RESUME`]:
//!
//! ```json
//! {"alpha": 0.5, "ferry.resume": {"origin_run_id": "sfn-3f2c…", "resume_step": "train",
//!   "plan": {"key": "resume/<sha256>.json", "sha256": "<sha256>"}}}
//! ```
//!
//! The plan (a [`ClonePlan`], content-addressed in the deployment's blob store) names, for every
//! task of the origin that a task of the new run clones, the origin task id by step and
//! [`IndexPath`]. A task whose step and index path are in the plan is cloned with Metaflow's own
//! `step --clone-only`; every other task runs, with `--clone-run-id <origin run>`. This is the
//! decision Metaflow's runtime takes in `resume` (`metaflow/runtime.py`, `Task._find_origin_task`):
//! a task is cloned when its origin counterpart (same step, same foreach indexes) succeeded and
//! its step is not the resume step or after it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The key of the trigger's parameters object (the `Parameters` JSON text of the execution input)
/// that holds the [`ResumeSection`]. A dot keeps it apart from Metaflow parameter names, like
/// [`crate::task::PARAMETERS_TAGS`]; a wrapper that does not know it refuses the run (it is not a
/// valid parameter name) instead of silently running every task again.
pub const PARAMETERS_RESUME: &str = "ferry.resume";

/// Version of the [`ClonePlan`] format this crate writes and reads.
pub const CLONE_PLAN_VERSION: u32 = 1;

/// Blob key prefix of the clone plans (`resume/<sha256>.json`).
pub const CLONE_PLAN_PREFIX: &str = "resume/";

/// The `ferry.resume` object of a resumed execution's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeSection {
    /// The run being resumed, `sfn-<execution name>`.
    pub origin_run_id: String,
    /// The step the new run starts running again at: `--step`, or the first step where the origin
    /// failed or stopped (informational: the plan decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_step: Option<String>,
    /// The content-addressed [`ClonePlan`] in the deployment's blob store.
    pub plan: PlanRef,
}

impl ResumeSection {
    /// The resume section of an execution's input (JSON text `{"Parameters": "<JSON text>"}`)
    /// when it is a resumed run's: its parameters hold [`PARAMETERS_RESUME`]. `None` for other
    /// runs, and for a resumed run whose parameters went to a blob
    /// (`crate::task::PARAMETERS_BLOB`).
    pub fn from_execution_input(input: &str) -> Option<ResumeSection> {
        let input: serde_json::Value = serde_json::from_str(input).ok()?;
        let params: serde_json::Value =
            serde_json::from_str(input.get("Parameters")?.as_str()?).ok()?;
        serde_json::from_value(params.get(PARAMETERS_RESUME)?.clone()).ok()
    }
}

/// Where a [`ClonePlan`] is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRef {
    /// Blob key, `resume/<sha256>.json`.
    pub key: String,
    /// Lower-case hex sha256 of the plan's bytes.
    pub sha256: String,
}

/// Which origin task each task of a resumed run clones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClonePlan {
    /// [`CLONE_PLAN_VERSION`].
    pub version: u32,
    /// The flow class name.
    pub flow: String,
    /// The origin run, `sfn-<execution name>`.
    pub origin_run_id: String,
    /// The steps that run again: the resume step and every step after it (Metaflow's
    /// `steps_to_rerun`); empty when resuming where the origin failed.
    #[serde(default)]
    pub rerun_steps: Vec<String>,
    /// step name → [`IndexPath`] text → the origin task id to clone. Only successful origin tasks
    /// of steps that do not run again.
    pub tasks: BTreeMap<String, BTreeMap<String, String>>,
}

impl ClonePlan {
    /// The origin task to clone for the task of `step` at `path`, if any.
    pub fn origin_task(&self, step: &str, path: &IndexPath) -> Option<&str> {
        self.tasks
            .get(step)?
            .get(&path.to_string())
            .map(String::as_str)
    }

    /// Check the plan's shape: the version, and ids safe in pathspecs.
    pub fn check(&self) -> Result<(), String> {
        if self.version != CLONE_PLAN_VERSION {
            return Err(format!(
                "clone plan version {} is not supported (this reads version {CLONE_PLAN_VERSION})",
                self.version
            ));
        }
        for (step, tasks) in &self.tasks {
            for (path, id) in tasks {
                IndexPath::parse(path).map_err(|e| format!("clone plan: step {step}: {e}"))?;
                if !safe_id(id) {
                    return Err(format!("clone plan: step {step}: {id:?} is not a task id"));
                }
            }
        }
        Ok(())
    }
}

/// A task's foreach indexes from the outermost enclosing foreach inwards (Metaflow's
/// `pathspec_index`, without the step names): empty outside any foreach. Written `"3,1"`, `""`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexPath(pub Vec<u64>);

impl IndexPath {
    /// Parse `""`, `"3"`, `"3,1"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(IndexPath::default());
        }
        text.split(',')
            .map(|p| {
                p.parse::<u64>()
                    .map_err(|_| format!("{text:?} is not an index path (e.g. \"3,1\")"))
            })
            .collect::<Result<_, _>>()
            .map(IndexPath)
    }

    /// The indexes of Metaflow's `foreach-execution-path` task metadata,
    /// `"<foreach step>:<index>,…"` (`metaflow/task.py`), e.g. `"fan:3,inner:1"` → `3,1`.
    pub fn from_foreach_execution_path(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(IndexPath::default());
        }
        text.split(',')
            .map(|frame| {
                frame
                    .rsplit_once(':')
                    .and_then(|(_, i)| i.trim().parse::<u64>().ok())
                    .ok_or_else(|| format!("{text:?} is not a foreach execution path"))
            })
            .collect::<Result<_, _>>()
            .map(IndexPath)
    }

    /// The path of a foreach body's first task: this one with `index` pushed.
    pub fn push(&self, index: u64) -> Self {
        let mut v = self.0.clone();
        v.push(index);
        IndexPath(v)
    }
}

impl std::fmt::Display for IndexPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_read_and_print() {
        assert_eq!(IndexPath::parse("").unwrap(), IndexPath(vec![]));
        assert_eq!(IndexPath::parse("3,1").unwrap(), IndexPath(vec![3, 1]));
        assert_eq!(IndexPath(vec![3, 1]).to_string(), "3,1");
        assert_eq!(IndexPath::default().to_string(), "");
        assert_eq!(IndexPath(vec![3]).push(0).to_string(), "3,0");
        for bad in ["a", "1,", ",1", "-1"] {
            assert!(IndexPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn foreach_execution_paths_give_the_indexes() {
        assert_eq!(
            IndexPath::from_foreach_execution_path("fan:3,inner:1").unwrap(),
            IndexPath(vec![3, 1])
        );
        assert_eq!(
            IndexPath::from_foreach_execution_path("").unwrap(),
            IndexPath::default()
        );
        assert!(IndexPath::from_foreach_execution_path("fan").is_err());
        assert!(IndexPath::from_foreach_execution_path("fan:x").is_err());
    }

    #[test]
    fn plans_are_checked_and_looked_up() {
        let plan = ClonePlan {
            version: CLONE_PLAN_VERSION,
            flow: "F".into(),
            origin_run_id: "sfn-o".into(),
            rerun_steps: vec![],
            tasks: BTreeMap::from([(
                "body".to_string(),
                BTreeMap::from([("2".to_string(), "job-b2".to_string())]),
            )]),
        };
        plan.check().unwrap();
        assert_eq!(
            plan.origin_task("body", &IndexPath(vec![2])),
            Some("job-b2")
        );
        assert_eq!(plan.origin_task("body", &IndexPath(vec![3])), None);
        assert_eq!(plan.origin_task("end", &IndexPath::default()), None);
        let mut bad = plan.clone();
        bad.tasks
            .get_mut("body")
            .unwrap()
            .insert("2".into(), "a/b".into());
        assert!(bad.check().is_err());
        let mut bad = plan;
        bad.version = 9;
        assert!(bad.check().is_err());
    }
}
