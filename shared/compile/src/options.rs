//! What a deployment target supplies to the compiler ([`CompileOptions`]): names, stores,
//! Batch settings, production token, limits. The same struct serves AWS (S3, DynamoDB, Batch)
//! and the embedded stack (a blob directory, the SQLite state table, local task processes).

use std::collections::BTreeMap;

use ferry_spec::task::{
    BlobStoreRef, DatastoreSettings, MetadataSettings, PackageRef, ProjectOptions, TableRef,
};
use serde::{Deserialize, Serialize};

/// Metaflow's `--max-workers` default.
pub const DEFAULT_MAX_WORKERS: u32 = 100;
/// Inline Map runs at most 40 iterations at once (aws-limits); above this a foreach's Map is
/// distributed when [`MapMode::Auto`].
pub const DEFAULT_DISTRIBUTED_MAP_THRESHOLD: u32 = 40;
/// A foreach whose width hint exceeds this many items gets a distributed Map (an inline Map's
/// iterations count against the parent's 25,000 history events; about 8-10 events per task).
pub const DEFAULT_INLINE_WIDTH_LIMIT: u64 = 1_000;
/// Metaflow's `METAFLOW_DEFAULT_RUNTIME_LIMIT`: 5 days, the Batch attempt timeout without `@timeout`.
pub const DEFAULT_ATTEMPT_TIMEOUT_SECONDS: u64 = 432_000;
/// vCPUs of a step without `@resources`/`@batch` cpu (Metaflow's default).
pub const DEFAULT_CPU: f64 = 1.0;
/// Memory (MiB) of a step without `@resources`/`@batch` memory (Metaflow's default).
pub const DEFAULT_MEMORY_MIB: u64 = 4096;

/// How foreach Maps run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MapMode {
    /// Distributed when `max_workers` > the threshold or a width hint > the inline limit;
    /// a foreach enclosing a distributed one is distributed too.
    #[default]
    Auto,
    /// Every Map inline (the executor's history bounds the width).
    Inline,
    /// Every Map distributed.
    Distributed,
}

/// How a foreach's body runs: one Batch job per item under a `Map`, or Batch array jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForeachMode {
    /// Every foreach is a `Map` of one `SubmitJob` per item (the default).
    #[default]
    Map,
    /// Array jobs wherever the body allows ([`crate::asl::array_form_allowed`]), `Map` for the
    /// rest.
    Array,
    /// The compiler chooses: today the same as [`ForeachMode::Array`] (the array form never
    /// costs more calls, transitions or time in `ferry plan`'s model of AWS).
    Auto,
}

impl ForeachMode {
    /// The mode's name as `--foreach-mode` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ForeachMode::Map => "map",
            ForeachMode::Array => "array",
            ForeachMode::Auto => "auto",
        }
    }
}

/// The Batch platform of the job definitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Platform {
    #[default]
    Ec2,
    Fargate,
}

/// Everything the compiler needs besides the spec and its graph.
///
/// Required (non-empty): `state_machine_name`, `state_table_name`, `job_queue`,
/// `default_image`, `owner`, `production_token`, `code_package`, and a non-empty bucket or path
/// in `blobs`. [`crate::compile`] says which one is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompileOptions {
    /// The state machine name (see [`crate::naming::deployment_names`]); ≤ 80 characters.
    pub state_machine_name: String,
    /// AWS partition of the ARNs (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,
    /// The blob store holding task descriptions (`tasks/<sha256>.json`) and foreach item lists
    /// (`foreach/<task id>.json`).
    pub blobs: BlobStoreRef,
    /// The `TableName` the `dynamodb:getItem` state reads (the local executor reads its own table).
    pub state_table_name: String,
    /// The state table as the task wrapper opens it.
    pub state_table: TableRef,
    /// Default Batch job queue (`@batch(queue=)` overrides per step).
    pub job_queue: String,
    /// Default container image (`@batch(image=)` overrides per step).
    pub default_image: String,
    /// Default Batch job role (`@batch(iam_role=)` overrides per step).
    pub job_role_arn: Option<String>,
    /// Execution role (Fargate).
    pub execution_role_arn: Option<String>,
    /// Platform of the job definitions.
    pub platform: Platform,
    /// The one machine every task runs on (the embedded stack), for the deploy warnings;
    /// `None` on AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<crate::limits::MachineCapacity>,
    /// The argv that starts the wrapper; `run --task <url>` is appended. Deployment
    /// configuration, never a user value; no shell is involved.
    pub wrapper_command: Vec<String>,
    /// The Python interpreter the wrapper runs Metaflow steps with.
    pub python: String,
    /// The code package.
    pub code_package: PackageRef,
    /// Where tasks record metadata.
    pub metadata: MetadataSettings,
    /// Where tasks write artifacts and logs.
    pub datastore: DatastoreSettings,
    /// Deployment-wide environment for every step (a step's `@environment` wins).
    pub environment: BTreeMap<String, String>,
    /// `--max-workers`: each Map's `MaxConcurrency`.
    pub max_workers: u32,
    /// `--workflow-timeout` in seconds: top-level `TimeoutSeconds` and the state table TTL.
    pub workflow_timeout_seconds: Option<u64>,
    /// `--tag` values (Metaflow run tags).
    pub tags: Vec<String>,
    /// Batch job tags (`Tags` of SubmitJob, propagated to the ECS tasks).
    pub batch_tags: BTreeMap<String, String>,
    /// `--namespace`, if given.
    pub namespace: Option<String>,
    /// The deployer (`metaflow.owner`).
    pub owner: String,
    /// The production token.
    pub production_token: String,
    /// `@project` options forwarded to every task.
    pub project: Option<ProjectOptions>,
    /// Map mode policy.
    pub map_mode: MapMode,
    /// With [`MapMode::Auto`], a Map is distributed when `max_workers` exceeds this.
    pub distributed_map_threshold: u32,
    /// With [`MapMode::Auto`], a Map is distributed when its width hint exceeds this.
    pub inline_width_limit: u64,
    /// Map or Batch array jobs for foreach bodies (`--foreach-mode`).
    #[serde(default)]
    pub foreach_mode: ForeachMode,
    /// Expected foreach widths by foreach step name.
    pub foreach_width_hints: BTreeMap<String, u64>,
    /// Resolved `@pypi`/`@conda` environments by step name (`ferry-pyenv`), copied into each
    /// step's task description.
    #[serde(default)]
    pub python_envs: BTreeMap<String, ferry_spec::task::PythonEnvRef>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            state_machine_name: String::new(),
            partition: "aws".to_string(),
            blobs: BlobStoreRef::Dir {
                path: String::new(),
            },
            state_table_name: String::new(),
            state_table: TableRef::Sqlite {
                path: String::new(),
            },
            job_queue: String::new(),
            default_image: String::new(),
            job_role_arn: None,
            execution_role_arn: None,
            platform: Platform::Ec2,
            machine: None,
            wrapper_command: vec!["task-wrapper".to_string()],
            python: "python3".to_string(),
            code_package: PackageRef {
                key: String::new(),
                sha256: String::new(),
            },
            metadata: MetadataSettings {
                kind: "local".to_string(),
                url: None,
            },
            datastore: DatastoreSettings {
                kind: "local".to_string(),
                root: String::new(),
            },
            environment: BTreeMap::new(),
            max_workers: DEFAULT_MAX_WORKERS,
            workflow_timeout_seconds: None,
            tags: Vec::new(),
            batch_tags: BTreeMap::new(),
            namespace: None,
            owner: String::new(),
            production_token: String::new(),
            project: None,
            map_mode: MapMode::Auto,
            foreach_mode: ForeachMode::Map,
            distributed_map_threshold: DEFAULT_DISTRIBUTED_MAP_THRESHOLD,
            inline_width_limit: DEFAULT_INLINE_WIDTH_LIMIT,
            foreach_width_hints: BTreeMap::new(),
            python_envs: BTreeMap::new(),
        }
    }
}

/// The bucket name a distributed Map's `ItemReader`/`ResultWriter` use for a directory blob
/// store; the local executor resolves `Key` against its blob directory.
pub const LOCAL_BUCKET: &str = "ferry-local-blobs";

impl CompileOptions {
    /// The full object key of blob `key` in the blob store (the S3 prefix joined in front).
    pub fn object_key(&self, key: &str) -> String {
        match &self.blobs {
            BlobStoreRef::S3 { prefix, .. } => {
                let p = prefix.trim_matches('/');
                if p.is_empty() {
                    key.to_string()
                } else {
                    format!("{p}/{key}")
                }
            }
            BlobStoreRef::Dir { .. } => key.to_string(),
        }
    }

    /// The bucket for S3 integrations (`ItemReader`, `ResultWriter`): the S3 bucket, or
    /// [`LOCAL_BUCKET`] for a directory.
    pub fn bucket(&self) -> &str {
        match &self.blobs {
            BlobStoreRef::S3 { bucket, .. } => bucket,
            BlobStoreRef::Dir { .. } => LOCAL_BUCKET,
        }
    }

    /// The URL of blob `key`: `s3://<bucket>/<prefix>/<key>` or `file://<dir>/<key>` (the
    /// same form as `ferry_store::Blobs::url`).
    pub fn blob_url(&self, key: &str) -> String {
        match &self.blobs {
            BlobStoreRef::S3 { bucket, .. } => format!("s3://{bucket}/{}", self.object_key(key)),
            BlobStoreRef::Dir { path } => {
                format!("file://{}/{key}", path.trim_end_matches('/'))
            }
        }
    }
}
