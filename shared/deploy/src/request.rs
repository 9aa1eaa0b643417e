//! The deploy request the CLI uploads and the result the handler writes back (JSON, versioned).
//!
//! `deploy/<deployment>/<request-id>/request.json` holds a [`DeployRequest`];
//! `deploy/<deployment>/<request-id>/result.json` a [`DeployResult`]. Readers accept any
//! `version` up to [`REQUEST_VERSION`]; unknown fields are ignored so that newer writers can add
//! fields without breaking older readers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, RequestId, validate_deployment, validate_sha256};
use crate::ports::ScheduleSpec;
use crate::record::DeploymentRecord;
use ferry_control::StateMachineRef;

/// The request/result format version this crate writes.
pub const REQUEST_VERSION: u32 = 1;

/// What the request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestAction {
    /// Compile and deploy (or, with `only_json`, compile only).
    #[default]
    Deploy,
    /// Remove the schedule, the state machine and the deployment record.
    Delete,
}

/// A blob the request refers to, with the sha256 of its bytes (checked by the handler).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// Key relative to the blob root.
    pub key: String,
    /// Lower-case hex sha256 of the object's bytes.
    pub sha256: String,
}

/// The deploy options (the `ferry deploy` flags, mirroring `step-functions create`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DeployOptions {
    /// The production token authorising this user to replace another user's deployment
    /// (`--authorize`; a `production:` prefix is stripped), or the token the CLI found in its
    /// local token store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize: Option<String>,
    /// Take the next token in the sequence, starting a new production namespace.
    pub generate_new_token: bool,
    /// Use this production token (Metaflow's `--new-token`; a `production:` prefix is
    /// stripped): a new namespace of the user's choosing. Refused for `@project` flows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_token: Option<String>,
    /// `@project` `--branch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// `@project` `--production`.
    pub production: bool,
    /// User tags (`--tag`, repeatable) added to every run.
    pub tags: Vec<String>,
    /// Maximum concurrency of foreach Maps (`--max-workers`, default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_workers: Option<u32>,
    /// Workflow timeout in seconds (`--workflow-timeout`); `None`: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_timeout: Option<u64>,
    /// Namespace for the runs (`--namespace`); `None`: `production:<token>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Compile only: return the definition, change nothing.
    pub only_json: bool,
    /// Foreach bodies as a Map or Batch array jobs (`--foreach-mode`, default `map`).
    pub foreach_mode: ferry_compile::ForeachMode,
    /// `@pypi`/`@conda` environments the CLI resolved and uploaded (`ferry-pyenv`), by step
    /// name; empty when the flow declares none. The handler checks that each lock exists and
    /// matches its sha256.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub environments: std::collections::BTreeMap<String, ferry_spec::task::PythonEnvRef>,
    /// Where the deployment's runs send notifications (`--notify-*`); masked values and the
    /// name of the secret holding the real ones, never a secret itself
    /// (`crate::notifications`, `docs/notifications.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<crate::notifications::Notifications>,
}

/// A deploy request (`request.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployRequest {
    /// [`REQUEST_VERSION`] of the writer.
    pub version: u32,
    /// Unique per request; the deploy is idempotent per id.
    pub request_id: RequestId,
    /// Deploy or delete.
    #[serde(default)]
    pub action: RequestAction,
    /// The deployment (= state machine) name the CLI computed; the handler recomputes it from
    /// the spec and options and refuses a mismatch.
    pub deployment: String,
    /// The flow class name.
    pub flow: String,
    /// The flow spec (`deploy/<deployment>/<request-id>/spec.json`). Required for a deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<BlobRef>,
    /// The code package (`code/<sha256>.tgz`). Required for a deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<BlobRef>,
    /// Who deploys (`METAFLOW_USER`, else `USER`).
    pub user: String,
    /// When the CLI wrote the request.
    pub requested_at: DateTime<Utc>,
    /// The deploy options.
    #[serde(default)]
    pub options: DeployOptions,
}

/// A request that cannot be acted upon as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Written by a newer Ferry.
    #[error(
        "deploy request version {0} is newer than this handler understands ({REQUEST_VERSION})"
    )]
    Version(u32),
    /// A name, id or hash of the wrong shape.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A required part is missing.
    #[error("a deploy request needs {0}")]
    Missing(&'static str),
    /// A blob reference points elsewhere than the layout says (what, given, expected).
    #[error("the request's {0} key {1:?} is not where it should be ({2})")]
    Location(&'static str, String, String),
    /// The user name is empty or has control characters.
    #[error("the user name is empty or has control characters")]
    User,
    /// Not JSON of the expected shape.
    #[error("the request could not be read: {0}")]
    Json(String),
}

impl DeployRequest {
    /// Parse and [`validate`](Self::validate) `request.json` bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, RequestError> {
        let r: DeployRequest =
            serde_json::from_slice(bytes).map_err(|e| RequestError::Json(e.to_string()))?;
        r.validate()?;
        Ok(r)
    }

    /// Check the request's shape: version, names, keys, hashes, user.
    pub fn validate(&self) -> Result<(), RequestError> {
        if self.version > REQUEST_VERSION {
            return Err(RequestError::Version(self.version));
        }
        validate_deployment(&self.deployment)?;
        if self.user.trim().is_empty() || self.user.chars().any(char::is_control) {
            return Err(RequestError::User);
        }
        if let Some(spec) = &self.spec {
            validate_sha256(&spec.sha256)?;
            let want = crate::keys::spec_key(&self.deployment, &self.request_id);
            if spec.key != want {
                return Err(RequestError::Location("spec", spec.key.clone(), want));
            }
        }
        if let Some(pkg) = &self.package {
            validate_sha256(&pkg.sha256)?;
            let want = crate::keys::code_package_key(&pkg.sha256);
            if pkg.key != want {
                return Err(RequestError::Location("package", pkg.key.clone(), want));
            }
        }
        if self.action == RequestAction::Deploy {
            if self.spec.is_none() {
                return Err(RequestError::Missing("a spec"));
            }
            if self.package.is_none() {
                return Err(RequestError::Missing("a code package"));
            }
        }
        Ok(())
    }

    /// Pretty JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a request serialises")
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployStatus {
    /// Deployed (or compiled, for `only_json`; or deleted).
    Ok,
    /// Not allowed: production token missing or wrong. Nothing changed.
    Refused,
    /// Something went wrong (bad spec, compile error, AWS error). The previous version, if any,
    /// is still deployed and its record untouched.
    Failed,
}

impl DeployStatus {
    /// The CLI's exit code for this status: 0 ok, 1 refused or failed.
    pub fn exit_code(&self) -> i32 {
        match self {
            DeployStatus::Ok => 0,
            DeployStatus::Refused | DeployStatus::Failed => 1,
        }
    }
}

/// The schedule of a deployment, as recorded and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    /// Schedule (rule) name.
    pub name: String,
    /// EventBridge 6-field cron expression.
    pub expression: String,
    /// IANA time zone; `None`: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl From<&ScheduleSpec> for ScheduleInfo {
    fn from(s: &ScheduleSpec) -> Self {
        ScheduleInfo {
            name: s.name.clone(),
            expression: s.expression.clone(),
            timezone: s.timezone.clone(),
        }
    }
}

/// The outcome of a request (`result.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployResult {
    /// [`REQUEST_VERSION`] of the writer.
    pub version: u32,
    /// The request this answers.
    pub request_id: RequestId,
    /// Deploy or delete.
    #[serde(default)]
    pub action: RequestAction,
    /// The deployment.
    pub deployment: String,
    /// The flow class name.
    pub flow: String,
    /// How it ended.
    pub status: DeployStatus,
    /// Human-readable lines, Metaflow-style, in the order the CLI prints them (token block,
    /// refusal text, trigger block, error).
    #[serde(default)]
    pub messages: Vec<String>,
    /// What the deployer should know although the request succeeded (a step asking for more
    /// memory or GPUs than the embedded stack's machine has; memory limits not enforced there);
    /// the CLI prints each as `ferry: warning: …` on stderr.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The state machine deployed (or deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_machine: Option<StateMachineRef>,
    /// The production token in force after the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The token prefix (key of the CLI's local token store, contract metaflow-sfn §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_prefix: Option<String>,
    /// The namespace of production runs, `production:<token>`, or the `--namespace` given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// This was the first deploy of the deployment.
    #[serde(default)]
    pub first_deploy: bool,
    /// A new token was generated by this request.
    #[serde(default)]
    pub new_token: bool,
    /// The schedule in force after the request (`None`: no trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleInfo>,
    /// The compiled definition (for `only_json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<serde_json::Value>,
    /// The deployment record after the request (`None` for `only_json`, a refusal, a failure
    /// before anything was deployed, or a delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<DeploymentRecord>,
    /// When the handler finished.
    pub finished_at: DateTime<Utc>,
}

impl DeployResult {
    /// A result with only the identity and status filled in.
    pub fn new(request: &DeployRequest, status: DeployStatus) -> Self {
        DeployResult {
            version: REQUEST_VERSION,
            request_id: request.request_id.clone(),
            action: request.action,
            deployment: request.deployment.clone(),
            flow: request.flow.clone(),
            status,
            messages: Vec::new(),
            warnings: Vec::new(),
            state_machine: None,
            token: None,
            token_prefix: None,
            namespace: None,
            first_deploy: false,
            new_token: false,
            schedule: None,
            definition: None,
            record: None,
            finished_at: Utc::now(),
        }
    }

    /// Parse `result.json` bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, RequestError> {
        let r: DeployResult =
            serde_json::from_slice(bytes).map_err(|e| RequestError::Json(e.to_string()))?;
        if r.version > REQUEST_VERSION {
            return Err(RequestError::Version(r.version));
        }
        Ok(r)
    }

    /// Pretty JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a result serialises")
    }
}
