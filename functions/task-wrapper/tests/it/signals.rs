//! SIGTERM to the wrapper ends the step and its children, and the logs written so far stay
//! readable (by the real Metaflow client).

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use ferry_spec::task::StepInputs;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const SLOW_FLOW: &str = r#"
import os, subprocess, sys, time
from metaflow import FlowSpec, step

class SlowFlow(FlowSpec):
    @step
    def start(self):
        print("working before the kill", flush=True)
        print("an error line before the kill", file=sys.stderr, flush=True)
        child = subprocess.Popen(["sleep", "300"])
        with open(os.environ["PID_FILE"] + ".tmp", "w") as f:
            f.write(str(child.pid))
        os.rename(os.environ["PID_FILE"] + ".tmp", os.environ["PID_FILE"])
        time.sleep(300)
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    SlowFlow()
"#;

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie has ended; only its parent has not reaped it yet.
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn sigterm_ends_the_step_and_its_children_and_keeps_the_logs() {
    let stack = Stack::new();
    let pkg = stack.flow_package("slow.py", SLOW_FLOW);
    let mut desc = stack.describe("SlowFlow", "start", "slow.py", &pkg, StepInputs::Start);
    let pid_file = stack.dir.path().join("grandchild.pid");
    desc.environment
        .insert("PID_FILE".into(), pid_file.to_string_lossy().into_owned());
    let mut cmd = stack.command(&stack.publish(&desc), &task_vars("slow1", "s", 1));
    let mut wrapper = cmd.spawn().unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "the step never started");
        if let Some(status) = wrapper.try_wait().unwrap() {
            panic!(
                "the wrapper ended early: {status:?}: {:?}",
                wrapper.wait_with_output()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let grandchild: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(grandchild));

    let sent = Instant::now();
    kill(Pid::from_raw(wrapper.id() as i32), Signal::SIGTERM).unwrap();
    let status = loop {
        if let Some(s) = wrapper.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "the wrapper did not end within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "the step died of SIGTERM: {status:?}"
    );
    while alive(grandchild) {
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "the step's child outlived the wrapper"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let got = stack.client(
        r#"
import sys, json
from metaflow import Task, namespace
namespace(None)
t = Task(sys.argv[1], attempt=0)
print(json.dumps({"stdout": t.stdout, "stderr": t.stderr}))
"#,
        &["SlowFlow/sfn-slow1/start/s"],
    );
    assert!(
        got["stdout"]
            .as_str()
            .unwrap()
            .contains("working before the kill"),
        "{got}"
    );
    assert!(
        got["stderr"]
            .as_str()
            .unwrap()
            .contains("an error line before the kill"),
        "{got}"
    );
}

#[test]
fn sigterm_ends_a_retry_wait_before_any_user_code_runs() {
    let stack = Stack::new();
    let pkg = stack.flow_package("slow.py", SLOW_FLOW);
    let mut desc = stack.describe("SlowFlow", "start", "slow.py", &pkg, StepInputs::Start);
    desc.retries = ferry_spec::task::Retries {
        max_user_code_retries: 2,
        total_attempts: 3,
        minutes_between_retries: 10,
    };
    let pid_file = stack.dir.path().join("grandchild.pid");
    desc.environment
        .insert("PID_FILE".into(), pid_file.to_string_lossy().into_owned());
    // The second attempt of the job: it waits ten minutes before running anything.
    let mut cmd = stack.command(&stack.publish(&desc), &task_vars("slow2", "s", 2));
    let mut wrapper = cmd.spawn().unwrap();
    let log = stack
        .datastore
        .join(".metaflow/SlowFlow/sfn-slow2/start/s/1.task_stderr.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains("waiting 10 minutes")) {
        assert!(Instant::now() < deadline, "the retry never said it waits");
        assert!(wrapper.try_wait().unwrap().is_none(), "the wrapper ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Instant::now();
    kill(Pid::from_raw(wrapper.id() as i32), Signal::SIGTERM).unwrap();
    let out = wrapper.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "the wait outlived SIGTERM"
    );
    assert_eq!(out.status.code(), Some(128 + 15), "{out:?}");
    assert!(
        !pid_file.exists(),
        "the step ran although its attempt was terminated"
    );
}
