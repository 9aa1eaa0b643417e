//! The embedded stack's in-process control plane (state machines, executions, waits, the
//! lifecycle events its listeners get) and Schedules on a real SQLite table with the real
//! executor (Pass, Fail and Wait machines, and Batch jobs run by the process runner).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ferry_control::{
    ControlError, DeploymentName, Execution, ExecutionEvent, ExecutionEventKind, ExecutionListener,
    ExecutionName, ExecutionStatus, Executions, ListenerError, Listeners, StateMachineRef,
    StateMachines,
};
use ferry_deploy::{ScheduleSpec, Schedules};
use ferry_local::executor::{Executor, Resources};
use ferry_local::orchestrator::{LocalOrchestrator, STACK_STOPPED_ERROR};
use ferry_local::runner::{ProcessRunner, RunnerConfig};
use ferry_local::schedules::LocalSchedules;
use ferry_local::time::ScaledTime;
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
    LocalOrchestrator::new(table, Executor::new(Arc::new(resources)), runner)
}

fn dn(name: &str) -> DeploymentName {
    DeploymentName::parse(name).unwrap()
}

fn en(name: &str) -> ExecutionName {
    ExecutionName::parse(name).unwrap()
}

/// Polls the record (not `wait`), so these tests do not depend on the waiting they also test.
async fn wait_end(o: &LocalOrchestrator, name: &ExecutionName) -> Execution {
    for _ in 0..400 {
        let e = o.load(name).await.unwrap().unwrap();
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
    let flow1 = dn("Flow1");
    let r = o.put(&flow1, PASS, &tags).await.unwrap();
    assert_eq!(r.name, "Flow1");
    assert_eq!(o.get(&flow1).await.unwrap().unwrap().tags, tags);
    assert!(matches!(
        o.put(&dn("Bad"), "{}", &tags).await,
        Err(ControlError::Invalid(_))
    ));
    assert!(matches!(
        o.start(&dn("Nope"), None, "{}").await,
        Err(ControlError::NotFound(_))
    ));
    assert!(matches!(
        o.start(&flow1, None, "not json").await,
        Err(ControlError::Invalid(_))
    ));

    let e = o
        .start(&flow1, None, r#"{"Parameters": "{}"}"#)
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
    let out = done.output_json().unwrap();
    assert_eq!(out["r"]["ok"], true);
    assert_eq!(out["Parameters"], "{}");
    assert!(done.stop_date.unwrap() >= done.start_date);

    let named = o.start(&flow1, Some(&en("my-run")), "{}").await.unwrap();
    assert!(matches!(
        o.start(&flow1, Some(&en("my-run")), "{}").await,
        Err(ControlError::AlreadyExists(_))
    ));
    wait_end(&o, &named.name).await;

    // Described by state machine and name, found by name alone.
    assert_eq!(
        o.describe(&flow1, &named.name).await.unwrap().unwrap().name,
        "my-run"
    );
    assert!(
        o.describe(&dn("Other"), &named.name)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        o.find(&named.name, &[])
            .await
            .unwrap()
            .unwrap()
            .state_machine,
        flow1
    );

    // Newest first, filtered by status.
    let all = o.list(&flow1, None).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["my-run", e.name.as_str()]
    );
    assert_eq!(
        o.list(&flow1, Some(ExecutionStatus::Failed))
            .await
            .unwrap()
            .len(),
        0
    );

    // Stop a waiting execution.
    let waiter = dn("Waiter");
    o.put(&waiter, WAIT, &BTreeMap::new()).await.unwrap();
    let w = o.start(&waiter, None, "{}").await.unwrap();
    assert!(matches!(
        o.stop(&flow1, &w.name, None, None).await,
        Err(ControlError::NotFound(_))
    ));
    let stopped = o
        .stop(
            &waiter,
            &w.name,
            Some("Ferry.Terminated"),
            Some("by a test"),
        )
        .await
        .unwrap();
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    assert_eq!(stopped.error.as_deref(), Some("Ferry.Terminated"));
    assert!(o.running().is_empty());
    assert_eq!(wait_end(&o, &w.name).await.status, ExecutionStatus::Aborted);
    // Stopping again returns it unchanged.
    assert_eq!(
        o.stop(&waiter, &w.name, None, None).await.unwrap().status,
        ExecutionStatus::Aborted
    );
}

#[tokio::test]
async fn executions_left_running_by_a_dead_stack_are_failed_on_recover() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path());
    let first = orchestrator(t.clone(), None);
    let waiter = dn("Waiter");
    first.put(&waiter, WAIT, &BTreeMap::new()).await.unwrap();
    let w = first.start(&waiter, None, "{}").await.unwrap();
    // A second orchestrator on the same file stands for the next start of the stack.
    let second = orchestrator(
        Arc::new(SqliteTable::open(dir.path().join("ferry.db"), "default").unwrap()),
        None,
    );
    assert_eq!(second.recover().await.unwrap(), vec![w.name.to_string()]);
    let e = second.describe(&waiter, &w.name).await.unwrap().unwrap();
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
    let failing = dn("Failing");
    o.put(&failing, &def.to_string(), &BTreeMap::new())
        .await
        .unwrap();
    let e = o.start(&failing, None, "{}").await.unwrap();
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
    let target: StateMachineRef = o.put(&dn("Cron"), PASS, &BTreeMap::new()).await.unwrap();
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
    let clock = Arc::new(ScaledTime::new(120.0)); // a virtual minute every half second
    let seen = fired.clone();
    let orch: Arc<dyn Executions> = Arc::new(o.clone());
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
    let runs = o.list(&dn("Cron"), None).await.unwrap();
    assert!(runs.len() >= 2);
    assert!(
        runs.iter()
            .all(|r| r.input.is_none() || r.input.as_deref() == Some(r#"{"Parameters": "{}"}"#))
    );
    assert!(schedules.delete(&spec.name).await.unwrap());
    assert!(!schedules.delete(&spec.name).await.unwrap());
}

/// What a listener saw of one event: (kind, status, execution name, error).
type Seen = (ExecutionEventKind, ExecutionStatus, String, Option<String>);

/// Every lifecycle event a listener saw.
#[derive(Default)]
struct Recorder(Mutex<Vec<Seen>>);

#[async_trait]
impl ExecutionListener for Recorder {
    async fn on_event(&self, ev: &ExecutionEvent) -> Result<(), ListenerError> {
        let e = &ev.execution;
        // Started events carry the input (run id, parameters and tags follow from it).
        if ev.kind == ExecutionEventKind::Started {
            assert!(e.input.is_some(), "{ev:?}");
        }
        self.0
            .lock()
            .unwrap()
            .push((ev.kind, e.status, e.name.to_string(), e.error.clone()));
        Ok(())
    }
}

impl Recorder {
    fn of(
        &self,
        name: &ExecutionName,
    ) -> Vec<(ExecutionEventKind, ExecutionStatus, Option<String>)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, n, _)| n == name.as_str())
            .map(|(k, s, _, e)| (*k, *s, e.clone()))
            .collect()
    }
}

/// A listener that always fails: the executions it hears of are not affected.
struct Broken;

#[async_trait]
impl ExecutionListener for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    async fn on_event(&self, _: &ExecutionEvent) -> Result<(), ListenerError> {
        Err("the notification service is down".into())
    }
}

fn listened(table: Arc<dyn Table>, rec: &Arc<Recorder>) -> LocalOrchestrator {
    orchestrator(table, None)
        .with_listeners(Listeners::new().with(Arc::new(Broken)).with(rec.clone()))
}

const FAIL: &str =
    r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Flow.Broken","Cause":"no task ran"}}}"#;
const TIMEOUT: &str =
    r#"{"TimeoutSeconds":1,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}"#;

#[tokio::test]
async fn every_start_and_every_end_reaches_the_listeners_once() {
    use ExecutionEventKind::{Ended, Started};
    let dir = tempfile::tempdir().unwrap();
    let rec = Arc::new(Recorder::default());
    let o = listened(table(dir.path()), &rec);
    for (name, def) in [
        ("Pass", PASS),
        ("Fail", FAIL),
        ("Slow", TIMEOUT),
        ("Wait", WAIT),
    ] {
        o.put(&dn(name), def, &BTreeMap::new()).await.unwrap();
    }

    // Succeeded, whatever a broken listener says.
    let ok = o.start(&dn("Pass"), None, "{}").await.unwrap();
    let done = o
        .wait(&dn("Pass"), &ok.name, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    // `wait` returns after the listeners have run.
    assert_eq!(
        rec.of(&ok.name),
        vec![
            (Started, ExecutionStatus::Running, None),
            (Ended, ExecutionStatus::Succeeded, None)
        ]
    );

    // Failed before any task ran.
    let failed = o.start(&dn("Fail"), None, "{}").await.unwrap();
    let done = o
        .wait(&dn("Fail"), &failed.name, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.failing_state.as_deref(), Some("F"));
    assert_eq!(
        rec.of(&failed.name)[1],
        (Ended, ExecutionStatus::Failed, Some("Flow.Broken".into()))
    );

    // Timed out (TimeoutSeconds: 1).
    let slow = o.start(&dn("Slow"), None, "{}").await.unwrap();
    let done = o
        .wait(&dn("Slow"), &slow.name, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::TimedOut);
    assert_eq!(
        rec.of(&slow.name)[1],
        (
            Ended,
            ExecutionStatus::TimedOut,
            Some("States.Timeout".into())
        )
    );

    // Aborted by a stop: one end, though the run also ends when it is stopped.
    let w = o.start(&dn("Wait"), None, "{}").await.unwrap();
    let still = o
        .wait(&dn("Wait"), &w.name, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(still.status, ExecutionStatus::Running, "the wait timed out");
    o.stop(&dn("Wait"), &w.name, Some("Ferry.Terminated"), None)
        .await
        .unwrap();
    assert!(o.running().is_empty());
    assert_eq!(
        rec.of(&w.name),
        vec![
            (Started, ExecutionStatus::Running, None),
            (
                Ended,
                ExecutionStatus::Aborted,
                Some("Ferry.Terminated".into())
            )
        ]
    );
    assert_eq!(
        o.wait(&dn("Wait"), &w.name, Duration::from_secs(1))
            .await
            .unwrap()
            .status,
        ExecutionStatus::Aborted
    );

    // A stop of the stack.
    let w = o.start(&dn("Wait"), None, "{}").await.unwrap();
    o.shutdown().await;
    assert_eq!(
        rec.of(&w.name),
        vec![
            (Started, ExecutionStatus::Running, None),
            (
                Ended,
                ExecutionStatus::Failed,
                Some(STACK_STOPPED_ERROR.into())
            )
        ]
    );
    assert!(matches!(
        o.wait(&dn("Wait"), &en("nope"), Duration::from_secs(1))
            .await,
        Err(ControlError::NotFound(_))
    ));
}

#[tokio::test]
async fn executions_a_dead_stack_left_running_end_through_the_listeners_on_recover() {
    let dir = tempfile::tempdir().unwrap();
    let first = orchestrator(table(dir.path()), None);
    first
        .put(&dn("Waiter"), WAIT, &BTreeMap::new())
        .await
        .unwrap();
    let w = first.start(&dn("Waiter"), None, "{}").await.unwrap();
    let rec = Arc::new(Recorder::default());
    let second = listened(
        Arc::new(SqliteTable::open(dir.path().join("ferry.db"), "default").unwrap()),
        &rec,
    );
    second.recover().await.unwrap();
    assert_eq!(
        rec.of(&w.name),
        vec![(
            ExecutionEventKind::Ended,
            ExecutionStatus::Failed,
            Some(STACK_STOPPED_ERROR.into())
        )]
    );
}

#[tokio::test]
async fn an_execution_can_start_on_the_definition_an_earlier_one_ran() {
    let dir = tempfile::tempdir().unwrap();
    let o = orchestrator(table(dir.path()), None);
    let old = PASS;
    let new = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":"v2"},"ResultPath":"$.r","End":true}}}"#;
    let sm = dn("Versioned");
    o.put(&sm, old, &BTreeMap::new()).await.unwrap();
    let first = o.start(&sm, None, "{}").await.unwrap();
    wait_end(&o, &first.name).await;
    assert_eq!(
        o.definition(&sm, &first.name).await.unwrap().as_deref(),
        Some(old),
        "the definition an execution ran is kept"
    );
    o.put(&sm, new, &BTreeMap::new()).await.unwrap();
    assert_eq!(o.state_machine(&sm).await.unwrap().unwrap().definition, new);

    let sha = ferry_deploy::keys::definition_sha256(old);
    let again = o.start_on_definition(&sm, None, "{}", &sha).await.unwrap();
    let done = wait_end(&o, &again.name).await;
    let out: serde_json::Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["r"]["ok"], true, "it ran the earlier definition");
    assert_eq!(
        o.definition(&sm, &again.name).await.unwrap().as_deref(),
        Some(old)
    );
    let current = o.start(&sm, None, "{}").await.unwrap();
    let done = wait_end(&o, &current.name).await;
    let out: serde_json::Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["r"]["ok"], "v2");
    let on_current = o
        .start_on_definition(&sm, None, "{}", &ferry_deploy::keys::definition_sha256(new))
        .await
        .unwrap();
    assert_eq!(
        o.definition(&sm, &on_current.name)
            .await
            .unwrap()
            .as_deref(),
        Some(new)
    );

    assert!(matches!(
        o.start_on_definition(&sm, None, "{}", &"0".repeat(64))
            .await,
        Err(ControlError::NotFound(_))
    ));
    assert_eq!(o.definition(&sm, &en("unknown")).await.unwrap(), None);
    assert_eq!(
        o.definition(&dn("Other"), &first.name).await.unwrap(),
        None,
        "an execution of another state machine"
    );
}
