//! What the wrapper does instead of starting extra Python interpreters, checked against the real
//! Metaflow of the tools venv: the split count read straight from a datastore Metaflow wrote, and
//! the step bootstrap that runs a flow file as `python <file>` would, minus the heartbeat sidecar.

use std::process::Command;

use ferry_spec::task::BlobStoreRef;
use ferry_task::command::Invocation;
use ferry_task::heartbeat::{STEP_BOOTSTRAP_PY, without_heartbeat_sidecar};
use ferry_task::splits::{TaskPath, read_num_splits};

/// Have Metaflow's own datastore classes save `_foreach_num_splits = n` (and another artifact)
/// for task `F/r1/s/<task>` attempt 0 under `<root>/.metaflow`.
fn metaflow_saves(root: &std::path::Path, task: &str, n: &str) {
    let code = r#"
import sys
from metaflow.datastore import FlowDataStore
from metaflow.plugins import DATASTORES
root, task, n = sys.argv[1:4]
impl = [d for d in DATASTORES if d.TYPE == "local"][0]
fds = FlowDataStore("F", None, storage_impl=impl, ds_root=root + "/.metaflow")
tds = fds.get_task_datastore("r1", "s", task, attempt=0, mode="w")
tds.init_task()
tds.save_artifacts(iter([("_foreach_num_splits", eval(n)), ("other", "x" * 100)]))
tds.done()
"#;
    let out = Command::new(ferry_testkit::python())
        .args(["-c", code])
        .arg(root)
        .args([task, n])
        .env("METAFLOW_HOME", root.join("mfhome"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn split_counts_are_read_from_what_metaflow_saved() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("t1", "3", Some(3)),
        ("t2", "1000", Some(1000)),
        ("t3", "100000", Some(100_000)),
        ("t4", "10**10", Some(10_000_000_000)),
        // Not a plain int: left to Metaflow's own reader.
        ("t5", "__import__('decimal').Decimal(3)", None),
        ("t6", "-2", None),
    ];
    for (task, n, _) in &cases {
        metaflow_saves(dir.path(), task, n);
    }
    let blobs = ferry_store::open_blobs(&BlobStoreRef::Dir {
        path: dir.path().join(".metaflow").display().to_string(),
    })
    .await
    .unwrap();
    for (task, n, want) in cases {
        let path = TaskPath {
            flow: "F",
            run_id: "r1",
            step: "s",
            task_id: task,
            attempt: 0,
        };
        assert_eq!(read_num_splits(blobs.as_ref(), &path).await, want, "{n}");
    }
    let missing = TaskPath {
        flow: "F",
        run_id: "r1",
        step: "s",
        task_id: "nope",
        attempt: 0,
    };
    assert_eq!(read_num_splits(blobs.as_ref(), &missing).await, None);
}

/// A script that reports how it was run.
const PROBE: &str = r#"
import json, os, pickle, sys

class Point:
    def __init__(self, x):
        self.x = x

from metaflow.plugins import SIDECARS
from metaflow.tuple_util import ForeachFrame

print(json.dumps({
    "name": __name__,
    "file": __file__,
    "argv": sys.argv,
    "path0": sys.path[0],
    "bootstrap_names": sorted(n for n in globals() if n.startswith("_ferry")),
    "pickled": pickle.loads(pickle.dumps(Point(7))).x,
    "frame": pickle.loads(pickle.dumps(ForeachFrame(step="s", num_splits=2))).num_splits,
    "heartbeat_sidecar": "heartbeat" in SIDECARS,
}))
if __name__ == "__main__":
    sys.exit(3)
"#;

fn run(
    program: &std::path::Path,
    args: &[std::ffi::OsString],
    cwd: &std::path::Path,
) -> (i32, serde_json::Value) {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env("METAFLOW_HOME", cwd.join("mfhome"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no output: {}", String::from_utf8_lossy(&out.stderr)));
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(last).unwrap(),
    )
}

#[test]
fn the_step_bootstrap_runs_a_flow_file_as_python_would_without_the_heartbeat_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("flows")).unwrap();
    std::fs::write(dir.path().join("flows/probe.py"), PROBE).unwrap();
    let python = ferry_testkit::python();
    let args: Vec<std::ffi::OsString> =
        vec!["flows/probe.py".into(), "step".into(), "--x=1".into()];

    let (plain_code, plain) = run(&python, &args, dir.path());
    let inv = without_heartbeat_sidecar(Invocation {
        program: python.clone().into(),
        args: args.clone(),
        env: Vec::new(),
        cwd: dir.path().to_path_buf(),
    });
    assert_eq!(inv.args[0], "-c");
    assert_eq!(inv.args[1], STEP_BOOTSTRAP_PY);
    let (boot_code, boot) = run(&python, &inv.args, dir.path());

    assert_eq!(plain_code, 3);
    assert_eq!(boot_code, 3, "the flow's exit code is the process's");
    assert_eq!(plain["heartbeat_sidecar"], true);
    assert_eq!(boot["heartbeat_sidecar"], false);
    for field in [
        "name",
        "file",
        "argv",
        "path0",
        "bootstrap_names",
        "pickled",
        "frame",
    ] {
        assert_eq!(boot[field], plain[field], "{field}: {boot} vs {plain}");
    }
    assert_eq!(boot["name"], "__main__");
    assert_eq!(
        boot["argv"],
        serde_json::json!(["flows/probe.py", "step", "--x=1"])
    );
    assert_eq!(boot["bootstrap_names"], serde_json::json!([]));
}
