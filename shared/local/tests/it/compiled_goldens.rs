//! Every state machine in the compiler's golden files (`shared/compile/tests/golden/*.json`)
//! validates on the local executor and runs to SUCCEEDED, with a Batch stand-in that has the
//! task wrapper's side effects a foreach needs (the cardinality and, for the array form, the chunk
//! list in the state table, and the `foreach/<job id>.json` blob) and checks that every job receives the run id.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferry_control::{DeploymentName, ExecutionName, ExecutionStatus};
use ferry_local::executor::{BatchJob, BatchRunner, Executor, Resources, StatesError, TaskContext};
use ferry_store::{Attr, Blobs, Condition, DirBlobs, SqliteTable, Table};
use serde_json::{Value, json};

const FANOUT: usize = 2;

struct WrapperLike {
    table: Arc<SqliteTable>,
    blobs: Arc<DirBlobs>,
    n: AtomicUsize,
    jobs: Mutex<Vec<BatchJob>>,
}

#[async_trait]
impl BatchRunner for WrapperLike {
    async fn run(&self, job: BatchJob, _ctx: &TaskContext) -> Result<Value, StatesError> {
        let id = format!("job-{}", self.n.fetch_add(1, Ordering::SeqCst));
        let indexes: Vec<String> = (0..FANOUT).map(|i| i.to_string()).collect();
        let chunks =
            serde_json::to_string(&ferry_spec::array_job::array_chunks(FANOUT as u64)).unwrap();
        let attrs = [
            (
                "for_each_cardinality".to_string(),
                Attr::Ns(indexes.clone()),
            ),
            (
                ferry_spec::array_job::ATTR_CHUNKS.to_string(),
                Attr::S(chunks),
            ),
        ]
        .into_iter()
        .collect();
        self.table
            .set(&id, "foreach", attrs, Condition::None)
            .await
            .unwrap();
        self.blobs
            .put(
                &format!("foreach/{id}.json"),
                serde_json::to_vec(&indexes).unwrap(),
            )
            .await
            .unwrap();
        self.jobs.lock().unwrap().push(job.clone());
        Ok(job.describe(&id, "SUCCEEDED", &[]))
    }
}

#[tokio::test]
async fn compiled_machines_run_locally() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../compile/tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("compiler goldens")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the compiler's golden files in {}",
        dir.display()
    );
    for f in files {
        let golden: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let definition = golden["definition"].to_string();
        let tmp = tempfile::tempdir().unwrap();
        let table = Arc::new(SqliteTable::memory());
        let blobs = Arc::new(DirBlobs::open(tmp.path()).unwrap());
        let runner = Arc::new(WrapperLike {
            table: table.clone(),
            blobs: blobs.clone(),
            n: AtomicUsize::new(0),
            jobs: Mutex::new(vec![]),
        });
        let resources = Resources::new()
            .with_batch(runner.clone())
            .with_default_table(table)
            .with_bucket("ferry-local-blobs", blobs.clone(), "")
            .with_default_bucket(blobs, "ferry/");
        let exec = Executor::new(Arc::new(resources));
        let machine = exec
            .validate(&definition)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let rec = exec
            .start(
                machine,
                &DeploymentName::parse("GoldenFlow").unwrap(),
                &ExecutionName::parse("run-golden").unwrap(),
                json!({"Parameters": "{}"}),
            )
            .wait()
            .await;
        assert_eq!(
            rec.status,
            ExecutionStatus::Succeeded,
            "{}: {rec:?}",
            f.display()
        );
        let jobs = runner.jobs.lock().unwrap();
        assert!(jobs.len() >= 2, "{}: only {} jobs", f.display(), jobs.len());
        for job in jobs.iter() {
            let run_id = job
                .environment
                .iter()
                .find(|(n, _)| n == "FERRY_RUN_ID")
                .map(|(_, v)| v.as_str());
            assert_eq!(
                run_id,
                Some("run-golden"),
                "{}: job {} env {:?}",
                f.display(),
                job.job_name,
                job.environment
            );
            assert_eq!(
                job.parameter("metaflow.run_id").as_deref(),
                Some("run-golden"),
                "{}",
                f.display()
            );
        }
        eprintln!(
            "{}: {} jobs, {} events",
            f.file_name().unwrap().to_string_lossy(),
            jobs.len(),
            rec.events
        );
    }
}
