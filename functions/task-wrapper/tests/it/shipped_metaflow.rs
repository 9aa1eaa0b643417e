//! A task image with only python3: the step's interpreter is a bare venv with neither `metaflow`
//! nor `boto3`. Metaflow comes from the code package's `.mf_code/metaflow/` (where `ferry deploy`
//! ships the deployer's library), and `requests` (which Metaflow imports at start) from the
//! directory the wrapper bootstrap `pip install --target`s when the image lacks it
//! (`FERRY_BOOTSTRAP_SITE`). A real flow runs start and end through the real wrapper; the real
//! client reads it back.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ferry_spec::task::{ENV_BOOTSTRAP_SITE, StepCommand, StepInputs, TaskDescription};

const FLOW: &str = r#"
import importlib.util
import metaflow
from metaflow import FlowSpec, step

class BareFlow(FlowSpec):
    @step
    def start(self):
        self.metaflow_file = metaflow.__file__
        self.has_boto3 = importlib.util.find_spec("boto3") is not None
        self.next(self.end)

    @step
    def end(self):
        print("end runs metaflow from", metaflow.__file__)

if __name__ == "__main__":
    BareFlow()
"#;

const CLIENT: &str = r#"
import sys, json
from metaflow import Run, namespace
namespace("production:testflow-0-abcd")
run = Run(sys.argv[1])
start = run["start"].task
print(json.dumps({
    "successful": run.successful,
    "metaflow_file": start["metaflow_file"].data,
    "has_boto3": start["has_boto3"].data,
}))
"#;

/// Ask the test venv's python for the directory of each top-level package in `names`.
fn package_dirs(names: &[&str]) -> Vec<PathBuf> {
    let out = Command::new(ferry_testkit::python())
        .arg("-c")
        .arg(
            "import importlib.util as u, os, sys\n\
             for n in sys.argv[1:]:\n    print(os.path.dirname(u.find_spec(n).origin))",
        )
        .args(names)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect()
}

/// The files `ferry deploy` ships from a `metaflow` package: modules and card templates, no
/// `__pycache__`, no tutorials; as `(path in the package, bytes)`.
fn metaflow_files(dir: &Path, rel: &str, out: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let child = format!("{rel}/{name}");
        let path = e.path();
        if path.is_dir() {
            if name != "__pycache__" && !(rel == ".mf_code/metaflow" && name == "tutorials") {
                metaflow_files(&path, &child, out);
            }
        } else if [".py", ".html", ".css", ".js"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            out.push((child, std::fs::read(&path).unwrap()));
        }
    }
}

/// A venv without pip and without packages: python3 and its standard library only.
fn bare_python(dir: &Path) -> PathBuf {
    let venv = dir.join("bare-venv");
    let ok = Command::new(ferry_testkit::python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap()
        .success();
    assert!(ok, "creating a bare venv");
    let python = venv.join("bin/python");
    let out = Command::new(&python)
        .args([
            "-c",
            "import importlib.util as u; print([m for m in ('metaflow', 'boto3', 'requests') if u.find_spec(m)])",
        ])
        .env_remove("PYTHONPATH")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[]",
        "the bare venv must have none of them"
    );
    python
}

/// What the bootstrap leaves after installing `requests`: a directory holding it and its
/// requirements (linked from the test venv here: tests do not reach an index).
fn bootstrap_site(dir: &Path) -> PathBuf {
    let site = dir.join("ferry-site");
    std::fs::create_dir_all(&site).unwrap();
    for p in package_dirs(&[
        "requests",
        "urllib3",
        "idna",
        "certifi",
        "charset_normalizer",
    ]) {
        std::os::unix::fs::symlink(&p, site.join(p.file_name().unwrap())).unwrap();
    }
    site
}

fn with_python(mut d: TaskDescription, python: &Path) -> TaskDescription {
    d.command = StepCommand::Metaflow {
        python: python.to_string_lossy().into_owned(),
    };
    d
}

#[test]
fn a_bare_python_runs_a_step_with_the_shipped_metaflow() {
    let stack = Stack::new();
    let python = bare_python(stack.dir.path());
    let site = bootstrap_site(stack.dir.path());
    let mut files: Vec<(String, Vec<u8>)> = vec![("bare_flow.py".into(), FLOW.as_bytes().into())];
    let mf = &package_dirs(&["metaflow"])[0];
    metaflow_files(mf, ".mf_code/metaflow", &mut files);
    assert!(files.len() > 100, "the whole metaflow package is shipped");
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    let pkg = stack.put_package(&tgz(&refs));

    let start = with_python(
        stack.describe("BareFlow", "start", "bare_flow.py", &pkg, StepInputs::Start),
        &python,
    );
    let end = with_python(
        stack.describe(
            "BareFlow",
            "end",
            "bare_flow.py",
            &pkg,
            StepInputs::Parent {
                step: "start".into(),
            },
        ),
        &python,
    );
    let site_var = (ENV_BOOTSTRAP_SITE, site.to_string_lossy().into_owned());
    // The image's own PYTHONPATH is empty: nothing of the test venv leaks in.
    let run = |url: String, vars: &[(&str, String)]| {
        stack
            .command(&url, vars)
            .env_remove("PYTHONPATH")
            .output()
            .unwrap()
    };

    // Without the bootstrap's directory Metaflow cannot start (it imports requests): the
    // package alone is not enough, and the failure is the step's, not a hang.
    let vars = task_vars("bare0", "job-start-0", 1);
    let out = run(stack.publish(&start), &vars);
    assert_ne!(out.status.code(), Some(0), "ran without requests");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("requests"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let exec = "bare1";
    let mut vars = task_vars(exec, "job-start", 1);
    vars.push(site_var.clone());
    let out = run(stack.publish(&start), &vars);
    expect_code(&out, 0, "start");
    let mut vars = task_vars(exec, "job-end", 1);
    vars.push(site_var.clone());
    vars.push(("FERRY_PARENT_TASK_ID", "job-start".into()));
    let out = run(stack.publish(&end), &vars);
    expect_code(&out, 0, "end");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("/.mf_code/metaflow/__init__.py"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let got = stack.client(CLIENT, &["BareFlow/sfn-bare1"]);
    assert_eq!(got["successful"], true);
    assert_eq!(got["has_boto3"], false);
    let file = got["metaflow_file"].as_str().unwrap();
    let extracted = stack.cache.join("packages").join(&pkg.sha256);
    assert_eq!(
        Path::new(file),
        extracted.join(".mf_code/metaflow/__init__.py"),
        "the step imported the shipped metaflow"
    );
}
