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

/// Writes tiny pure-Python wheels `boto3` and `requests` into `argv[1]`: this `boto3` serves
/// `get_object` from the folder `$FAKE_S3_DIR/<bucket>/<key>` (no index and no AWS are reached
/// by these tests; the real boto3 path is the test above).
const MAKE_WHEELS: &str = r#"
import base64, hashlib, os, sys, zipfile
BOTO3 = '''
import io, os
class _S3:
    def get_object(self, Bucket, Key):
        with open(os.path.join(os.environ["FAKE_S3_DIR"], Bucket, Key), "rb") as f:
            return {"Body": io.BytesIO(f.read())}
def client(name):
    assert name == "s3", name
    return _S3()
'''
def wheel(name, body):
    files = {name + "/__init__.py": body.encode(),
             name + "-0.0.1.dist-info/METADATA": ("Metadata-Version: 2.1\nName: %s\nVersion: 0.0.1\n" % name).encode(),
             name + "-0.0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: ferry-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = name + "-0.0.1.dist-info/RECORD"
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    lines.append(record + ",,")
    files[record] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(os.path.join(sys.argv[1], name + "-0.0.1-py3-none-any.whl"), "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
wheel("boto3", BOTO3)
wheel("requests", "VERSION = 'fake'\n")
"#;

/// A stand-in wrapper that reports its arguments and what the bootstrap handed it.
fn reporting_stand_in() -> Vec<u8> {
    format!(
        "#!{}\nimport json, os, sys\nsite = os.environ.get('FERRY_BOOTSTRAP_SITE')\n\
         print(json.dumps({{'argv': sys.argv[1:], 'site': site, 'has': sorted(\
         n for n in ('boto3', 'requests') if site and os.path.isfile(os.path.join(site, n, '__init__.py')))}}))\n",
        ferry_testkit::python().display()
    )
    .into_bytes()
}

fn venv(dir: &std::path::Path, name: &str, with_pip: bool) -> std::path::PathBuf {
    let mut cmd = Command::new(ferry_testkit::python());
    cmd.args(["-m", "venv"]);
    if !with_pip {
        cmd.arg("--without-pip");
    }
    let ok = cmd.arg(dir.join(name)).status().unwrap().success();
    assert!(ok, "creating the venv {name}");
    dir.join(name).join("bin/python")
}

/// Run the bootstrap with `python`, pip pointed at `find_links` only, `s3` as the fake bucket
/// root and `pythonpath` as the image's PYTHONPATH.
fn run_offline(
    python: &std::path::Path,
    cmd: &[String],
    find_links: &std::path::Path,
    s3: &std::path::Path,
    pythonpath: Option<&std::path::Path>,
) -> Output {
    let mut c = Command::new(python);
    c.args(&cmd[1..])
        .env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", find_links)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("FAKE_S3_DIR", s3)
        .env_remove("FERRY_BOOTSTRAP_SITE")
        .env_remove("PYTHONPATH");
    if let Some(p) = pythonpath {
        c.env("PYTHONPATH", p);
    }
    c.output().unwrap()
}

#[test]
fn without_boto3_or_requests_pip_installs_them_for_the_wrapper_and_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    let empty = dir.path().join("no-wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    let ok = Command::new(ferry_testkit::python())
        .args(["-c", MAKE_WHEELS])
        .arg(&wheels)
        .status()
        .unwrap()
        .success();
    assert!(ok, "building the test wheels");
    // The bucket, as the fake boto3 reads it.
    let bucket = "ferry-bootstrap-offline";
    let s3 = dir.path().join("s3");
    let body = reporting_stand_in();
    let machine = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    };
    let obj = s3
        .join(bucket)
        .join(format!("ferry/bin/task-wrapper-{machine}"));
    std::fs::create_dir_all(obj.parent().unwrap()).unwrap();
    std::fs::write(&obj, &body).unwrap();
    let sha = sha256_hex(&body);
    let hashes: Vec<(&str, &str)> = ARCHITECTURES.iter().map(|a| (*a, sha.as_str())).collect();
    let mut cmd = bootstrap_command("python3", bucket, "ferry/bin/task-wrapper-", &hashes).unwrap();
    cmd.extend(["run", "--task", "s3://b/t.json"].map(String::from));

    // python3 with pip and nothing else: both are installed, the wrapper gets the directory.
    let with_pip = venv(dir.path(), "with-pip", true);
    let out = run_offline(&with_pip, &cmd, &wheels, &s3, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got["argv"],
        serde_json::json!(["run", "--task", "s3://b/t.json"])
    );
    assert_eq!(got["has"], serde_json::json!(["boto3", "requests"]));
    let site = std::path::PathBuf::from(got["site"].as_str().unwrap());
    assert!(site.is_absolute());
    let _ = std::fs::remove_dir_all(&site);

    // The image has boto3 (here on its PYTHONPATH) but not requests: only requests is installed.
    let image_lib = dir.path().join("image-lib");
    std::fs::create_dir_all(image_lib.join("boto3")).unwrap();
    let fake_boto3 = Command::new(ferry_testkit::python())
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
             open(sys.argv[2], 'wb').write(z.read('boto3/__init__.py'))",
        ])
        .arg(wheels.join("boto3-0.0.1-py3-none-any.whl"))
        .arg(image_lib.join("boto3/__init__.py"))
        .status()
        .unwrap()
        .success();
    assert!(fake_boto3);
    let out = run_offline(&with_pip, &cmd, &wheels, &s3, Some(&image_lib));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["has"], serde_json::json!(["requests"]));
    let _ = std::fs::remove_dir_all(got["site"].as_str().unwrap());

    // Both present: pip is not run, no directory is handed over.
    std::fs::create_dir_all(image_lib.join("requests")).unwrap();
    std::fs::write(image_lib.join("requests/__init__.py"), "").unwrap();
    let out = run_offline(&with_pip, &cmd, &empty, &s3, Some(&image_lib));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["site"], serde_json::Value::Null);

    // Nothing to install from: a clear error, and the wrapper never runs.
    let out = run_offline(&with_pip, &cmd, &empty, &s3, None);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ferry bootstrap:")
            && err.contains("lacks boto3 requests; pip could not install them"),
        "{err}"
    );

    // No pip either: said so before anything else is tried.
    let bare = venv(dir.path(), "bare", false);
    let out = run_offline(&bare, &cmd, &wheels, &s3, None);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lacks boto3 requests and pip to install them"),
        "{err}"
    );
}
