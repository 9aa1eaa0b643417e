//! The run status of Ferry deployments' runs is their execution's, recorded by
//! `RunStatusListener` from the lifecycle hook's events, on both store adapters (the metadata
//! table and the deployments table apart, as on AWS): at once, whatever the heartbeats say,
//! in single reads, listings and the `status` filter; events out of order or repeated; a
//! deployment deleted while its run goes on. Runs Ferry does not orchestrate keep the
//! heartbeat-derived status.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use ferry_control::{
    DeploymentName, Execution, ExecutionEvent, ExecutionListener, ExecutionName, ExecutionStatus,
};
use ferry_deploy::DeploymentStore;
use ferry_deploy::record::{RECORDS_PK, encode_record};
use ferry_metadata::RunStatusListener;
use ferry_metadata::layout;
use ferry_metadata::repo::now_s;
use ferry_store::{Attr, Condition, Table};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, run_body, seg, server_with, table};

on_both_backends!(
    the_execution_status_is_the_run_status_at_once,
    events_out_of_order_or_repeated_keep_the_end,
    a_run_whose_deployment_was_deleted_still_ends,
    runs_ferry_does_not_orchestrate_keep_the_heartbeat_rule,
);

const FLOW: &str = "ScoreFlow";
const DEPLOYMENT: &str = "fraud.prod.ScoreFlow";

/// A deployment record of [`FLOW`] whose deployment (= state machine) is `deployment`.
fn record(deployment: &str) -> ferry_deploy::DeploymentRecord {
    serde_json::from_value(json!({
        "schema_version": 1, "deployment": deployment, "flow": FLOW, "owner": "o", "token": "t",
        "token_prefix": "d", "namespace": "production:t",
        "state_machine": {"name": deployment, "id": deployment}, "spec_sha256": "",
        "spec_key": "", "package": {"key": "k", "sha256": "s"}, "max_workers": 1,
        "version": 1, "ferry_version": "0",
        "request_id": "00000000-0000-4000-8000-000000000000",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
    }))
    .unwrap()
}

/// The metadata server, its table, the deployments table (with [`DEPLOYMENT`]'s record) and
/// the listener over both.
struct Fixture {
    s: crate::support::Server,
    metadata: Arc<dyn Table>,
    deployments: Arc<dyn Table>,
    listener: RunStatusListener,
}

async fn fixture(b: Backend) -> Fixture {
    let metadata = table(b).await;
    let deployments = table(b).await;
    deployments
        .put(encode_record(&record(DEPLOYMENT)), Condition::None)
        .await
        .unwrap();
    let listener =
        RunStatusListener::new(metadata.clone(), DeploymentStore::new(deployments.clone()));
    let s = server_with(metadata.clone(), None).await;
    let (st, _) = s.post(&format!("/flows/{FLOW}"), json!({})).await;
    assert_eq!(st, StatusCode::OK);
    Fixture {
        s,
        metadata,
        deployments,
        listener,
    }
}

fn execution(state_machine: &str, name: &str) -> Execution {
    Execution::running(
        ExecutionName::parse(name).unwrap(),
        format!("arn:aws:states:us-east-1:1:execution:{state_machine}:{name}"),
        DeploymentName::parse(state_machine).unwrap(),
        Utc::now(),
        None,
    )
}

fn ended(e: &Execution, status: ExecutionStatus) -> Execution {
    Execution {
        status,
        stop_date: Some(Utc::now()),
        ..e.clone()
    }
}

impl Fixture {
    async fn started(&self, e: &Execution) {
        self.listener
            .on_event(&ExecutionEvent::started(e.clone()))
            .await
            .unwrap();
    }

    async fn ended(&self, e: &Execution, status: ExecutionStatus) {
        self.listener
            .on_event(&ExecutionEvent::ended(ended(e, status)))
            .await
            .unwrap();
    }

    /// The run as its start task registers it (heartbeat-capable, alias `run_id`); the
    /// exposed run id.
    async fn register(&self, run_id: Option<&str>) -> String {
        let (st, run) = self
            .s
            .post(&format!("/flows/{FLOW}/run"), run_body(run_id))
            .await;
        assert_eq!(st, StatusCode::OK, "{run}");
        seg(&run["run_number"])
    }

    /// The run's status in a single read and in the listing.
    async fn status(&self, run: &str) -> (Value, Value) {
        let (_, one) = self.s.get(&format!("/flows/{FLOW}/runs/{run}")).await;
        let (_, all) = self.s.get(&format!("/flows/{FLOW}/runs")).await;
        let listed = all
            .as_array()
            .unwrap()
            .iter()
            .find(|r| seg(&r["run_number"]) == run)
            .map(|r| r["status"].clone())
            .unwrap_or(Value::Null);
        (one["status"].clone(), listed)
    }

    /// The runs the listing's `status` filter keeps.
    async fn filtered(&self, query: &str) -> Vec<String> {
        let (st, v) = self.s.get(&format!("/flows/{FLOW}/runs?{query}")).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| seg(&r["run_number"]))
            .collect()
    }

    /// Move the run's heartbeat and creation `seconds` into the past, as that long without a
    /// heartbeat leaves them.
    async fn age(&self, run: &str, seconds: i64) {
        let number = match run.parse::<i64>() {
            Ok(n) => n,
            Err(_) => {
                let (pk, sk) = layout::run_alias(FLOW, run);
                match self.metadata.get(&pk, &sk).await.unwrap().unwrap().attrs["run_number"] {
                    Attr::N(n) => n,
                    ref other => panic!("run_number {other:?}"),
                }
            }
        };
        let then = now_s() - seconds;
        let (pk, sk) = layout::run_heartbeat(FLOW, number);
        let beat = BTreeMap::from([("ts".to_string(), Attr::N(then))]);
        self.metadata
            .set(&pk, &sk, beat, Condition::None)
            .await
            .unwrap();
        let (pk, sk) = layout::run(FLOW, number);
        let copy = BTreeMap::from([
            ("last_heartbeat_ts".to_string(), Attr::N(then)),
            ("ts_epoch".to_string(), Attr::N(then * 1000)),
        ]);
        self.metadata
            .set(&pk, &sk, copy, Condition::Exists)
            .await
            .unwrap();
    }
}

fn pair(a: &str) -> (Value, Value) {
    (json!(a), json!(a))
}

async fn the_execution_status_is_the_run_status_at_once(b: Backend) {
    let f = fixture(b).await;
    let e = execution(DEPLOYMENT, "run-1");
    // The start event comes before the start task registers the run.
    f.started(&e).await;
    let run = f.register(Some("sfn-run-1")).await;
    assert_eq!(f.status(&run).await, pair("running"));
    // Its next task waits for a worker for 7 minutes: no heartbeat, still running.
    f.age(&run, 7 * 60).await;
    assert_eq!(f.status(&run).await, pair("running"));
    assert_eq!(f.filtered("status=running").await, vec![run.clone()]);
    assert!(f.filtered("status=failed").await.is_empty());

    // Terminated while its heartbeats are fresh: failed at once.
    let e2 = execution(DEPLOYMENT, "run-2");
    f.started(&e2).await;
    let run2 = f.register(Some("sfn-run-2")).await;
    f.ended(&e2, ExecutionStatus::Aborted).await;
    assert_eq!(f.status(&run2).await, pair("failed"));
    assert_eq!(f.filtered("status=failed").await, vec![run2.clone()]);
    assert_eq!(f.filtered("status:ne=failed").await, vec![run.clone()]);

    for (status, word) in [
        (ExecutionStatus::Failed, "failed"),
        (ExecutionStatus::TimedOut, "failed"),
        (ExecutionStatus::Succeeded, "completed"),
    ] {
        f.ended(&e, status).await;
        assert_eq!(f.status(&run).await, pair(word), "{status}");
    }
    assert_eq!(f.filtered("status=completed").await, vec![run]);
}

async fn events_out_of_order_or_repeated_keep_the_end(b: Backend) {
    let f = fixture(b).await;
    let e = execution(DEPLOYMENT, "late-start");
    f.ended(&e, ExecutionStatus::Succeeded).await;
    f.started(&e).await;
    f.started(&e).await;
    let run = f.register(Some("sfn-late-start")).await;
    assert_eq!(f.status(&run).await, pair("completed"));
    f.ended(&e, ExecutionStatus::Succeeded).await;
    assert_eq!(f.status(&run).await, pair("completed"));
}

async fn a_run_whose_deployment_was_deleted_still_ends(b: Backend) {
    let f = fixture(b).await;
    let e = execution(DEPLOYMENT, "orphan");
    f.started(&e).await;
    let run = f.register(Some("sfn-orphan")).await;
    f.deployments
        .delete(RECORDS_PK, DEPLOYMENT, Condition::None)
        .await
        .unwrap();
    f.ended(&e, ExecutionStatus::Failed).await;
    assert_eq!(f.status(&run).await, pair("failed"));
}

async fn runs_ferry_does_not_orchestrate_keep_the_heartbeat_rule(b: Backend) {
    let f = fixture(b).await;
    // A local `python flow.py run` (numbered) and an execution of a state machine that is no
    // Ferry deployment: neither has a recorded execution status.
    let local = f.register(None).await;
    let stranger = execution("NotFerry", "x-1");
    f.started(&stranger).await;
    let foreign = f.register(Some("sfn-x-1")).await;
    for run in [&local, &foreign] {
        assert_eq!(f.status(run).await, pair("running"));
        f.age(run, 7 * 60).await;
        assert_eq!(f.status(run).await, pair("failed"), "6 minutes of silence");
    }
    f.ended(&stranger, ExecutionStatus::Succeeded).await;
    assert_eq!(f.status(&foreign).await, pair("failed"));
}
