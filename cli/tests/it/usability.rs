//! What a new user trips on, end to end through the real `ferry` binary: several flows in one
//! file (`--flow`), errors under `--json`, production-token refusals, deploy-time limits, and
//! `ferry status` of a running run. Flows are exported by the real `metaflow`; the commands that
//! need a stack talk to a real embedded one (`ferry up` as a child process).
//!
//! Needs the tools venv (`scripts/setup-tools`) and the `task-wrapper` binary next to `ferry`
//! (or in `$FERRY_BIN_DIR`): `scripts/test` builds every binary first.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;

use common::{Stack, flow, stdout_json, text};

const TWO_FLOWS: &str = r#"
from metaflow import FlowSpec, step


class TrainFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class ScoreFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    # Chosen at run time, so the exporter cannot tell which: --flow names it.
    import os
    {"TrainFlow": TrainFlow, "ScoreFlow": ScoreFlow}[os.environ.get("WHICH_FLOW", "ScoreFlow")]()
"#;

#[test]
fn two_flows_in_one_file_are_chosen_with_flow() {
    let h = Stack::new();
    let f = flow("pipeline.py", TWO_FLOWS);

    // No --flow: a usage error naming both classes and the option.
    let out = h.ferry("alice", &["spec", f.path()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("defines 2 flows (ScoreFlow, TrainFlow)"),
        "{err}"
    );
    assert!(err.contains("--flow ScoreFlow"), "{err}");
    // A class the file does not define: the ones it does.
    let out = h.ferry("alice", &["spec", f.path(), "--flow", "EvalFlow"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no flow class named EvalFlow"), "{err}");
    assert!(err.contains("ScoreFlow, TrainFlow"), "{err}");
    assert!(err.contains("--flow"), "{err}");
    // --flow picks one.
    let out = h.ferry("alice", &["spec", f.path(), "--flow", "TrainFlow"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout_json(&out)["flow"], "TrainFlow");
    let out = h.ferry(
        "alice",
        &["spec", "--no-validate", "--flow", "ScoreFlow", f.path()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout_json(&out)["flow"], "ScoreFlow");

    // Every command that reads the flow file takes it.
    let mut h = h;
    h.up();
    for cmd in ["deploy", "trigger", "list-runs", "describe", "delete"] {
        let out = h.ferry("alice", &[cmd, f.path()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", text(&out));
        assert!(text(&out).contains("--flow"), "{cmd}: {}", text(&out));
    }
    let out = h.ferry("alice", &["deploy", f.path(), "--flow", "ScoreFlow"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = h.ferry(
        "alice",
        &["describe", "--json", f.path(), "--flow", "ScoreFlow"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout_json(&out)["flow"], "ScoreFlow");
    // The other flow of the file is not deployed.
    let out = h.ferry("alice", &["describe", f.path(), "--flow", "TrainFlow"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // trigger takes --flow after FLOW.py too, among the flow's parameters.
    let out = h.ferry(
        "alice",
        &["trigger", "--json", f.path(), "--flow", "ScoreFlow"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let run = stdout_json(&out)["run_id"].as_str().unwrap().to_string();
    let out = h.ferry("alice", &["trigger", f.path(), "--flow=ScoreFlow"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = h.ferry("alice", &["list-runs", f.path(), "--flow", "ScoreFlow"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&run),
        "{}",
        text(&out)
    );
    let out = h.ferry("alice", &["delete", f.path(), "--flow", "ScoreFlow"]);
    assert!(out.status.success(), "{}", text(&out));
}

const HELLO: &str = r#"
from metaflow import FlowSpec, Parameter, step


class HelloFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.5)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    HelloFlow()
"#;

/// The error object a failing `--json` command prints: the whole of stdout, one JSON object
/// with `error.kind` and a non-empty `error.message`. Returns (kind, message, the object).
fn json_error(out: &Output, code: i32) -> (String, String, Value) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    let v = stdout_json(out);
    let kind = v["error"]["kind"].as_str().unwrap_or_else(|| panic!("{v}"));
    let message = v["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    assert!(!message.is_empty(), "{v}");
    (kind.to_string(), message.to_string(), v)
}

#[test]
fn json_errors_are_one_object_on_stdout() {
    let mut h = Stack::new();
    let f = flow("hello.py", HELLO);
    let two = flow("two.py", TWO_FLOWS);
    let bad = flow("bad.py", "import no_such_module_here\n");

    // Usage errors, from clap and from ferry: exit 2.
    for args in [
        vec!["--json", "deploy"],
        vec!["deploy", f.path(), "--no-such-flag", "--json"],
        vec!["--json", "no-such-command"],
        vec!["--json", "spec", two.path()],
    ] {
        let (kind, message, _) = json_error(&h.ferry("alice", &args), 2);
        assert_eq!(kind, "usage", "{args:?}: {message}");
    }
    // `--help` still prints help.
    let out = h.ferry("alice", &["--json", "deploy", "--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--authorize"));

    // A flow that does not import.
    let (kind, message, _) = json_error(&h.ferry("alice", &["--json", "spec", bad.path()]), 1);
    assert_eq!(kind, "invalid_flow");
    assert!(message.contains("no_such_module_here"), "{message}");
    // Not a run id: a usage mistake (exit 2, as the README says).
    let (kind, _, _) = json_error(&h.ferry("alice", &["--json", "status", "run-1"]), 2);
    assert_eq!(kind, "usage");
    // No stack.
    for args in [
        vec!["--json", "deploy", f.path()],
        vec!["--json", "status", "sfn-0b1c2d3e"],
        vec!["--json", "trigger", f.path()],
    ] {
        let (kind, message, _) = json_error(&h.ferry("alice", &args), 1);
        assert_eq!(kind, "unavailable", "{args:?}: {message}");
        assert!(message.contains("ferry up --home"), "{message}");
    }

    h.up();
    // Nothing deployed yet.
    for args in [
        vec!["--json", "describe", f.path()],
        vec!["--json", "list-runs", f.path()],
        vec!["--json", "trigger", f.path()],
        vec!["--json", "status", "sfn-0b1c2d3e"],
    ] {
        let (kind, message, _) = json_error(&h.ferry("alice", &args), 1);
        assert_eq!(kind, "not_found", "{args:?}: {message}");
    }
    let out = h.ferry("alice", &["deploy", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    // A bad flow parameter, --json given among the flow's options.
    let (kind, message, _) = json_error(
        &h.ferry("alice", &["trigger", f.path(), "--alpha", "x", "--json"]),
        2,
    );
    assert_eq!(kind, "usage");
    assert!(message.contains("--alpha"), "{message}");
    // ... and when the flow's options themselves do not parse.
    let (kind, message, _) = json_error(
        &h.ferry("alice", &["trigger", f.path(), "--json", "--alpha"]),
        2,
    );
    assert_eq!(kind, "usage");
    assert!(message.contains("--alpha needs a value"), "{message}");
    // Refused by the production token: the deploy result rides along.
    let (kind, message, v) = json_error(&h.ferry("bob", &["--json", "deploy", f.path()]), 1);
    assert_eq!(kind, "refused");
    assert!(message.contains("alice"), "{message}");
    assert_eq!(v["status"], "refused", "{v}");

    // The refusal says what happened and what to do, and never gives the token away.
    let stored = std::fs::read_to_string(h.home().join("tokens-alice/helloflow")).unwrap();
    let token = serde_json::from_str::<Value>(&stored).unwrap()["production_token"]
        .as_str()
        .unwrap()
        .to_string();
    for (extra, why) in [
        (None, "Missing production token: you gave no --authorize"),
        (
            Some("helloflow-9-zzzz"),
            "Incorrect production token: the token sent",
        ),
    ] {
        let mut args = vec!["deploy", f.path()];
        args.extend(extra.map(|t| ["--authorize", t]).into_iter().flatten());
        let out = h.ferry("bob", &args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let t = text(&out);
        assert!(t.contains("deployed by the user alice"), "{t}");
        assert!(t.contains(why), "{t}");
        assert!(
            t.contains("The token was printed to alice when they deployed"),
            "{t}"
        );
        assert!(
            t.contains("ferry deploy --authorize MY_TOKEN --generate-new-token"),
            "{t}"
        );
        assert!(!t.lines().any(|l| l.trim_end().ends_with("token:")), "{t}");
        assert!(!t.contains(&token), "{t}");
    }
    // Terminating a run that ended: the run rides along.
    let out = h.ferry("alice", &["--json", "trigger", f.path()]);
    let run = stdout_json(&out)["run_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(90);
    while stdout_json(&h.ferry("alice", &["--json", "status", &run]))["status"] == "RUNNING" {
        assert!(Instant::now() < deadline, "run {run} did not finish");
        std::thread::sleep(Duration::from_millis(250));
    }
    let (kind, _, v) = json_error(&h.ferry("alice", &["--json", "terminate", &run]), 1);
    assert_eq!(kind, "failed");
    assert_eq!(v["run_id"], run.as_str());
    // Text mode is unchanged: the message once, on stdout, exit 1.
    let out = h.ferry("alice", &["terminate", &run]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is not running"));
    assert!(out.stderr.is_empty(), "{}", text(&out));
}

/// A one-step flow whose start step has `@resources(<resources>)`.
fn resources_flow(resources: &str) -> String {
    format!(
        r#"
from metaflow import FlowSpec, resources, step


class SizedFlow(FlowSpec):
    @resources({resources})
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    SizedFlow()
"#
    )
}

#[test]
fn deploy_refuses_values_beyond_aws_limits_and_says_what_to_change() {
    let mut h = Stack::new();
    let f = flow("hello.py", HELLO);
    // The workflow timeout is a usage error: 1 s to one year.
    for bad in ["0", "31536001", "99999999999"] {
        let out = h.ferry("alice", &["deploy", f.path(), "--workflow-timeout", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        assert!(text(&out).contains("--workflow-timeout"), "{}", text(&out));
    }
    // A negative memory is refused when the flow is read, before anything is sent.
    let neg = flow("neg.py", &resources_flow("memory=-5"));
    let out = h.ferry("alice", &["spec", neg.path()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("memory=-5 is negative; give a positive number of MiB"),
        "{}",
        text(&out)
    );

    h.up();
    let long_tag = "t".repeat(501);
    let out = h.ferry("alice", &["deploy", f.path(), "--tag", &long_tag]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("is 501 characters; Metaflow tags are 1 to 500 characters: shorten it"),
        "{}",
        text(&out)
    );
    for (resources, want) in [
        (
            "memory=0",
            "@resources(memory=0) is below AWS Batch's minimum of 4 MiB",
        ),
        (
            "memory=10**12",
            "is more than any AWS Batch instance has (at most 33554432 MiB)",
        ),
        ("cpu=0", "@resources(cpu) must be a positive number"),
        ("cpu=5000", "lower cpu="),
    ] {
        let sized = flow("sized.py", &resources_flow(resources));
        let out = h.ferry("alice", &["deploy", sized.path()]);
        assert_eq!(out.status.code(), Some(1), "{resources}: {}", text(&out));
        assert!(text(&out).contains(want), "{resources}: {}", text(&out));
        assert!(text(&out).contains("Step *start*"), "{}", text(&out));
    }
    // Nothing of the refused deploys was recorded; the limits themselves deploy.
    let out = h.ferry("alice", &["--json", "deployments"]);
    assert_eq!(stdout_json(&out), serde_json::json!([]), "{}", text(&out));
    let ok = flow("ok.py", &resources_flow("memory=8192, cpu=2"));
    let out = h.ferry(
        "alice",
        &[
            "deploy",
            ok.path(),
            "--workflow-timeout",
            "31536000",
            "--tag",
            &"t".repeat(500),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn status_of_a_running_run_shows_the_steps_running_now() {
    let h = Stack::start();
    let gate = tempfile::tempdir().unwrap();
    let go = gate.path().join("go");
    let body = format!(
        r#"
import os
import time

from metaflow import FlowSpec, step


class WaitFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.left, self.right)

    @step
    def left(self):
        deadline = time.time() + 120
        while not os.path.exists({go:?}) and time.time() < deadline:
            time.sleep(0.2)
        self.next(self.join)

    @step
    def right(self):
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
    WaitFlow()
"#,
        go = go.to_str().unwrap()
    );
    let f = flow("wait.py", &body);
    let out = h.ferry("alice", &["deploy", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = h.ferry("alice", &["--json", "trigger", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    let run = stdout_json(&out)["run_id"].as_str().unwrap().to_string();

    // Both branches show up while they wait for the gate.
    let deadline = Instant::now() + Duration::from_secs(90);
    let jobs = loop {
        let v = stdout_json(&h.ferry("alice", &["--json", "status", &run]));
        assert_eq!(v["status"], "RUNNING", "{v}");
        let jobs = v["running"].as_array().cloned().unwrap_or_default();
        if jobs.len() == 2 && jobs.iter().all(|j| j["started_at"].is_string()) {
            break jobs;
        }
        assert!(Instant::now() < deadline, "body never ran: {v}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(jobs[0]["step"], "left", "{jobs:?}");
    assert_eq!(jobs[1]["step"], "right", "{jobs:?}");
    for j in &jobs {
        // Metaflow's numbering: the first attempt is 0.
        assert_eq!(j["attempt"], 0, "{j}");
        assert!(!j["job_id"].as_str().unwrap().is_empty(), "{j}");
    }
    let out = h.ferry("alice", &["status", &run]);
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(t.contains(": RUNNING"), "{t}");
    let line = |j: &Value| {
        format!(
            "  {}: task {} (attempt 0, since ",
            j["step"].as_str().unwrap(),
            j["job_id"].as_str().unwrap()
        )
    };
    assert!(
        t.contains(&format!("\nRunning:\n{}", line(&jobs[0]))),
        "{t}"
    );
    assert!(t.contains(&line(&jobs[1])), "{t}");

    // Once the run ends, nothing is running.
    std::fs::write(&go, "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let v = stdout_json(&h.ferry("alice", &["--json", "status", &run]));
        if v["status"] != "RUNNING" {
            assert_eq!(v["status"], "SUCCEEDED", "{v}");
            assert!(v.get("running").is_none(), "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "run {run} did not finish");
        std::thread::sleep(Duration::from_millis(250));
    }
    let out = h.ferry("alice", &["status", &run]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Running:"));
}
