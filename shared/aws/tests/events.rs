//! EventBridge "Step Functions Execution Status Change" events (fixtures in `tests/data/`, shaped
//! as the Step Functions developer guide's example event) parsed into the control plane's
//! lifecycle events, and dispatched to listeners as the embedded stack dispatches its own.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use ferry_aws::events::{EventError, parse_status_change};
use ferry_control::{
    ExecutionEvent, ExecutionEventKind, ExecutionListener, ExecutionStatus, ListenerError,
    Listeners, cause,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_running_event_is_a_start_with_the_input() {
    let ev = parse_status_change(&fixture("sfn-status-change-running.json")).unwrap();
    assert_eq!(ev.kind, ExecutionEventKind::Started);
    let e = &ev.execution;
    assert_eq!(e.state_machine, "hello.prod.HelloFlow");
    assert_eq!(e.name, "3f0c9a52-6f1e-4b8e-9d2a-5c7e1b4a8d60");
    assert_eq!(
        ev.run_id().to_string(),
        "sfn-3f0c9a52-6f1e-4b8e-9d2a-5c7e1b4a8d60"
    );
    assert_eq!(
        e.id,
        "arn:aws:states:eu-west-1:210987654321:execution:hello.prod.HelloFlow:3f0c9a52-6f1e-4b8e-9d2a-5c7e1b4a8d60"
    );
    assert_eq!(e.status, ExecutionStatus::Running);
    assert_eq!(
        e.start_date,
        Utc.with_ymd_and_hms(2026, 11, 30, 4, 5, 0).unwrap() + chrono::Duration::milliseconds(123)
    );
    assert_eq!(e.stop_date, None);
    // Parameters and tags follow from the input, as Metaflow's trigger writes it.
    let input: serde_json::Value = serde_json::from_str(e.input.as_deref().unwrap()).unwrap();
    let params: serde_json::Value =
        serde_json::from_str(input["Parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["alpha"], 0.9);
    assert_eq!(params["ferry.tags"][0], "nightly");
}

#[test]
fn terminal_events_are_ends_with_their_error_and_cause() {
    let ok = parse_status_change(&fixture("sfn-status-change-succeeded.json")).unwrap();
    assert_eq!(ok.kind, ExecutionEventKind::Ended);
    assert_eq!(ok.execution.status, ExecutionStatus::Succeeded);
    assert_eq!(ok.execution.output_json().unwrap()["done"], true);
    assert_eq!(
        (ok.execution.stop_date.unwrap() - ok.execution.start_date).num_milliseconds(),
        9753
    );

    let failed = parse_status_change(&fixture("sfn-status-change-failed.json")).unwrap();
    assert_eq!(failed.kind, ExecutionEventKind::Ended);
    assert_eq!(failed.execution.status, ExecutionStatus::Failed);
    assert_eq!(failed.execution.error.as_deref(), Some("States.TaskFailed"));
    let c = failed.execution.cause.as_deref().unwrap();
    assert_eq!(cause::failing_step(c).as_deref(), Some("start"));
    assert_eq!(
        cause::batch_job_in_cause(c).unwrap()["Container"]["ExitCode"],
        1
    );

    // A payload too large for EventBridge arrives without its input.
    let timed_out = parse_status_change(&fixture("sfn-status-change-timed-out.json")).unwrap();
    assert_eq!(timed_out.execution.status, ExecutionStatus::TimedOut);
    assert_eq!(timed_out.execution.error.as_deref(), Some("States.Timeout"));
    assert_eq!(timed_out.execution.input, None);

    let aborted = parse_status_change(&fixture("sfn-status-change-aborted.json")).unwrap();
    assert_eq!(aborted.execution.status, ExecutionStatus::Aborted);
    assert_eq!(aborted.execution.error.as_deref(), Some("Ferry.Terminated"));
    assert_eq!(
        aborted.execution.cause.as_deref(),
        Some("Terminated by alice")
    );
}

#[test]
fn other_events_and_names_ferry_refuses_are_errors() {
    let base: serde_json::Value =
        serde_json::from_slice(&fixture("sfn-status-change-running.json")).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = base.clone();
        f(&mut v);
        parse_status_change(v.to_string().as_bytes())
    };
    assert!(matches!(
        with(&|v| v["detail-type"] = "AWS API Call via CloudTrail".into()),
        Err(EventError::OtherEvent { .. })
    ));
    assert!(matches!(
        with(&|v| v["source"] = "aws.batch".into()),
        Err(EventError::OtherEvent { .. })
    ));
    assert!(matches!(
        with(&|v| v["detail"]["status"] = "PAUSED".into()),
        Err(EventError::Status(_))
    ));
    // The one execution-name rule: a '.' is refused here too.
    let dotted = with(&|v| v["detail"]["name"] = "run.1".into());
    assert!(
        matches!(&dotted, Err(EventError::Name(m)) if m.contains("not a valid execution name")),
        "{dotted:?}"
    );
    assert!(matches!(
        with(&|v| v["detail"]["stateMachineArn"] = "arn:aws:states:eu-west-1:1:activity:x".into()),
        Err(EventError::Name(_))
    ));
    assert!(matches!(
        with(&|v| {
            v["detail"].as_object_mut().unwrap().remove("executionArn");
        }),
        Err(EventError::Shape(_))
    ));
    assert!(matches!(
        parse_status_change(b"not json"),
        Err(EventError::Shape(_))
    ));
}

struct Recorder(Mutex<Vec<(ExecutionEventKind, ExecutionStatus, String)>>);

#[async_trait]
impl ExecutionListener for Recorder {
    async fn on_event(&self, ev: &ExecutionEvent) -> Result<(), ListenerError> {
        self.0
            .lock()
            .unwrap()
            .push((ev.kind, ev.execution.status, ev.run_id().to_string()));
        Ok(())
    }
}

#[tokio::test]
async fn parsed_events_go_to_the_same_listeners_as_the_embedded_stacks() {
    let rec = Arc::new(Recorder(Mutex::new(Vec::new())));
    let listeners = Listeners::new().with(rec.clone());
    for f in [
        "sfn-status-change-running.json",
        "sfn-status-change-succeeded.json",
    ] {
        listeners
            .dispatch(&parse_status_change(&fixture(f)).unwrap())
            .await;
    }
    let run = "sfn-3f0c9a52-6f1e-4b8e-9d2a-5c7e1b4a8d60".to_string();
    assert_eq!(
        *rec.0.lock().unwrap(),
        vec![
            (
                ExecutionEventKind::Started,
                ExecutionStatus::Running,
                run.clone()
            ),
            (ExecutionEventKind::Ended, ExecutionStatus::Succeeded, run)
        ]
    );
}
