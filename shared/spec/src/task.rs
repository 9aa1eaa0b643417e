//! The task description: what a task wrapper needs that is static for a deployment and a step.
//!
//! Stored content-addressed at blob key `tasks/<sha256>.json` (see `docs/runtime-contract.md`);
//! the compiled Batch task passes only its URL on the wrapper's argv. Everything that changes per
//! execution (run id, task id, attempt, parent task ids, split index, trigger parameters) comes
//! from environment variables instead (the `ENV_*` constants below).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the task description format this crate writes.
pub const TASK_DESCRIPTION_VERSION: u32 = 1;

/// Batch job id = Metaflow task id (stable across attempts).
pub const ENV_JOB_ID: &str = "AWS_BATCH_JOB_ID";
/// 1-based Batch attempt.
pub const ENV_JOB_ATTEMPT: &str = "AWS_BATCH_JOB_ATTEMPT";
/// Execution name; the Metaflow run id is `sfn-<this>`.
pub const ENV_RUN_ID: &str = "FERRY_RUN_ID";
/// The trigger's `Parameters` string (JSON object encoded as a string), `start` only.
pub const ENV_PARAMETERS: &str = "FERRY_PARAMETERS";
/// The single parent's task id.
pub const ENV_PARENT_TASK_ID: &str = "FERRY_PARENT_TASK_ID";
/// Foreach split index of the first step of a foreach body.
pub const ENV_SPLIT_INDEX: &str = "FERRY_SPLIT_INDEX";
/// Task id of the foreach step whose fan-out is being joined (foreach joins).
pub const ENV_SPLIT_PARENT_TASK_ID: &str = "FERRY_SPLIT_PARENT_TASK_ID";
/// Task id of the foreach step that opened this body iteration (body tails). Separate from
/// [`ENV_SPLIT_PARENT_TASK_ID`] because a step can be both a foreach join and a body tail
/// (nested foreaches).
pub const ENV_TAIL_SPLIT_PARENT_TASK_ID: &str = "FERRY_TAIL_SPLIT_PARENT_TASK_ID";
/// Split index of this body iteration (body tails).
pub const ENV_FOREACH_INDEX: &str = "FERRY_FOREACH_INDEX";
/// *Transitional*: the Step Functions retry count (`"0"`, `"1"`, …) that state machines compiled
/// before delayed retries moved into the Batch job set on steps with
/// `@retry(minutes_between_retries>0)`; Metaflow's `retry_count` = this + `AWS_BATCH_JOB_ATTEMPT`
/// − 1. The compiler no longer emits it.
pub const ENV_RETRY_COUNT: &str = "FERRY_RETRY_COUNT";
/// For tests of the embedded stack: its clock runs this many times faster than real time (a
/// number > 1); schedules fire and retry waits elapse that much sooner.
pub const ENV_CLOCK_SPEEDUP: &str = "FERRY_CLOCK_SPEEDUP";
/// The metadata service URL the task reports to now (`http(s)://…`), set by the executor on
/// every task (the embedded stack sets its own URL, so a stack restarted on another port keeps
/// running deployments made on the old one). When set, the wrapper uses it instead of the task
/// description's `metadata.url` (for metadata kind `service`; ignored for `local`).
pub const ENV_METADATA_URL: &str = "FERRY_METADATA_URL";
/// Set by the wrapper bootstrap (`ferry_compile::bootstrap`) when the image's python lacked
/// `boto3` or `requests` (Metaflow's runtime requirements) and the bootstrap `pip install
/// --target`ed them: that absolute directory. The wrapper puts it on the step's `PYTHONPATH`
/// after everything else (for `@pypi`/`@conda` steps, after the environment's own packages).
pub const ENV_BOOTSTRAP_SITE: &str = "FERRY_BOOTSTRAP_SITE";
/// Ferry's cache on a host (the task wrapper's extracted packages and environments, the
/// deployer's tools): its directory.
pub const ENV_CACHE_DIR: &str = "FERRY_CACHE_DIR";

/// The host cache directory: `$FERRY_CACHE_DIR`, else `$XDG_CACHE_HOME/ferry`, else
/// `$HOME/.cache/ferry`, else `<tmp>/ferry-cache`.
pub fn default_cache_dir() -> std::path::PathBuf {
    use std::path::PathBuf;
    if let Some(d) = std::env::var_os(ENV_CACHE_DIR).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("ferry");
    }
    if let Some(d) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join(".cache/ferry");
    }
    std::env::temp_dir().join("ferry-cache")
}

/// The one key of `FERRY_PARAMETERS` when the trigger's parameters were too long to travel in the
/// Batch container overrides (8,192 characters in all): `ferry trigger` then stores the
/// parameters' JSON text at blob key `params/<sha256>.json` and sends
/// `{"ferry.parameters_blob": {"key": "params/<sha256>.json", "sha256": "<hex>"}}` instead; the
/// wrapper fetches and verifies it. A dot keeps it apart from Metaflow parameter names.
pub const PARAMETERS_BLOB: &str = "ferry.parameters_blob";

/// A key of the trigger's `FERRY_PARAMETERS` object holding the run's extra user tags
/// (`ferry trigger --tag`): a JSON array of strings, given to `init` and `start`, which create the
/// run (every later read of the run's objects carries the run's tags).
pub const PARAMETERS_TAGS: &str = "ferry.tags";

/// A key of the trigger's `FERRY_PARAMETERS` object holding what started an event-triggered run
/// (`@trigger`, `@trigger_on_finish`): a JSON array in the shape of Metaflow's
/// `execution-triggers` task metadata, `[{"timestamp": <epoch s>, "id": "...", "name": "...",
/// "type": "event" | "run"}]`, which the start task records so that the client's `Run.trigger`
/// and `current.trigger` show it (`docs/events.md`).
pub const PARAMETERS_TRIGGERS: &str = "ferry.triggers";

/// The longest execution input Metaflow's own `trigger` sends (`{"Parameters": ...}`), in
/// characters; Ferry applies the same bound to every run it starts.
pub const MAX_EXECUTION_INPUT_CHARS: usize = 20_480;

/// The execution input of a run: Metaflow's `{"Parameters": "<JSON text of parameters>"}`
/// (contract metaflow-sfn §7); `parameters` maps flow parameter names to their values as
/// [`crate::param_value`] gives them, plus the `ferry.*` keys above.
pub fn execution_input(parameters: &serde_json::Map<String, serde_json::Value>) -> String {
    let inner = serde_json::Value::Object(parameters.clone()).to_string();
    serde_json::json!({ "Parameters": inner }).to_string()
}

/// The environment variable carrying the task id of static-join parent `i`.
pub fn env_parent_task_id(i: usize) -> String {
    format!("FERRY_PARENT_{i}_TASK_ID")
}

/// The run id Metaflow sees for an execution name: `sfn-<execution name>`
/// ([`crate::ids::RUN_ID_PREFIX`]; [`crate::RunId`] for a parsed name).
pub fn run_id_for_execution(execution_name: &str) -> String {
    format!("{}{execution_name}", crate::ids::RUN_ID_PREFIX)
}

/// Everything static about one step of one deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDescription {
    /// Always [`TASK_DESCRIPTION_VERSION`].
    pub version: u32,
    /// Flow class name.
    pub flow: String,
    /// Step name.
    pub step: String,
    /// Flow file, relative to the code package root (e.g. `hello.py`).
    pub flow_file: String,
    /// The code package.
    pub code_package: PackageRef,
    /// What runs.
    pub command: StepCommand,
    /// Extra environment for the step (`@environment` vars and deployment settings), applied
    /// after the wrapper's own variables.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// `@retry`/`@catch` counts.
    pub retries: Retries,
    /// Where the step's flow records metadata.
    pub metadata: MetadataSettings,
    /// Where the step's flow writes artifacts and where the logs go.
    pub datastore: DatastoreSettings,
    /// The blob store holding the code package and this description.
    pub blobs: BlobStoreRef,
    /// The state table for foreach fan-out.
    pub state_table: TableRef,
    /// The deployment's production token (namespace `production:<token>`).
    pub production_token: String,
    /// The deployer (`METAFLOW_OWNER`).
    pub owner: String,
    /// `--namespace` given at deploy, if any (else the flow runs in `production:<token>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `@project` options to forward as top-level options (`--branch B`, `--production`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<ProjectOptions>,
    /// User tags given at deploy (`--tag`), passed to `init` and `step`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Deploy-time parameter defaults (name → JSON value); `start` only.
    #[serde(default)]
    pub default_parameters: BTreeMap<String, serde_json::Value>,
    /// How the step's input paths are built.
    pub inputs: StepInputs,
    /// What the wrapper records in the state table after the step succeeds.
    #[serde(default)]
    pub fanout: Fanout,
    /// Seconds after which the state table items expire (`ttl` = now + this).
    #[serde(default = "default_ttl")]
    pub state_ttl_seconds: u64,
    /// The step's `@pypi`/`@conda` environment, resolved at deploy (`docs/environments.md`);
    /// `None`: the flow declares none and the step runs with `--environment=local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_env: Option<PythonEnvRef>,
}

/// Which Metaflow environment a flow with `@pypi`/`@conda` decorators runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PythonEnvKind {
    /// `--environment=pypi`.
    Pypi,
    /// `--environment=conda` (libraries resolved from PyPI by Ferry).
    Conda,
}

impl PythonEnvKind {
    /// The value of Metaflow's `--environment=` option.
    pub fn as_str(self) -> &'static str {
        match self {
            PythonEnvKind::Pypi => "pypi",
            PythonEnvKind::Conda => "conda",
        }
    }
}

/// A step's resolved Python environment (see `ferry-pyenv` and `docs/environments.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonEnvRef {
    /// The flow's Metaflow environment type, passed as `--environment=` to every command.
    pub kind: PythonEnvKind,
    /// The lock the wrapper builds the step's interpreter from; `None` for a step whose
    /// environment is `disabled` (it runs with the task image's Python).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<PackageRef>,
}

fn default_ttl() -> u64 {
    (366 + 90) * 24 * 3600
}

/// A content-addressed code package (also used for environment locks, `envs/locks/<sha256>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageRef {
    /// Blob key, `code/<sha256>.tgz`.
    pub key: String,
    /// Lower-case hex sha256 of the package bytes.
    pub sha256: String,
}

/// What the task runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StepCommand {
    /// `python <flow_file> [top options] step <step> …` (and `init` first for `start`).
    Metaflow {
        /// The Python interpreter to run (e.g. `python3`), looked up on `PATH`.
        python: String,
    },
    /// A generic workload: this argv, with the same environment, logs and exit handling.
    Argv { argv: Vec<String> },
    /// The `@exit_hook` task: each function in turn, in its own process, as Metaflow runs
    /// them (`<python> -m metaflow.plugins.exit_hook.exit_hook_script <flow file> <function>
    /// <Flow>/sfn-<execution>`); the task fails when any of them failed.
    #[serde(rename = "exit_hook")]
    ExitHook {
        /// The Python interpreter, looked up on `PATH`.
        python: String,
        /// The functions: names in the flow file, or dotted import paths.
        functions: Vec<String>,
    },
}

/// Retry counts (contract metaflow-sfn §1.9).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// `--max-user-code-retries`: `@retry(times)`.
    pub max_user_code_retries: u32,
    /// Batch `RetryStrategy.Attempts` = user retries + error retries + 1.
    pub total_attempts: u32,
    /// `@retry(minutes_between_retries)`: the wrapper of every attempt after the first waits
    /// this many minutes before it runs anything (0: retry at once; absent in older
    /// descriptions, whose delayed retries were Step Functions retries).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub minutes_between_retries: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Metadata provider settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataSettings {
    /// `service` or `local`.
    pub kind: String,
    /// `METAFLOW_SERVICE_URL` when `kind` is `service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Datastore settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatastoreSettings {
    /// `s3` or `local`.
    pub kind: String,
    /// `METAFLOW_DATASTORE_SYSROOT_S3` (`s3://bucket/metaflow`) or `METAFLOW_DATASTORE_SYSROOT_LOCAL` (a directory).
    pub root: String,
}

/// A blob store: S3 bucket and prefix, or a local directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobStoreRef {
    S3 {
        bucket: String,
        #[serde(default)]
        prefix: String,
    },
    Dir {
        path: String,
    },
}

/// A table: a DynamoDB table or an SQLite file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableRef {
    Dynamodb { table: String },
    Sqlite { path: String },
}

/// `@project` options forwarded to every task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectOptions {
    /// `--branch` given at deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// `--production` given at deploy.
    #[serde(default)]
    pub production: bool,
}

/// How the wrapper builds the step's input paths (run id `R` = `sfn-$FERRY_RUN_ID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepInputs {
    /// `start`: runs `init` for `R/_parameters/<job id>-params` first, then uses it as input.
    Start,
    /// One parent: `R/<step>/$FERRY_PARENT_TASK_ID`.
    Parent { step: String },
    /// A static join: `R/<steps[i]>/$FERRY_PARENT_<i>_TASK_ID` for each `i`.
    StaticJoin { steps: Vec<String> },
    /// A foreach join: `R/<step>/<id>` for each id in the state table's parent set of
    /// `$FERRY_SPLIT_PARENT_TASK_ID`, ordered by split index.
    ForeachJoin { step: String },
    /// The `@exit_hook` task: no input paths (its functions read the run with the client).
    ExitHook,
}

/// What the wrapper records in the state table after the step succeeds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fanout {
    /// This is a foreach step: record its cardinality under its own task id (and write
    /// `foreach/<task id>.json` to the blob store when `items_object` is set).
    #[serde(default)]
    pub foreach: bool,
    /// Also write the split indexes as a blob for a distributed Map's `ItemReader`.
    #[serde(default)]
    pub items_object: bool,
    /// This is the last step of a foreach body: add `<$FERRY_FOREACH_INDEX>:<task id>` to the
    /// parent set of `$FERRY_TAIL_SPLIT_PARENT_TASK_ID`.
    #[serde(default)]
    pub join_parent: bool,
}
