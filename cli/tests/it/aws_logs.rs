//! `ferry logs` against a Ferry stack on AWS, emulated by moto: the task wrapper's own log
//! writer (`ferry_task::logs::LogSink`, opened on the S3 datastore the way the wrapper opens it)
//! uploads mflog logs of two tasks and two attempts; the real `ferry` binary, configured with
//! `ferry configure --endpoint-url` (no `AWS_ENDPOINT_URL` in its environment), prints them back:
//! one task, a whole step, `--stderr`, `--attempt`, the latest attempt, `--json`, and the errors
//! for a missing task, a missing step, an attempt that does not exist and a bad pathspec.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use ferry_spec::task::DatastoreSettings;
use ferry_task::logs::{LogSink, Stream};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Write one task attempt's logs as the wrapper does: lines through the decorating writers,
/// then an upload of both streams.
async fn write_attempt(
    dir: &Path,
    blobs: &Arc<dyn ferry_store::Blobs>,
    task_prefix: &str,
    attempt: u32,
    out: &str,
    err: &str,
) {
    let sink = LogSink::new(
        &dir.join(format!("{}-{attempt}", task_prefix.replace('/', "_"))),
        Arc::clone(blobs),
        task_prefix,
        attempt,
    )
    .unwrap();
    for (stream, text) in [(Stream::Stdout, out), (Stream::Stderr, err)] {
        let mut w = sink.writer(stream).unwrap();
        w.write(text.as_bytes());
        w.finish();
    }
    sink.flush().await;
}

#[test]
fn logs_come_from_the_s3_datastore() {
    let url = ferry_testkit::moto_url();
    // SAFETY: set before any thread or client exists; this test binary has one test. The task
    // wrapper finds moto the same way (the SDK's environment).
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &url);
        for (k, v) in ferry_testkit::aws_test_env() {
            std::env::set_var(k, v);
        }
    }
    let bucket = ferry_testkit::unique("ferry-logs").to_ascii_lowercase();
    ferry_testkit::boto3(&url, "s3.create_bucket(Bucket=args[0])", &[&bucket]);
    let home = tempfile::tempdir().unwrap();
    let mf = tempfile::tempdir().unwrap();
    let ferry = |args: &[&str]| {
        Command::new(FERRY)
            .args(args)
            .env("FERRY_HOME", home.path())
            .env("METAFLOW_HOME", mf.path())
            .env_remove("AWS_ENDPOINT_URL")
            .envs(ferry_testkit::aws_test_env())
            .output()
            .unwrap()
    };
    let out = ferry(&[
        "configure",
        "--bucket",
        &bucket,
        "--region",
        "us-east-1",
        "--endpoint-url",
        &url,
        "--stack-name",
        "ferry-logs-test",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The wrapper's side: the datastore of `ferry configure`'s default root, opened by the
    // wrapper's own functions.
    let root = format!("s3://{bucket}/metaflow");
    let run = "sfn-4f1d2c";
    let logs_dir = tempfile::tempdir().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = ferry_task::stores::datastore_blobs_ref(&DatastoreSettings {
            kind: "s3".into(),
            root: root.clone(),
        })
        .unwrap();
        let blobs = ferry_task::stores::open_blobs(&r).await.unwrap();
        let t1 = format!("LogsFlow/{run}/start/1");
        let t2 = format!("LogsFlow/{run}/start/2");
        write_attempt(logs_dir.path(), &blobs, &t1, 0, "first try\n", "boom 0\n").await;
        write_attempt(
            logs_dir.path(),
            &blobs,
            &t1,
            1,
            "second try\nbye",
            "warn 1\n",
        )
        .await;
        write_attempt(logs_dir.path(), &blobs, &t2, 0, "only try\n", "").await;
    });
    // The objects are where Metaflow's client reads them, mflog-decorated.
    let body = ferry_testkit::boto3(
        &url,
        "print(s3.get_object(Bucket=args[0], Key=args[1])['Body'].read().decode(), end='')",
        &[
            &bucket,
            &format!("metaflow/LogsFlow/{run}/start/1/1.task_stdout.log"),
        ],
    );
    assert!(body.starts_with("[MFLOG|0|"), "{body}");
    assert!(body.contains("]second try\n"), "{body}");

    // One task: its latest attempt, mflog prefixes stripped.
    let task1 = format!("LogsFlow/{run}/start/1");
    let out = ferry(&["logs", &task1]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "second try\nbye\n");
    let out = ferry(&["logs", &task1, "--attempt", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "first try\n");
    let out = ferry(&["logs", &task1, "--stderr"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "warn 1\n");
    let out = ferry(&["logs", &task1, "--stderr", "--attempt", "0"]);
    assert_eq!(stdout(&out), "boom 0\n");

    // The step: every task, each at its latest attempt.
    let step = format!("LogsFlow/{run}/start");
    let out = ferry(&["logs", &step]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("--- {step}/1 ---\nsecond try\nbye\n--- {step}/2 ---\nonly try\n")
    );
    let out = ferry(&["--json", "logs", &step]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"pathspec": format!("{step}/1"), "attempt": 1, "stream": "stdout", "text": "second try\nbye\n"},
            {"pathspec": format!("{step}/2"), "attempt": 0, "stream": "stdout", "text": "only try\n"},
        ])
    );
    // `--attempt 0` of the step: both tasks have one.
    let out = ferry(&["logs", &step, "--attempt", "0"]);
    assert_eq!(
        stdout(&out),
        format!("--- {step}/1 ---\nfirst try\n--- {step}/2 ---\nonly try\n")
    );
    // `--attempt 1`: only task 1 has one; task 2 is skipped.
    let out = ferry(&["logs", &step, "--attempt", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("--- {step}/1 ---\nsecond try\nbye\n"));

    // An attempt that does not exist: the ones that do.
    let out = ferry(&["logs", &task1, "--attempt", "5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "{task1} has no attempt 5 with a stdout log; its attempts: 0, 1"
        )),
        "{}",
        stderr(&out)
    );
    let out = ferry(&["logs", &step, "--attempt", "7"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("their attempts: 1: 0, 1; 2: 0"),
        "{}",
        stderr(&out)
    );

    // A task without a datastore log: where else to look, exit code 1.
    let missing = format!("LogsFlow/{run}/start/9");
    let out = ferry(&["logs", &missing]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "no stdout log for {missing} in the datastore {root}"
        )),
        "{err}"
    );
    assert!(err.contains("CloudWatch log group"), "{err}");
    assert!(
        err.contains("--stack-name ferry-logs-test --logical-resource-id BatchLogGroup"),
        "{err}"
    );
    // Under --json, stdout holds the error object alone.
    let out = ferry(&["--json", "logs", &missing]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error"]["kind"], "not_found", "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("BatchLogGroup")),
        "{json}"
    );

    // A step nobody ran, and pathspecs that are not one.
    let out = ferry(&["logs", &format!("LogsFlow/{run}/end")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "no step LogsFlow/{run}/end in the datastore {root}"
        )),
        "{}",
        stderr(&out)
    );
    for (bad, why) in [
        (
            format!("LogsFlow/{run}/../1"),
            "invalid pathspec segment \"..\"",
        ),
        (
            "LogsFlow//start/1".to_string(),
            "invalid pathspec segment \"\"",
        ),
        (
            "LogsFlow".to_string(),
            "PATHSPEC must be Flow/run/step or Flow/run/step/task",
        ),
    ] {
        let out = ferry(&["logs", &bad]);
        // A malformed pathspec is a usage mistake: exit 2.
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(stderr(&out).contains(why), "{bad}: {}", stderr(&out));
    }
}
