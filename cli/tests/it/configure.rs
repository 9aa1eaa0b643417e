//! `ferry configure`: a `describe-stacks` document becomes Ferry's config and a Metaflow profile
//! that the real `metaflow` client loads; `--show` says where each value comes from.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const KEY: &str = "s3cr3t-api-key-0123456789";

fn stack_file() -> String {
    format!(
        "{}/../tests/data/describe-stacks.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn ferry(home: &Path, mf_home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(FERRY)
        .args(args)
        .env("FERRY_HOME", home)
        .env("METAFLOW_HOME", mf_home)
        .env_remove("METAFLOW_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("METAFLOW_SERVICE_URL")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn from_stack_writes_a_config_and_a_profile_metaflow_loads() {
    let home = tempfile::tempdir().unwrap();
    let mf = tempfile::tempdir().unwrap();
    let out = ferry(
        home.path(),
        mf.path(),
        &["configure", "--from-stack", &stack_file(), "--api-key", KEY],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));

    // Ferry's config: the AWS target, private.
    let path = home.path().join("config.json");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(cfg["target"], "aws");
    assert_eq!(cfg["bucket"], "ferry-5b7c1e20-8f3a-11f0-9d2e-0a1b2c3d4e5f");
    assert_eq!(cfg["prefix"], "ferry/");
    assert_eq!(cfg["region"], "eu-west-1");
    assert_eq!(cfg["table"], "ferry-DeploymentsTable-5Y6Z7A8B9C0D");
    assert_eq!(cfg["stack_name"], "ferry");

    // The profile exists, private; the default Metaflow config is left alone.
    assert!(!mf.path().join("config.json").exists());
    let p = mf.path().join("config_ferry.json");
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The real metaflow client reads the profile.
    let script = "import json\nfrom metaflow import metaflow_config as c\n\
        print(json.dumps({k: getattr(c, k) for k in ['SERVICE_URL', 'SERVICE_HEADERS', 'DEFAULT_METADATA',\n\
        'DEFAULT_DATASTORE', 'DATASTORE_SYSROOT_S3', 'DATATOOLS_S3ROOT', 'BATCH_JOB_QUEUE',\n\
        'ECS_S3_ACCESS_IAM_ROLE', 'SFN_IAM_ROLE', 'EVENTS_SFN_ACCESS_IAM_ROLE', 'SFN_DYNAMO_DB_TABLE',\n\
        'ARGO_EVENTS_WEBHOOK_URL', 'ARGO_EVENTS_WEBHOOK_AUTH']}))";
    let out = Command::new(ferry_testkit::python())
        .args(["-c", script])
        .env("METAFLOW_HOME", mf.path())
        .env("METAFLOW_PROFILE", "ferry")
        .env_remove("METAFLOW_SERVICE_URL")
        .env_remove("METAFLOW_DEFAULT_METADATA")
        .env_remove("METAFLOW_DEFAULT_DATASTORE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mf_cfg: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        mf_cfg["SERVICE_URL"],
        "https://k2x9q7w1ab.execute-api.eu-west-1.amazonaws.com/api"
    );
    assert_eq!(mf_cfg["SERVICE_HEADERS"]["x-api-key"], KEY);
    assert_eq!(mf_cfg["DEFAULT_METADATA"], "service");
    assert_eq!(mf_cfg["DEFAULT_DATASTORE"], "s3");
    assert_eq!(
        mf_cfg["DATASTORE_SYSROOT_S3"],
        "s3://ferry-5b7c1e20-8f3a-11f0-9d2e-0a1b2c3d4e5f/metaflow"
    );
    assert_eq!(
        mf_cfg["DATATOOLS_S3ROOT"],
        "s3://ferry-5b7c1e20-8f3a-11f0-9d2e-0a1b2c3d4e5f/data"
    );
    assert_eq!(
        mf_cfg["BATCH_JOB_QUEUE"],
        "arn:aws:batch:eu-west-1:123456789012:job-queue/JobQueue-3f9e8d7c6b5a4"
    );
    assert_eq!(
        mf_cfg["ECS_S3_ACCESS_IAM_ROLE"],
        "arn:aws:iam::123456789012:role/ferry-JobRole-1A2B3C4D5E6F"
    );
    assert_eq!(
        mf_cfg["SFN_IAM_ROLE"],
        "arn:aws:iam::123456789012:role/ferry-StepFunctionsRole-7G8H9I0J1K2L"
    );
    assert_eq!(
        mf_cfg["EVENTS_SFN_ACCESS_IAM_ROLE"],
        "arn:aws:iam::123456789012:role/ferry-SchedulerRole-3M4N5O6P7Q8R"
    );
    assert_eq!(
        mf_cfg["SFN_DYNAMO_DB_TABLE"],
        "ferry-StateTable-9S0T1U2V3W4X"
    );
    // Metaflow's ArgoEvent(...).publish() posts to the stack's events route with the key.
    assert_eq!(
        mf_cfg["ARGO_EVENTS_WEBHOOK_URL"],
        "https://k2x9q7w1ab.execute-api.eu-west-1.amazonaws.com/api/ferry/v1/events"
    );
    assert_eq!(mf_cfg["ARGO_EVENTS_WEBHOOK_AUTH"], "service");

    // --show: values, sources, the key masked; an environment variable wins and says so.
    let out = ferry(
        home.path(),
        mf.path(),
        &["configure", "--show"],
        &[("METAFLOW_PROFILE", "ferry"), ("AWS_REGION", "us-west-2")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("s3cr…"), "{shown}");
    let line = |k: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(&format!("{k} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("bucket").contains(&path.display().to_string()),
        "{shown}"
    );
    assert!(
        line("region").contains("us-west-2") && line("region").contains("environment AWS_REGION"),
        "{shown}"
    );
    assert!(
        line("METAFLOW_SERVICE_URL")
            .contains(&mf.path().join("config_ferry.json").display().to_string()),
        "{shown}"
    );
    let out = ferry(
        home.path(),
        mf.path(),
        &["--json", "configure", "--show"],
        &[("METAFLOW_PROFILE", "ferry")],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["METAFLOW_SERVICE_AUTH_KEY"]["value"], "s3cr…");
    assert_eq!(json["target"]["value"], "aws");
}

#[test]
fn flags_alone_work_and_an_existing_metaflow_config_is_kept() {
    let home = tempfile::tempdir().unwrap();
    let mf = tempfile::tempdir().unwrap();
    std::fs::write(
        mf.path().join("config.json"),
        r#"{"METAFLOW_DEFAULT_METADATA": "local"}"#,
    )
    .unwrap();
    let out = ferry(
        home.path(),
        mf.path(),
        &[
            "configure",
            "--bucket",
            "my-ferry-bucket",
            "--service-url",
            "https://meta.example.com/api",
            "--region",
            "us-east-1",
            "--table",
            "deps",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("No API key given"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(mf.path().join("config.json")).unwrap(),
        r#"{"METAFLOW_DEFAULT_METADATA": "local"}"#
    );
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mf.path().join("config_ferry.json")).unwrap())
            .unwrap();
    assert_eq!(
        profile["METAFLOW_DATASTORE_SYSROOT_S3"],
        "s3://my-ferry-bucket/metaflow"
    );
    assert!(profile.get("METAFLOW_SERVICE_AUTH_KEY").is_none());
    assert_eq!(
        profile["METAFLOW_ARGO_EVENTS_WEBHOOK_URL"], "https://meta.example.com/api/ferry/v1/events",
        "the events route is on the service's API"
    );
    assert_eq!(profile["METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH"], "service");

    // Refusals: no bucket, a bad bucket, a URL that is not one.
    for args in [
        vec!["configure", "--service-url", "https://x"],
        vec!["configure", "--bucket", "Bad_Bucket"],
        vec![
            "configure",
            "--bucket",
            "ok-bucket",
            "--service-url",
            "meta.example.com",
        ],
        vec![
            "configure",
            "--bucket",
            "ok-bucket",
            "--events-url",
            "https://meta.example.com/api/wrong",
        ],
    ] {
        let out = ferry(home.path(), mf.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
    }
    let out = ferry(
        home.path(),
        mf.path(),
        &[
            "configure",
            "--bucket",
            "ok-bucket",
            "--events-url",
            "https://e.example.com/x",
        ],
        &[],
    );
    assert!(
        text(&out).contains("is not the stack's events route: it ends in /ferry/v1/events"),
        "{}",
        text(&out)
    );
}

/// What API Gateway sees of Metaflow's own `ArgoEvent(...).publish()` under the profile
/// `ferry configure` writes: a POST with the API key in `x-api-key` (the header API Gateway
/// checks) and the event body. A local receiver stands in for the API; the URL is pointed at it
/// through the environment, which Metaflow reads before the profile.
#[test]
fn argo_event_publish_sends_the_api_key_under_the_profile() {
    let home = tempfile::tempdir().unwrap();
    let mf = tempfile::tempdir().unwrap();
    let out = ferry(
        home.path(),
        mf.path(),
        &["configure", "--from-stack", &stack_file(), "--api-key", KEY],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let script = r#"
import json, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
seen = {}
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        seen["path"] = self.path
        seen["headers"] = {k.lower(): v for k, v in self.headers.items()}
        seen["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(202); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
srv = HTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.handle_request, daemon=True).start()
import os
os.environ["METAFLOW_ARGO_EVENTS_WEBHOOK_URL"] = "http://127.0.0.1:%d/api/ferry/v1/events" % srv.server_address[1]
from metaflow.integrations import ArgoEvent
ArgoEvent("data_ready").publish({"date": "2026-12-06"}, ignore_errors=False)
print(json.dumps(seen))
"#;
    let out = Command::new(ferry_testkit::python())
        .args(["-c", script])
        .env("METAFLOW_HOME", mf.path())
        .env("METAFLOW_PROFILE", "ferry")
        .env_remove("METAFLOW_SERVICE_AUTH_KEY")
        .env_remove("METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["path"], "/api/ferry/v1/events");
    assert_eq!(seen["headers"]["x-api-key"], KEY, "{seen}");
    assert_eq!(seen["body"]["name"], "data_ready");
    assert_eq!(seen["body"]["payload"]["date"], "2026-12-06");
}
