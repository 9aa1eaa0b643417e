//! `ferry up`'s voice, end to end: one stderr line per deploy, run start and end (with its
//! status) and restart recovery (naming the runs it marked failed), through the real binary
//! with flows run by the real `metaflow`.
//!
//! Needs the tools venv (`scripts/setup-tools`) and the `task-wrapper` binary next to `ferry`
//! (or in `$FERRY_BIN_DIR`): `scripts/test` builds every binary first.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common;

use common::{Stack, flow, stdout_json, text};

/// `ferry up` on `h`'s home with its stderr in `log`, once it has written `stack.json`.
fn up(h: &Stack, log: &Path, extra: &[&str]) -> Child {
    let _ = std::fs::remove_file(h.home().join("stack.json"));
    let child = h
        .command("alice")
        .args(["up", "--port", "0"])
        .args(extra)
        .env_remove("FERRY_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !h.home().join("stack.json").is_file() {
        assert!(Instant::now() < deadline, "ferry up did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Wait until `log` holds `needle`.
fn wait_for_line(log: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = std::fs::read_to_string(log).unwrap_or_default();
        if t.contains(needle) {
            return t;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in the log:\n{t}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ferry_up_logs_deploys_runs_and_the_runs_a_restart_marked_failed() {
    let h = Stack::new();
    let logs = tempfile::tempdir().unwrap();
    let (first, second) = (logs.path().join("1.log"), logs.path().join("2.log"));
    let gate = logs.path().join("go");
    let body = format!(
        r#"
import os
import time

from metaflow import FlowSpec, step


class GateFlow(FlowSpec):
    @step
    def start(self):
        deadline = time.time() + 30
        while not os.path.exists({gate:?}) and time.time() < deadline:
            time.sleep(0.2)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    GateFlow()
"#,
        gate = gate.to_str().unwrap()
    );
    let f = flow("gate.py", &body);
    let mut stack = up(&h, &first, &[]);
    let out = h.ferry("alice", &["deploy", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for_line(&first, "deploy request handled");
    let out = h.ferry("alice", &["--json", "trigger", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    let run = stdout_json(&out)["run_id"].as_str().unwrap().to_string();
    wait_for_line(&first, &format!("run {run} of GateFlow started"));

    // A crash: the next start marks the run failed and names it.
    stack.kill().unwrap();
    stack.wait().unwrap();
    let mut stack = up(&h, &second, &[]);
    let t = wait_for_line(&second, "restart recovery");
    assert!(
        t.contains(&format!(
            "restart recovery: 1 run(s) interrupted by the last stop were marked FAILED: {run}"
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!("run {run} of GateFlow ended FAILED")),
        "{t}"
    );

    // A run that succeeds says so when it ends.
    std::fs::write(&gate, "").unwrap();
    let out = h.ferry("alice", &["--json", "trigger", f.path(), "--wait"]);
    assert!(out.status.success(), "{}", text(&out));
    let ok = stdout_json(&out)["run_id"].as_str().unwrap().to_string();
    wait_for_line(
        &second,
        &format!("run {ok} of GateFlow ended SUCCEEDED after "),
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &stack.id().to_string()])
        .status();
    stack.wait().unwrap();
}
