//! Test support shared by every crate's tests: where the pinned tools live, a moto server on
//! 127.0.0.1, `asl-validator`, free ports, a `metadata-api` server.
//!
//! Tools are installed by `scripts/setup-tools` into `.tools/` (or `$FERRY_TOOLS`). A missing tool
//! is a test failure with a message saying how to install it, never a silent skip.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root (the folder of the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|p| {
            p.join("Cargo.toml").is_file() && p.join("shared").is_dir() && p.join("cli").is_dir()
        })
        .expect("workspace root above shared/testkit")
        .to_path_buf()
}

/// The tools folder: `$FERRY_TOOLS`, else `<workspace>/.tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("FERRY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools"))
}

fn require(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} not found at {}: run scripts/setup-tools (the README's test command does)",
        path.display()
    );
    path
}

/// The venv's Python, which has the pinned `metaflow`, `moto`, `boto3`, `cfn-lint`, `pytest`.
pub fn python() -> PathBuf {
    require(
        tools_dir().join("venv/bin/python"),
        "the tools venv's python",
    )
}

/// The venv's `bin` folder (prepend it to `PATH` for subprocesses that run `python`/`metaflow`).
pub fn venv_bin() -> PathBuf {
    require(tools_dir().join("venv/bin"), "the tools venv")
}

/// The `asl-validator` executable.
pub fn asl_validator() -> PathBuf {
    require(
        tools_dir().join("node/node_modules/.bin/asl-validator"),
        "asl-validator",
    )
}

/// Validate state machine definitions (JSON files) with `asl-validator`.
/// `Err` carries its report when any file is invalid.
pub fn asl_validate(files: &[&Path]) -> Result<(), String> {
    let mut cmd = Command::new(asl_validator());
    for f in files {
        cmd.arg("--json-path").arg(f);
    }
    let out = cmd.output().expect("running asl-validator");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// Wait until something listens on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A moto server: `$FERRY_MOTO_URL` when set (the test script starts one for the whole run),
/// else one started for this test process on a free port and stopped when the process exits.
/// Configured with `execute_state_machine`, `batch.use_docker=false`, `lambda.use_docker=false`.
/// Tests share it: give every AWS resource a unique name (see [`unique`]).
pub fn moto_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("FERRY_MOTO_URL") {
            return url;
        }
        let port = free_port();
        let server = require(tools_dir().join("venv/bin/moto_server"), "moto_server");
        // A small Python supervisor runs moto and stops it once this test process is gone
        // (its parent pid changes), so no server outlives `cargo test`.
        let supervisor = "import os, subprocess, sys, time\n\
            parent = int(sys.argv[1])\n\
            moto = subprocess.Popen(sys.argv[2:])\n\
            while moto.poll() is None and os.getppid() == parent:\n    time.sleep(0.5)\n\
            moto.terminate()\n\
            moto.wait(10)\n";
        let mut child = Command::new(python())
            .arg("-c")
            .arg(supervisor)
            .arg(std::process::id().to_string())
            .arg(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting moto_server");
        let stderr = child.stderr.take().expect("moto stderr");
        std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
        assert!(
            wait_for_port(port, Duration::from_secs(30)),
            "moto_server did not listen on 127.0.0.1:{port}"
        );
        let url = format!("http://127.0.0.1:{port}");
        configure_moto(&url);
        // The server lives as long as this test process.
        std::mem::forget(KillOnExit(Some(child)));
        url
    })
    .clone()
}

struct KillOnExit(Option<Child>);
impl Drop for KillOnExit {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
        }
    }
}

/// POST moto's test configuration (state machines execute; Batch and Lambda without Docker).
pub fn configure_moto(url: &str) {
    let body = r#"{"stepfunctions":{"execute_state_machine":true},"batch":{"use_docker":false},"lambda":{"use_docker":false}}"#;
    let status = Command::new(python())
        .args([
            "-c",
            "import sys,urllib.request as u; r=u.Request(sys.argv[1]+'/moto-api/config', data=sys.argv[2].encode(), headers={'Content-Type':'application/json'}); u.urlopen(r).read()",
            url,
            body,
        ])
        .status()
        .expect("configuring moto");
    assert!(status.success(), "configuring moto at {url} failed");
}

/// Environment for AWS SDK clients pointed at moto: fake credentials and region.
pub fn aws_test_env() -> [(&'static str, &'static str); 3] {
    [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]
}

/// Run a boto3 script against the moto server at `url` with fake credentials; returns its
/// stdout. The script sees `sys`, `json`, `boto3`, `url`, `args` (the given `args`), and clients
/// `s3` and `ddb`. A failing script fails the test with its stderr.
pub fn boto3(url: &str, script: &str, args: &[&str]) -> String {
    let prelude = "import sys, json, boto3\nurl = sys.argv[1]\nargs = sys.argv[2:]\n\
        s3 = boto3.client('s3', endpoint_url=url)\n\
        ddb = boto3.client('dynamodb', endpoint_url=url)\n";
    let out = Command::new(python())
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .arg(url)
        .args(args)
        .envs(aws_test_env())
        .output()
        .expect("running python with boto3");
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("boto3 script output is UTF-8")
}

/// A name unique to this process and call, for AWS resources in a shared moto server:
/// `<prefix>-<pid>-<counter>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// A `metadata-api` server on 127.0.0.1 over an SQLite file, stopped on drop.
pub struct MetadataService {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    child: std::process::Child,
}

impl Drop for MetadataService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `metadata-api` binary: `$FERRY_BIN_DIR/metadata-api` (scripts/test builds every binary
/// first), else the workspace's `target/debug/metadata-api`.
pub fn metadata_api_bin() -> PathBuf {
    let dir = std::env::var_os("FERRY_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug"));
    let bin = dir.join("metadata-api");
    assert!(
        bin.is_file(),
        "metadata-api not found at {}: run `cargo build -p metadata-api` (scripts/test builds every binary)",
        bin.display()
    );
    bin
}

impl MetadataService {
    /// Start one on a free port, storing into `sqlite`.
    pub fn start(sqlite: &Path) -> Self {
        let port = free_port();
        let child = Command::new(metadata_api_bin())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--sqlite"])
            .arg(sqlite)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting metadata-api");
        let svc = MetadataService {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        assert!(
            wait_for_port(port, std::time::Duration::from_secs(30)),
            "metadata-api did not listen on {}",
            svc.url
        );
        svc
    }
}
