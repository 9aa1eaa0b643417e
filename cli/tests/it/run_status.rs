//! What `ferry status` and `ferry trigger --wait` tell about a run, end to end on a real
//! embedded stack (`ferry up` as a child process) with flows run by the real `metaflow`: a
//! failure explained by the step's exception and its exit code, progress step by step with a
//! foreach's width, and `--wait` ending with the run's outcome.
//!
//! Needs the tools venv (`scripts/setup-tools`) and the `task-wrapper` binary next to `ferry`
//! (or in `$FERRY_BIN_DIR`): `scripts/test` builds every binary first.

use std::time::{Duration, Instant};

use crate::common;

use common::{Stack, flow, stdout_json, text};

const FAILING: &str = r#"
import os
import signal

from metaflow import FlowSpec, resources, step


class FailFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.boom)

    @resources(memory=512)
    @step
    def boom(self):
        # KILL
        rows = []
        if not rows:
            raise ValueError("the input table is empty")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FailFlow()
"#;

#[test]
fn a_failed_run_shows_the_steps_exception_and_wait_exits_1() {
    let h = Stack::start();
    let f = flow("fail.py", FAILING);
    let out = h.ferry("alice", &["deploy", f.path()]);
    assert!(out.status.success(), "{}", text(&out));

    // --wait: progress while it runs, then the failure, and exit code 1.
    let out = h.ferry("alice", &["trigger", f.path(), "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains(": FAILED"), "{t}");
    assert!(
        t.contains("Exception: ValueError: the input table is empty"),
        "{t}"
    );
    let run = t
        .split("run-id ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .to_string();

    let st = stdout_json(&h.ferry("alice", &["--json", "status", &run]));
    assert_eq!(st["status"], "FAILED", "{st}");
    assert_eq!(st["flow"], "FailFlow", "{st}");
    assert_eq!(st["error_name"], "States.TaskFailed", "{st}");
    assert!(
        st.get("error").is_none(),
        "a run's error is error_name: {st}"
    );
    assert_eq!(st["failing_step"], "boom", "{st}");
    assert_eq!(st["exit_code"], 1, "{st}");
    assert_eq!(st["memory_mib"], 512, "{st}");
    assert_eq!(st["exception"]["type"], "ValueError", "{st}");
    assert_eq!(
        st["exception"]["message"], "the input table is empty",
        "{st}"
    );
    let frames = st["exception"]["traceback"].as_array().unwrap();
    assert!(
        frames
            .iter()
            .any(|l| l.as_str().unwrap().contains("raise ValueError")),
        "{st}"
    );

    let out = h.ferry("alice", &["status", &run]);
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(t.contains("Failed step: boom\n"), "{t}");
    assert!(t.contains("(exit code 1)"), "{t}");
    assert!(
        t.contains("Exception: ValueError: the input table is empty\n"),
        "{t}"
    );
    assert!(
        t.contains("raise ValueError(\"the input table is empty\")"),
        "{t}"
    );
    let logs = st["logs"].as_str().unwrap();
    assert!(t.contains(&format!("Logs: {logs}")), "{t}");

    // The command it names prints what the task wrote.
    let args: Vec<&str> = logs.split(' ').skip(1).collect();
    let out = h.ferry("alice", &args);
    assert!(out.status.success(), "{}", text(&out));
    let stderr_log = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr_log.contains("ValueError: the input table is empty"),
        "{stderr_log}"
    );

    // Every key of the run and deployment JSON has one meaning and is always there.
    let runs = stdout_json(&h.ferry("alice", &["--json", "list-runs", f.path()]));
    assert_eq!(runs[0]["flow"], "FailFlow", "{runs}");
    assert_eq!(runs[0]["error_name"], "States.TaskFailed", "{runs}");
    let d = stdout_json(&h.ferry("alice", &["--json", "describe", f.path()]));
    assert!(
        d["schedule"].is_null() && d.get("schedule").is_some(),
        "{d}"
    );

    // --wait --json: the final status object beside the command's error object, exit 1.
    let out = h.ferry("alice", &["--json", "trigger", f.path(), "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v = stdout_json(&out);
    assert_eq!(v["status"], "FAILED", "{v}");
    assert_eq!(v["exception"]["type"], "ValueError", "{v}");
    assert_eq!(v["error"]["kind"], "failed", "{v}");
}

#[test]
fn a_task_killed_by_sigkill_is_named_with_the_memory_it_asked_for() {
    let h = Stack::start();
    // The task's Python is killed as the kernel's OOM killer would kill it.
    let body = FAILING.replace("# KILL", "os.kill(os.getpid(), signal.SIGKILL)");
    let f = flow("fail.py", &body);
    let out = h.ferry("alice", &["deploy", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = h.ferry("alice", &["--json", "trigger", f.path(), "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v = stdout_json(&out);
    assert_eq!(v["exit_code"], 137, "{v}");
    assert_eq!(
        v["exit_meaning"],
        "killed by SIGKILL: out of memory? the step asked for 512 MiB; raise @resources(memory=…) if it needs more",
        "{v}"
    );
    let out = h.ferry("alice", &["status", v["run_id"].as_str().unwrap()]);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains("(exit code 137: killed by SIGKILL: out of memory? the step asked for 512 MiB"),
        "{t}"
    );
}

#[test]
fn a_running_foreach_shows_done_of_total_per_step_and_wait_exits_0() {
    let h = Stack::start();
    let gate = tempfile::tempdir().unwrap();
    let go = gate.path().join("go");
    let body = format!(
        r#"
import os
import time

from metaflow import FlowSpec, step


class WideFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(6))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        if self.input >= 2:
            deadline = time.time() + 120
            while not os.path.exists({go:?}) and time.time() < deadline:
                time.sleep(0.2)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    WideFlow()
"#,
        go = go.to_str().unwrap()
    );
    let f = flow("wide.py", &body);
    let out = h.ferry("alice", &["deploy", f.path(), "--max-workers", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = h.ferry("alice", &["--json", "trigger", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    let run = stdout_json(&out)["run_id"].as_str().unwrap().to_string();

    // Items 0 and 1 finish; 2 and 3 hold the two slots; the body counts against all 6.
    let deadline = Instant::now() + Duration::from_secs(120);
    let body_step = loop {
        let v = stdout_json(&h.ferry("alice", &["--json", "status", &run]));
        assert_eq!(v["status"], "RUNNING", "{v}");
        let steps = v["steps"].as_array().cloned().unwrap_or_default();
        if let Some(b) = steps.iter().find(|s| s["step"] == "body")
            && b["done"] == 2
            && b["running"] == 2
            && b["total"] == 6
        {
            assert_eq!(steps[0]["step"], "start", "{v}");
            assert_eq!(steps[0]["done"], 1, "{v}");
            assert_eq!(steps[0]["total"], 1, "{v}");
            break b.clone();
        }
        assert!(Instant::now() < deadline, "no progress: {v}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(body_step["failed"], 0);
    let out = h.ferry("alice", &["status", &run]);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains("Steps:\n  start: 1/1 done\n  body: 2/6 done, 2 running"),
        "{t}"
    );

    // --wait on a pipe: plain progress lines on stderr, then the outcome, exit 0.
    let waiter = h
        .command("alice")
        .args(["trigger", f.path(), "--wait"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    std::fs::write(&go, "").unwrap();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RUNNING: start 1/1"), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(": SUCCEEDED"),
        "{}",
        text(&out)
    );
}
