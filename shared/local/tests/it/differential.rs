//! Differential test: every state machine in `tests/corpus/*.json` runs on the local executor
//! AND on moto's Step Functions interpreter (`execute_state_machine` mode, driven through boto3
//! by `tests/support/moto_sfn.py`); both must end with the same status, output, error and
//! (unless the case says `"compare_cause": false`) cause.
//!
//! A corpus file: `{"comment", "definition", "input", "table"?: true, "items"?: [DynamoDB JSON],
//! "bucket"?: true, "objects"?: {key: text}, "compare_cause"?: bool}`. `${TABLE}` and `${BUCKET}`
//! in the definition become a unique DynamoDB table / S3 bucket, created and seeded on both
//! sides (locally: an in-memory `SqliteTable` and a `DirBlobs`).
//!
//! Left out of the corpus because moto diverges from AWS (covered by unit tests instead):
//! - a Choice with no match and no Default: moto fails with `States.Runtime`, AWS (and we) with
//!   `States.NoChoiceMatched`;
//! - a path under an array index such as `$[0].x`: moto wraps the value in a list (moto #7825);
//! - a final property union `$.['a','b']` (the Metaflow Task OutputPath): moto answers a list,
//!   AWS (Jayway) an object with those keys;
//! - `\'`/`\{` escapes in `States.Format` literals and `null` arguments of `States.Array`: moto
//!   mangles or drops them;
//! - `batch:submitJob.sync` (moto cannot run it, TOOLING.md §1), Task timeouts (no slow task to
//!   time out in moto), distributed-Map `ResultWriter` and tolerated failures, `$$` timestamps
//!   and ARNs (naturally different).
//!
//! moto quirk normalised here: an output that is a bare JSON string comes back unquoted, so the
//! helper reports it as `{"unparsed": text}`, compared as the string `text`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use ferry_control::{DeploymentName, ExecutionName, ExecutionStatus};
use ferry_local::executor::{Executor, Resources};
use ferry_store::{Blobs, DirBlobs, SqliteTable, Table};
use serde_json::{Value, json};

struct Case {
    name: String,
    file: Value,
    definition: String,
    table: Option<String>,
    bucket: Option<String>,
    machine_name: String,
}

fn corpus() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/corpus")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            let file: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let suffix = ferry_testkit::unique("c").replace('_', "-");
            let table = file
                .get("table")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .then(|| format!("corpus-{suffix}"));
            let bucket = file
                .get("bucket")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .then(|| format!("corpus-{suffix}").to_lowercase());
            let definition = file["definition"]
                .to_string()
                .replace("${TABLE}", table.as_deref().unwrap_or(""))
                .replace("${BUCKET}", bucket.as_deref().unwrap_or(""));
            Case {
                name,
                file,
                definition,
                table,
                bucket,
                machine_name: format!("m-{suffix}"),
            }
        })
        .collect()
}

const EXECUTION_NAME: &str = "corpus-run";

fn run_on_moto(cases: &[Case]) -> BTreeMap<String, Value> {
    let payload: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "machine_name": c.machine_name, "execution_name": EXECUTION_NAME,
                "definition": c.definition, "input": c.file["input"],
                "table": c.table, "items": c.file.get("items").cloned().unwrap_or(json!([])),
                "bucket": c.bucket, "objects": c.file.get("objects").cloned().unwrap_or(json!({})),
            })
        })
        .collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_sfn.py");
    let mut child = Command::new(ferry_testkit::python())
        .arg(script)
        .arg(ferry_testkit::moto_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the moto helper");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(serde_json::to_string(&payload).unwrap().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "moto helper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("helper output is JSON");
    results
        .into_iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r))
        .collect()
}

async fn run_locally(case: &Case, tmp: &std::path::Path) -> Value {
    let mut resources = Resources::new();
    if let Some(t) = &case.table {
        let table = Arc::new(SqliteTable::memory());
        for item in case
            .file
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            // Seed through the same dynamodb:putItem path the machines use.
            let seed = Resources::new().with_table("seed", table.clone() as Arc<dyn Table>);
            let exec = Executor::new(Arc::new(seed));
            let def = json!({"StartAt": "P", "States": {"P": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": "seed", "Item": item}, "End": true}}});
            let m = exec.validate(&def.to_string()).unwrap();
            let rec = exec
                .start(
                    m,
                    &DeploymentName::parse("seed").unwrap(),
                    &ExecutionName::parse("seed").unwrap(),
                    json!({}),
                )
                .wait()
                .await;
            assert_eq!(
                rec.status,
                ExecutionStatus::Succeeded,
                "seeding {}: {rec:?}",
                case.name
            );
        }
        resources = resources.with_table(t.clone(), table);
    }
    if let Some(b) = &case.bucket {
        let root = tmp.join(&case.name);
        let blobs = Arc::new(DirBlobs::open(&root).unwrap());
        for (k, v) in case
            .file
            .get("objects")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
        {
            blobs
                .put(&k, v.as_str().unwrap().as_bytes().to_vec())
                .await
                .unwrap();
        }
        resources = resources.with_bucket(b.clone(), blobs, "");
    }
    let exec = Executor::new(Arc::new(resources));
    let machine = exec
        .validate(&case.definition)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let rec = exec
        .start(
            machine,
            &DeploymentName::parse(&case.machine_name).unwrap(),
            &ExecutionName::parse(EXECUTION_NAME).unwrap(),
            case.file["input"].clone(),
        )
        .wait()
        .await;
    json!({"status": rec.status.as_str(), "output": rec.output_json(), "error": rec.error, "cause": rec.cause})
}

fn normalise_moto_output(v: &Value) -> Value {
    match v.get("unparsed") {
        Some(Value::String(s)) if v.as_object().is_some_and(|m| m.len() == 1) => {
            Value::String(s.clone())
        }
        _ => v.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_matches_moto() {
    let cases = corpus();
    assert!(
        cases.len() >= 30,
        "the corpus must hold at least 30 machines, found {}",
        cases.len()
    );
    let moto = tokio::task::spawn_blocking({
        let payload: Vec<Case> = cases
            .iter()
            .map(|c| Case {
                name: c.name.clone(),
                file: c.file.clone(),
                definition: c.definition.clone(),
                table: c.table.clone(),
                bucket: c.bucket.clone(),
                machine_name: c.machine_name.clone(),
            })
            .collect();
        move || run_on_moto(&payload)
    });
    let tmp = tempfile::tempdir().unwrap();
    let locals = futures::future::join_all(cases.iter().map(|c| run_locally(c, tmp.path()))).await;
    let moto = moto.await.unwrap();

    let mut mismatches = Vec::new();
    for (case, local) in cases.iter().zip(locals) {
        let reference = moto
            .get(&case.name)
            .unwrap_or_else(|| panic!("moto has no result for {}", case.name));
        let compare_cause = case
            .file
            .get("compare_cause")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let mut diffs = Vec::new();
        if local["status"] != reference["status"] {
            diffs.push(format!(
                "status {} vs moto {}",
                local["status"], reference["status"]
            ));
        }
        let ref_out = normalise_moto_output(&reference["output"]);
        if local["output"] != ref_out {
            diffs.push(format!("output {} vs moto {}", local["output"], ref_out));
        }
        if local["status"] != "SUCCEEDED" || reference["status"] != "SUCCEEDED" {
            if local["error"] != reference["error"] {
                diffs.push(format!(
                    "error {} vs moto {}",
                    local["error"], reference["error"]
                ));
            }
            if compare_cause && local["cause"] != reference["cause"] {
                diffs.push(format!(
                    "cause {} vs moto {}",
                    local["cause"], reference["cause"]
                ));
            }
        }
        if !diffs.is_empty() {
            mismatches.push(format!("{}: {}", case.name, diffs.join("; ")));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} corpus machines differ from moto:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}
