//! The stored objects, their item encoding, and their wire (JSON) form.
//!
//! Wire shapes mirror metaflow-service 2.5.1's `serialize()` (contract §3): exposed ids follow the
//! alias rule (`run_number` is the run's `run_id` alias when it has one, `task_id` the task's
//! `task_name`), and steps, tasks and artifacts show their run's current tags.

use std::collections::BTreeMap;

use ferry_store::{Attr, Item};
use serde_json::{Value, json};

use crate::layout::{self, SCHEMA_VERSION};

fn s(item: &Item, k: &str) -> Option<String> {
    match item.attrs.get(k) {
        Some(Attr::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn n(item: &Item, k: &str) -> Option<i64> {
    match item.attrs.get(k) {
        Some(Attr::N(v)) => Some(*v),
        _ => None,
    }
}

fn tags(item: &Item, k: &str) -> Option<Vec<String>> {
    s(item, k).and_then(|j| serde_json::from_str(&j).ok())
}

fn put_s(a: &mut BTreeMap<String, Attr>, k: &str, v: &Option<String>) {
    if let Some(v) = v {
        a.insert(k.into(), Attr::S(v.clone()));
    }
}

fn put_tags(a: &mut BTreeMap<String, Attr>, k: &str, v: &Option<Vec<String>>) {
    if let Some(v) = v {
        a.insert(
            k.into(),
            Attr::S(serde_json::to_string(v).unwrap_or_else(|_| "[]".into())),
        );
    }
}

fn base(pk: String, sk: String, ts_epoch: i64) -> Item {
    let mut attrs = BTreeMap::new();
    attrs.insert("schema_version".into(), Attr::N(SCHEMA_VERSION));
    attrs.insert("ts_epoch".into(), Attr::N(ts_epoch));
    Item { pk, sk, attrs }
}

/// Tags as JSON (`null` when never set).
pub fn tags_json(t: &Option<Vec<String>>) -> Value {
    match t {
        Some(v) => json!(v),
        None => Value::Null,
    }
}

/// A flow (svc `flows_v3`).
#[derive(Debug, Clone)]
pub struct Flow {
    /// Flow name (path component; at most 255 bytes, no `/`).
    pub flow_id: String,
    /// Who created it, as the client reported (`null` when not sent).
    pub user_name: Option<String>,
    /// Creation time, ms since the epoch, set by the server.
    pub ts_epoch: i64,
    /// User tags as sent at creation (`null` when not sent).
    pub tags: Option<Vec<String>>,
    /// System tags as sent at creation (`null` when not sent).
    pub system_tags: Option<Vec<String>>,
}

impl Flow {
    /// The item.
    pub fn to_item(&self) -> Item {
        let (pk, sk) = layout::flow(&self.flow_id);
        let mut it = base(pk, sk, self.ts_epoch);
        it.attrs
            .insert("flow_id".into(), Attr::S(self.flow_id.clone()));
        put_s(&mut it.attrs, "user_name", &self.user_name);
        put_tags(&mut it.attrs, "tags", &self.tags);
        put_tags(&mut it.attrs, "system_tags", &self.system_tags);
        it
    }

    /// From an item (`None` if it is not a flow).
    pub fn from_item(it: &Item) -> Option<Self> {
        Some(Flow {
            flow_id: s(it, "flow_id")?,
            user_name: s(it, "user_name"),
            ts_epoch: n(it, "ts_epoch").unwrap_or(0),
            tags: tags(it, "tags"),
            system_tags: tags(it, "system_tags"),
        })
    }

    /// Wire form.
    pub fn to_json(&self) -> Value {
        json!({
            "flow_id": self.flow_id,
            "user_name": self.user_name,
            "ts_epoch": self.ts_epoch,
            "tags": tags_json(&self.tags),
            "system_tags": tags_json(&self.system_tags),
        })
    }
}

/// A run (svc `runs_v3`).
#[derive(Debug, Clone)]
pub struct Run {
    /// Flow name (path component; at most 255 bytes, no `/`).
    pub flow_id: String,
    /// Internal number, allocated by the server per flow.
    pub run_number: i64,
    /// Client-chosen non-numeric alias (`argo-…`, `sfn-…`).
    pub run_id: Option<String>,
    /// Who created it, as the client reported (`null` when not sent).
    pub user_name: Option<String>,
    /// Creation time, ms since the epoch, set by the server.
    pub ts_epoch: i64,
    /// User tags as sent at creation (`null` when not sent).
    pub tags: Option<Vec<String>>,
    /// System tags as sent at creation (`null` when not sent).
    pub system_tags: Option<Vec<String>>,
    /// Bumped by every tag mutation (optimistic locking).
    pub version: i64,
    /// A copy of the run's heartbeat (seconds), refreshed at most every
    /// [`crate::repo::COPY_EVERY_S`]; the exact value lives on the heartbeat item.
    pub last_heartbeat_ts: Option<i64>,
    /// What the end step last reported (`attempt_ok`), if anything; see [`AttemptStatus`].
    pub end: AttemptStatus,
}

/// The latest `attempt` and `attempt_ok` metadata posted for a task (kept on the task item), or
/// for a run's end step (kept on the run item, for the derived run status). Listings read task
/// states from it without a metadata query per task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptStatus {
    /// The latest attempt number posted (`attempt` metadata, 0-based); `None` when unknown
    /// (items written before it was kept, and run items).
    pub attempt: Option<i64>,
    /// The latest `attempt_ok` value posted.
    pub attempt_ok: Option<bool>,
    /// When it was posted (ms).
    pub attempt_ok_ts: i64,
    /// When the latest `attempt` was posted (ms); newer than `attempt_ok_ts` while a failed
    /// attempt is retried.
    pub attempt_ts: i64,
}

impl AttemptStatus {
    /// The latest attempt a task item keeps (attributes `attempt`, `attempt_ts`, `attempt_ok`,
    /// `attempt_ok_ts`; absent ones read as unknown / 0).
    fn of_task_item(it: &Item) -> Self {
        AttemptStatus {
            attempt: n(it, "attempt"),
            attempt_ok: match it.attrs.get("attempt_ok") {
                Some(Attr::Bool(b)) => Some(*b),
                _ => None,
            },
            attempt_ok_ts: n(it, "attempt_ok_ts").unwrap_or(0),
            attempt_ts: n(it, "attempt_ts").unwrap_or(0),
        }
    }

    /// Whether a newer attempt started after the latest `attempt_ok` (a failed attempt is retried).
    pub fn retrying(&self) -> bool {
        self.attempt_ok.is_some() && self.attempt_ts > self.attempt_ok_ts
    }

    /// The `attempt_ok` of the latest attempt, `None` while it runs.
    pub fn outcome(&self) -> Option<bool> {
        if self.retrying() {
            None
        } else {
            self.attempt_ok
        }
    }
}

impl Run {
    /// The item.
    pub fn to_item(&self) -> Item {
        let (pk, sk) = layout::run(&self.flow_id, self.run_number);
        let mut it = base(pk, sk, self.ts_epoch);
        it.attrs
            .insert("flow_id".into(), Attr::S(self.flow_id.clone()));
        it.attrs
            .insert("run_number".into(), Attr::N(self.run_number));
        put_s(&mut it.attrs, "run_id", &self.run_id);
        put_s(&mut it.attrs, "user_name", &self.user_name);
        put_tags(&mut it.attrs, "tags", &self.tags);
        put_tags(&mut it.attrs, "system_tags", &self.system_tags);
        it.attrs.insert("version".into(), Attr::N(self.version));
        if let Some(hb) = self.last_heartbeat_ts {
            it.attrs.insert("last_heartbeat_ts".into(), Attr::N(hb));
        }
        it
    }

    /// From an item.
    pub fn from_item(it: &Item) -> Option<Self> {
        Some(Run {
            flow_id: s(it, "flow_id")?,
            run_number: n(it, "run_number")?,
            run_id: s(it, "run_id"),
            user_name: s(it, "user_name"),
            ts_epoch: n(it, "ts_epoch").unwrap_or(0),
            tags: tags(it, "tags"),
            system_tags: tags(it, "system_tags"),
            version: n(it, "version").unwrap_or(0),
            last_heartbeat_ts: n(it, "last_heartbeat_ts"),
            end: AttemptStatus {
                attempt: None,
                attempt_ok: match it.attrs.get("end_attempt_ok") {
                    Some(Attr::Bool(b)) => Some(*b),
                    _ => None,
                },
                attempt_ok_ts: n(it, "end_attempt_ok_ts").unwrap_or(0),
                attempt_ts: n(it, "end_attempt_ts").unwrap_or(0),
            },
        })
    }

    /// The exposed run id: the alias, else the number.
    pub fn exposed(&self) -> Value {
        match &self.run_id {
            Some(a) => json!(a),
            None => json!(self.run_number),
        }
    }

    /// The exposed run id as a string (pathspecs).
    pub fn exposed_str(&self) -> String {
        self.run_id
            .clone()
            .unwrap_or_else(|| self.run_number.to_string())
    }

    /// Wire form of a run as created (svc's POST response: no `user`).
    pub fn to_json(&self, last_heartbeat_ts: Option<i64>) -> Value {
        json!({
            "flow_id": self.flow_id,
            "run_number": self.exposed(),
            "user_name": self.user_name,
            "ts_epoch": self.ts_epoch,
            "tags": tags_json(&self.tags),
            "system_tags": tags_json(&self.system_tags),
            "last_heartbeat_ts": last_heartbeat_ts,
        })
    }

    /// Wire form of a run as read: adds `user` (when `system_tags` has `user:<user_name>`) and
    /// the derived `status` (`running`, `completed`, `failed`).
    pub fn to_read_json(&self, last_heartbeat_ts: Option<i64>, status: &str) -> Value {
        let mut v = self.to_json(last_heartbeat_ts);
        if let (Some(u), Some(sys)) = (&self.user_name, &self.system_tags)
            && sys
                .iter()
                .any(|t| t.strip_prefix("user:") == Some(u.as_str()))
        {
            v["user"] = json!(u);
        }
        v["status"] = json!(status);
        v
    }
}

/// A step (svc `steps_v3`).
#[derive(Debug, Clone)]
pub struct Step {
    /// Step name.
    pub step_name: String,
    /// Who created it, as the client reported (`null` when not sent).
    pub user_name: Option<String>,
    /// Creation time, ms since the epoch, set by the server.
    pub ts_epoch: i64,
    /// User tags as sent at creation (`null` when not sent).
    pub tags: Option<Vec<String>>,
    /// System tags as sent at creation (`null` when not sent).
    pub system_tags: Option<Vec<String>>,
}

impl Step {
    /// The item.
    pub fn to_item(&self, run: &Run) -> Item {
        let (pk, sk) = layout::step(&run.flow_id, run.run_number, &self.step_name);
        let mut it = base(pk, sk, self.ts_epoch);
        it.attrs
            .insert("step_name".into(), Attr::S(self.step_name.clone()));
        put_s(&mut it.attrs, "user_name", &self.user_name);
        put_tags(&mut it.attrs, "tags", &self.tags);
        put_tags(&mut it.attrs, "system_tags", &self.system_tags);
        it
    }

    /// From an item.
    pub fn from_item(it: &Item) -> Option<Self> {
        Some(Step {
            step_name: s(it, "step_name")?,
            user_name: s(it, "user_name"),
            ts_epoch: n(it, "ts_epoch").unwrap_or(0),
            tags: tags(it, "tags"),
            system_tags: tags(it, "system_tags"),
        })
    }

    /// Wire form, with the run's tags; `run_number` is a string (svc quirk, ignored by clients).
    pub fn to_json(&self, run: &Run) -> Value {
        json!({
            "flow_id": run.flow_id,
            "run_number": run.exposed_str(),
            "step_name": self.step_name,
            "user_name": self.user_name.clone().unwrap_or_default(),
            "ts_epoch": self.ts_epoch,
            "tags": tags_json(&run.tags),
            "system_tags": tags_json(&run.system_tags),
        })
    }
}

/// A task (svc `tasks_v3`).
#[derive(Debug, Clone)]
pub struct Task {
    /// Step name.
    pub step_name: String,
    /// Internal id, allocated by the server.
    pub task_id: i64,
    /// Client-chosen non-numeric alias (Argo `t-…`, Batch job ids).
    pub task_name: Option<String>,
    /// Who created it, as the client reported (`null` when not sent).
    pub user_name: Option<String>,
    /// Creation time, ms since the epoch, set by the server.
    pub ts_epoch: i64,
    /// User tags as sent at creation (`null` when not sent).
    pub tags: Option<Vec<String>>,
    /// System tags as sent at creation (`null` when not sent).
    pub system_tags: Option<Vec<String>>,
    /// A copy of the task's heartbeat (seconds), refreshed at most every
    /// [`crate::repo::COPY_EVERY_S`]; the exact value lives on the heartbeat item.
    pub last_heartbeat_ts: Option<i64>,
    /// The latest `attempt`/`attempt_ok` metadata posted for the task (item attributes
    /// `attempt`, `attempt_ts`, `attempt_ok`, `attempt_ok_ts`; absent on older items).
    pub status: AttemptStatus,
}

impl Task {
    /// The item.
    pub fn to_item(&self, run: &Run) -> Item {
        let (pk, sk) = layout::task(&run.flow_id, run.run_number, &self.step_name, self.task_id);
        let mut it = base(pk, sk, self.ts_epoch);
        it.attrs
            .insert("step_name".into(), Attr::S(self.step_name.clone()));
        it.attrs.insert("task_id".into(), Attr::N(self.task_id));
        put_s(&mut it.attrs, "task_name", &self.task_name);
        put_s(&mut it.attrs, "user_name", &self.user_name);
        put_tags(&mut it.attrs, "tags", &self.tags);
        put_tags(&mut it.attrs, "system_tags", &self.system_tags);
        if let Some(hb) = self.last_heartbeat_ts {
            it.attrs.insert("last_heartbeat_ts".into(), Attr::N(hb));
        }
        it
    }

    /// From an item.
    pub fn from_item(it: &Item) -> Option<Self> {
        Some(Task {
            step_name: s(it, "step_name")?,
            task_id: n(it, "task_id")?,
            task_name: s(it, "task_name"),
            user_name: s(it, "user_name"),
            ts_epoch: n(it, "ts_epoch").unwrap_or(0),
            tags: tags(it, "tags"),
            system_tags: tags(it, "system_tags"),
            last_heartbeat_ts: n(it, "last_heartbeat_ts"),
            status: AttemptStatus::of_task_item(it),
        })
    }

    /// The exposed task id: the alias, else the number.
    pub fn exposed(&self) -> Value {
        match &self.task_name {
            Some(a) => json!(a),
            None => json!(self.task_id),
        }
    }

    /// The exposed task id as a string (pathspecs).
    pub fn exposed_str(&self) -> String {
        self.task_name
            .clone()
            .unwrap_or_else(|| self.task_id.to_string())
    }

    /// The task's [`TaskBrief`].
    pub fn brief(&self) -> TaskBrief {
        TaskBrief {
            step_name: self.step_name.clone(),
            task_id: self.task_id,
            task_name: self.task_name.clone(),
            ts_epoch: self.ts_epoch,
            status: self.status,
        }
    }

    /// Wire form, with the run's tags.
    pub fn to_json(&self, run: &Run, last_heartbeat_ts: Option<i64>) -> Value {
        json!({
            "flow_id": run.flow_id,
            "run_number": run.exposed(),
            "step_name": self.step_name,
            "task_id": self.exposed(),
            "user_name": self.user_name,
            "ts_epoch": self.ts_epoch,
            "tags": tags_json(&run.tags),
            "system_tags": tags_json(&run.system_tags),
            "last_heartbeat_ts": last_heartbeat_ts,
        })
    }
}

/// A task as a listing of many tasks needs it: its ids, creation time and latest attempt, read
/// from the task item's [`TaskBrief::ATTRIBUTES`] alone (a query projected to them decodes no
/// tag list), so the per-step counts of a 10,000-task foreach cost one small read per task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskBrief {
    /// Step name.
    pub step_name: String,
    /// Internal id (the task item's sort key).
    pub task_id: i64,
    /// Client-chosen alias, if any.
    pub task_name: Option<String>,
    /// Creation time, ms since the epoch.
    pub ts_epoch: i64,
    /// The latest `attempt`/`attempt_ok` metadata posted for the task.
    pub status: AttemptStatus,
}

impl TaskBrief {
    /// The task item attributes a brief is read from (a query's projection).
    pub const ATTRIBUTES: [&'static str; 8] = [
        "step_name",
        "task_id",
        "task_name",
        "ts_epoch",
        "attempt",
        "attempt_ts",
        "attempt_ok",
        "attempt_ok_ts",
    ];

    /// From a task item, whole or projected to [`TaskBrief::ATTRIBUTES`] (`None` if it is not a
    /// task).
    pub fn from_item(it: &Item) -> Option<Self> {
        Some(TaskBrief {
            step_name: s(it, "step_name")?,
            task_id: n(it, "task_id")?,
            task_name: s(it, "task_name"),
            ts_epoch: n(it, "ts_epoch").unwrap_or(0),
            status: AttemptStatus::of_task_item(it),
        })
    }

    /// The exposed task id as a string (pathspecs): the alias, else the number.
    pub fn exposed_str(&self) -> String {
        self.task_name
            .clone()
            .unwrap_or_else(|| self.task_id.to_string())
    }
}

/// A metadata row (svc `metadata_v3`). Rows keep their own tags (`attempt_id:N`).
#[derive(Debug, Clone)]
pub struct Metadata {
    /// Row id: unique, increasing within this process (block allocation).
    pub id: i64,
    /// Metadata field (`attempt`, `attempt_ok`, `code-package`, ...).
    pub field_name: String,
    /// The value, always text as svc stores it ([`crate::validate::metadata_value`]).
    pub value: String,
    /// The row's `type` (`attempt`, `internal_attempt_status`, ...).
    pub type_: String,
    /// Who created it, as the client reported (`null` when not sent).
    pub user_name: Option<String>,
    /// Creation time, ms since the epoch, set by the server.
    pub ts_epoch: i64,
    /// User tags as sent at creation (`null` when not sent).
    pub tags: Option<Vec<String>>,
    /// System tags as sent at creation (`null` when not sent).
    pub system_tags: Option<Vec<String>>,
}

impl Metadata {
    /// The item.
    pub fn to_item(&self, run: &Run, task: &Task) -> Item {
        let pk = layout::task_pk(&run.flow_id, run.run_number, task.task_id);
        let sk = layout::metadata_sk(self.ts_epoch, self.id);
        let mut it = base(pk, sk, self.ts_epoch);
        it.attrs.insert("id".into(), Attr::N(self.id));
        it.attrs
            .insert("field_name".into(), Attr::S(self.field_name.clone()));
        it.attrs.insert("value".into(), Attr::S(self.value.clone()));
        it.attrs.insert("type".into(), Attr::S(self.type_.clone()));
        put_s(&mut it.attrs, "user_name", &self.user_name);
        put_tags(&mut it.attrs, "tags", &self.tags);
        put_tags(&mut it.attrs, "system_tags", &self.system_tags);
        it
    }

    /// From an item.
    pub fn from_item(it: &Item) -> Option<Self> {
        Some(Metadata {
            id: n(it, "id")?,
            field_name: s(it, "field_name")?,
            // Rows written before values were always text kept other JSON values as JSON text
            // marked `value_is_json`: read them as text the way a new row would be stored.
            value: match (s(it, "value"), it.attrs.get("value_is_json")) {
                (Some(v), Some(Attr::Bool(true))) => serde_json::from_str(&v)
                    .ok()
                    .and_then(|json| crate::validate::metadata_value(&json).ok())
                    .unwrap_or(v),
                (Some(v), _) => v,
                (None, _) => String::new(),
            },
            type_: s(it, "type").unwrap_or_default(),
            user_name: s(it, "user_name"),
            ts_epoch: n(it, "ts_epoch").unwrap_or(0),
            tags: tags(it, "tags"),
            system_tags: tags(it, "system_tags"),
        })
    }

    /// Wire form (the row's own tags).
    pub fn to_json(&self, run: &Run, step: &str, task: &Task) -> Value {
        json!({
            "id": self.id,
            "flow_id": run.flow_id,
            "run_number": run.exposed(),
            "step_name": step,
            "task_id": task.exposed(),
            "field_name": self.field_name,
            "value": self.value,
            "type": self.type_,
            "user_name": self.user_name,
            "ts_epoch": self.ts_epoch,
            "tags": tags_json(&self.tags),
            "system_tags": tags_json(&self.system_tags),
        })
    }
}

/// An artifact pointer (svc `artifact_v3`); the data lives in the datastore.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Artifact name.
    pub name: String,
    /// Attempt that produced it.
    pub attempt_id: u32,
    /// Datastore location (`:root:<path>` for the content-addressed store).
    pub location: String,
    /// Datastore type (`local`, `s3`).
    pub ds_type: String,
    /// Content hash in the datastore.
    pub sha: String,
    /// Artifact type (`metaflow.artifact`).
    pub type_: String,
    /// Encoding of the stored object (`pickle-v4`, ...).
    pub content_type: String,
    /// Who created it (`" "` when not sent, as svc stores missing artifact fields).
    pub user_name: String,
    /// Creation time, ms since the epoch, set by the server.
    pub ts_epoch: i64,
}

impl Artifact {
    /// The item.
    pub fn to_item(&self, run: &Run, task: &Task) -> Item {
        let pk = layout::task_pk(&run.flow_id, run.run_number, task.task_id);
        let sk = layout::artifact_sk(self.attempt_id, &self.name);
        let mut it = base(pk, sk, self.ts_epoch);
        it.attrs.insert("name".into(), Attr::S(self.name.clone()));
        it.attrs
            .insert("attempt_id".into(), Attr::N(i64::from(self.attempt_id)));
        for (k, v) in [
            ("location", &self.location),
            ("ds_type", &self.ds_type),
            ("sha", &self.sha),
            ("type", &self.type_),
            ("content_type", &self.content_type),
            ("user_name", &self.user_name),
        ] {
            it.attrs.insert(k.into(), Attr::S(v.clone()));
        }
        it
    }

    /// From an item.
    pub fn from_item(it: &Item) -> Option<Self> {
        let g = |k: &str| s(it, k).unwrap_or_else(|| " ".into());
        Some(Artifact {
            name: s(it, "name")?,
            attempt_id: u32::try_from(n(it, "attempt_id")?).ok()?,
            location: g("location"),
            ds_type: g("ds_type"),
            sha: g("sha"),
            type_: g("type"),
            content_type: g("content_type"),
            user_name: g("user_name"),
            ts_epoch: n(it, "ts_epoch").unwrap_or(0),
        })
    }

    /// Wire form, with the run's tags.
    pub fn to_json(&self, run: &Run, step: &str, task: &Task) -> Value {
        json!({
            "flow_id": run.flow_id,
            "run_number": run.exposed(),
            "step_name": step,
            "task_id": task.exposed(),
            "name": self.name,
            "location": self.location,
            "ds_type": self.ds_type,
            "sha": self.sha,
            "type": self.type_,
            "content_type": self.content_type,
            "user_name": self.user_name,
            "attempt_id": self.attempt_id,
            "ts_epoch": self.ts_epoch,
            "tags": tags_json(&run.tags),
            "system_tags": tags_json(&run.system_tags),
        })
    }
}
