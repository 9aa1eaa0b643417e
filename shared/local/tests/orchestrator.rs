//! The local Orchestrator and Schedules on a real SQLite table with the real executor (Pass and
//! Wait machines, and Batch jobs run by the process runner).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_deploy::{
    ExecutionStatus, Orchestrator, OrchestratorError, ScheduleSpec, Schedules, StateMachineRef,
};
use ferry_local::engine::ExecutorEngine;
use ferry_local::executor::{Executor, Resources};
use ferry_local::orchestrator::{LocalOrchestrator, STACK_STOPPED_ERROR};
use ferry_local::runner::{ProcessRunner, RunnerConfig};
use ferry_local::schedules::{LocalSchedules, ScaledClock};
use ferry_store::Table;
use ferry_store::sqlite::SqliteTable;
use tokio::sync::watch;

const PASS: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":true},"ResultPath":"$.r","End":true}}}"#;
const WAIT: &str = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}"#;

fn table(dir: &std::path::Path) -> Arc<dyn Table> {
    Arc::new(SqliteTable::open(dir.join("ferry.db"), "default").unwrap())
}

fn orchestrator(table: Arc<dyn Table>, runner: Option<ProcessRunner>) -> LocalOrchestrator {
    let mut resources = Resources::new();
    if let Some(r) = &runner {
        resources = resources.with_batch(Arc::new(r.clone()));
    }
    let engine = ExecutorEngine::new(Executor::new(Arc::new(resources)));
    LocalOrchestrator::new(table, Arc::new(engine), runner)
}

async fn wait_end(o: &LocalOrchestrator, name: &str) -> ferry_deploy::Execution {
    for _ in 0..400 {
        let e = o.describe_execution("", name).await.unwrap().unwrap();
        if e.status.is_terminal() {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{name} did not finish");
}

#[tokio::test]
async fn executions_are_recorded_listed_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let o = orchestrator(table(dir.path()), None);
    let mut tags = BTreeMap::new();
    tags.insert("metaflow.flow".to_string(), "F".to_string());
    let r = o.put_state_machine("Flow1", PASS, &tags).await.unwrap();
    assert_eq!(r.name, "Flow1");
    assert_eq!(
        o.get_state_machine("Flow1").await.unwrap().unwrap().tags,
        tags
    );
    assert!(matches!(
        o.put_state_machine("Bad", "{}", &tags).await,
        Err(OrchestratorError::Invalid(_))
    ));
    assert!(matches!(
        o.start_execution("Nope", None, "{}").await,
        Err(OrchestratorError::NotFound(_))
    ));

    let e = o
        .start_execution("Flow1", None, r#"{"Parameters": "{}"}"#)
        .await
        .unwrap();
    assert_eq!(e.status, ExecutionStatus::Running);
    assert!(
        uuid::Uuid::parse_str(&e.name).is_ok(),
        "execution names are UUIDs: {}",
        e.name
    );
    let done = wait_end(&o, &e.name).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let out: serde_json::Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["r"]["ok"], true);
    assert_eq!(out["Parameters"], "{}");
    assert!(done.stop_date.unwrap() >= done.start_date);

    let named = o
        .start_execution("Flow1", Some("my-run"), "{}")
        .await
        .unwrap();
    assert!(matches!(
        o.start_execution("Flow1", Some("my-run"), "{}").await,
        Err(OrchestratorError::ExecutionAlreadyExists(_))
    ));
    wait_end(&o, &named.name).await;

    // Newest first, filtered by status.
    let all = o.list_executions("Flow1", None).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["my-run", e.name.as_str()]
    );
    assert_eq!(
        o.list_executions("Flow1", Some(ExecutionStatus::Failed))
            .await
            .unwrap()
            .len(),
        0
    );

    // Stop a waiting execution.
    o.put_state_machine("Waiter", WAIT, &BTreeMap::new())
        .await
        .unwrap();
    let w = o.start_execution("Waiter", None, "{}").await.unwrap();
    let stopped = o
        .stop_execution("", &w.name, Some("Ferry.Terminated"), Some("by a test"))
        .await
        .unwrap();
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    assert_eq!(stopped.error.as_deref(), Some("Ferry.Terminated"));
    assert!(o.running().is_empty());
    assert_eq!(wait_end(&o, &w.name).await.status, ExecutionStatus::Aborted);
    // Stopping again returns it unchanged.
    assert_eq!(
        o.stop_execution("Waiter", &w.name, None, None)
            .await
            .unwrap()
            .status,
        ExecutionStatus::Aborted
    );
}

#[tokio::test]
async fn executions_left_running_by_a_dead_stack_are_failed_on_recover() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path());
    let first = orchestrator(t.clone(), None);
    first
        .put_state_machine("Waiter", WAIT, &BTreeMap::new())
        .await
        .unwrap();
    let w = first.start_execution("Waiter", None, "{}").await.unwrap();
    // A second orchestrator on the same file stands for the next start of the stack.
    let second = orchestrator(
        Arc::new(SqliteTable::open(dir.path().join("ferry.db"), "default").unwrap()),
        None,
    );
    assert_eq!(second.recover().await.unwrap(), vec![w.name.clone()]);
    let e = second
        .describe_execution("Waiter", &w.name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.status, ExecutionStatus::Failed);
    assert_eq!(e.error.as_deref(), Some(STACK_STOPPED_ERROR));
    assert!(second.recover().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_batch_job_names_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let runner = ProcessRunner::new(RunnerConfig::under(dir.path()));
    let o = orchestrator(table(dir.path()), Some(runner));
    let def = serde_json::json!({
        "StartAt": "start",
        "States": {"start": {
            "Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync",
            "Parameters": {
                "JobName": "F-start", "JobQueue": "q", "JobDefinition": "d",
                "Parameters": {"step_name": "start", "metaflow.run_id.$": "$$.Execution.Name"},
                "ContainerOverrides": {"Command": ["/bin/sh", "-c", "echo boom >&2; exit 7"]}
            },
            "End": true
        }}
    });
    o.put_state_machine("Failing", &def.to_string(), &BTreeMap::new())
        .await
        .unwrap();
    let e = o.start_execution("Failing", None, "{}").await.unwrap();
    let done = wait_end(&o, &e.name).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("States.TaskFailed"));
    assert_eq!(done.failing_state.as_deref(), Some("start"));
    let cause: serde_json::Value = serde_json::from_str(done.cause.as_deref().unwrap()).unwrap();
    assert_eq!(cause["Container"]["ExitCode"], 7);
    assert_eq!(cause["Parameters"]["metaflow.run_id"], e.name.as_str());
}

#[tokio::test]
async fn a_per_minute_schedule_fires_at_least_twice_on_a_fast_clock() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path());
    let o = orchestrator(t.clone(), None);
    let target: StateMachineRef = o
        .put_state_machine("Cron", PASS, &BTreeMap::new())
        .await
        .unwrap();
    let schedules = LocalSchedules::new(t.clone());
    let bad = ScheduleSpec {
        name: "bad".into(),
        expression: "* * * * *".into(),
        timezone: None,
        target: target.clone(),
        input: "{}".into(),
    };
    assert!(schedules.put(&bad).await.is_err());
    let spec = ScheduleSpec {
        name: "cron-every-minute".into(),
        expression: "* * * * ? *".into(),
        timezone: Some("America/New_York".into()),
        target,
        input: r#"{"Parameters": "{}"}"#.into(),
    };
    schedules.put(&spec).await.unwrap();
    assert_eq!(schedules.get(&spec.name).await.unwrap(), Some(spec.clone()));

    let fired = Arc::new(Mutex::new(Vec::new()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let clock = Arc::new(ScaledClock::new(120.0)); // a virtual minute every half second
    let seen = fired.clone();
    let orch: Arc<dyn Orchestrator> = Arc::new(o.clone());
    let s2 = schedules.clone();
    let loop_task = tokio::spawn(async move {
        s2.run(orch, clock, stop_rx, move |f| {
            seen.lock().unwrap().push(f.clone())
        })
        .await
    });
    for _ in 0..100 {
        if fired.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_tx.send(true).unwrap();
    loop_task.await.unwrap();
    let fired = fired.lock().unwrap().clone();
    assert!(fired.len() >= 2, "fired {fired:?}");
    // Due times are whole minutes, one minute apart, and each started an execution.
    for f in &fired {
        assert_eq!(f.due.timestamp() % 60, 0);
        assert!(f.execution.is_ok(), "{f:?}");
    }
    assert_eq!((fired[1].due - fired[0].due).num_seconds(), 60);
    let runs = o.list_executions("Cron", None).await.unwrap();
    assert!(runs.len() >= 2);
    assert!(
        runs.iter()
            .all(|r| r.input.is_none() || r.input.as_deref() == Some(r#"{"Parameters": "{}"}"#))
    );
    assert!(schedules.delete(&spec.name).await.unwrap());
    assert!(!schedules.delete(&spec.name).await.unwrap());
}

#[tokio::test]
async fn an_execution_can_start_on_the_definition_an_earlier_one_ran() {
    let dir = tempfile::tempdir().unwrap();
    let o = orchestrator(table(dir.path()), None);
    let old = PASS;
    let new = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":"v2"},"ResultPath":"$.r","End":true}}}"#;
    o.put_state_machine("Versioned", old, &BTreeMap::new())
        .await
        .unwrap();
    let first = o.start_execution("Versioned", None, "{}").await.unwrap();
    wait_end(&o, &first.name).await;
    assert_eq!(
        o.execution_definition(&first.name)
            .await
            .unwrap()
            .as_deref(),
        Some(old),
        "the definition an execution ran is kept"
    );
    o.put_state_machine("Versioned", new, &BTreeMap::new())
        .await
        .unwrap();

    let sha = ferry_local::orchestrator::definition_sha256(old);
    let again = o
        .start_with_definition("Versioned", None, "{}", Some(&sha))
        .await
        .unwrap();
    let done = wait_end(&o, &again.name).await;
    let out: serde_json::Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["r"]["ok"], true, "it ran the earlier definition");
    let current = o.start_execution("Versioned", None, "{}").await.unwrap();
    let done = wait_end(&o, &current.name).await;
    let out: serde_json::Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["r"]["ok"], "v2");

    assert!(matches!(
        o.start_with_definition("Versioned", None, "{}", Some(&"0".repeat(64)))
            .await,
        Err(OrchestratorError::NotFound(_))
    ));
    assert_eq!(o.execution_definition("unknown").await.unwrap(), None);
}
