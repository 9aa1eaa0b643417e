//! Deployment records and request claims on a [`ferry_store::Table`].
//!
//! Table layout (one item per deployment, one per request; all on the shared Ferry table):
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `deploy#deployments` | `<deployment name>` | `record` (S: [`DeploymentRecord`] JSON), `version` (N: deploy count, the optimistic lock), `owner`, `token`, `flow` (S), `schema_version` (N) |
//! | `deploy#request#<request id>` | `request` | `state` (S: `running` or `done`), `claimed_at` (N: epoch seconds), `deployment` (S), `result` (S: [`DeployResult`] JSON without `definition`, when done) |
//! | `deploy#lock#<deployment name>` | `lock` | `owner` (S: the request id holding it), `locked_at` (N: epoch seconds) — present only while a deploy or delete of the deployment runs |
//!
//! All deployments share one partition: deploys are rare (far below DynamoDB's 1,000 writes/s
//! per partition), and listing them is one query. A record is replaced only if its `version` is
//! still the one the deploy read (so two concurrent deploys cannot both win), and it is written
//! in the same transaction as the request's result (so a replayed request never redeploys).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferry_store::{Attr, Condition, Item, Table, TableError, WriteOp};
use serde::{Deserialize, Serialize};

use crate::keys::RequestId;
use crate::request::{BlobRef, DeployResult, ScheduleInfo};
use ferry_control::StateMachineRef;

/// The record schema version this crate writes; readers accept older ones.
pub const RECORD_SCHEMA_VERSION: u32 = 1;

/// Partition key of the deployment records.
pub const RECORDS_PK: &str = "deploy#deployments";

/// Partition key of a request's claim/result item.
pub fn request_pk(id: &RequestId) -> String {
    format!("deploy#request#{id}")
}

/// Sort key of a request's claim/result item.
pub const REQUEST_SK: &str = "request";

/// Partition key of a deployment's lock item (see [`DeploymentStore::lock`]).
pub fn lock_pk(deployment: &str) -> String {
    format!("deploy#lock#{deployment}")
}

/// Sort key of a deployment's lock item.
pub const LOCK_SK: &str = "lock";

/// A flow parameter as recorded at deploy time (what scheduled runs use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedParameter {
    /// The parameter name.
    pub name: String,
    /// `str`, `int`, `float`, `bool` or `json`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The deploy-time default (JSON); `None`: no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// `required=True`.
    #[serde(default)]
    pub required: bool,
}

/// What Ferry knows about one deployment (`ferry describe`, `ferry deployments`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// [`RECORD_SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The deployment (= state machine) name.
    pub deployment: String,
    /// The flow class name.
    pub flow: String,
    /// Who deployed the current version.
    pub owner: String,
    /// The production token in force.
    pub token: String,
    /// The token's prefix (state machine name lower-cased, or `mfprj-…` for `@project`).
    pub token_prefix: String,
    /// The namespace of production runs (`production:<token>`, or `--namespace`).
    pub namespace: String,
    /// `@project` name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// `@project` branch (`prod`, `prod.b`, `test.b`, `user.<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The deployed state machine.
    pub state_machine: StateMachineRef,
    /// sha256 of the spec bytes.
    pub spec_sha256: String,
    /// Where the spec is kept (`deploy/<deployment>/<request-id>/spec.json`).
    pub spec_key: String,
    /// The code package.
    pub package: BlobRef,
    /// The schedule; `None`: no `@schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleInfo>,
    /// `@trigger` / `@trigger_on_finish`, compiled for this deployment (resolved event names,
    /// typed parameter mappings, upstream deployments); `None`: no event starts its runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<ferry_compile::triggers::TriggerSpec>,
    /// Flow parameters and their deploy-time defaults.
    #[serde(default)]
    pub parameters: Vec<RecordedParameter>,
    /// `--tag` values.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `--max-workers`.
    pub max_workers: u32,
    /// `--workflow-timeout`, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_timeout: Option<u64>,
    /// Deploy count: 1 for the first deploy, +1 for each later one.
    pub version: u64,
    /// The `metaflow` version the spec was exported with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metaflow_version: Option<String>,
    /// The Ferry version that deployed.
    pub ferry_version: String,
    /// The request that deployed this version.
    pub request_id: RequestId,
    /// First deploy of this deployment (kept across versions, reset by a delete).
    pub created_at: DateTime<Utc>,
    /// This version's deploy.
    pub updated_at: DateTime<Utc>,
    /// `@pypi`/`@conda` environments by step name (`docs/environments.md`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub python_envs: std::collections::BTreeMap<String, ferry_spec::task::PythonEnvRef>,
    /// The locks those environments reference, by lock blob key: each the lock document
    /// (`ferry-pyenv` `Lock`: python, and per platform the wheels' name, version, filename,
    /// sha256 and blob key).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub locks: std::collections::BTreeMap<String, serde_json::Value>,
    /// Where runs send notifications (masked; the values are in the named secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<crate::notifications::Notifications>,
}

/// What went wrong reading or writing records.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Another deploy of the same deployment committed first; nothing was written.
    #[error("another deploy of this deployment finished first; deploy again")]
    Conflict,
    /// A stored item could not be read.
    #[error("corrupt deployment store item {0}: {1}")]
    Corrupt(String, String),
    #[error(transparent)]
    /// The table failed.
    Table(#[from] TableError),
}

/// The state of a request in the table, as seen by [`DeploymentStore::claim`].
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This caller owns the request now and must finish it.
    Claimed,
    /// The request was already handled: its stored result (without `definition`).
    Done(Box<DeployResult>),
    /// Another delivery is handling it (claimed less than `stale_after` ago).
    InProgress,
}

/// How [`DeploymentStore::finish`] changes the deployment record, atomically with the result.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordWrite {
    /// Leave the record as it is (refusals, failures, `only_json`).
    Keep,
    /// Create or replace the record. `expected_version`: the version read before the deploy
    /// (`None`: there was no record).
    Put {
        /// The new record.
        record: Box<DeploymentRecord>,
        /// The version it replaces.
        expected_version: Option<u64>,
    },
    /// Remove the record, if it is still at `expected_version`.
    Delete {
        /// The deployment.
        deployment: String,
        /// The version read before the delete.
        expected_version: u64,
    },
}

/// Deployment records and request claims over a [`Table`].
#[derive(Clone)]
pub struct DeploymentStore {
    table: Arc<dyn Table>,
}

impl DeploymentStore {
    /// Records and claims on `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        DeploymentStore { table }
    }

    /// The record of `deployment`, or `None`.
    pub async fn get(&self, deployment: &str) -> Result<Option<DeploymentRecord>, RecordError> {
        match self.table.get(RECORDS_PK, deployment).await? {
            Some(item) => Ok(Some(decode_record(&item)?)),
            None => Ok(None),
        }
    }

    /// Every record, by deployment name.
    pub async fn list(&self) -> Result<Vec<DeploymentRecord>, RecordError> {
        let items = self.table.query_all(RECORDS_PK, "").await?;
        items.iter().map(decode_record).collect()
    }

    /// Claim request `id` for this caller, or learn that it was handled or is being handled.
    /// A claim older than `stale_after` seconds (its handler died) is taken over.
    pub async fn claim(
        &self,
        id: &RequestId,
        deployment: &str,
        now: DateTime<Utc>,
        stale_after: i64,
    ) -> Result<Claim, RecordError> {
        let pk = request_pk(id);
        let mut attrs = BTreeMap::new();
        attrs.insert("state".to_string(), Attr::S("running".into()));
        attrs.insert("claimed_at".to_string(), Attr::N(now.timestamp()));
        attrs.insert("deployment".to_string(), Attr::S(deployment.to_string()));
        let item = Item {
            pk: pk.clone(),
            sk: REQUEST_SK.to_string(),
            attrs,
        };
        match self.table.put(item.clone(), Condition::NotExists).await {
            Ok(()) => return Ok(Claim::Claimed),
            Err(TableError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(existing) = self.table.get(&pk, REQUEST_SK).await? else {
            // Vanished in between (never deleted by Ferry): claim again.
            return match self.table.put(item, Condition::NotExists).await {
                Ok(()) => Ok(Claim::Claimed),
                Err(TableError::ConditionFailed { .. }) => Ok(Claim::InProgress),
                Err(e) => Err(e.into()),
            };
        };
        if let Some(Attr::S(json)) = existing.attrs.get("result") {
            let result = DeployResult::from_json(json.as_bytes())
                .map_err(|e| RecordError::Corrupt(pk.clone(), e.to_string()))?;
            return Ok(Claim::Done(Box::new(result)));
        }
        let claimed_at = match existing.attrs.get("claimed_at") {
            Some(Attr::N(t)) => *t,
            _ => 0,
        };
        if now.timestamp() - claimed_at < stale_after {
            return Ok(Claim::InProgress);
        }
        // Take over a stale claim, unless someone else just did.
        let cond = Condition::AttrEquals("claimed_at".into(), Attr::N(claimed_at));
        match self.table.put(item, cond).await {
            Ok(()) => Ok(Claim::Claimed),
            Err(TableError::ConditionFailed { .. }) => Ok(Claim::InProgress),
            Err(e) => Err(e.into()),
        }
    }

    /// Take the lock of `deployment` for request `owner`, so that deploys and deletes of one
    /// deployment run one after the other (the state machine, schedule and record they write
    /// then always come from the same request). `false`: another request holds it. A lock
    /// older than `stale_after` seconds (its handler died) is taken over; taking a lock the
    /// same request already holds (a redelivery after a crash) succeeds.
    pub async fn lock(
        &self,
        deployment: &str,
        owner: &RequestId,
        now: DateTime<Utc>,
        stale_after: i64,
    ) -> Result<bool, RecordError> {
        let pk = lock_pk(deployment);
        let mut attrs = BTreeMap::new();
        attrs.insert("owner".to_string(), Attr::S(owner.to_string()));
        attrs.insert("locked_at".to_string(), Attr::N(now.timestamp()));
        let item = Item {
            pk: pk.clone(),
            sk: LOCK_SK.to_string(),
            attrs,
        };
        match self.table.put(item.clone(), Condition::NotExists).await {
            Ok(()) => return Ok(true),
            Err(TableError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(held) = self.table.get(&pk, LOCK_SK).await? else {
            return Ok(false); // released in between: the caller tries again
        };
        let condition = match (held.attrs.get("owner"), held.attrs.get("locked_at")) {
            (Some(Attr::S(o)), _) if *o == owner.to_string() => {
                Condition::AttrEquals("owner".into(), Attr::S(o.clone()))
            }
            (_, Some(Attr::N(t))) if now.timestamp() - *t >= stale_after => {
                Condition::AttrEquals("locked_at".into(), Attr::N(*t))
            }
            _ => return Ok(false),
        };
        match self.table.put(item, condition).await {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Release the lock of `deployment` if `owner` still holds it.
    pub async fn unlock(&self, deployment: &str, owner: &RequestId) -> Result<(), RecordError> {
        let condition = Condition::AttrEquals("owner".into(), Attr::S(owner.to_string()));
        match self
            .table
            .delete(&lock_pk(deployment), LOCK_SK, condition)
            .await
        {
            Ok(()) | Err(TableError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Store the result of a claimed request and apply `write` to the record, atomically.
    /// [`RecordError::Conflict`] when the record changed since it was read.
    pub async fn finish(
        &self,
        result: &DeployResult,
        write: RecordWrite,
    ) -> Result<(), RecordError> {
        let mut stored = result.clone();
        stored.definition = None;
        let json = String::from_utf8(stored.to_json()).expect("JSON is UTF-8");
        let mut attrs = BTreeMap::new();
        attrs.insert("state".to_string(), Attr::S("done".into()));
        attrs.insert(
            "claimed_at".to_string(),
            Attr::N(result.finished_at.timestamp()),
        );
        attrs.insert("deployment".to_string(), Attr::S(result.deployment.clone()));
        attrs.insert("result".to_string(), Attr::S(json));
        let request_item = Item {
            pk: request_pk(&result.request_id),
            sk: REQUEST_SK.to_string(),
            attrs,
        };
        let request_op = WriteOp::Put {
            item: request_item.clone(),
            condition: Condition::None,
        };
        match write {
            RecordWrite::Keep => {
                self.table.put(request_item, Condition::None).await?;
                Ok(())
            }
            RecordWrite::Put {
                record,
                expected_version,
            } => {
                let condition = match expected_version {
                    Some(v) => Condition::AttrEquals("version".into(), Attr::N(v as i64)),
                    None => Condition::NotExists,
                };
                let ops = vec![
                    WriteOp::Put {
                        item: encode_record(&record),
                        condition,
                    },
                    request_op,
                ];
                match self.table.transact(ops).await {
                    Err(TableError::ConditionFailed { .. }) => Err(RecordError::Conflict),
                    other => Ok(other?),
                }
            }
            RecordWrite::Delete {
                deployment,
                expected_version,
            } => {
                let cond =
                    Condition::AttrEquals("version".into(), Attr::N(expected_version as i64));
                match self.table.delete(RECORDS_PK, &deployment, cond).await {
                    Err(TableError::ConditionFailed { .. }) => return Err(RecordError::Conflict),
                    other => other?,
                }
                self.table.put(request_item, Condition::None).await?;
                Ok(())
            }
        }
    }
}

/// The table item of a record.
pub fn encode_record(record: &DeploymentRecord) -> Item {
    let json = serde_json::to_string(record).expect("a record serialises");
    let mut attrs = BTreeMap::new();
    attrs.insert("record".to_string(), Attr::S(json));
    attrs.insert("version".to_string(), Attr::N(record.version as i64));
    attrs.insert("owner".to_string(), Attr::S(record.owner.clone()));
    attrs.insert("token".to_string(), Attr::S(record.token.clone()));
    attrs.insert("flow".to_string(), Attr::S(record.flow.clone()));
    attrs.insert(
        "schema_version".to_string(),
        Attr::N(record.schema_version as i64),
    );
    Item {
        pk: RECORDS_PK.to_string(),
        sk: record.deployment.clone(),
        attrs,
    }
}

/// The record in a table item.
pub fn decode_record(item: &Item) -> Result<DeploymentRecord, RecordError> {
    let corrupt = |why: String| RecordError::Corrupt(format!("{}/{}", item.pk, item.sk), why);
    match item.attrs.get("record") {
        Some(Attr::S(json)) => serde_json::from_str(json).map_err(|e| corrupt(e.to_string())),
        _ => Err(corrupt("no `record` attribute".into())),
    }
}
