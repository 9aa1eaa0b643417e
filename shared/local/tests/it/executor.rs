//! Behaviour of the executor beyond what moto can check: Batch tasks through the `BatchRunner`
//! port, retry back-off on an injected clock and jitter, timeouts, stop/cancellation,
//! distributed Maps with ResultWriter (Metaflow's manifest read-back), tolerated failures,
//! ItemBatcher, AWS semantics moto gets wrong, validation.
//!
//! The Batch runner here is a scripted stand-in: the process runner lives elsewhere and is
//! tested with real processes there; these tests are about what the interpreter hands it and
//! does with its answers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use ferry_control::{DeploymentName, ExecutionName, ExecutionStatus};
use ferry_local::executor::{
    BatchJob, BatchRunner, DefinitionError, Executor, Resources, StatesError, TaskContext,
};
use ferry_local::time::ManualTime;
use ferry_store::{Blobs, DirBlobs};
use serde_json::{Value, json};

#[derive(Clone, Copy)]
enum Mode {
    /// Succeed every time.
    Ok,
    /// Fail with `Batch.AWSBatchException` this many times, then succeed.
    ThrottledTimes(usize),
    /// Always fail the job (`States.TaskFailed`).
    JobFails,
    /// Never finish; note the cancellation signal and the drop.
    Hang,
}

struct ScriptedBatch {
    mode: Mode,
    calls: Mutex<Vec<(BatchJob, u32)>>,
    n: AtomicUsize,
    saw_cancel: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
}

impl ScriptedBatch {
    fn new(mode: Mode) -> Arc<Self> {
        Arc::new(ScriptedBatch {
            mode,
            calls: Mutex::new(vec![]),
            n: AtomicUsize::new(0),
            saw_cancel: Arc::new(AtomicBool::new(false)),
            dropped: Arc::new(AtomicBool::new(false)),
        })
    }
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl BatchRunner for ScriptedBatch {
    async fn run(&self, job: BatchJob, ctx: &TaskContext) -> Result<Value, StatesError> {
        let i = self.n.fetch_add(1, Ordering::SeqCst);
        self.calls
            .lock()
            .unwrap()
            .push((job.clone(), ctx.retry_count));
        let id = format!("job-{}", job.job_name);
        match self.mode {
            Mode::Ok => Ok(job.describe(&id, "SUCCEEDED", &[])),
            Mode::ThrottledTimes(k) if i < k => Err(StatesError::new(
                "Batch.AWSBatchException",
                "Too Many Requests",
            )),
            Mode::ThrottledTimes(_) => Ok(job.describe(&id, "SUCCEEDED", &[])),
            Mode::JobFails => Err(StatesError::task_failed(
                job.describe(&id, "FAILED", &[]).to_string(),
            )),
            Mode::Hang => {
                let _guard = SetOnDrop(self.dropped.clone());
                let cancel = ctx.cancel.clone();
                let saw = self.saw_cancel.clone();
                // What a process runner does: a watcher that kills the process on cancellation.
                tokio::spawn(async move {
                    cancel.cancelled().await;
                    saw.store(true, Ordering::SeqCst);
                });
                std::future::pending().await
            }
        }
    }
}

fn batch_task(name: &str, next: Option<&str>, extra: Value) -> Value {
    let mut t = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::batch:submitJob.sync",
        "Parameters": {
            "JobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/metaflow_x:1",
            "JobName": format!("SFN-Flow--{name}--"),
            "JobQueue": "q",
            "Parameters": {"metaflow.step_name": name, "step_name": name},
            "ContainerOverrides": {
                "Command": ["task-wrapper", "run", "--task", "file:///tasks/x.json"],
                "ResourceRequirements": [{"Value": "1", "Type": "VCPU"}, {"Value": "4096", "Type": "MEMORY"}],
                "Environment": [{"Name": "STATIC", "Value": "s"}]
            },
            "RetryStrategy": {"Attempts": 2},
            "Timeout": {"AttemptDurationSeconds": 432000}
        },
        "OutputPath": "$.['JobId', 'Parameters', 'Index', 'SplitParentTaskId']"
    });
    match next {
        Some(n) => t["Next"] = json!(n),
        None => t["End"] = json!(true),
    }
    if let Value::Object(m) = extra {
        for (k, v) in m {
            if k == "Parameters" {
                for (pk, pv) in v.as_object().unwrap() {
                    t["Parameters"][pk] = pv.clone();
                }
            } else {
                t[k] = v;
            }
        }
    }
    t
}

fn executor(runner: Arc<ScriptedBatch>) -> Executor {
    Executor::new(Arc::new(Resources::new().with_batch(runner)))
}

async fn run(exec: &Executor, def: Value, input: Value) -> ferry_local::executor::ExecutionRecord {
    let m = exec
        .validate(&def.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    exec.start(m, &dn("Flow"), &en("run-1"), input).wait().await
}

fn dn(name: &str) -> DeploymentName {
    DeploymentName::parse(name).unwrap()
}

fn en(name: &str) -> ExecutionName {
    ExecutionName::parse(name).unwrap()
}

#[tokio::test]
async fn batch_tasks_get_resolved_parameters_and_carry_state() {
    let runner = ScriptedBatch::new(Mode::Ok);
    let start = batch_task(
        "start",
        Some("end"),
        json!({"Parameters": {"Parameters": {"metaflow.run_id.$": "$$.Execution.Name", "step_name": "start"},
               "ContainerOverrides": {"Command": ["task-wrapper"], "Environment": [
                   {"Name": "FERRY_RUN_ID", "Value.$": "$$.Execution.Name"},
                   {"Name": "FERRY_PARAMETERS", "Value.$": "$.Parameters"}]}}}),
    );
    let end = batch_task(
        "end",
        None,
        json!({"Parameters": {"Parameters": {"metaflow.run_id.$": "$.Parameters.['metaflow.run_id']", "step_name": "end"},
               "ContainerOverrides": {"Command": ["task-wrapper"], "Environment": [
                   {"Name": "FERRY_PARENT_TASK_ID", "Value.$": "$.JobId"}]}}}),
    );
    let def = json!({"StartAt": "start", "States": {"start": start, "end": end}});
    let rec = run(
        &executor(runner.clone()),
        def,
        json!({"Parameters": "{\"alpha\": 0.5}"}),
    )
    .await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    // The union OutputPath keeps exactly JobId and Parameters.
    assert_eq!(
        rec.output_json().unwrap(),
        json!({"JobId": "job-SFN-Flow--end--", "Parameters": {"metaflow.run_id": "run-1", "step_name": "end"}})
    );
    let calls = runner.calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    let (start_job, _) = &calls[0];
    assert_eq!(start_job.parameters["metaflow.run_id"], "run-1");
    assert_eq!(
        start_job.environment,
        vec![
            ("FERRY_RUN_ID".into(), "run-1".into()),
            ("FERRY_PARAMETERS".into(), "{\"alpha\": 0.5}".into())
        ]
    );
    assert_eq!(start_job.attempts, 2);
    assert_eq!(start_job.attempt_duration_seconds, Some(432000));
    let (end_job, _) = &calls[1];
    assert_eq!(
        end_job.environment,
        vec![(
            "FERRY_PARENT_TASK_ID".into(),
            "job-SFN-Flow--start--".into()
        )]
    );
    assert_eq!(end_job.parameters["metaflow.run_id"], "run-1");
}

#[tokio::test]
async fn retry_backoff_follows_the_injected_clock_and_jitter() {
    let runner = ScriptedBatch::new(Mode::ThrottledTimes(4));
    let time = Arc::new(ManualTime::new(
        Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap(),
    ));
    let exec = executor(runner.clone())
        .with_time(time.clone())
        .with_random(Arc::new(|| 0.5));
    let def = json!({"StartAt": "start", "States": {"start": batch_task("start", None, json!({
        "Retry": [{"ErrorEquals": ["Batch.AWSBatchException"], "BackoffRate": 2, "IntervalSeconds": 2,
                   "MaxDelaySeconds": 6, "MaxAttempts": 10, "JitterStrategy": "FULL"}]}))}});
    let rec = run(&exec, def, json!({})).await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    // 2·2^n capped at 6, halved by the jitter: 1, 2, 3, 3.
    assert_eq!(
        time.sleeps(),
        [1, 2, 3, 3].map(Duration::from_secs).to_vec()
    );
    let retry_counts: Vec<u32> = runner.calls.lock().unwrap().iter().map(|c| c.1).collect();
    assert_eq!(retry_counts, vec![0, 1, 2, 3, 4]);
    assert_eq!(
        rec.stop_date.unwrap() - rec.start_date,
        chrono::Duration::seconds(9)
    );
}

#[tokio::test]
async fn exhausted_retries_fall_through_to_catch_with_error_output() {
    let runner = ScriptedBatch::new(Mode::JobFails);
    let time = Arc::new(ManualTime::new(Utc::now()));
    let exec = executor(runner.clone()).with_time(time.clone());
    let def = json!({"StartAt": "start", "States": {
        "start": batch_task("start", Some("never"), json!({
            "Retry": [{"ErrorEquals": ["Batch.AWSBatchException"], "MaxAttempts": 5},
                      {"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 2, "IntervalSeconds": 3, "BackoffRate": 1.5}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "handler"}]})),
        "never": {"Type": "Fail", "Error": "Wrong"},
        "handler": {"Type": "Pass", "Parameters": {"error.$": "$.error.Error", "job.$": "States.StringToJson($.error.Cause)", "keep.$": "$.keep"}, "End": true}}});
    let rec = run(&exec, def, json!({"keep": 1})).await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    let out = rec.output_json().unwrap();
    assert_eq!(out["error"], "States.TaskFailed");
    assert_eq!(out["job"]["Status"], "FAILED");
    assert_eq!(out["keep"], 1);
    assert_eq!(runner.calls.lock().unwrap().len(), 3);
    assert_eq!(
        time.sleeps(),
        vec![Duration::from_secs(3), Duration::from_secs_f64(4.5)]
    );
}

#[tokio::test]
async fn uncaught_task_failure_fails_the_execution_with_the_state_name() {
    let runner = ScriptedBatch::new(Mode::JobFails);
    let def =
        json!({"StartAt": "start", "States": {"start": batch_task("start", None, json!({}))}});
    let rec = run(&executor(runner), def, json!({})).await;
    assert_eq!(rec.status, ExecutionStatus::Failed);
    assert_eq!(rec.error.as_deref(), Some("States.TaskFailed"));
    assert_eq!(rec.failing_state.as_deref(), Some("start"));
    assert!(
        rec.cause
            .as_deref()
            .unwrap()
            .contains("\"Status\":\"FAILED\"")
    );
}

#[tokio::test]
async fn task_timeout_raises_states_timeout_and_drops_the_task() {
    let runner = ScriptedBatch::new(Mode::Hang);
    let def = json!({"StartAt": "start", "States": {
        "start": batch_task("start", None, json!({"TimeoutSeconds": 1,
            "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 3}],
            "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "timedout"}]})),
        "timedout": {"Type": "Pass", "End": true}}});
    let rec = run(&executor(runner.clone()), def, json!({})).await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    assert_eq!(rec.output_json().unwrap()["Error"], "States.Timeout");
    // States.TaskFailed does not match a timeout: exactly one attempt.
    assert_eq!(runner.calls.lock().unwrap().len(), 1);
    assert!(runner.dropped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn stop_aborts_and_cancels_running_tasks() {
    let runner = ScriptedBatch::new(Mode::Hang);
    let exec = executor(runner.clone());
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "a", "States": {"a": batch_task("a", None, json!({}))}},
        {"StartAt": "b", "States": {"b": batch_task("b", None, json!({}))}}]}}});
    let m = exec.validate(&def.to_string()).unwrap();
    let h = exec.start(m, &dn("Flow"), &en("run-stop"), json!({}));
    while runner.calls.lock().unwrap().len() < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(h.status(), ExecutionStatus::Running);
    h.stop(Some("User.Stopped"), Some("ferry stop"));
    let rec = h.wait().await;
    assert_eq!(rec.status, ExecutionStatus::Aborted);
    assert_eq!(rec.error.as_deref(), Some("User.Stopped"));
    assert_eq!(rec.cause.as_deref(), Some("ferry stop"));
    assert!(
        runner.dropped.load(Ordering::SeqCst),
        "running tasks are dropped"
    );
    for _ in 0..100 {
        if runner.saw_cancel.load(Ordering::SeqCst) {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        runner.saw_cancel.load(Ordering::SeqCst),
        "the runner saw the cancellation signal"
    );
    assert!(h.event_counts().contains_key("ExecutionAborted"));
}

#[tokio::test]
async fn a_failing_branch_fails_the_parallel_while_a_sibling_hangs() {
    let runner = ScriptedBatch::new(Mode::Hang);
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "a", "States": {"a": batch_task("a", None, json!({}))}},
        {"StartAt": "b", "States": {"b": {"Type": "Fail", "Error": "B.Failed", "Cause": "b"}}}]}}});
    let rec = run(&executor(runner.clone()), def, json!({})).await;
    assert_eq!(rec.status, ExecutionStatus::Failed);
    assert_eq!(rec.error.as_deref(), Some("B.Failed"));
    assert!(runner.dropped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn execution_timeout_is_timed_out() {
    let def = json!({"TimeoutSeconds": 1, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": true}}});
    let rec = run(&executor(ScriptedBatch::new(Mode::Ok)), def, json!({})).await;
    assert_eq!(rec.status, ExecutionStatus::TimedOut);
    assert_eq!(rec.error.as_deref(), Some("States.Timeout"));
}

#[tokio::test]
async fn waits_follow_the_injected_clock() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let time = Arc::new(ManualTime::new(t0));
    let exec = executor(ScriptedBatch::new(Mode::Ok)).with_time(time.clone());
    let def = json!({"StartAt": "W1", "States": {
        "W1": {"Type": "Wait", "Seconds": 3600, "Next": "W2"},
        "W2": {"Type": "Wait", "TimestampPath": "$.at", "Next": "W3"},
        "W3": {"Type": "Wait", "Timestamp": "2026-01-01T00:00:00Z", "End": true}}});
    let rec = run(&exec, def, json!({"at": "2026-03-02T00:00:00+00:00"})).await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded);
    assert_eq!(
        time.sleeps(),
        vec![
            Duration::from_secs(3600),
            Duration::from_secs(23 * 3600),
            Duration::ZERO
        ]
    );
    assert_eq!(
        rec.stop_date,
        Some(Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap())
    );
}

#[tokio::test]
async fn aws_semantics_moto_gets_wrong() {
    let exec = executor(ScriptedBatch::new(Mode::Ok));
    // No Choice rule and no Default: States.NoChoiceMatched.
    let def = json!({"StartAt": "C", "States": {"C": {"Type": "Choice",
        "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "X"}]}, "X": {"Type": "Succeed"}}});
    let rec = run(&exec, def, json!({"n": 2})).await;
    assert_eq!(rec.error.as_deref(), Some("States.NoChoiceMatched"));
    // A path below an index selects the value itself; States.Runtime is not caught by States.ALL.
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Parameters": {"x.$": "$[0].x", "arr.$": "States.Array(null, 1)"}, "Next": "B"},
        "B": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
              "Parameters": {"TableName": "t", "Key.$": "$.nope"},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": true},
        "C": {"Type": "Pass", "End": true}}});
    let rec = run(&exec, def, json!([{"x": 5}])).await;
    assert_eq!(rec.status, ExecutionStatus::Failed);
    assert_eq!(rec.error.as_deref(), Some("States.Runtime"));
    assert_eq!(rec.failing_state.as_deref(), Some("B"));
}

fn blobs(dir: &std::path::Path) -> Arc<DirBlobs> {
    Arc::new(DirBlobs::open(dir).unwrap())
}

#[tokio::test]
async fn distributed_map_result_writer_and_metaflow_manifest_readback() {
    let tmp = tempfile::tempdir().unwrap();
    let store = blobs(tmp.path());
    store
        .put("foreach/split-1.json", br#"["0","1","2"]"#.to_vec())
        .await
        .unwrap();
    let resources = Resources::new().with_bucket("ferry-bucket", store.clone(), "ferry/");
    let exec = Executor::new(Arc::new(resources));
    // The compiler's --use-distributed-map shape (metaflow-sfn §1.7).
    let def = json!({"StartAt": "*body", "States": {
        "*body": {"Type": "Map", "MaxConcurrency": 2,
            "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                           "Parameters": {"Bucket": "ferry-bucket", "Key.$": "States.Format('ferry/foreach/{}.json', $.JobId)"}},
            "ItemSelector": {"JobId.$": "$.JobId", "Index.$": "$$.Map.Item.Value", "Exec.$": "$$.Execution.Name"},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "body",
                "States": {"body": {"Type": "Pass", "Parameters": {"JobId.$": "States.Format('{}-{}', $.JobId, $.Index)", "Child.$": "$$.Execution.Name"}, "End": true}}},
            "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "ferry-bucket", "Prefix": "ferry/sfn_distributed_map_output"}},
            "OutputPath": "$", "Next": "*body_*GetManifest"},
        "*body_*GetManifest": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
            "Parameters": {"Bucket.$": "$.ResultWriterDetails.Bucket", "Key.$": "$.ResultWriterDetails.Key"},
            "ResultSelector": {"Body.$": "States.StringToJson($.Body)"}, "Next": "*body_*Map"},
        "*body_*Map": {"Type": "Map", "MaxConcurrency": 1000,
            "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON", "MaxItems": 1},
                           "Parameters": {"Bucket.$": "$.Body.DestinationBucket", "Key.$": "$.Body.ResultFiles.SUCCEEDED[0].Key"}},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "*body_*Pass",
                "States": {"*body_*Pass": {"Type": "Pass", "Parameters": {"Output.$": "States.StringToJson($.Output)"}, "OutputPath": "$.Output", "End": true}}},
            "OutputPath": "$.[0]", "End": true}}});
    let rec = run(&exec, def, json!({"JobId": "split-1"})).await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    let out = rec.output_json().unwrap();
    assert!(
        out["JobId"].as_str().unwrap().starts_with("split-1-"),
        "{out}"
    );
    // Child executions have their own names.
    assert_ne!(out["Child"], "run-1");
    assert_eq!(rec.map_runs.len(), 2);
    assert_eq!(
        (
            rec.map_runs[0].total,
            rec.map_runs[0].succeeded,
            rec.map_runs[0].failed
        ),
        (3, 3, 0)
    );
    assert_eq!(rec.map_runs[1].total, 1);
    let written = store.list("sfn_distributed_map_output/").await.unwrap();
    assert_eq!(written.len(), 2, "{written:?}");
    let manifest_key = written
        .iter()
        .find(|k| k.ends_with("/manifest.json"))
        .unwrap();
    let manifest: Value =
        serde_json::from_slice(&store.get(manifest_key).await.unwrap().unwrap()).unwrap();
    assert_eq!(manifest["DestinationBucket"], "ferry-bucket");
    let results_key = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
        .as_str()
        .unwrap();
    let results: Value = serde_json::from_slice(
        &store
            .get(results_key.strip_prefix("ferry/").unwrap())
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(results.as_array().unwrap().len(), 3);
    assert_eq!(results[0]["Status"], "SUCCEEDED");
}

#[tokio::test]
async fn distributed_map_tolerated_failures_and_batching() {
    let exec = executor(ScriptedBatch::new(Mode::Ok));
    let map = |tolerated: Value| {
        let mut m = json!({"Type": "Map", "ItemsPath": "$.xs", "End": true,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 3, "Next": "F"}], "Default": "OK"},
                "F": {"Type": "Fail", "Error": "Three", "Cause": "3"},
                "OK": {"Type": "Pass", "End": true}}}});
        for (k, v) in tolerated.as_object().unwrap() {
            m[k] = v.clone();
        }
        json!({"StartAt": "M", "States": {"M": m}})
    };
    let input = json!({"xs": [1, 2, 3, 4]});
    let rec = run(
        &exec,
        map(json!({"ToleratedFailureCount": 1})),
        input.clone(),
    )
    .await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    assert_eq!(rec.map_runs[0].failed, 1);
    let rec = run(
        &exec,
        map(json!({"ToleratedFailurePercentage": 10})),
        input.clone(),
    )
    .await;
    assert_eq!(
        rec.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
    let rec = run(&exec, map(json!({})), input.clone()).await;
    assert_eq!(
        rec.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );

    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.xs", "End": true,
        "ItemBatcher": {"MaxItemsPerBatch": 3, "BatchInput": {"tag.$": "$.tag"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "P", "States": {
            "P": {"Type": "Pass", "Parameters": {"n.$": "States.ArrayLength($.Items)", "tag.$": "$.BatchInput.tag"}, "End": true}}}}}});
    let rec = run(&exec, def, json!({"xs": [1, 2, 3, 4, 5], "tag": "t"})).await;
    assert_eq!(
        rec.output_json().unwrap(),
        json!([{"n": 3, "tag": "t"}, {"n": 2, "tag": "t"}])
    );
}

#[tokio::test]
async fn map_respects_max_concurrency() {
    struct Gauge {
        now: AtomicUsize,
        max: AtomicUsize,
    }
    #[async_trait]
    impl BatchRunner for Gauge {
        async fn run(&self, job: BatchJob, _ctx: &TaskContext) -> Result<Value, StatesError> {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            Ok(job.describe("j", "SUCCEEDED", &[]))
        }
    }
    let gauge = Arc::new(Gauge {
        now: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
    });
    let exec = Executor::new(Arc::new(Resources::new().with_batch(gauge.clone())));
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.xs", "MaxConcurrency": 3, "End": true,
        "ItemProcessor": {"StartAt": "t", "States": {"t": batch_task("t", None, json!({}))}}}}});
    let rec = run(&exec, def, json!({"xs": (0..20).collect::<Vec<_>>()})).await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded);
    assert_eq!(rec.output_json().unwrap().as_array().unwrap().len(), 20);
    assert_eq!(gauge.max.load(Ordering::SeqCst), 3);
}

#[test]
fn validation_rejects_unsupported_resources_and_bad_definitions() {
    let exec = executor(ScriptedBatch::new(Mode::Ok));
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "L", "States": {"L": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}}]}}});
    match exec.validate(&def.to_string()) {
        Err(DefinitionError::Invalid { at, why }) => {
            assert_eq!(at, "P/Branches[0]/L");
            assert!(why.contains("lambda:invoke"), "{why}");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    assert!(exec.validate("not json").is_err());
    let m = exec
        .validate(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#)
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Names reach the executor parsed: Ferry's one execution-name rule refuses these before an
    // execution can start, the '.' included.
    for bad in ["bad name", "a/b", "run.1", ""] {
        let e = ExecutionName::parse(bad).unwrap_err().to_string();
        assert!(
            e.contains(ferry_spec::ids::EXECUTION_NAME_RULE),
            "{bad}: {e}"
        );
    }
    rt.block_on(async {
        let rec = exec
            .start(m, &dn("fraud.prod.ScoreFlow"), &en("run_1"), json!({}))
            .wait()
            .await;
        assert_eq!(rec.status, ExecutionStatus::Succeeded);
        assert_eq!(
            rec.id,
            "arn:aws:states:local:000000000000:execution:fraud.prod.ScoreFlow:run_1"
        );
    });
}

#[tokio::test(start_paused = true)]
async fn virtual_tokio_time_orders_waits_and_timeouts() {
    use ferry_local::time::TokioTime;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
    let exec =
        executor(ScriptedBatch::new(Mode::Hang)).with_time(Arc::new(TokioTime::starting_at(t0)));
    // A 10 s Wait finishes inside the 1 h execution timeout; the hung task times out at 60 s.
    let def = json!({"TimeoutSeconds": 3600, "StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 10, "Next": "T"},
        "T": batch_task("T", None, json!({"TimeoutSeconds": 60,
            "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Done"}]})),
        "Done": {"Type": "Pass", "End": true}}});
    let rec = run(&exec, def, json!({})).await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    assert_eq!(rec.stop_date.unwrap() - t0, chrono::Duration::seconds(70));
    // A 2 h Wait hits the 1 h execution timeout.
    let def = json!({"TimeoutSeconds": 3600, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 7200, "End": true}}});
    let rec = run(&exec, def, json!({})).await;
    assert_eq!(rec.status, ExecutionStatus::TimedOut);
    assert_eq!(
        rec.stop_date.unwrap() - rec.start_date,
        chrono::Duration::seconds(3600)
    );
}

#[tokio::test]
async fn a_failing_map_item_fails_the_map_while_an_earlier_item_hangs() {
    let runner = ScriptedBatch::new(Mode::Hang);
    for mode in ["INLINE", "DISTRIBUTED"] {
        let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.xs", "End": true,
            "ItemProcessor": {"ProcessorConfig": {"Mode": mode}, "StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Hang"}], "Default": "F"},
                "Hang": batch_task("hang", None, json!({})),
                "F": {"Type": "Fail", "Error": "Item.Failed", "Cause": "second"}}}}}});
        let rec = run(&executor(runner.clone()), def, json!({"xs": [0, 1]})).await;
        assert_eq!(rec.status, ExecutionStatus::Failed, "{mode}");
        let want = if mode == "INLINE" {
            "Item.Failed"
        } else {
            "States.ExceedToleratedFailureThreshold"
        };
        assert_eq!(rec.error.as_deref(), Some(want), "{mode}");
        assert!(
            runner.dropped.load(Ordering::SeqCst),
            "{mode}: the hanging item is dropped"
        );
    }
}
