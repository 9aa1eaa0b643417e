//! Run side: the step's interpreter, built from the stored wheels only.
//!
//! `prepare_env` reads the lock (sha256-checked), fetches every wheel of this host's platform
//! from the blob store and checks its sha256 BEFORE anything is built (a missing or altered
//! file fails the task, naming the file, before user code runs), then builds the environment
//! in `<cache>/envs/.tmp-<uuid>` (`python -m venv --without-pip`, wheels unpacked by
//! [`crate::wheel`], no index, no resolver) and renames it to `<cache>/envs/<lock sha256>-<id>`
//! (`<id>`: the task interpreter's identity). The next task with the same lock on this host
//! finds that directory and starts at once: a directory with that name is only ever complete.
//!
//! Isolation: the environment does not see the image's site-packages. Metaflow itself must be
//! importable, so the image's `metaflow`, `boto3` and `requests` distributions (Metaflow and its
//! runtime requirements: `ferry deploy` usually ships `metaflow` in the code package, which the
//! wrapper puts on `PYTHONPATH`, and the image may have only the other two) and the closure of
//! their `Requires-Dist` (extras left out) are linked into `<env>/ferry-image/`, which a `.pth`
//! file appends to `sys.path` AFTER the environment's own site-packages (a declared version of
//! e.g. `requests` wins over the image's). The same `.pth` then appends the wrapper bootstrap's
//! `pip install --target` directory, `$FERRY_BOOTSTRAP_SITE`, when the job has one (the image
//! lacked `boto3`/`requests`): last, and read at each start, so a cached environment stays valid.

use std::path::{Path, PathBuf};

use ferry_spec::task::PackageRef;
use ferry_store::Blobs;
use serde::Deserialize;

use crate::error::PyenvError;
use crate::lock::{Lock, host_platform};
use crate::wheel::{Layout, install_wheel};

/// Where and with what the environment is built.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The host cache (the wrapper's `FERRY_CACHE_DIR`); environments live in `<cache>/envs/`.
    pub cache_dir: PathBuf,
    /// The task image's Python (with `metaflow`), a path or a name looked up on `PATH`.
    pub base_python: String,
}

/// A ready environment.
#[derive(Debug, Clone)]
pub struct PreparedEnv {
    /// Its interpreter: run the step with this.
    pub python: PathBuf,
    /// Its root directory.
    pub root: PathBuf,
    /// It was already on the host (nothing fetched or built).
    pub reused: bool,
}

/// What the image's interpreter says about itself.
#[derive(Debug, Deserialize)]
struct Probe {
    version: String,
    paths: Vec<String>,
}

/// Prints the interpreter's `X.Y` and the top-level paths of `metaflow` and its requirement
/// closure, as JSON.
const PROBE: &str = r#"
import json, os, re, sys
from importlib import metadata as md
def norm(n):
    return re.sub(r"[-_.]+", "-", n).lower()
dists = {}
for d in md.distributions():
    n = d.metadata["Name"]
    if n:
        dists.setdefault(norm(n), d)
todo, seen, paths = ["metaflow", "boto3", "requests"], set(), set()
while todo:
    n = norm(todo.pop())
    if n in seen or n not in dists:
        continue
    seen.add(n)
    d = dists[n]
    for r in d.requires or []:
        if re.search(r"extra\s*==", r):
            continue
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r)
        if m:
            todo.append(m.group(1))
    base = str(d.locate_file(""))
    for f in d.files or []:
        top = f.parts[0] if f.parts else ""
        if not top or top in ("..", "__pycache__") or top.endswith((".pth", ".data")):
            continue
        p = os.path.join(base, top)
        if os.path.exists(p):
            paths.add(os.path.abspath(p))
print(json.dumps({"version": "%d.%d" % sys.version_info[:2], "paths": sorted(paths)}))
"#;

/// The `.pth` line (executed by `site` at every interpreter start) that appends the wrapper
/// bootstrap's package directory, `$FERRY_BOOTSTRAP_SITE` (`ferry_spec::task::ENV_BOOTSTRAP_SITE`),
/// to `sys.path` after everything else: only an absolute path to an existing directory.
const BOOTSTRAP_SITE_PTH: &str = "import os, sys; p = os.environ.get('FERRY_BOOTSTRAP_SITE', ''); \
    os.path.isabs(p) and os.path.isdir(p) and p not in sys.path and sys.path.append(p)";

/// Make the environment of `lock` ready on this host (see the module docs).
pub async fn prepare_env(
    blobs: &dyn Blobs,
    lock_ref: &PackageRef,
    opts: &InstallOptions,
) -> Result<PreparedEnv, PyenvError> {
    if !crate::lock::is_sha256(&lock_ref.sha256) {
        return Err(PyenvError::Lock {
            key: lock_ref.key.clone(),
            message: format!("{:?} is not a sha256", lock_ref.sha256),
        });
    }
    let base = which_python(&opts.base_python)?;
    let base_id = crate::sha256_hex(base.as_os_str().as_encoded_bytes());
    let envs = opts.cache_dir.join("envs");
    let root = envs.join(format!("{}-{}", lock_ref.sha256, &base_id[..16]));
    let python = root.join("bin/python");
    if python.exists() {
        return Ok(PreparedEnv {
            python,
            root,
            reused: true,
        });
    }

    // Everything is fetched and checked before anything is built.
    let lock_bytes = fetch_checked(blobs, &lock_ref.key, &lock_ref.sha256).await?;
    let lock = Lock::from_bytes(&lock_ref.key, &lock_bytes)?;
    let platform = host_platform().ok_or_else(|| PyenvError::Platform {
        key: lock_ref.key.clone(),
        platform: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
    })?;
    let wheels = lock
        .platforms
        .get(platform)
        .ok_or_else(|| PyenvError::Platform {
            key: lock_ref.key.clone(),
            platform: platform.to_string(),
        })?;
    let mut files = Vec::with_capacity(wheels.len());
    for w in wheels {
        files.push((
            w.filename.clone(),
            fetch_checked(blobs, &w.key, &w.sha256).await?,
        ));
    }

    let probe = probe(&base).await?;
    if probe.version != lock.python {
        return Err(PyenvError::PythonVersion {
            wanted: lock.python.clone(),
            found: probe.version,
            python: base.display().to_string(),
        });
    }

    std::fs::create_dir_all(&envs)
        .map_err(|e| PyenvError::io(format!("creating {}", envs.display()), e))?;
    let tmp = envs.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let built = build(&base, &tmp, &root, &probe, files, &lock_bytes).await;
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match std::fs::rename(&tmp, &root) {
        Ok(()) => {}
        // Another task built the same environment first: use theirs.
        Err(_) if python.exists() => {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(PyenvError::io(
                format!("moving the environment to {}", root.display()),
                e,
            ));
        }
    }
    Ok(PreparedEnv {
        python,
        root,
        reused: false,
    })
}

/// Read a blob and check its sha256; errors name the file.
async fn fetch_checked(blobs: &dyn Blobs, key: &str, sha256: &str) -> Result<Vec<u8>, PyenvError> {
    let bytes = blobs
        .get(key)
        .await?
        .ok_or_else(|| PyenvError::Missing(blobs.url(key)))?;
    let actual = crate::sha256_hex(&bytes);
    if actual != sha256 {
        return Err(PyenvError::HashMismatch {
            key: blobs.url(key),
            expected: sha256.to_string(),
            actual,
        });
    }
    Ok(bytes)
}

/// Build the environment in `tmp`, to be renamed to `root`.
async fn build(
    base: &Path,
    tmp: &Path,
    root: &Path,
    probe: &Probe,
    files: Vec<(String, Vec<u8>)>,
    lock_bytes: &[u8],
) -> Result<(), PyenvError> {
    let out = tokio::process::Command::new(base)
        .args(["-m", "venv", "--without-pip"])
        .arg(tmp)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| PyenvError::Tool {
            tool: "python -m venv".into(),
            message: format!("cannot start {}: {e}", base.display()),
        })?;
    if !out.status.success() {
        return Err(PyenvError::Tool {
            tool: "python -m venv".into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let layout = Layout {
        root: tmp.to_path_buf(),
        site_packages: tmp.join(format!("lib/python{}/site-packages", probe.version)),
        bin: tmp.join("bin"),
        // Scripts run from the final place.
        python: root.join("bin/python"),
    };
    let image_dir = tmp.join("ferry-image");
    let final_image_dir = root.join("ferry-image");
    let paths = probe.paths.clone();
    let lock_bytes = lock_bytes.to_vec();
    tokio::task::spawn_blocking(move || -> Result<(), PyenvError> {
        // Unpack the wheels in parallel (a few threads: hosts run several tasks).
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let chunks: Vec<Vec<(String, Vec<u8>)>> = {
            let mut c: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
            let mut sorted = files;
            sorted.sort_by_key(|(_, b)| std::cmp::Reverse(b.len()));
            for (i, f) in sorted.into_iter().enumerate() {
                c[i % threads].push(f);
            }
            c
        };
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|chunk| {
                    let layout = &layout;
                    s.spawn(move || {
                        for (name, bytes) in chunk {
                            install_wheel(name, bytes, layout)?;
                        }
                        Ok::<(), PyenvError>(())
                    })
                })
                .collect();
            for h in handles {
                h.join().map_err(|_| PyenvError::Wheel {
                    file: "(worker)".into(),
                    message: "an unpacking thread panicked".into(),
                })??;
            }
            Ok::<(), PyenvError>(())
        })?;
        // Metaflow (and its requirements) from the image, after the environment's own packages.
        std::fs::create_dir_all(&image_dir)
            .map_err(|e| PyenvError::io(format!("creating {}", image_dir.display()), e))?;
        for p in &paths {
            let src = Path::new(p);
            let Some(name) = src.file_name() else {
                continue;
            };
            let link = image_dir.join(name);
            if link.exists() {
                continue;
            }
            std::os::unix::fs::symlink(src, &link)
                .map_err(|e| PyenvError::io(format!("linking {}", link.display()), e))?;
        }
        let pth = layout.site_packages.join("_ferry_image.pth");
        std::fs::write(
            &pth,
            format!("{}\n{BOOTSTRAP_SITE_PTH}\n", final_image_dir.display()),
        )
        .map_err(|e| PyenvError::io(format!("writing {}", pth.display()), e))?;
        let lock_copy = layout.root.join("ferry-lock.json");
        std::fs::write(&lock_copy, lock_bytes)
            .map_err(|e| PyenvError::io(format!("writing {}", lock_copy.display()), e))?;
        Ok(())
    })
    .await
    .map_err(|e| PyenvError::Wheel {
        file: "(worker)".into(),
        message: e.to_string(),
    })?
}

/// Ask the image's interpreter for its version and Metaflow's files.
async fn probe(base: &Path) -> Result<Probe, PyenvError> {
    let out = tokio::process::Command::new(base)
        .args(["-I", "-c", PROBE])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| PyenvError::Tool {
            tool: "python".into(),
            message: format!("cannot start {}: {e}", base.display()),
        })?;
    if !out.status.success() {
        return Err(PyenvError::Tool {
            tool: "python".into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    serde_json::from_slice(&out.stdout).map_err(|e| PyenvError::Tool {
        tool: "python".into(),
        message: format!("unexpected answer from {}: {e}", base.display()),
    })
}

/// `python` as an absolute path ([`which`]), or the error that it was not found.
fn which_python(python: &str) -> Result<PathBuf, PyenvError> {
    which(python).ok_or_else(|| PyenvError::Tool {
        tool: "python".into(),
        message: format!("{python} was not found"),
    })
}

/// `program` as an absolute path: itself when it has a `/` (relative to the working
/// directory), else the first file of that name on `PATH`; `None` when there is none. Symlinks
/// are kept (a venv's `bin/python` is a symlink whose location matters).
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    which_in(program, std::env::var_os("PATH").as_deref())
}

/// [`which`] searching `path` (a `PATH` value) instead of the process's.
pub(crate) fn which_in(program: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        let abs = if p.is_absolute() {
            p
        } else {
            std::env::current_dir().ok()?.join(p)
        };
        return abs.is_file().then_some(abs);
    }
    std::env::split_paths(path?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
