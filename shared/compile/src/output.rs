//! What the compiler produces ([`Compiled`]) and the errors it reports ([`CompileError`]).

use ferry_spec::task::TaskDescription;
use serde::{Deserialize, Serialize};

use crate::options::Platform;

/// A compiled deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// The Amazon States Language definition (keys in a fixed order; same input, same bytes).
    pub definition: serde_json::Value,
    /// One task description per step, in the flow's topological order, then one per
    /// `@exit_hook` outcome (step `_exit_hook`: `on_error`, then `on_success`).
    pub task_descriptions: Vec<TaskDescriptionBlob>,
    /// The Batch job definitions the Task states name (register any that is missing).
    pub job_definitions: Vec<JobDefinitionSpec>,
    /// The schedule, when the flow has `@schedule`.
    pub schedule: Option<ScheduleSpec>,
    /// What the deployer should know although the flow compiled (steps asking for more than
    /// [`crate::CompileOptions::machine`] has), one sentence each.
    pub warnings: Vec<String>,
    /// The form each foreach got, in the flow's order.
    pub foreach_forms: Vec<ForeachForm>,
}

/// How one foreach was compiled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForeachForm {
    /// The foreach step.
    pub step: String,
    /// `array` (Batch array jobs), `map-inline` or `map-distributed`.
    pub form: String,
    /// The body steps, up to the join (array form only; empty otherwise).
    pub body: Vec<String>,
    /// Why a Map form foreach did not get array jobs under `--foreach-mode array` or `auto`
    /// (`it is inside the foreach outer`); `None` for the array form and under `map`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_array: Option<String>,
}

impl ForeachForm {
    /// One line for the deploy output: `Foreach fan: Batch array jobs (body: a, b).`
    pub fn describe(&self) -> String {
        match self.form.as_str() {
            "array" => format!(
                "Foreach {}: Batch array jobs (body: {}).",
                self.step,
                self.body.join(", ")
            ),
            form => {
                let kind = if form == "map-distributed" {
                    "distributed"
                } else {
                    "inline"
                };
                match &self.not_array {
                    Some(why) => {
                        format!("Foreach {}: {kind} Map, not array jobs: {why}.", self.step)
                    }
                    None => format!("Foreach {}: {kind} Map.", self.step),
                }
            }
        }
    }
}

impl Compiled {
    /// The definition as compact JSON (what `CreateStateMachine` receives).
    pub fn definition_json(&self) -> String {
        self.definition.to_string()
    }
}

/// A task description and the exact bytes to store at `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDescriptionBlob {
    /// The step.
    pub step: String,
    /// `tasks/<sha256 of bytes>.json`.
    pub key: String,
    /// The description.
    pub description: TaskDescription,
    /// Compact JSON of `description` (deterministic: struct field order, sorted maps); write
    /// exactly these bytes (their sha256 is in `key`).
    pub bytes: Vec<u8>,
}

/// A Batch job definition (`RegisterJobDefinition`, type `container`). Its name is
/// `ferry-<sha256 of its other fields>` (first 40 hex digits), so a redeploy names the same
/// definition and registers nothing new. Resources here are placeholders: every Task state
/// overrides vCPU, memory and GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDefinitionSpec {
    pub name: String,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    pub platform: Platform,
    /// `linuxParameters.sharedMemorySize` in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_memory_mib: Option<u64>,
    /// Placeholder vCPUs (Batch requires some).
    pub vcpus: String,
    /// Placeholder memory in MiB.
    pub memory_mib: u64,
}

/// An EventBridge Scheduler schedule that starts the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// Schedule name (≤ 64 characters).
    pub name: String,
    /// `cron(<6 fields>)`.
    pub expression: String,
    /// IANA time zone (`ScheduleExpressionTimezone`), `UTC` by default.
    pub timezone: String,
    /// The execution input: `{"Parameters": "{}"}` (scheduled runs use the deploy-time defaults).
    pub input: String,
}

/// Why a flow cannot be compiled. `Display` says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The graph does not describe the spec's steps.
    #[error("The flow graph is inconsistent: {0}")]
    Graph(String),
    /// A naming rule refused a name.
    #[error(transparent)]
    Naming(#[from] crate::naming::NamingError),
    /// A required option is missing or an option is invalid.
    #[error("Invalid deployment setting `{option}`: {why}")]
    Option { option: &'static str, why: String },
    /// Something the flow uses that Ferry cannot deploy.
    #[error("{0}")]
    Unsupported(String),
    /// A step-level setting out of range.
    #[error("Step *{step}*: {why}")]
    Step { step: String, why: String },
    /// The `@schedule` cannot be turned into an EventBridge Scheduler schedule.
    #[error("Invalid @schedule: {0}")]
    Schedule(String),
    /// A flow parameter problem.
    #[error("{0}")]
    Parameter(String),
    /// The definition would exceed Step Functions' size limit.
    #[error(
        "The state machine definition is {bytes} bytes, above the {limit}-byte limit of AWS Step Functions. Split the flow, or shorten step names."
    )]
    DefinitionTooLarge { bytes: usize, limit: usize },
    /// A Task's container overrides could exceed Batch's limit.
    #[error(
        "The container overrides of step *{step}* can reach {chars} characters, above Batch's {limit}. Use fewer nested foreaches or shorter names."
    )]
    OverridesTooLarge {
        step: String,
        chars: usize,
        limit: usize,
    },
}
