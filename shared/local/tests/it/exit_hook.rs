//! `@exit_hook` as compiled, on the local executor: the on_error hook runs after a failure
//! only (also a failure inside a split or a foreach), the on_success hook after a success
//! only, each once, and the run ends as it would without hooks (same status, error and cause)
//! even when the hook itself fails.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferry_compile::{CompileOptions, compile};
use ferry_control::{DeploymentName, ExecutionName, ExecutionStatus as Status};
use ferry_local::executor::{
    BatchJob, BatchRunner, ExecutionRecord, Executor, Resources, StatesError, TaskContext,
};
use ferry_spec::model::{ExitHook, FlowDecorators, FlowSpec, Step, StepDecorators, StepType};
use ferry_spec::task::{BlobStoreRef, PackageRef, TableRef};
use ferry_store::{Attr, Blobs, Condition, DirBlobs, SqliteTable, Table};
use serde_json::{Value, json};

/// A Batch stand-in: records the step of every job, fails the steps in `fail`, and leaves
/// the foreach state a foreach needs (two items).
struct Jobs {
    table: Arc<SqliteTable>,
    blobs: Arc<DirBlobs>,
    fail: BTreeSet<&'static str>,
    ran: Mutex<Vec<String>>,
}

#[async_trait]
impl BatchRunner for Jobs {
    async fn run(&self, job: BatchJob, _ctx: &TaskContext) -> Result<Value, StatesError> {
        let step = job.parameter("step_name").unwrap_or_default();
        let id = {
            let mut ran = self.ran.lock().unwrap();
            ran.push(step.clone());
            format!("job-{}", ran.len())
        };
        if self.fail.contains(step.as_str()) {
            let record = job.describe(&id, "FAILED", &[]);
            return Err(StatesError::task_failed(record.to_string()));
        }
        let attrs = [(
            "for_each_cardinality".to_string(),
            Attr::Ns(vec!["0".into(), "1".into()]),
        )]
        .into_iter()
        .collect();
        self.table
            .set(&id, "foreach", attrs, Condition::None)
            .await
            .unwrap();
        self.blobs
            .put(&format!("foreach/{id}.json"), b"[0,1]".to_vec())
            .await
            .unwrap();
        Ok(job.describe(&id, "SUCCEEDED", &[]))
    }
}

fn step(name: &str, ty: StepType, next: &[&str]) -> Step {
    Step {
        name: name.into(),
        ty,
        next: next.iter().map(|s| s.to_string()).collect(),
        foreach: (ty == StepType::Foreach).then(|| "items".to_string()),
        num_parallel: None,
        decorators: StepDecorators::default(),
        command: None,
    }
}

fn spec(hook: ExitHook) -> FlowSpec {
    use StepType::*;
    FlowSpec {
        spec_version: 1,
        flow: "HookedFlow".into(),
        file: "flow.py".into(),
        metaflow_version: None,
        parameters: vec![],
        decorators: FlowDecorators {
            exit_hook: Some(hook),
            ..FlowDecorators::default()
        },
        steps: vec![
            step("start", Split, &["a", "b"]),
            step("a", Linear, &["join"]),
            step("b", Linear, &["join"]),
            step("join", Join, &["fan"]),
            step("fan", Foreach, &["body"]),
            step("body", Linear, &["join_fan"]),
            step("join_fan", Join, &["end"]),
            step("end", End, &[]),
        ],
    }
}

fn both() -> ExitHook {
    ExitHook {
        on_success: vec!["notify".into()],
        on_error: vec!["page".into()],
        image: None,
    }
}

async fn run(hook: ExitHook, fail: &[&'static str]) -> (ExecutionRecord, Vec<String>) {
    let s = spec(hook);
    let graph = ferry_spec::validate(&s).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let options = CompileOptions {
        state_machine_name: "HookedFlow".into(),
        blobs: BlobStoreRef::Dir {
            path: tmp.path().display().to_string(),
        },
        state_table_name: "ferry-state".into(),
        state_table: TableRef::Sqlite {
            path: "state.db".into(),
        },
        job_queue: "local".into(),
        default_image: "local".into(),
        owner: "alice".into(),
        production_token: "hookedflow-0-abcd".into(),
        code_package: PackageRef {
            key: format!("code/{}.tgz", "0".repeat(64)),
            sha256: "0".repeat(64),
        },
        max_workers: 4,
        ..CompileOptions::default()
    };
    let compiled = compile(&s, &graph, &options).unwrap();
    let table = Arc::new(SqliteTable::memory());
    let blobs = Arc::new(DirBlobs::open(tmp.path()).unwrap());
    let jobs = Arc::new(Jobs {
        table: table.clone(),
        blobs: blobs.clone(),
        fail: fail.iter().copied().collect(),
        ran: Mutex::new(Vec::new()),
    });
    let resources = Resources::new()
        .with_batch(jobs.clone())
        .with_default_table(table)
        .with_bucket("ferry-local-blobs", blobs.clone(), "")
        .with_default_bucket(blobs, "ferry/");
    let exec = Executor::new(Arc::new(resources));
    let machine = exec.validate(&compiled.definition_json()).unwrap();
    let record = exec
        .start(
            machine,
            &DeploymentName::parse("HookedFlow").unwrap(),
            &ExecutionName::parse("run-1").unwrap(),
            json!({"Parameters": "{}"}),
        )
        .wait()
        .await;
    let ran = jobs.ran.lock().unwrap().clone();
    (record, ran)
}

fn hooks(ran: &[String]) -> usize {
    ran.iter().filter(|s| *s == "_exit_hook").count()
}

#[tokio::test]
async fn a_success_runs_the_on_success_hook_once_after_end() {
    let (rec, ran) = run(both(), &[]).await;
    assert_eq!(rec.status, Status::Succeeded, "{rec:?}");
    assert_eq!(hooks(&ran), 1, "{ran:?}");
    assert_eq!(
        ran.last().map(String::as_str),
        Some("_exit_hook"),
        "{ran:?}"
    );
    assert_eq!(ran[ran.len() - 2], "end");
}

#[tokio::test]
async fn a_failure_runs_the_on_error_hook_and_keeps_the_flows_error() {
    let plain = ExitHook {
        on_success: vec![],
        ..both()
    };
    for failing in ["start", "b", "body", "end"] {
        let (rec, ran) = run(both(), &[failing]).await;
        assert_eq!(rec.status, Status::Failed, "{failing}: {rec:?}");
        assert_eq!(hooks(&ran), 1, "{failing}: {ran:?}");
        assert_eq!(ran.last().map(String::as_str), Some("_exit_hook"));
        assert_eq!(rec.error.as_deref(), Some("States.TaskFailed"), "{failing}");
        // The cause is the failed task's own record, so the failing step is still found.
        let cause: Value = serde_json::from_str(rec.cause.as_deref().unwrap()).unwrap();
        assert_eq!(
            cause["Parameters"]["step_name"], failing,
            "{failing}: {cause}"
        );
        // Without on_success functions, the same (the task URL differs: another blob folder).
        let (rec2, _) = run(plain.clone(), &[failing]).await;
        assert_eq!(rec2.status, Status::Failed);
        assert_eq!(rec2.error, rec.error);
        let cause2: Value = serde_json::from_str(rec2.cause.as_deref().unwrap()).unwrap();
        assert_eq!(cause2["Parameters"], cause["Parameters"]);
    }
}

#[tokio::test]
async fn a_failing_hook_leaves_the_runs_status_as_it_was() {
    let (rec, ran) = run(both(), &["body", "_exit_hook"]).await;
    assert_eq!(rec.status, Status::Failed);
    assert_eq!(hooks(&ran), 1, "{ran:?}");
    let cause: Value = serde_json::from_str(rec.cause.as_deref().unwrap()).unwrap();
    assert_eq!(cause["Parameters"]["step_name"], "body");

    let (rec, ran) = run(both(), &["_exit_hook"]).await;
    assert_eq!(rec.status, Status::Succeeded, "{rec:?}");
    assert_eq!(hooks(&ran), 1, "{ran:?}");
    let out = rec.output_json().unwrap();
    assert_eq!(out["ExitHookError"]["Error"], "States.TaskFailed", "{out}");
}

#[tokio::test]
async fn only_the_hook_of_the_outcome_runs() {
    let on_error_only = ExitHook {
        on_success: vec![],
        ..both()
    };
    let (rec, ran) = run(on_error_only, &[]).await;
    assert_eq!(rec.status, Status::Succeeded);
    assert_eq!(hooks(&ran), 0, "{ran:?}");
    let on_success_only = ExitHook {
        on_error: vec![],
        ..both()
    };
    let (rec, ran) = run(on_success_only, &["a"]).await;
    assert_eq!(rec.status, Status::Failed);
    assert_eq!(hooks(&ran), 0, "{ran:?}");
}
