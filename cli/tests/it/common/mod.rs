//! The harness the CLI's embedded-stack tests share: the `ferry` binary under test, flow files in
//! folders of their own, and a fresh Ferry home with `ferry up` running on it as a child process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// The folder holding `task-wrapper` (and `ferry`).
pub fn bin_dir() -> PathBuf {
    let dir = std::env::var_os("FERRY_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(FERRY).parent().unwrap().to_path_buf());
    assert!(
        dir.join("task-wrapper").is_file(),
        "task-wrapper not found in {}: run `cargo build -p task-wrapper` (scripts/test builds every binary)",
        dir.display()
    );
    dir
}

/// A flow file in a fresh folder of its own.
pub struct Flow {
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
}

pub fn flow(name: &str, body: &str) -> Flow {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, body).unwrap();
    Flow { dir, file }
}

impl Flow {
    pub fn path(&self) -> &str {
        self.file.to_str().unwrap()
    }
}

/// A fresh Ferry home, and the embedded stack (`ferry up`) on it while started.
pub struct Stack {
    home: tempfile::TempDir,
    child: Option<Child>,
}

impl Stack {
    /// A fresh home with no stack running yet ([`Stack::up`] starts it).
    pub fn new() -> Stack {
        Stack {
            home: tempfile::tempdir().unwrap(),
            child: None,
        }
    }

    /// A fresh home with its stack running.
    pub fn start() -> Stack {
        let mut s = Stack::new();
        s.up();
        s
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn up(&mut self) {
        let _ = std::fs::remove_file(self.home().join("stack.json"));
        let child = self
            .command("alice")
            .args(["up", "--port", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.home().join("stack.json").is_file() {
            assert!(Instant::now() < deadline, "ferry up did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the stack with SIGTERM and wait for it.
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// `ferry` as `user`, with that user's own token folder.
    pub fn command(&self, user: &str) -> Command {
        let mut path = std::ffi::OsString::from(bin_dir());
        path.push(":");
        path.push(ferry_testkit::venv_bin());
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let mut c = Command::new(FERRY);
        c.env("FERRY_HOME", self.home())
            .env("PATH", path)
            .env("FERRY_PYTHON", ferry_testkit::python())
            .env("METAFLOW_USER", user)
            .env("USER", user)
            .env(
                "METAFLOW_TOKEN_HOME",
                self.home().join(format!("tokens-{user}")),
            )
            .env_remove("METAFLOW_HOME")
            .stdin(Stdio::null());
        c
    }

    pub fn ferry(&self, user: &str, args: &[&str]) -> Output {
        self.command(user).args(args).output().unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.down();
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}
