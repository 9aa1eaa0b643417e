//! The embedded stack's control API over real HTTP: the server (`control::router` on
//! 127.0.0.1) and its client (`ControlClient`, the `Executions` adapter the `ferry` commands
//! use) agree on every route and error, and the client behaves as the in-process adapter does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_control::{
    ControlError, DeploymentName, ExecutionName, ExecutionStatus, Executions, StateMachines,
};
use ferry_deploy::DeploymentStore;
use ferry_local::control::{ControlClient, ControlState, StackInfo, router};
use ferry_local::executor::{Executor, Resources};
use ferry_local::orchestrator::LocalOrchestrator;
use ferry_store::Table;
use ferry_store::sqlite::SqliteTable;

const PASS: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":true},"ResultPath":"$.r","End":true}}}"#;
const WAIT: &str = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}"#;

fn dn(name: &str) -> DeploymentName {
    DeploymentName::parse(name).unwrap()
}

fn en(name: &str) -> ExecutionName {
    ExecutionName::parse(name).unwrap()
}

/// A control API server on a free port over a fresh orchestrator; its URL.
async fn serve(dir: &std::path::Path) -> (String, LocalOrchestrator) {
    let table: Arc<dyn Table> =
        Arc::new(SqliteTable::open(dir.join("ferry.db"), "default").unwrap());
    let o = LocalOrchestrator::new(
        table.clone(),
        Executor::new(Arc::new(Resources::new())),
        None,
    );
    o.put(&dn("Pass"), PASS, &BTreeMap::new()).await.unwrap();
    o.put(&dn("Wait"), WAIT, &BTreeMap::new()).await.unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = ControlState {
        orchestrator: o.clone(),
        deployments: DeploymentStore::new(table),
        info: StackInfo {
            home: dir.to_path_buf(),
            pid: std::process::id(),
            url: url.clone(),
            started_at: chrono::Utc::now(),
            datastore_root: dir.join("datastore"),
            logs_dir: dir.join("logs"),
        },
    };
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    (url, o)
}

#[tokio::test]
async fn the_client_starts_lists_describes_finds_waits_and_stops_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (url, local) = serve(dir.path()).await;
    let c = ControlClient::new(&url).unwrap();
    assert_eq!(c.stack().await.unwrap()["url"], url.as_str());

    let e = c
        .start(&dn("Pass"), None, r#"{"Parameters": "{}"}"#)
        .await
        .unwrap();
    assert_eq!(e.status, ExecutionStatus::Running);
    assert_eq!(e.input.as_deref(), Some(r#"{"Parameters": "{}"}"#));
    // The long poll answers once the execution has ended.
    let done = c
        .wait(&dn("Pass"), &e.name, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output_json().unwrap()["r"]["ok"], true);
    // The same record as the in-process adapter holds.
    assert_eq!(Some(done.clone()), local.load(&e.name).await.unwrap());

    assert_eq!(
        c.describe(&dn("Pass"), &e.name).await.unwrap(),
        Some(done.clone())
    );
    assert_eq!(c.describe(&dn("Wait"), &e.name).await.unwrap(), None);
    assert_eq!(c.find(&e.name, &[]).await.unwrap(), Some(done.clone()));
    assert_eq!(c.find(&en("nope"), &[]).await.unwrap(), None);
    let listed = c
        .list(&dn("Pass"), Some(ExecutionStatus::Succeeded))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, e.name);
    assert!(
        c.list(&dn("Pass"), Some(ExecutionStatus::Failed))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(c.running_jobs(&done).await.unwrap(), Some(vec![]));

    // A waiting execution: the long poll gives up at the timeout, then the stop ends it.
    let w = c
        .start(&dn("Wait"), Some(&en("run_1")), "{}")
        .await
        .unwrap();
    let t = Instant::now();
    let still = c
        .wait(&dn("Wait"), &w.name, Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(still.status, ExecutionStatus::Running);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let stopped = c
        .stop(
            &dn("Wait"),
            &w.name,
            Some("Ferry.Terminated"),
            Some("by a test"),
        )
        .await
        .unwrap();
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    assert_eq!(stopped.error.as_deref(), Some("Ferry.Terminated"));
    assert_eq!(
        c.wait(&dn("Wait"), &w.name, Duration::from_secs(5))
            .await
            .unwrap()
            .status,
        ExecutionStatus::Aborted
    );
}

#[tokio::test]
async fn errors_cross_the_wire_as_the_same_control_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (url, local) = serve(dir.path()).await;
    let c = ControlClient::new(&url).unwrap();
    // Each error the client gets is the one the in-process adapter gives, message included.
    let over_http = c.start(&dn("Missing"), None, "{}").await.unwrap_err();
    let in_process = local.start(&dn("Missing"), None, "{}").await.unwrap_err();
    assert!(matches!(over_http, ControlError::NotFound(_)));
    assert_eq!(over_http, in_process);
    assert_eq!(
        c.list(&dn("Missing"), None).await.unwrap_err(),
        local.list(&dn("Missing"), None).await.unwrap_err()
    );
    let bad_input = c.start(&dn("Pass"), None, "not json").await.unwrap_err();
    assert!(matches!(bad_input, ControlError::Invalid(_)), "{bad_input}");
    c.start(&dn("Wait"), Some(&en("taken")), "{}")
        .await
        .unwrap();
    assert_eq!(
        c.start(&dn("Wait"), Some(&en("taken")), "{}")
            .await
            .unwrap_err(),
        ControlError::AlreadyExists("taken".into())
    );
    assert!(matches!(
        c.stop(&dn("Wait"), &en("nope"), None, None).await,
        Err(ControlError::NotFound(_))
    ));
    assert_eq!(
        c.running_jobs(&local.load(&en("taken")).await.unwrap().unwrap())
            .await
            .unwrap(),
        Some(vec![])
    );

    // No stack on that port: unreachable, saying what to check.
    let port = ferry_testkit::free_port();
    let gone = ControlClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let e = gone.find(&en("x"), &[]).await.unwrap_err();
    assert!(matches!(e, ControlError::Unreachable(_)), "{e:?}");
    assert!(
        e.to_string().contains("is `ferry up` still running?"),
        "{e}"
    );
}

#[tokio::test]
async fn an_execution_name_with_a_dot_is_refused_by_the_stack_with_the_one_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _local) = serve(dir.path()).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let start = http
        .post(format!("{url}/ferry/v1/state-machines/Wait/executions"))
        .json(&serde_json::json!({"input": "{}", "name": "run.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 400);
    let body: serde_json::Value = start.json().await.unwrap();
    assert_eq!(body["kind"], "invalid");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(ferry_spec::ids::EXECUTION_NAME_RULE),
        "{body}"
    );
    for path in ["executions/run.1", "executions/run.1/stop"] {
        let req = if path.ends_with("stop") {
            http.post(format!("{url}/ferry/v1/{path}"))
        } else {
            http.get(format!("{url}/ferry/v1/{path}"))
        };
        assert_eq!(req.send().await.unwrap().status(), 400, "{path}");
    }
}

#[tokio::test]
async fn the_client_reads_definitions_and_starts_on_an_earlier_one_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (url, local) = serve(dir.path()).await;
    let c = ControlClient::new(&url).unwrap();
    let first = c.start(&dn("Pass"), None, "{}").await.unwrap();
    c.wait(&dn("Pass"), &first.name, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        c.definition(&dn("Pass"), &first.name)
            .await
            .unwrap()
            .as_deref(),
        Some(PASS)
    );
    assert_eq!(c.definition(&dn("Wait"), &first.name).await.unwrap(), None);
    assert_eq!(c.definition(&dn("Pass"), &en("nope")).await.unwrap(), None);

    // Redeployed: the state machine has another definition; the earlier one still starts.
    let v2 = PASS.replace(r#""ok":true"#, r#""ok":"v2""#);
    local.put(&dn("Pass"), &v2, &BTreeMap::new()).await.unwrap();
    assert_eq!(
        c.state_machine(&dn("Pass"))
            .await
            .unwrap()
            .unwrap()
            .definition,
        v2
    );
    assert!(c.state_machine(&dn("Gone")).await.unwrap().is_none());
    let sha = ferry_deploy::keys::definition_sha256(PASS);
    let again = c
        .start_on_definition(&dn("Pass"), None, "{}", &sha)
        .await
        .unwrap();
    let done = c
        .wait(&dn("Pass"), &again.name, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.output_json().unwrap()["r"]["ok"], true);
    assert!(matches!(
        c.start_on_definition(&dn("Pass"), None, "{}", &"0".repeat(64))
            .await,
        Err(ControlError::NotFound(_))
    ));
}
