//! The Batch array form of a foreach on the local executor, with real processes: the compiler's
//! golden `array_chain.json` (foreach `fan`, body `prep → train → score` as array jobs chained
//! `N_TO_N`, only `score` `.sync`) runs on the [`ProcessRunner`], each job's command swapped for a
//! `/bin/sh` script that logs what Batch handed it. A thin [`BatchRunner`] around the process
//! runner does the one side effect of the task wrapper the machine reads: the foreach task's
//! chunk list in the state table.
//!
//! Covered: sizes (0, 1 with its padding child, several), `AWS_BATCH_JOB_ARRAY_INDEX` and child
//! job ids, `N_TO_N` order, a failing child failing its dependants without running them, per-child
//! `RetryStrategy`, `submitJob` answering at once then `.sync` waiting, bad `ArrayProperties` /
//! `DependsOn`, the worker bound, the live job view and stopping an execution.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferry_control::{DeploymentName, ExecutionName, ExecutionStatus};
use ferry_local::executor::{
    BatchJob, BatchRunner, ExecutionHandle, Executor, Resources, StatesError, TaskContext,
};
use ferry_local::runner::{ProcessRunner, RunnerConfig};
use ferry_spec::array_job::{ATTR_CHUNKS, array_chunks};
use ferry_store::{Attr, Condition, SqliteTable, Table};
use serde_json::{Value, json};

const BODY: [&str; 3] = ["prep", "train", "score"];

/// The process runner, plus the chunk list a foreach task (`fan`) writes.
struct WithChunks {
    inner: ProcessRunner,
    table: Arc<SqliteTable>,
    width: u64,
}

#[async_trait]
impl BatchRunner for WithChunks {
    async fn run(&self, job: BatchJob, ctx: &TaskContext) -> Result<Value, StatesError> {
        let record = BatchRunner::run(&self.inner, job.clone(), ctx).await?;
        if job.step() == "fan" {
            let id = record["JobId"].as_str().unwrap().to_string();
            let chunks = serde_json::to_string(&array_chunks(self.width)).unwrap();
            let attrs = [(ATTR_CHUNKS.to_string(), Attr::S(chunks))].into();
            self.table
                .set(&id, "foreach", attrs, Condition::None)
                .await
                .unwrap();
        }
        Ok(record)
    }
}

/// What a body child logs: `<start|end> <step> <job id> <array index> <offset> <parent array
/// job id> <attempt>`, one line each, appended to `$LOG`. A child fails while `FAIL` names
/// `<step>:<split index>` and its attempt is at most `FAIL_ATTEMPTS` (default: always).
fn body_script(step: &str) -> String {
    format!(
        r#"i=$((FERRY_ARRAY_OFFSET + AWS_BATCH_JOB_ARRAY_INDEX))
echo "start {step} $AWS_BATCH_JOB_ID $AWS_BATCH_JOB_ARRAY_INDEX $FERRY_ARRAY_OFFSET ${{FERRY_PARENT_ARRAY_JOB_ID:--}} $AWS_BATCH_JOB_ATTEMPT" >> "$LOG"
sleep "${{PAUSE:-0}}"
if [ "$FAIL" = "{step}:$i" ] && [ "$AWS_BATCH_JOB_ATTEMPT" -le "${{FAIL_ATTEMPTS:-99}}" ]; then exit 3; fi
echo "end {step} $AWS_BATCH_JOB_ID $AWS_BATCH_JOB_ARRAY_INDEX" >> "$LOG""#
    )
}

/// Every Task of `definition` (top level and in Maps) runs `/bin/sh -c <script>` instead of the
/// task wrapper: body steps [`body_script`], the others `true`.
fn with_scripts(states: &mut serde_json::Map<String, Value>) {
    for (name, state) in states.iter_mut() {
        if let Some(p) = state.pointer_mut("/Parameters/ContainerOverrides/Command") {
            let script = if BODY.contains(&name.as_str()) {
                body_script(name)
            } else {
                "true".to_string()
            };
            *p = json!(["/bin/sh", "-c", script]);
        }
        if let Some(inner) = state.pointer_mut("/ItemProcessor/States") {
            with_scripts(inner.as_object_mut().unwrap());
        }
    }
}

fn golden_chain() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../compile/tests/golden/array_chain.json");
    let golden: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut def = golden["definition"].clone();
    with_scripts(def["States"].as_object_mut().unwrap());
    def
}

struct Stack {
    _home: tempfile::TempDir,
    log: PathBuf,
    runner: ProcessRunner,
    executor: Executor,
}

fn stack(width: u64, workers: usize, env: &[(&str, &str)]) -> Stack {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("children.log");
    let mut cfg = RunnerConfig::under(home.path());
    cfg.max_workers = workers;
    cfg.kill_grace = Duration::from_secs(1);
    cfg.base_env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("LOG".to_string(), log.display().to_string())])
        .collect();
    let runner = ProcessRunner::new(cfg);
    let table = Arc::new(SqliteTable::memory());
    let batch = Arc::new(WithChunks {
        inner: runner.clone(),
        table: table.clone(),
        width,
    });
    let resources = Resources::new().with_batch(batch).with_default_table(table);
    Stack {
        _home: home,
        log,
        runner,
        executor: Executor::new(Arc::new(resources)),
    }
}

impl Stack {
    fn start(&self, definition: &Value) -> ExecutionHandle {
        let machine = self.executor.validate(&definition.to_string()).unwrap();
        self.executor.start(
            machine,
            &DeploymentName::parse("ArrayChainFlow").unwrap(),
            &ExecutionName::parse("run-array").unwrap(),
            json!({"Parameters": "{}"}),
        )
    }

    /// The children's log lines, split into words.
    fn lines(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').map(str::to_string).collect())
            .collect()
    }

    /// Lines `what` (`start`/`end`) of `step`.
    fn of(&self, what: &str, step: &str) -> Vec<Vec<String>> {
        self.lines()
            .into_iter()
            .filter(|l| l[0] == what && l[1] == step)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_array_jobs_run_every_child_in_n_to_n_order() {
    let s = stack(5, 4, &[]);
    let rec = s.start(&golden_chain()).wait().await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    let lines = s.lines();
    let pos = |what: &str, step: &str, index: &str| {
        lines
            .iter()
            .position(|l| l[0] == what && l[1] == step && l[3] == index)
            .unwrap_or_else(|| panic!("no {what} of {step}[{index}] in {lines:?}"))
    };
    let mut array_ids = Vec::new();
    for step in BODY {
        let starts = s.of("start", step);
        assert_eq!(starts.len(), 5, "{step}: {starts:?}");
        // One array job per step: children `<array id>:<i>` for i in 0..5, offset 0.
        let array_id = starts[0][2].rsplit_once(':').unwrap().0.to_string();
        let mut indexes: Vec<u64> = starts.iter().map(|l| l[3].parse().unwrap()).collect();
        indexes.sort();
        assert_eq!(indexes, vec![0, 1, 2, 3, 4]);
        for l in &starts {
            assert_eq!(l[2], format!("{array_id}:{}", l[3]), "{l:?}");
            assert_eq!(l[4], "0");
        }
        array_ids.push(array_id);
    }
    // Later steps name the previous step's array job, and child i starts after child i of it.
    assert!(s.of("start", "prep").iter().all(|l| l[5] == "-"));
    for (k, step) in BODY.iter().enumerate().skip(1) {
        assert!(s.of("start", step).iter().all(|l| l[5] == array_ids[k - 1]));
        for i in 0..5 {
            let i = i.to_string();
            assert!(
                pos("end", BODY[k - 1], &i) < pos("start", step, &i),
                "{lines:?}"
            );
        }
    }
    assert_eq!(s.runner.live_jobs(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_zero_one_and_several() {
    for (width, children) in [(0u64, 0usize), (1, 2), (3, 3)] {
        let s = stack(width, 4, &[]);
        let rec = s.start(&golden_chain()).wait().await;
        assert_eq!(rec.status, ExecutionStatus::Succeeded, "{width}: {rec:?}");
        for step in BODY {
            // A one-item foreach is an array of 2 (Batch's smallest); the padding child runs too.
            assert_eq!(s.of("end", step).len(), children, "width {width}, {step}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_child_fails_its_dependants_without_running_them() {
    let s = stack(4, 4, &[("FAIL", "prep:2")]);
    let rec = s.start(&golden_chain()).wait().await;
    assert_eq!(rec.status, ExecutionStatus::Failed);
    assert_eq!(rec.error.as_deref(), Some("States.TaskFailed"));
    assert_eq!(rec.failing_state.as_deref(), Some("fan-map"));
    // The cause is the last (.sync) array job's description, as Step Functions gives it.
    let cause: Value = serde_json::from_str(rec.cause.as_deref().unwrap()).unwrap();
    assert_eq!(cause["Status"], "FAILED");
    assert_eq!(cause["JobName"], "ArrayChainFlow-score");
    assert_eq!(
        cause["ArrayProperties"],
        json!({"Size": 4, "StatusSummary": {"SUCCEEDED": 3, "FAILED": 1}})
    );
    // prep[2] ran (and failed); train[2] and score[2] never started; the other children all ran.
    assert_eq!(s.of("start", "prep").len(), 4);
    assert_eq!(s.of("end", "prep").len(), 3);
    for step in ["train", "score"] {
        let indexes: Vec<String> = s.of("end", step).iter().map(|l| l[3].clone()).collect();
        assert_eq!(s.of("start", step).len(), 3, "{step}");
        assert!(!indexes.contains(&"2".to_string()), "{step}: {indexes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_strategy_is_per_child() {
    let mut def = golden_chain();
    def["States"]["fan-map"]["ItemProcessor"]["States"]["train"]["Parameters"]["RetryStrategy"] =
        json!({"Attempts": 2});
    let s = stack(3, 4, &[("FAIL", "train:1"), ("FAIL_ATTEMPTS", "1")]);
    let rec = s.start(&def).wait().await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    let train = s.of("start", "train");
    let attempts_of_1: Vec<(String, String)> = train
        .iter()
        .filter(|l| l[3] == "1")
        .map(|l| (l[2].clone(), l[6].clone()))
        .collect();
    // Child 1 ran twice with one job id; the others once.
    assert_eq!(attempts_of_1.len(), 2, "{train:?}");
    assert_eq!(attempts_of_1[0].0, attempts_of_1[1].0);
    assert_eq!(
        [attempts_of_1[0].1.as_str(), attempts_of_1[1].1.as_str()],
        ["1", "2"]
    );
    assert_eq!(train.len(), 4);
    assert_eq!(s.of("end", "score").len(), 3);
}

/// A job of `/bin/sh -c script` with these extra fields.
fn submit(name: &str, sync: bool, script: &str, extra: Value, next: Option<&str>) -> Value {
    let mut state = json!({
        "Type": "Task",
        "Resource": format!("arn:aws:states:::batch:submitJob{}", if sync { ".sync" } else { "" }),
        "Parameters": {
            "JobName": name, "JobQueue": "q", "JobDefinition": "d",
            "Parameters": {"step_name": name, "metaflow.run_id": "run-array"},
            "ContainerOverrides": {"Command": ["/bin/sh", "-c", script]},
        },
        "ResultPath": format!("$.{name}"),
    });
    for (k, v) in extra.as_object().unwrap() {
        state["Parameters"][k] = v.clone();
    }
    match next {
        Some(n) => state["Next"] = json!(n),
        None => state["End"] = json!(true),
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_job_answers_at_once_and_sync_waits_for_every_child() {
    let s = stack(0, 4, &[]);
    let go = s.log.with_file_name("go");
    let wait_go = format!(
        r#"echo "start a $AWS_BATCH_JOB_ID" >> "$LOG"; while [ ! -e {} ]; do sleep 0.05; done; echo "end a $AWS_BATCH_JOB_ID" >> "$LOG""#,
        go.display()
    );
    let def = json!({"StartAt": "a", "States": {
        "a": submit("a", false, &wait_go, json!({"ArrayProperties": {"Size": 3}}), Some("b")),
        "b": submit("b", true, r#"echo "start b $AWS_BATCH_JOB_ID" >> "$LOG""#,
            json!({"ArrayProperties": {"Size": 3}, "DependsOn": [{"JobId.$": "$.a.JobId", "Type": "N_TO_N"}]}), None),
    }});
    let handle = s.start(&def);
    // `a` answered while its children still run: `b` is waiting on them.
    for _ in 0..200 {
        if s.of("start", "a").len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(s.of("start", "a").len(), 3);
    assert_eq!(handle.status(), ExecutionStatus::Running);
    let counts = handle.event_counts();
    assert_eq!(counts.get("TaskSucceeded"), Some(&1), "{counts:?}");
    assert!(s.of("start", "b").is_empty());
    // The live view lists the children by task id (`<array id>-<i>`).
    let live = s.runner.jobs_of("run-array");
    assert_eq!(live.len(), 3, "{live:?}");
    assert!(
        live.iter()
            .all(|j| j.step == "a" && !j.job_id.contains(':'))
    );
    std::fs::write(&go, "").unwrap();
    let rec = handle.wait().await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    let out = rec.output_json().unwrap();
    let a_id = out["a"]["JobId"].as_str().unwrap();
    assert_eq!(
        out["a"],
        json!({"JobArn": format!("arn:aws:batch:local:000000000000:job/{a_id}"), "JobId": a_id, "JobName": "a"})
    );
    assert_eq!(out["b"]["Status"], "SUCCEEDED");
    assert_eq!(out["b"]["ArrayProperties"]["StatusSummary"]["SUCCEEDED"], 3);
    assert_eq!(s.of("start", "b").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_array_properties_and_dependencies_are_client_errors() {
    let s = stack(0, 2, &[]);
    let cases = [
        (
            json!({"ArrayProperties": {"Size": 1}}),
            "ArrayProperties.Size",
        ),
        (
            json!({"ArrayProperties": {"Size": 10_001}}),
            "ArrayProperties.Size",
        ),
        (
            json!({"ArrayProperties": {"Size": "3"}}),
            "ArrayProperties.Size",
        ),
        (json!({"ArrayProperties": {}}), "ArrayProperties.Size"),
        (
            json!({"DependsOn": [{"JobId": "nope"}]}),
            "has not submitted",
        ),
        (
            json!({"DependsOn": [{"JobId": "x", "Type": "N_TO_N"}]}),
            "N_TO_N",
        ),
        (
            json!({"ArrayProperties": {"Size": 2}, "DependsOn": [{"JobId": "x", "Type": "SEQUENTIAL"}]}),
            "SEQUENTIAL",
        ),
    ];
    for (extra, says) in cases {
        let def = json!({"StartAt": "a", "States": {"a": submit("a", true, "true", extra.clone(), None)}});
        let rec = s.start(&def).wait().await;
        assert_eq!(rec.status, ExecutionStatus::Failed, "{extra}");
        assert_eq!(
            rec.error.as_deref(),
            Some("Batch.ClientException"),
            "{extra}"
        );
        assert!(
            rec.cause.as_deref().unwrap().contains(says),
            "{extra}: {:?}",
            rec.cause
        );
    }
    // N_TO_N between array jobs of different sizes.
    let def = json!({"StartAt": "a", "States": {
        "a": submit("a", false, "true", json!({"ArrayProperties": {"Size": 2}}), Some("b")),
        "b": submit("b", true, "true", json!({"ArrayProperties": {"Size": 3}, "DependsOn": [{"JobId.$": "$.a.JobId", "Type": "N_TO_N"}]}), None),
    }});
    let rec = s.start(&def).wait().await;
    assert_eq!(rec.error.as_deref(), Some("Batch.ClientException"));
    assert!(
        rec.cause.as_deref().unwrap().contains("one size"),
        "{:?}",
        rec.cause
    );
    assert!(s.lines().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_respect_the_worker_bound() {
    let s = stack(30, 3, &[("PAUSE", "0.05")]);
    let rec = s.start(&golden_chain()).wait().await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    let (mut running, mut most) = (0i64, 0i64);
    for l in s.lines() {
        running += if l[0] == "start" { 1 } else { -1 };
        most = most.max(running);
    }
    assert_eq!(s.of("end", "score").len(), 30);
    assert!(most <= 3, "{most} children ran at once with 3 workers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_execution_stops_every_child() {
    let s = stack(6, 2, &[("PAUSE", "30")]);
    let handle = s.start(&golden_chain());
    for _ in 0..200 {
        if s.of("start", "prep").len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(s.of("start", "prep").len(), 2);
    // Six prep children are submitted; two run, the others wait for a worker.
    assert_eq!(s.runner.jobs_of("run-array").len(), 6);
    handle.stop(Some("States.Aborted"), Some("stopped by the test"));
    let rec = handle.wait().await;
    assert_eq!(rec.status, ExecutionStatus::Aborted);
    for _ in 0..200 {
        if s.runner.live_jobs() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(s.runner.live_jobs(), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.of("start", "prep").len(),
        2,
        "no child started after the stop"
    );
    assert!(s.of("end", "prep").is_empty());
}
