//! The embedded stack's events route over real HTTP (`ferry_local::events`): the body Metaflow's
//! `ArgoEvent(...).publish()` sends starts the deployment whose trigger waits for it, with the
//! mapped parameters and `ferry.triggers` in its input, under the decision's execution name; a
//! redelivery starts nothing new; a wrong-typed value, an event nobody waits for and a bad body
//! say why; a run's success starts its `@trigger_on_finish` downstream, a failure does not.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_control::{DeploymentName, ExecutionStatus, Executions, Listeners, StateMachines};
use ferry_local::control::ControlClient;
use ferry_local::events::{RunSucceededListener, StackEvents, router};
use ferry_local::executor::{Executor, Resources};
use ferry_local::orchestrator::LocalOrchestrator;
use ferry_store::sqlite::SqliteTable;
use ferry_store::{Condition, Table};
use serde_json::{Value, json};

const PASS: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;
const FAIL: &str = r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"no"}}}"#;

fn dn(name: &str) -> DeploymentName {
    DeploymentName::parse(name).unwrap()
}

/// A deployment record of `flow` (deployment = state machine = `flow`) with `triggers`.
fn record(flow: &str, triggers: Value) -> ferry_deploy::DeploymentRecord {
    let mut r = json!({
        "schema_version": 1, "deployment": flow, "flow": flow, "owner": "o", "token": "t",
        "token_prefix": "d", "namespace": "production:t",
        "state_machine": {"name": flow, "id": flow}, "spec_sha256": "", "spec_key": "",
        "package": {"key": "k", "sha256": "s"}, "max_workers": 1, "version": 1,
        "ferry_version": "0", "request_id": "00000000-0000-4000-8000-000000000000",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
    });
    if !triggers.is_null() {
        r["triggers"] = triggers;
    }
    serde_json::from_value(r).unwrap()
}

struct Fixture {
    client: ControlClient,
    url: String,
    orchestrator: LocalOrchestrator,
}

/// The stack's wiring in small: the orchestrator with the run-succeeded listener, the events
/// route on a free port, and these deployments: `Report` (`@trigger` on `data_ready`, `day`
/// from `date`, an int `n` from `n`), `After` (`@trigger_on_finish` of `Report`), `Broken`
/// (a state machine that fails) and `AfterBroken` (downstream of `Broken`).
async fn serve(dir: &std::path::Path) -> Fixture {
    let table: Arc<dyn Table> =
        Arc::new(SqliteTable::open(dir.join("ferry.db"), "default").unwrap());
    let events = StackEvents::new(table.clone(), table.clone());
    let o = LocalOrchestrator::new(
        table.clone(),
        Executor::new(Arc::new(Resources::new())),
        None,
    )
    .with_listeners(Listeners::new().with(Arc::new(RunSucceededListener::new(events.clone()))));
    events.bind(Arc::new(o.clone()));
    for (name, def) in [
        ("Report", PASS),
        ("After", PASS),
        ("Broken", FAIL),
        ("AfterBroken", PASS),
    ] {
        o.put(&dn(name), def, &BTreeMap::new()).await.unwrap();
    }
    let on_finish = |up: &str| {
        json!({"kind": "run", "events": [{"name": format!("metaflow.{up}.end"),
            "upstream": {"flow": up, "deployment": up}}]})
    };
    let records = [
        record(
            "Report",
            json!({"kind": "event", "events": [{"name": "data_ready", "parameters": [
                {"parameter": "day", "field": "date", "type": "str"},
                {"parameter": "n", "field": "n", "type": "int"}]}]}),
        ),
        record("After", on_finish("Report")),
        record("Broken", Value::Null),
        record("AfterBroken", on_finish("Broken")),
    ];
    for r in &records {
        table
            .put(ferry_deploy::record::encode_record(r), Condition::None)
            .await
            .unwrap();
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(events)).await });
    Fixture {
        client: ControlClient::new(&url).unwrap(),
        url,
        orchestrator: o,
    }
}

/// What `ArgoEvent("data_ready").publish(fields)` posts, with id `id`.
fn argo_body(id: &str, fields: Value) -> Value {
    let mut payload = json!({"name": "data_ready", "id": id, "timestamp": 1_764_547_200,
        "utc_date": "20261201", "generated-by-metaflow": true});
    payload
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    json!({"name": "data_ready", "payload": payload})
}

async fn post(url: &str, body: &[u8]) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/ferry/v1/events"))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn executions(o: &LocalOrchestrator, sm: &str) -> Vec<ferry_control::Execution> {
    o.list(&dn(sm), None).await.unwrap()
}

async fn wait_for(o: &LocalOrchestrator, sm: &str, count: usize) -> Vec<ferry_control::Execution> {
    for _ in 0..200 {
        let list = executions(o, sm).await;
        if list.len() >= count && list.iter().all(|e| e.status.is_terminal()) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{sm} has {:?}", executions(o, sm).await);
}

#[tokio::test]
async fn an_argo_event_starts_its_deployment_once_and_the_success_starts_the_downstream() {
    let dir = tempfile::tempdir().unwrap();
    let f = serve(dir.path()).await;
    let body = argo_body("ev-1", json!({"date": "2026-12-01", "n": "7"}));
    let (status, answer) = post(&f.url, body.to_string().as_bytes()).await;
    assert_eq!(status, 202, "{answer}");
    let d = &answer["deployments"][0];
    assert_eq!(
        answer["deployments"].as_array().unwrap().len(),
        1,
        "{answer}"
    );
    assert_eq!(
        (d["deployment"].as_str(), d["flow"].as_str()),
        (Some("Report"), Some("Report"))
    );
    assert_eq!(
        (d["outcome"].as_str(), d["started"].as_bool()),
        (Some("started"), Some(true))
    );
    let name = d["execution_name"].as_str().unwrap().to_string();
    assert_eq!(d["run_id"], format!("sfn-{name}"));
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("started Report/sfn-ev-"),
        "{answer}"
    );

    // The execution: under the decision's name, with the typed parameters and the trigger.
    let e = f
        .orchestrator
        .describe(
            &dn("Report"),
            &ferry_control::ExecutionName::parse(&name).unwrap(),
        )
        .await
        .unwrap()
        .expect("the decided execution exists");
    let input: Value = serde_json::from_str(e.input.as_deref().unwrap()).unwrap();
    let params: Value = serde_json::from_str(input["Parameters"].as_str().unwrap()).unwrap();
    assert_eq!(
        params,
        json!({"day": "2026-12-01", "n": 7, "ferry.triggers": [
            {"timestamp": 1_764_547_200, "id": "ev-1", "name": "data_ready", "type": "event"}]})
    );

    // Redelivered (by the client, through ControlClient::publish): a duplicate, nothing new.
    let again = f.client.publish(&body).await.unwrap();
    assert_eq!(again.deployments.len(), 1);
    assert_eq!(again.deployments[0].logged.outcome, "duplicate");
    assert!(!again.deployments[0].started);
    assert_eq!(
        again.deployments[0].execution_name.as_deref(),
        Some(name.as_str())
    );
    let report = wait_for(&f.orchestrator, "Report", 1).await;
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].status, ExecutionStatus::Succeeded);

    // Its success started the downstream, with the upstream run as its trigger.
    let after = wait_for(&f.orchestrator, "After", 1).await;
    assert_eq!(after.len(), 1, "{after:?}");
    let after = f
        .orchestrator
        .describe(&dn("After"), &after[0].name)
        .await
        .unwrap()
        .unwrap();
    let input: Value = serde_json::from_str(after.input.as_deref().unwrap()).unwrap();
    let params: Value = serde_json::from_str(input["Parameters"].as_str().unwrap()).unwrap();
    let t = &params["ferry.triggers"][0];
    assert_eq!(t["type"], "run");
    assert_eq!(t["name"], "metaflow.Report.end");
    assert_eq!(t["id"], format!("Report/sfn-{name}/end"));

    // The log has both deliveries and the two run successes (After's matched nothing).
    let log: Vec<Value> = reqwest::get(format!("{}/ferry/v1/events?limit=10", f.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 4, "{log:?}");
    let outcomes = |name: &str| -> Vec<Value> {
        log.iter()
            .filter(|e| e["event"]["name"] == name)
            .map(|e| e["deployments"].clone())
            .collect()
    };
    assert_eq!(outcomes("data_ready").len(), 2);
    assert_eq!(
        outcomes("metaflow.Report.end"),
        [
            json!([{"deployment": "After", "outcome": "started", "run_id": format!("sfn-{}", after.name)}])
        ]
    );
    assert_eq!(outcomes("metaflow.After.end"), [json!([])]);
}

#[tokio::test]
async fn a_failed_run_starts_no_downstream() {
    let dir = tempfile::tempdir().unwrap();
    let f = serve(dir.path()).await;
    let e = f
        .orchestrator
        .start(&dn("Broken"), None, r#"{"Parameters": "{}"}"#)
        .await
        .unwrap();
    let ended = f
        .orchestrator
        .wait(&dn("Broken"), &e.name, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(ended.status, ExecutionStatus::Failed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(executions(&f.orchestrator, "AfterBroken").await.is_empty());
}

#[tokio::test]
async fn refusals_and_bad_bodies_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let f = serve(dir.path()).await;
    // A value the int parameter cannot take: 200, nothing started, the reason.
    let body = argo_body("ev-bad", json!({"date": "2026-12-01", "n": "many"}));
    let (status, answer) = post(&f.url, body.to_string().as_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    let d = &answer["deployments"][0];
    assert_eq!(d["outcome"], "refused");
    assert_eq!(d["started"], false);
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("\"many\" is not an integer"),
        "{answer}"
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("Report refused it: "),
        "{answer}"
    );
    // An event no deployment waits for.
    let (status, answer) = post(&f.url, br#"{"name": "other"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(answer["deployments"], json!([]));
    assert_eq!(
        answer["message"],
        "no deployment waits for the event other; nothing started"
    );
    // Bodies that are no event: 400 with what is wrong.
    for (body, says) in [
        (&b"not json"[..], "the event is not a JSON object"),
        (br#"{"payload": {"date": 1}}"#, "the event has no name"),
        (br#"{"name": "data ready"}"#, "cannot be published"),
    ] {
        let (status, answer) = post(&f.url, body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["kind"], "invalid");
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
    }
    let err = f.client.publish(&json!({"payload": {}})).await.unwrap_err();
    assert!(
        matches!(err, ferry_control::ControlError::Invalid(ref m) if m.contains("no name")),
        "{err}"
    );
    assert!(executions(&f.orchestrator, "Report").await.is_empty());
}

#[tokio::test]
async fn a_start_interrupted_after_the_decision_completes_on_redelivery() {
    // The engine recorded the decision, but the execution was never started (the state machine
    // was missing at the time): the redelivery starts it under the same name.
    let dir = tempfile::tempdir().unwrap();
    let f = serve(dir.path()).await;
    f.orchestrator.delete(&dn("Report")).await.unwrap();
    let body = argo_body("ev-2", json!({"date": "2026-12-01"}));
    let (status, answer) = post(&f.url, body.to_string().as_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    let d = &answer["deployments"][0];
    assert_eq!(d["started"], false);
    assert!(
        d["start_error"].as_str().unwrap().contains("not found"),
        "{answer}"
    );
    f.orchestrator
        .put(&dn("Report"), PASS, &BTreeMap::new())
        .await
        .unwrap();
    let (status, answer) = post(&f.url, body.to_string().as_bytes()).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer["deployments"][0]["execution_name"],
        d["execution_name"]
    );
    assert_eq!(wait_for(&f.orchestrator, "Report", 1).await.len(), 1);
}
