//! `ferry env`: the shell lines that point the real `metaflow` client at the stack, evaluated by
//! a real shell; nothing written; a home that does not exist is an error.

use std::path::Path;
use std::process::{Command, Output};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `sh -c 'eval "$(ferry env)"; python -c …'` printing what metaflow's config resolved.
fn metaflow_config_after_eval(home: &Path, mf_home: &Path, env: &[(&str, &str)]) -> Output {
    let script = r#"eval "$("$FERRY" env)" || exit 9
"$PYTHON" -c 'import json; from metaflow import metaflow_config as c; print(json.dumps([c.DEFAULT_METADATA, c.SERVICE_URL, c.DEFAULT_DATASTORE, c.DATASTORE_SYSROOT_LOCAL, c.ARGO_EVENTS_WEBHOOK_URL]))'"#;
    Command::new("sh")
        .args(["-c", script])
        .env("FERRY", FERRY)
        .env("PYTHON", ferry_testkit::python())
        .env("FERRY_HOME", home)
        .env("METAFLOW_HOME", mf_home)
        .env_remove("METAFLOW_PROFILE")
        .env_remove("METAFLOW_DEFAULT_METADATA")
        .env_remove("METAFLOW_SERVICE_URL")
        .env_remove("METAFLOW_DEFAULT_DATASTORE")
        .env_remove("METAFLOW_DATASTORE_SYSROOT_LOCAL")
        .env_remove("METAFLOW_ARGO_EVENTS_WEBHOOK_URL")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn a_homes_stack_values_reach_the_metaflow_client_through_eval() {
    let dir = tempfile::tempdir().unwrap();
    // A home whose path a shell would split or expand.
    let home = dir.path().join("my ferry's $HOME");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("last-port"), "9123\n").unwrap();
    let mf = tempfile::tempdir().unwrap();
    let out = metaflow_config_after_eval(&home, mf.path(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let got: serde_json::Value = serde_json::from_slice(
        out.stdout
            .trim_ascii_end()
            .rsplit(|b| *b == b'\n')
            .next()
            .unwrap(),
    )
    .unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let root = home.canonicalize().unwrap().join("datastore");
    assert_eq!(
        got,
        serde_json::json!([
            "service",
            "http://127.0.0.1:9123",
            "local",
            root.to_str().unwrap(),
            "http://127.0.0.1:9123/ferry/v1/events"
        ])
    );
    // No stack runs there: said on stderr, not in what the shell evaluates.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no stack is running on"), "{stderr}");
    // Nothing was written: not Metaflow's config, not the home.
    assert_eq!(std::fs::read_dir(mf.path()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 1);
}

#[test]
fn json_and_a_home_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(FERRY)
        .args(["--json", "env"])
        .env("FERRY_HOME", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["target"], "local");
    assert_eq!(v["stack_running"], false);
    assert_eq!(v["env"]["METAFLOW_SERVICE_URL"], "http://127.0.0.1:8765");
    assert_eq!(v["env"]["METAFLOW_DEFAULT_METADATA"], "service");

    let missing = dir.path().join("typo");
    let out = Command::new(FERRY)
        .args(["--json", "env", "--home"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "not_found");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not a Ferry home"),
        "{v}"
    );
    assert!(!missing.exists(), "a read-only command created the home");
}

#[test]
fn on_aws_it_selects_the_profile_configure_wrote() {
    let home = tempfile::tempdir().unwrap();
    let mf = tempfile::tempdir().unwrap();
    let stack = format!(
        "{}/../tests/data/describe-stacks.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new(FERRY)
        .args([
            "configure",
            "--from-stack",
            &stack,
            "--api-key",
            "k-0123456789",
            "--profile",
            "team",
        ])
        .env("FERRY_HOME", home.path())
        .env("METAFLOW_HOME", mf.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // Variables left by an earlier `eval "$(ferry env)"` of an embedded stack would win over
    // the profile: they are unset.
    let out = metaflow_config_after_eval(
        home.path(),
        mf.path(),
        &[
            ("METAFLOW_SERVICE_URL", "http://127.0.0.1:8765"),
            ("METAFLOW_DEFAULT_DATASTORE", "local"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let last = String::from_utf8_lossy(&out.stdout);
    let got: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(got[0], "service");
    assert!(
        got[1].as_str().unwrap().starts_with("https://"),
        "the profile's service URL: {got}"
    );
    assert_eq!(got[2], "s3");

    let out = Command::new(FERRY)
        .arg("env")
        .env("FERRY_HOME", home.path())
        .env("METAFLOW_HOME", mf.path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.ends_with("export METAFLOW_PROFILE=team\n"),
        "{printed}"
    );
    assert!(
        printed.starts_with("unset METAFLOW_DEFAULT_METADATA\n"),
        "{printed}"
    );
}
