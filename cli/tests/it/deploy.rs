//! `ferry spec/deploy/describe/deployments/delete` end to end on a real embedded stack
//! (`ferry up` as a child process) with real flows exported by the real `metaflow`.
//!
//! Needs the tools venv (`scripts/setup-tools`) and the `task-wrapper` binary next to `ferry`
//! (or in `$FERRY_BIN_DIR`): `scripts/test` builds every binary first.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;

use common::{FERRY, Flow, Stack, flow, stdout_json, text};

const HELLO: &str = r#"
from metaflow import FlowSpec, Parameter, step


class HelloFlow(FlowSpec):
    greeting = Parameter("greeting", default="hello")

    @step
    def start(self):
        self.msg = self.greeting + " world"
        self.next(self.end)

    @step
    def end(self):
        print(self.msg)


if __name__ == "__main__":
    HelloFlow()
"#;

const SCORE: &str = r#"
from metaflow import FlowSpec, project, schedule, step


@project(name="fraud_model")
@schedule(cron="0 6 ? * MON-FRI *", timezone="Europe/Paris")
class ScoreFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ScoreFlow()
"#;

impl Stack {
    /// Run a deployed flow to its end and return its final status.
    fn run_to_end(&self, flow: &Flow, extra: &[&str]) -> String {
        let id_file = self.home().join(format!("run-{}", uuid_like()));
        let mut args = vec![
            "trigger",
            flow.path(),
            "--run-id-file",
            id_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = self.ferry("alice", &args);
        assert!(out.status.success(), "trigger: {}", text(&out));
        let run = std::fs::read_to_string(&id_file)
            .unwrap()
            .trim()
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let out = self.ferry("alice", &["status", "--json", &run]);
            let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            if let Some(s) = v["status"].as_str()
                && s != "RUNNING"
            {
                return s.to_string();
            }
            assert!(Instant::now() < deadline, "run {run} did not finish");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn uuid_like() -> String {
    format!("{:?}", Instant::now()).replace(|c: char| !c.is_ascii_alphanumeric(), "")
}

fn describe(s: &Stack, args: &[&str]) -> Value {
    let mut a = vec!["describe", "--json"];
    a.extend_from_slice(args);
    let out = s.ferry("alice", &a);
    assert!(out.status.success(), "{}", text(&out));
    stdout_json(&out)
}

#[test]
fn spec_only_json_deploy_describe_and_deployments() {
    let s = Stack::start();
    let f = flow("hello.py", HELLO);

    let out = s.ferry("alice", &["spec", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    let spec = stdout_json(&out);
    assert_eq!(spec["flow"], "HelloFlow");
    assert_eq!(spec["file"], "hello.py");
    assert_eq!(spec["parameters"][0]["name"], "greeting");

    // --only-json: the definition alone on stdout, messages on stderr, nothing deployed.
    let out = s.ferry("alice", &["deploy", f.path(), "--only-json"]);
    assert!(out.status.success(), "{}", text(&out));
    let def = stdout_json(&out);
    assert_eq!(def["StartAt"], "start");
    let start_params = &def["States"]["start"]["Parameters"]["Parameters"];
    assert_eq!(start_params["metaflow.owner"], "alice");
    assert_eq!(
        start_params["metaflow.production_token"],
        "helloflow-0-apnt"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("    production:helloflow-0-apnt"), "{err}");
    let out = s.ferry("alice", &["describe", f.path()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("The workflow HelloFlow doesn't exist on the Ferry embedded stack.")
    );

    // --package-suffixes that leave the flow file out are refused before anything is sent.
    let requests = || {
        std::fs::read_dir(s.home().join("blobs/deploy/HelloFlow"))
            .unwrap()
            .count()
    };
    let before = requests();
    let out = s.ferry("alice", &["deploy", f.path(), "--package-suffixes", ".sql"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("--package-suffixes"), "{}", text(&out));
    assert_eq!(requests(), before);

    // deploy: Metaflow's texts, exit 0, the token stored where Metaflow keeps it.
    let out = s.ferry(
        "alice",
        &["deploy", f.path(), "--tag", "team:x", "--max-workers", "7"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let o = String::from_utf8_lossy(&out.stdout);
    assert!(o.contains("It seems this is the first time you are deploying HelloFlow to the Ferry embedded stack."), "{o}");
    assert!(
        o.contains("The namespace of this production flow is\n    production:helloflow-0-apnt\n"),
        "{o}"
    );
    assert!(o.contains("State Machine HelloFlow for flow HelloFlow pushed to the Ferry embedded stack successfully."));
    assert!(o.contains("What will trigger execution of the workflow:\n    No triggers defined. You need to launch this workflow manually."));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Deploying HelloFlow to the Ferry embedded stack...")
    );
    let stored = std::fs::read_to_string(s.home().join("tokens-alice/helloflow")).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&stored).unwrap()["production_token"],
        "helloflow-0-apnt"
    );
    // The code package is content-addressed and holds the flow.
    let packages: Vec<_> = std::fs::read_dir(s.home().join("blobs/code"))
        .unwrap()
        .collect();
    assert_eq!(packages.len(), 1);

    // describe, by file and by deployment name.
    let d = describe(&s, &[f.path()]);
    assert_eq!(d["owner"], "alice");
    assert_eq!(d["namespace"], "production:helloflow-0-apnt");
    assert_eq!(d["version"], 1);
    assert_eq!(d["max_workers"], 7);
    assert_eq!(d["tags"], serde_json::json!(["team:x"]));
    assert_eq!(d["parameters"][0]["default"], "hello");
    assert_eq!(describe(&s, &["HelloFlow"]), d);
    let out = s.ferry("alice", &["describe", f.path()]);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("Token         helloflow-0-apnt"), "{t}");
    let out = s.ferry("bob", &["describe", "HelloFlow"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("held by alice"),
        "{}",
        text(&out)
    );

    // Redeploying the same files reuses the package; the version goes up.
    let out = s.ferry("alice", &["deploy", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_dir(s.home().join("blobs/code"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(describe(&s, &[f.path()])["version"], 2);

    let out = s.ferry("alice", &["deployments", "--json"]);
    let all = stdout_json(&out);
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["deployment"], "HelloFlow");
    let out = s.ferry("alice", &["deployments"]);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.starts_with(
            "DEPLOYMENT  FLOW       PROJECT  BRANCH  OWNER  VERSION  SCHEDULE  UPDATED\n"
        ),
        "{t}"
    );
    assert!(
        t.contains("HelloFlow   HelloFlow  -        -       alice  2"),
        "{t}"
    );

    // The deployment runs.
    assert_eq!(s.run_to_end(&f, &[]), "SUCCEEDED");
}

#[test]
fn production_tokens_between_two_users() {
    let s = Stack::start();
    let f = flow("hello.py", HELLO);
    assert!(s.ferry("alice", &["deploy", f.path()]).status.success());
    let before = describe(&s, &[f.path()]);

    // bob has no token: refused with Metaflow's text, exit 1, nothing changes.
    let out = s.ferry("bob", &["deploy", f.path()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let o = String::from_utf8_lossy(&out.stdout);
    assert!(o.contains(
        "There is an existing version of HelloFlow on the Ferry embedded stack which was deployed by the user alice.\n\
         To deploy a new version of this flow, you need to use the same production token that they used.\n\
         Please reach out to them to get the token. Once you have it, call this command:\n    ferry deploy --authorize MY_TOKEN\n"
    ), "{o}");
    assert_eq!(describe(&s, &[f.path()]), before);
    assert!(!s.home().join("tokens-bob/helloflow").exists());
    // A wrong token is no better.
    let out = s.ferry(
        "bob",
        &["deploy", f.path(), "--authorize", "helloflow-1-rnyg"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(describe(&s, &[f.path()]), before);

    // With alice's token bob deploys; he owns it now and has the token stored.
    let out = s.ferry(
        "bob",
        &[
            "deploy",
            f.path(),
            "--authorize",
            "production:helloflow-0-apnt",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let after = describe(&s, &[f.path()]);
    assert_eq!(after["owner"], "bob");
    assert_eq!(after["version"], 2);
    assert_eq!(after["namespace"], "production:helloflow-0-apnt");
    assert!(s.home().join("tokens-bob/helloflow").is_file());

    // alice deploys again without --authorize: her stored token authorises her.
    // --generate-new-token moves the flow to the next namespace.
    let out = s.ferry("alice", &["deploy", f.path(), "--generate-new-token"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("A new production token generated.\n"));
    let d = describe(&s, &[f.path()]);
    let next = ferry_compile::token::token_at("helloflow", 1);
    assert_eq!(d["namespace"], format!("production:{next}"));
    assert_eq!(d["owner"], "alice");
    let stored = std::fs::read_to_string(s.home().join("tokens-alice/helloflow")).unwrap();
    assert!(stored.contains(&next));
    // bob's old token no longer works.
    let out = s.ferry("bob", &["deploy", f.path()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn project_branches_and_production_are_separate_deployments() {
    let s = Stack::start();
    let f = flow("score.py", SCORE);
    let out = s.ferry("alice", &["deploy", f.path(), "--branch", "b"]);
    assert!(out.status.success(), "{}", text(&out));
    let o = String::from_utf8_lossy(&out.stdout);
    assert!(
        o.contains("State Machine fraud_model.test.b.ScoreFlow for flow ScoreFlow pushed"),
        "{o}"
    );
    assert!(
        o.contains("cron schedule fraud_model.test.b.ScoreFlow (0 6 ? * MON-FRI *, Europe/Paris)"),
        "{o}"
    );
    let out = s.ferry("alice", &["deploy", f.path(), "--production"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = s.ferry("alice", &["deploy", f.path(), "--branch", "Bad-Branch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("branch name"), "{}", text(&out));

    let test = describe(&s, &[f.path(), "--branch", "b"]);
    let prod = describe(&s, &[f.path(), "--production"]);
    assert_eq!(test["deployment"], "fraud_model.test.b.ScoreFlow");
    assert_eq!(test["branch"], "test.b");
    assert_eq!(prod["deployment"], "fraud_model.prod.ScoreFlow");
    assert_eq!(prod["branch"], "prod");
    assert_ne!(test["namespace"], prod["namespace"]);
    // Contract metaflow-sfn §6: the token prefix of `fraud_model.prod`.
    assert_eq!(
        prod["token"],
        ferry_compile::token::new_token("mfprj-4fdh7qmx4brk4srx")
    );
    assert_eq!(
        prod["namespace"],
        format!("production:{}", prod["token"].as_str().unwrap())
    );
    assert_eq!(prod["schedule"]["timezone"], "Europe/Paris");

    let out = s.ferry("alice", &["deployments"]);
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let rows: Vec<&str> = t.lines().collect();
    assert_eq!(rows.len(), 3, "{t}");
    assert!(
        rows[1].starts_with("fraud_model.prod.ScoreFlow    ScoreFlow  fraud_model  prod    alice"),
        "{t}"
    );
    assert!(
        rows[2].starts_with("fraud_model.test.b.ScoreFlow  ScoreFlow  fraud_model  test.b  alice"),
        "{t}"
    );

    // Deleting one branch leaves the other.
    let out = s.ferry("alice", &["delete", f.path(), "--branch", "b"]);
    assert!(out.status.success(), "{}", text(&out));
    let all = stdout_json(&s.ferry("alice", &["deployments", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["deployment"], "fraud_model.prod.ScoreFlow");
}

const DATA_READY: &str = r#"
from metaflow import FlowSpec, Parameter, project, step, trigger


@project(name="lake")
@trigger(event={"name": "data_ready", "parameters": {"day": "date"}})
class DailyReportFlow(FlowSpec):
    day = Parameter("day", required=True)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    DailyReportFlow()
"#;

const BAD_MAPPING: &str = r#"
from metaflow import FlowSpec, Parameter, step, trigger


@trigger(event={"name": "data_ready", "parameters": {"dya": "date"}})
class TypoFlow(FlowSpec):
    day = Parameter("day", default="today")

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TypoFlow()
"#;

#[test]
fn a_triggered_flow_deploys_says_what_starts_it_and_describe_lists_it() {
    let s = Stack::start();
    let f = flow("daily_report.py", DATA_READY);
    let out = s.ferry("alice", &["deploy", f.path(), "--branch", "b"]);
    assert!(out.status.success(), "{}", text(&out));
    let o = String::from_utf8_lossy(&out.stdout);
    assert!(
        o.contains("    This workflow triggers automatically when the event data_ready is published.\n    The event data_ready sets the parameter day from its field date."),
        "{o}"
    );
    let record = describe(&s, &[f.path(), "--branch", "b"]);
    assert_eq!(record["triggers"]["kind"], "event");
    assert_eq!(record["triggers"]["events"][0]["name"], "data_ready");
    let out = s.ferry("alice", &["describe", f.path(), "--branch", "b"]);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains(
            "Triggers      a run starts when the event data_ready is published (sets day ← date)"
        ),
        "{t}"
    );

    // A mapping naming a parameter the flow lacks is refused before anything is uploaded.
    let bad = flow("typo.py", BAD_MAPPING);
    let out = s.ferry("alice", &["deploy", bad.path()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("Parameter *dya* defined in the event mappings for *@trigger* decorator not found in the flow. The flow's parameters are: day."),
        "{}",
        text(&out)
    );
}

#[test]
fn a_deploy_that_fails_to_compile_keeps_the_previous_version_running() {
    let s = Stack::start();
    let f = flow("hello.py", HELLO);
    assert!(s.ferry("alice", &["deploy", f.path()]).status.success());
    let before = describe(&s, &[f.path()]);

    // The new version sets a variable the runtime reserves: the compiler refuses it.
    let broken = HELLO
        .replace(
            "import FlowSpec, Parameter, step",
            "import FlowSpec, Parameter, environment, step",
        )
        .replace(
            "    @step\n    def end",
            "    @environment(vars={\"FERRY_RUN_ID\": \"mine\"})\n    @step\n    def end",
        );
    std::fs::write(&f.file, broken).unwrap();
    let out = s.ferry("alice", &["deploy", f.path()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("The flow HelloFlow cannot be compiled:"),
        "{}",
        text(&out)
    );
    assert_eq!(describe(&s, &[f.path()]), before);

    // The previous version still runs.
    assert_eq!(s.run_to_end(&f, &["--greeting", "hi"]), "SUCCEEDED");
}

#[test]
fn delete_follows_the_token_rules_and_the_flow_can_be_deployed_again() {
    let s = Stack::start();
    let f = flow("hello.py", HELLO);
    assert!(s.ferry("alice", &["deploy", f.path()]).status.success());

    let out = s.ferry("bob", &["delete", f.path()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains(
        "To delete this flow, you need to use the same production token that they used."
    ));
    assert!(text(&out).contains("    ferry delete --authorize MY_TOKEN"));
    describe(&s, &[f.path()]);

    let out = s.ferry("alice", &["delete", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    let o = String::from_utf8_lossy(&out.stdout);
    assert!(
        o.contains("Deleting the Ferry embedded stack state machine HelloFlow..."),
        "{o}"
    );
    assert!(
        o.contains("In-flight executions will not be affected."),
        "{o}"
    );
    assert_eq!(
        s.ferry("alice", &["describe", f.path()]).status.code(),
        Some(1)
    );
    let out = s.ferry("alice", &["delete", f.path()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("The workflow HelloFlow doesn't exist on the Ferry embedded stack.")
    );

    let out = s.ferry("bob", &["deploy", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("It seems this is the first time"));
    let d = describe(&s, &[f.path()]);
    assert_eq!(
        (d["owner"].as_str(), d["version"].as_u64()),
        (Some("bob"), Some(1))
    );
}

#[test]
fn a_request_delivered_again_after_a_restart_deploys_once() {
    let mut s = Stack::start();
    let f = flow("hello.py", HELLO);
    assert!(s.ferry("alice", &["deploy", f.path()]).status.success());
    let before = describe(&s, &[f.path()]);
    let request_dir = s
        .home()
        .join("blobs/deploy/HelloFlow")
        .join(before["request_id"].as_str().unwrap());
    let first_result: Value =
        serde_json::from_slice(&std::fs::read(request_dir.join("result.json")).unwrap()).unwrap();

    // The stack stops; the result object is lost; the new stack sees the request again.
    s.down();
    std::fs::remove_file(request_dir.join("result.json")).unwrap();
    s.up();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !request_dir.join("result.json").is_file() {
        assert!(
            Instant::now() < deadline,
            "the request was not handled again"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let again: Value =
        serde_json::from_slice(&std::fs::read(request_dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(again["status"], "ok");
    assert_eq!(
        again["finished_at"], first_result["finished_at"],
        "the stored result, not a new deploy"
    );
    assert_eq!(describe(&s, &[f.path()]), before);
}

#[test]
fn usage_errors_and_a_missing_stack() {
    let home = tempfile::tempdir().unwrap();
    let f = flow("hello.py", HELLO);
    let run = |args: &[&str]| {
        Command::new(FERRY)
            .args(args)
            .env("FERRY_HOME", home.path())
            .env("FERRY_PYTHON", ferry_testkit::python())
            .env("METAFLOW_USER", "alice")
            .env("METAFLOW_TOKEN_HOME", home.path().join("tokens"))
            .output()
            .unwrap()
    };
    assert_eq!(run(&["deploy"]).status.code(), Some(2));
    assert_eq!(
        run(&["deploy", f.path(), "--no-such-flag"]).status.code(),
        Some(2)
    );
    let help = run(&["deploy", "--help"]);
    let h = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--authorize",
        "--generate-new-token",
        "--branch",
        "--production",
        "--tag",
        "--max-workers",
        "--workflow-timeout",
        "--package-suffixes",
        "--only-json",
        "--namespace",
        "Example",
    ] {
        assert!(h.contains(flag), "deploy --help lacks {flag}");
    }
    assert!(String::from_utf8_lossy(&run(&["--help"]).stdout).contains("Exit codes:"));

    // No stack: a clear message at once, exit 1, nothing uploaded.
    let out = run(&["deploy", f.path()]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("no Ferry stack is running on"), "{t}");
    assert!(t.contains("ferry up --home"), "{t}");
    assert!(!home.path().join("blobs/deploy").exists());
    assert_eq!(run(&["delete", f.path()]).status.code(), Some(1));
    // A flow that does not import is reported with its error.
    let bad = flow("bad.py", "import no_such_module_here\n");
    let out = run(&["spec", bad.path()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no_such_module_here"), "{}", text(&out));
    let _ = f.dir.path();
}

/// The flows in `examples/`.
fn examples() -> Vec<PathBuf> {
    let dir = ferry_testkit::workspace_root().join("examples");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "py"))
        .collect();
    out.sort();
    assert!(out.len() >= 10, "examples missing in {}", dir.display());
    out
}

#[test]
fn every_example_compiles_to_a_valid_state_machine_and_deploys() {
    let s = Stack::start();
    let defs = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut expected = Vec::new();
    for ex in examples() {
        let path = ex.to_str().unwrap();
        let out = s.ferry("alice", &["spec", path]);
        assert!(out.status.success(), "spec {path}: {}", text(&out));
        let spec = stdout_json(&out);
        let flow = spec["flow"].as_str().unwrap().to_string();

        let out = s.ferry("alice", &["deploy", path, "--only-json"]);
        assert!(
            out.status.success(),
            "deploy --only-json {path}: {}",
            text(&out)
        );
        let def = stdout_json(&out);
        assert_eq!(def["StartAt"], "start", "{path}");
        let file = defs.path().join(format!("{flow}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(&def).unwrap()).unwrap();
        files.push(file);

        let out = s.ferry("alice", &["deploy", path]);
        assert!(out.status.success(), "deploy {path}: {}", text(&out));
        let project = spec["decorators"]["project"]["name"].as_str();
        expected.push(match project {
            Some(p) => (
                format!("{p}.user.alice.{flow}"),
                Some(p.to_string()),
                Some("user.alice".to_string()),
            ),
            None => (flow.clone(), None, None),
        });
        let has_schedule = spec["decorators"].get("schedule").is_some();
        let said = String::from_utf8_lossy(&out.stdout)
            .contains("This workflow triggers automatically via a cron schedule");
        assert_eq!(said, has_schedule, "{path}: {}", text(&out));
    }
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    ferry_testkit::asl_validate(&paths).unwrap();

    expected.sort();
    let all = stdout_json(&s.ferry("alice", &["deployments", "--json"]));
    let got: Vec<(String, Option<String>, Option<String>)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["deployment"].as_str().unwrap().to_string(),
                r["project"].as_str().map(str::to_string),
                r["branch"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn trigger_list_runs_and_delete_take_a_deployment_name_in_place_of_the_flow_file() {
    let s = Stack::start();
    let f = flow("hello.py", HELLO);
    assert!(s.ferry("alice", &["deploy", f.path()]).status.success());

    // From any folder, with no flow file: the name `ferry deployments` lists.
    let out = s.ferry(
        "alice",
        &["trigger", "--json", "HelloFlow", "--greeting", "hej"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let started = stdout_json(&out);
    assert_eq!(started["deployment"], "HelloFlow");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    assert!(started["input"].as_str().unwrap().contains("hej"));
    let out = s.ferry("alice", &["list-runs", "--json", "HelloFlow"]);
    assert!(out.status.success(), "{}", text(&out));
    let runs = stdout_json(&out);
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .any(|r| r["run_id"] == run_id),
        "{runs}"
    );
    // The deployment's own parameters are checked, as with the flow file.
    let out = s.ferry("alice", &["trigger", "HelloFlow", "--nope", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--greeting"), "{}", text(&out));
    // Selectors belong to flow files.
    let out = s.ferry("alice", &["list-runs", "HelloFlow", "--branch", "b"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("drop it"), "{}", text(&out));
    // Neither a file nor a name; a missing .py file; an unknown deployment.
    let out = s.ferry("alice", &["trigger", "no such flow"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("is neither a flow file nor a deployment name"),
        "{}",
        text(&out)
    );
    let out = s.ferry("alice", &["trigger", "gone.py"]);
    assert!(
        text(&out).contains("cannot read the flow file gone.py"),
        "{}",
        text(&out)
    );
    let out = s.ferry("alice", &["trigger", "--json", "NoSuchFlow"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_json(&out)["error"]["kind"], "not_found");

    // Delete by name follows the token rules, then deletes.
    let out = s.ferry("bob", &["delete", "HelloFlow"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("    ferry delete --authorize MY_TOKEN"));
    let out = s.ferry("alice", &["delete", "--json", "HelloFlow"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = s.ferry("alice", &["delete", "--json", "HelloFlow"]);
    assert_eq!(out.status.code(), Some(1));
    let v = stdout_json(&out);
    assert_eq!(v["error"]["kind"], "not_found", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("The workflow HelloFlow doesn't exist on the Ferry embedded stack."),
        "{v}"
    );
}

#[test]
fn new_token_moves_the_deployment_to_the_given_namespace_but_not_for_projects() {
    let s = Stack::start();
    let f = flow("hello.py", HELLO);
    let out = s.ferry(
        "alice",
        &[
            "deploy",
            "--json",
            f.path(),
            "--new-token",
            "production:team-hello-1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v = stdout_json(&out);
    assert_eq!(v["namespace"], "production:team-hello-1", "{v}");
    assert_eq!(v["new_token"], false);
    assert!(
        text(&out).contains("Using the given token, team-hello-1."),
        "{}",
        text(&out)
    );
    // The next deploy keeps it; --generate-new-token cannot follow a given token (Metaflow).
    let v = stdout_json(&s.ferry("alice", &["deploy", "--json", f.path()]));
    assert_eq!(v["namespace"], "production:team-hello-1", "{v}");
    let out = s.ferry("alice", &["deploy", f.path(), "--generate-new-token"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("--generate-new-token option is not supported after using --new-token"),
        "{}",
        text(&out)
    );
    // Another user still needs the token in force.
    let out = s.ferry("bob", &["deploy", f.path(), "--new-token", "mine"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("Missing production token"),
        "{}",
        text(&out)
    );
    // Not for @project flows, and not a malformed token.
    let p = flow("score.py", SCORE);
    let out = s.ferry("alice", &["deploy", p.path(), "--new-token", "mine"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("--new-token is not supported for @projects."),
        "{}",
        text(&out)
    );
    let out = s.ferry("alice", &["deploy", f.path(), "--new-token", "a b"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("invalid --new-token"), "{}", text(&out));
    let out = s.ferry(
        "alice",
        &[
            "deploy",
            f.path(),
            "--new-token",
            "x",
            "--generate-new-token",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// Every file of `dir` but those under `skip`, as lossy text.
fn files_text(dir: &std::path::Path, skip: &std::path::Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.starts_with(skip) {
            continue;
        }
        if p.is_dir() {
            out.push_str(&files_text(&p, skip));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

#[test]
fn notification_flags_keep_their_secrets_in_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let s = Stack::start();
    let f = flow("hello.py", HELLO);
    const SLACK: &str = "https://hooks.slack.com/services/T000/B000/s3cr3tSlackT0kenValue";
    const PD: &str = "R0UT1NGKEYs3cr3t0123456789abcdef";

    // Argo's rules, before anything is uploaded: a usage error naming what to add.
    let out = s.ferry(
        "alice",
        &["--json", "deploy", f.path(), "--notify-on-error"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = stdout_json(&out);
    assert_eq!(err["error"]["kind"], "usage");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--notify-on-error and --notify-on-success need somewhere to send to"),
        "{err}"
    );
    let out = s.ferry(
        "alice",
        &[
            "deploy",
            f.path(),
            "--notify-on-success",
            "--notify-incident-io-api-key",
            "inc_0123456789abcdef",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--incident-io-alert-source-config-id"),
        "{}",
        text(&out)
    );

    let out = s.ferry(
        "alice",
        &[
            "deploy",
            f.path(),
            "--notify-on-error",
            "--notify-slack-webhook-url",
            SLACK,
            "--notify-pager-duty-integration-key",
            PD,
            "--notify-sns-topic",
            "arn:aws:sns:eu-west-1:123456789012:flow-alerts",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(
            "Notifications go on error (FAILED, TIMED_OUT, ABORTED) to Slack https://hooks.slack.com/…alue, PagerDuty key …cdef, SNS arn:aws:sns:eu-west-1:123456789012:flow-alerts."
        ),
        "{}",
        text(&out)
    );
    let d = describe(&s, &[f.path()]);
    let n = &d["notifications"];
    assert_eq!(n["on_error"], true);
    assert_eq!(n["slack"]["webhook_url"], "https://hooks.slack.com/…alue");
    assert_eq!(n["pager_duty"]["integration_key"], "…cdef");
    let secret = n["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("notify/HelloFlow/"), "{secret}");
    let out = s.ferry("alice", &["describe", f.path()]);
    assert!(
        text(&out).contains("Notifications on error (FAILED, TIMED_OUT, ABORTED) to Slack https://hooks.slack.com/…alue"),
        "{}",
        text(&out)
    );

    // The values are in one 0600 file under <home>/secrets, and nowhere else in the home.
    let secrets = s.home().join("secrets");
    let file = secrets.join(&secret);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&secrets), 0o700);
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(stored.contains(SLACK) && stored.contains(PD), "{stored}");
    let rest = files_text(s.home(), &secrets);
    assert!(
        rest.contains("hooks.slack.com/…alue"),
        "the record is in the home"
    );
    for value in ["s3cr3tSlackT0kenValue", PD] {
        assert!(
            !rest.contains(value),
            "{value} is stored outside the secrets folder"
        );
    }

    // Delete removes the secret.
    let out = s.ferry("alice", &["delete", f.path()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!file.exists());
}
