//! The execution status of runs Ferry orchestrates (`F#<flow>` / `RX#<run_id>`), and the flow
//! of each execution (`XF#<state_machine>` / `<execution>`): written by
//! [`crate::run_status::RunStatusListener`], read with the runs.
//!
//! A start never replaces what is recorded (Step Functions' status-change events may arrive out
//! of order, or twice); an end always does.

use std::collections::{BTreeMap, HashMap};

use ferry_control::{Execution, ExecutionStatus};
use ferry_store::{Attr, Condition, Item, TableError};

use super::{Repo, now_ms, now_s};
use crate::error::ApiResult;
use crate::layout;
use crate::model::Run;
use crate::run_status::run_status;

fn status_of(item: &Item) -> Option<ExecutionStatus> {
    match item.attrs.get("status") {
        Some(Attr::S(s)) => s.parse().ok(),
        _ => None,
    }
}

fn status_item(flow: &str, e: &Execution) -> Item {
    let run_id = e.run_id().to_string();
    let (pk, sk) = layout::run_execution(flow, &run_id);
    let attrs = BTreeMap::from([
        ("status".to_string(), Attr::S(e.status.as_str().into())),
        ("run_id".to_string(), Attr::S(run_id)),
        (
            "state_machine".to_string(),
            Attr::S(e.state_machine.to_string()),
        ),
        ("execution".to_string(), Attr::S(e.name.to_string())),
        ("ts_epoch".to_string(), Attr::N(now_ms())),
        (
            "schema_version".to_string(),
            Attr::N(layout::SCHEMA_VERSION),
        ),
    ]);
    Item { pk, sk, attrs }
}

impl Repo {
    /// A run's exact `last_heartbeat_ts` (seconds) and its status ([`run_status`]: its
    /// execution's when recorded). Runs without an alias have no execution.
    pub async fn run_status_of(&self, run: &Run) -> ApiResult<(Option<i64>, &'static str)> {
        let execution = match &run.run_id {
            Some(run_id) => self.run_execution_status(&run.flow_id, run_id).await?,
            None => None,
        };
        let beat = self.run_heartbeat(run).await?;
        Ok((beat, run_status(run, execution, beat, now_s())))
    }

    /// The recorded status of the execution that is run `run_id` of `flow`; `None` when Ferry
    /// recorded none (a run it does not orchestrate) or the stored value is unknown.
    pub async fn run_execution_status(
        &self,
        flow: &str,
        run_id: &str,
    ) -> ApiResult<Option<ExecutionStatus>> {
        let (pk, sk) = layout::run_execution(flow, run_id);
        Ok(self.table.get(&pk, &sk).await?.as_ref().and_then(status_of))
    }

    /// The recorded execution statuses of a flow's runs, by run id (one partition query).
    pub async fn run_execution_statuses(
        &self,
        flow: &str,
    ) -> ApiResult<HashMap<String, ExecutionStatus>> {
        let items = self
            .query_all(&layout::flow_pk(flow), layout::RUN_EXECUTION_PREFIX)
            .await?;
        Ok(items
            .iter()
            .filter_map(|it| match (it.attrs.get("run_id"), status_of(it)) {
                (Some(Attr::S(run_id)), Some(status)) => Some((run_id.clone(), status)),
                _ => None,
            })
            .collect())
    }

    /// Record that `e`, a run of `flow`, started: its flow (for its end) and its status, unless
    /// a status is recorded already (its end came first, or this start is a repeat).
    pub async fn record_execution_started(&self, flow: &str, e: &Execution) -> ApiResult<()> {
        let (pk, sk) = layout::execution_flow(&e.state_machine, &e.name);
        let attrs = BTreeMap::from([
            ("flow".to_string(), Attr::S(flow.to_string())),
            (
                "schema_version".to_string(),
                Attr::N(layout::SCHEMA_VERSION),
            ),
        ]);
        self.table
            .put(Item { pk, sk, attrs }, Condition::None)
            .await?;
        match self
            .table
            .put(status_item(flow, e), Condition::NotExists)
            .await
        {
            Ok(()) | Err(TableError::ConditionFailed { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    /// Record the status of `e`, a run of `flow`, as it is now (an end replaces any start).
    pub async fn record_execution_ended(&self, flow: &str, e: &Execution) -> ApiResult<()> {
        self.table
            .put(status_item(flow, e), Condition::None)
            .await?;
        Ok(())
    }

    /// The flow recorded when `execution` of `state_machine` started, if any.
    pub async fn execution_flow(
        &self,
        state_machine: &str,
        execution: &str,
    ) -> ApiResult<Option<String>> {
        let (pk, sk) = layout::execution_flow(state_machine, execution);
        Ok(match self.table.get(&pk, &sk).await? {
            Some(it) => match it.attrs.get("flow") {
                Some(Attr::S(flow)) => Some(flow.clone()),
                _ => None,
            },
            None => None,
        })
    }
}
