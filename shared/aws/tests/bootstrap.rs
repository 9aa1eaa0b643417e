//! The task-wrapper bootstrap (`ferry_compile::bootstrap`) run for real: python from the test
//! venv, boto3 against moto's S3, a stand-in wrapper script uploaded to the bucket.

use std::process::{Command, Output};

use ferry_compile::bootstrap::{ARCHITECTURES, bootstrap_command};

fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new(ferry_testkit::python())
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Upload `body` to `s3://bucket/key` on moto (creating the bucket).
fn upload(url: &str, bucket: &str, key: &str, body: &[u8]) {
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), body).unwrap();
    let out = Command::new(ferry_testkit::python())
        .args([
            "-c",
            "import sys, boto3\ns3 = boto3.client('s3', endpoint_url=sys.argv[1])\n\
             s3.create_bucket(Bucket=sys.argv[2])\ns3.upload_file(sys.argv[4], sys.argv[2], sys.argv[3])",
            url,
            bucket,
            key,
            path.path().to_str().unwrap(),
        ])
        .envs(ferry_testkit::aws_test_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run the bootstrap command with the venv's python, as the Batch job would.
fn run(url: &str, cmd: &[String]) -> Output {
    let python = ferry_testkit::python();
    Command::new(&python)
        .args(&cmd[1..])
        .env("AWS_ENDPOINT_URL", url)
        .envs(ferry_testkit::aws_test_env())
        .output()
        .unwrap()
}

/// A stand-in wrapper: prints its argv as JSON.
fn stand_in() -> Vec<u8> {
    format!(
        "#!{}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n",
        ferry_testkit::python().display()
    )
    .into_bytes()
}

#[test]
fn downloads_verifies_and_execs_the_wrapper_with_its_arguments() {
    let url = ferry_testkit::moto_url();
    let bucket = ferry_testkit::unique("ferry-bootstrap").to_ascii_lowercase();
    let body = stand_in();
    for arch in ARCHITECTURES {
        upload(
            &url,
            &bucket,
            &format!("ferry/bin/task-wrapper-{arch}"),
            &body,
        );
    }
    let sha = sha256_hex(&body);
    let hashes: Vec<(&str, &str)> = ARCHITECTURES.iter().map(|a| (*a, sha.as_str())).collect();
    let mut cmd =
        bootstrap_command("python3", &bucket, "ferry/bin/task-wrapper-", &hashes).unwrap();
    // What the compiler appends; a value with shell metacharacters stays one argument.
    cmd.extend(
        [
            "run",
            "--task",
            "s3://b/ferry/tasks/x.json",
            "$(touch /tmp/nope); 'q\"",
        ]
        .map(String::from),
    );
    let out = run(&url, &cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let argv: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        argv,
        [
            "run",
            "--task",
            "s3://b/ferry/tasks/x.json",
            "$(touch /tmp/nope); 'q\""
        ]
    );
}

#[test]
fn a_wrong_hash_or_a_missing_architecture_refuses_to_run() {
    let url = ferry_testkit::moto_url();
    let bucket = ferry_testkit::unique("ferry-bootstrap").to_ascii_lowercase();
    let body = stand_in();
    for arch in ARCHITECTURES {
        upload(
            &url,
            &bucket,
            &format!("ferry/bin/task-wrapper-{arch}"),
            &body,
        );
    }
    let wrong = sha256_hex(b"another binary");
    let hashes: Vec<(&str, &str)> = ARCHITECTURES.iter().map(|a| (*a, wrong.as_str())).collect();
    let mut cmd =
        bootstrap_command("python3", &bucket, "ferry/bin/task-wrapper-", &hashes).unwrap();
    cmd.extend(["run", "--task", "s3://b/t.json"].map(String::from));
    let out = run(&url, &cmd);
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "the wrapper ran: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ferry bootstrap: SHA-256 mismatch"), "{err}");

    // A hash for an architecture this machine is not: nothing to run.
    let sha = sha256_hex(&body);
    let machine = std::env::consts::ARCH; // x86_64 or aarch64
    let other = if machine == "x86_64" {
        "arm64"
    } else {
        "x86_64"
    };
    let mut cmd = bootstrap_command(
        "python3",
        &bucket,
        "ferry/bin/task-wrapper-",
        &[(other, &sha)],
    )
    .unwrap();
    cmd.extend(["run"].map(String::from));
    let out = run(&url, &cmd);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no task wrapper for architecture"));
}
