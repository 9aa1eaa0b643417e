//! The examples are working Metaflow flows: each runs to completion with the real `metaflow`
//! local runtime (their own asserts check join input order, the retry on attempt 1, the caught
//! exception, the environment variables, the project artifact hand-off).
//!
//! `batch_flow.py` is left out: `@batch` needs Metaflow's S3 datastore.

use std::path::Path;
use std::process::Command;

use ferry_testkit::{python, workspace_root};

/// Run `python FILE --quiet run ARGS` in a private Metaflow home and datastore; the output.
fn run(home: &Path, file: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .current_dir(workspace_root().join("examples"))
        .arg(file)
        .args(["--quiet", "--no-pylint", "run"])
        .args(args)
        .env("METAFLOW_HOME", home)
        .env("METAFLOW_DATASTORE_SYSROOT_LOCAL", home.join("datastore"))
        .env("METAFLOW_DEFAULT_DATASTORE", "local")
        .env("METAFLOW_DEFAULT_METADATA", "local")
        .env("USERNAME", "ferry-test")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("running python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{file} failed:\n{text}");
    text
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn params_flow_runs() {
    let h = home();
    let out = run(
        h.path(),
        "params_flow.py",
        &["--region", "north", "--sample-size", "6"],
    );
    assert!(
        out.contains("region=north model=rules-v2 approved"),
        "{out}"
    );
    assert!(out.contains(" of 6"), "{out}");
}

#[test]
fn split_and_foreach_flows_run() {
    let h = home();
    let out = run(h.path(), "split_flow.py", &[]);
    assert!(
        out.contains("features: ['moving_avg', 'volume_share'] over 14 days"),
        "{out}"
    );
    let out = run(h.path(), "foreach_flow.py", &[]);
    assert!(out.contains("Foreach yields 5 child steps"), "{out}");
    assert!(out.contains("steepest trend:"), "{out}");
}

#[test]
fn nested_foreach_flow_runs() {
    let h = home();
    let out = run(h.path(), "nested_foreach_flow.py", &[]);
    // lasso has the lowest base error and penalty 0.1 adds nothing to it.
    assert!(out.contains("best model: lasso penalty 0.1"), "{out}");
}

#[test]
fn split_in_foreach_flow_runs() {
    let h = home();
    let out = run(h.path(), "split_in_foreach_flow.py", &[]);
    for dataset in ["churn", "fraud", "pricing"] {
        assert!(out.contains(&format!("] {dataset} {{")), "{dataset}: {out}");
    }
}

#[test]
fn resilient_flow_retries_and_catches() {
    let h = home();
    let out = run(h.path(), "resilient_flow.py", &[]);
    assert!(out.contains("first attempt fails on purpose"), "{out}");
    assert!(out.contains("after 2 attempts"), "{out}");
}

#[test]
fn compute_and_schedule_flows_run() {
    let h = home();
    let out = run(h.path(), "compute_flow.py", &[]);
    assert!(out.contains("crates"), "{out}");
    let out = run(h.path(), "schedule_cron_flow.py", &[]);
    assert!(out.contains("PAR-1 low stock: bolts, washers"), "{out}");
    let out = run(h.path(), "schedule_daily_flow.py", &[]);
    assert!(out.contains("active users: 3"), "{out}");
}

#[test]
fn project_flows_hand_over_the_model() {
    let h = home();
    run(h.path(), "project_train_flow.py", &[]);
    let out = run(h.path(), "project_score_flow.py", &[]);
    assert!(out.contains("scored with ChurnTrainFlow/"), "{out}");
}

/// Flows with event triggers run by hand too (`current.trigger` is then unset).
#[test]
fn triggered_flows_run_by_hand() {
    let h = home();
    let out = run(h.path(), "event_report_flow.py", &["--day", "2026-12-01"]);
    assert!(
        out.contains("2026-12-01: 215 sales (started by hand)"),
        "{out}"
    );
    let out = run(h.path(), "project_report_flow.py", &[]);
    assert!(out.contains("report after a run started by hand"), "{out}");
}
