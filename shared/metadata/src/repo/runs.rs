//! Runs: `F#<flow>` / `R#<n>` plus alias items `RA#<run_id>` and the per-flow counter.

use std::collections::BTreeMap;

use ferry_store::{Attr, Condition, Item, TableError, WriteOp};

use super::Repo;
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::layout;
use crate::model::Run;
use crate::validate;

/// What a tag mutation did.
pub enum TagOutcome {
    /// The run's user tags after the mutation.
    Tags(Vec<String>),
    /// The run does not exist.
    NoRun,
}

impl Repo {
    /// Create a run: allocate its number, then write the run (and its alias) atomically.
    /// 404 when the flow is missing, 409 when the alias is taken. `run` carries everything but
    /// `run_number`.
    pub async fn create_run(&self, mut run: Run) -> ApiResult<Run> {
        if self.get_flow(&run.flow_id).await?.is_none() {
            return Err(ApiError::MissingParent(format!(
                "flow {} does not exist: create it first (POST /flows/{})",
                run.flow_id, run.flow_id
            )));
        }
        run.run_number = ids::next_run_number(&self.table, &run.flow_id).await?;
        let mut ops = vec![WriteOp::Put {
            item: run.to_item(),
            condition: Condition::NotExists,
        }];
        if let Some(alias) = &run.run_id {
            let (pk, sk) = layout::run_alias(&run.flow_id, alias);
            let mut attrs = BTreeMap::new();
            attrs.insert("run_number".into(), Attr::N(run.run_number));
            attrs.insert("schema_version".into(), Attr::N(layout::SCHEMA_VERSION));
            ops.push(WriteOp::Put {
                item: Item { pk, sk, attrs },
                condition: Condition::NotExists,
            });
        }
        match self.write_all(ops).await {
            Ok(()) => Ok(run),
            Err(TableError::ConditionFailed { .. }) => Err(ApiError::Conflict(format!(
                "run {} of flow {} already exists",
                run.exposed_str(),
                run.flow_id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// A run by its path segment: all digits address the number, anything else the alias.
    pub async fn resolve_run(&self, flow: &str, seg: &str) -> ApiResult<Option<Run>> {
        let number = if validate::is_numeric(seg) {
            match validate::parse_id(seg) {
                Some(n) => n,
                None => return Ok(None),
            }
        } else {
            let (pk, sk) = layout::run_alias(flow, seg);
            match self.table.get(&pk, &sk).await? {
                Some(Item { attrs, .. }) => match attrs.get("run_number") {
                    Some(Attr::N(n)) => *n,
                    _ => return Ok(None),
                },
                None => return Ok(None),
            }
        };
        let (pk, sk) = layout::run(flow, number);
        Ok(self
            .table
            .get(&pk, &sk)
            .await?
            .as_ref()
            .and_then(Run::from_item))
    }

    /// Every run of a flow (`[]` for an unknown flow).
    pub async fn list_runs(&self, flow: &str) -> ApiResult<Vec<Run>> {
        let items = self
            .query_all(&layout::flow_pk(flow), layout::RUN_PREFIX)
            .await?;
        Ok(items.iter().filter_map(Run::from_item).collect())
    }

    /// Record what the end step reported: its `attempt_ok` value and/or that a new attempt
    /// started (for the derived status).
    pub async fn record_end(
        &self,
        run: &Run,
        attempt_ok: Option<bool>,
        new_attempt: bool,
    ) -> ApiResult<()> {
        let (pk, sk) = layout::run(&run.flow_id, run.run_number);
        let now = super::now_ms();
        let mut attrs = BTreeMap::new();
        if let Some(ok) = attempt_ok {
            attrs.insert("end_attempt_ok".into(), Attr::Bool(ok));
            attrs.insert("end_attempt_ok_ts".into(), Attr::N(now));
        }
        if new_attempt {
            attrs.insert("end_attempt_ts".into(), Attr::N(now));
        }
        self.table.set(&pk, &sk, attrs, Condition::Exists).await?;
        Ok(())
    }

    /// Mutate a run's user tags (contract §6.3): removals first, then additions; adding a system
    /// tag is a no-op; removing one is a 422. Optimistic: a concurrent mutation gives 409, which
    /// the client retries.
    pub async fn mutate_tags(
        &self,
        flow: &str,
        seg: &str,
        add: &[String],
        remove: &[String],
    ) -> ApiResult<TagOutcome> {
        // Mutations of one run in this process queue here instead of failing each other's
        // conditions; across processes the conditional write below decides.
        let stripe = {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            let h = BuildHasherDefault::<DefaultHasher>::default().hash_one((flow, seg));
            usize::try_from(h % self.tag_locks.len() as u64).unwrap_or(0)
        };
        let _guard = self.tag_locks[stripe].lock().await;
        let Some(run) = self.resolve_run(flow, seg).await? else {
            return Ok(TagOutcome::NoRun);
        };
        let system = run.system_tags.clone().unwrap_or_default();
        let bad: Vec<&String> = remove.iter().filter(|t| system.contains(t)).collect();
        if !bad.is_empty() {
            return Err(ApiError::Unprocessable(format!(
                "Cannot remove tags that are existing system tags {bad:?}"
            )));
        }
        let old = run.tags.clone().unwrap_or_default();
        let mut new: Vec<String> = old
            .iter()
            .filter(|t| !remove.contains(t))
            .cloned()
            .collect();
        for t in add {
            if !system.contains(t) && !new.contains(t) {
                new.push(t.clone());
            }
        }
        let unchanged = new.len() == old.len() && new.iter().all(|t| old.contains(t));
        if unchanged {
            return Ok(TagOutcome::Tags(old));
        }
        let (pk, sk) = layout::run(&run.flow_id, run.run_number);
        let mut attrs = BTreeMap::new();
        attrs.insert(
            "tags".into(),
            Attr::S(serde_json::to_string(&new).unwrap_or_else(|_| "[]".into())),
        );
        attrs.insert("version".into(), Attr::N(run.version + 1));
        let cond = Condition::AttrEquals("version".into(), Attr::N(run.version));
        let cond = if run.version == 0 {
            // Items written without a version (never, today) cannot match AttrEquals(0).
            Condition::Exists
        } else {
            cond
        };
        match self.table.set(&pk, &sk, attrs, cond).await {
            Ok(()) => Ok(TagOutcome::Tags(new)),
            Err(TableError::ConditionFailed { .. }) => Err(ApiError::Conflict(
                "Conflicting concurrent tag mutation, please retry".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }
}
