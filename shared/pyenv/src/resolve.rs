//! Deploy-side resolution: once per distinct environment and platform, on the deployer's
//! machine (which has a package index), never at run time.
//!
//! 1. `uv pip compile --python-version V --python-platform <arch>-manylinux_2_28
//!    --only-binary :all: --generate-hashes` turns the requested packages into exact pins with
//!    their allowed hashes (a conflict is reported with uv's explanation);
//! 2. `python -m pip download --no-deps --only-binary=:all: --require-hashes --platform …
//!    --python-version V --implementation cp --abi cpXY` fetches exactly those wheels for the
//!    target platform (pip checks each file against the pinned hashes);
//! 3. each file's sha256 is computed again here for the lock.
//!
//! uv is found, or installed pinned on first use, by [`crate::uv`].
//!
//! The index is whatever uv and pip are configured with (`UV_INDEX_URL`/`UV_DEFAULT_INDEX`,
//! `PIP_INDEX_URL`, their config files). No shell is involved; requirements are validated
//! ([`EnvRequest::requirement_lines`]) and passed through a file.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use ferry_spec::task::PythonEnvKind;

use crate::error::PyenvError;
use crate::lock::{PLATFORM_AARCH64, PLATFORM_X86_64, normalize_name, parse_wheel_filename};
use crate::request::EnvRequest;
use crate::uv::{UvLookup, locate_uv};

/// The tools resolution runs. `uv` is looked for (and installed when missing, see
/// [`crate::uv`]) only when an environment is resolved, so a flow without `@pypi`/`@conda`
/// never needs it.
pub struct Resolver {
    /// A Python with `pip` (the deployer's, the one that exports the flow).
    pub python: PathBuf,
    /// Where uv is looked for.
    lookup: UvLookup,
    /// The uv found.
    uv: tokio::sync::OnceCell<PathBuf>,
    /// Told what is being installed, before installing.
    notify: Box<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("python", &self.python)
            .field("lookup", &self.lookup)
            .field("uv", &self.uv.get())
            .finish()
    }
}

/// One downloaded wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedWheel {
    /// Normalised distribution name.
    pub name: String,
    /// Exact version (from the file name).
    pub version: String,
    /// The wheel's file name.
    pub filename: String,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// Where it was downloaded.
    pub path: PathBuf,
}

impl Resolver {
    /// A resolver running `python`, with uv found as [`crate::uv::locate_uv`] says (from the
    /// process environment); installing uv is announced on stderr (`ferry: …`).
    pub fn discover(python: PathBuf) -> Resolver {
        Resolver::with_lookup(UvLookup::from_env(python))
    }

    /// A resolver with this uv lookup; installing uv is announced on stderr.
    pub fn with_lookup(lookup: UvLookup) -> Resolver {
        Resolver {
            python: lookup.python.clone(),
            lookup,
            uv: tokio::sync::OnceCell::new(),
            notify: Box::new(|m| eprintln!("ferry: {m}")),
        }
    }

    /// Send what would go to stderr to `notify` instead.
    pub fn notify_with(mut self, notify: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.notify = Box::new(notify);
        self
    }

    /// The uv executable: found (or installed) on first use.
    pub async fn uv(&self) -> Result<&Path, PyenvError> {
        self.uv
            .get_or_try_init(|| locate_uv(&self.lookup, self.notify.as_ref()))
            .await
            .map(PathBuf::as_path)
    }

    /// The deployer's Python version `X.Y` (Metaflow's default when no decorator names one).
    pub async fn python_version(&self) -> Result<String, PyenvError> {
        let out = run(
            &self.python,
            &[
                "-c".into(),
                "import sys; print('%d.%d' % sys.version_info[:2])".into(),
            ],
            "python",
        )
        .await?;
        Ok(out.trim().to_string())
    }

    /// Resolve `env` for `platform` (`linux-x86_64` or `linux-aarch64`) and download its wheels
    /// into `work` (a fresh directory).
    pub async fn resolve(
        &self,
        env: &EnvRequest,
        platform: &str,
        work: &Path,
    ) -> Result<Vec<DownloadedWheel>, PyenvError> {
        let lines = env.requirement_lines()?;
        let arch = match platform {
            PLATFORM_X86_64 => "x86_64",
            PLATFORM_AARCH64 => "aarch64",
            other => {
                return Err(PyenvError::Invalid(format!(
                    "{other} is not a platform Ferry resolves for"
                )));
            }
        };
        let io = |what: &str| {
            let what = format!("{what} in {}", work.display());
            move |e| PyenvError::io(what, e)
        };
        std::fs::create_dir_all(work).map_err(io("creating the resolution directory"))?;
        let input = work.join("requirements.in");
        let pinned = work.join("requirements.txt");
        let dest = work.join("wheels");
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&input, text).map_err(io("writing requirements.in"))?;

        // 1. Resolve.
        let compile: Vec<String> = vec![
            "pip".into(),
            "compile".into(),
            path_arg(&input),
            "-o".into(),
            path_arg(&pinned),
            "--python-version".into(),
            env.python.clone(),
            "--python-platform".into(),
            format!("{arch}-manylinux_2_28"),
            "--only-binary".into(),
            ":all:".into(),
            "--generate-hashes".into(),
            "--no-header".into(),
            "--no-annotate".into(),
            "--quiet".into(),
        ];
        if let Err(e) = run(self.uv().await?, &compile, "uv pip compile").await {
            return Err(self.unresolvable(env, e));
        }

        // 2. Download exactly the pinned wheels for the target platform.
        let minor = env.python_minor();
        let abi = format!("cp{}", minor.replace('.', ""));
        let mut download: Vec<String> = vec![
            "-m".into(),
            "pip".into(),
            "download".into(),
            "--no-deps".into(),
            "--only-binary=:all:".into(),
            "--require-hashes".into(),
            "--disable-pip-version-check".into(),
            "--no-input".into(),
            "--quiet".into(),
            "-r".into(),
            path_arg(&pinned),
            "--dest".into(),
            path_arg(&dest),
            "--python-version".into(),
            minor,
            "--implementation".into(),
            "cp".into(),
            "--abi".into(),
            abi,
        ];
        for p in manylinux_platforms(arch) {
            download.push("--platform".into());
            download.push(p);
        }
        run(&self.python, &download, "pip download")
            .await
            .map_err(|e| PyenvError::Unresolvable {
                env: env.describe(),
                message: format!("downloading the pinned wheels for {platform} failed: {e}"),
            })?;

        // 3. Hash what arrived.
        let mut wheels = Vec::new();
        let entries = std::fs::read_dir(&dest).map_err(io("listing the downloaded wheels"))?;
        for entry in entries {
            let entry = entry.map_err(io("listing the downloaded wheels"))?;
            let filename = entry.file_name().to_string_lossy().into_owned();
            let Some((name, version)) = parse_wheel_filename(&filename) else {
                return Err(PyenvError::Unresolvable {
                    env: env.describe(),
                    message: format!("{filename} is not a wheel (Ferry installs wheels only)"),
                });
            };
            let bytes = std::fs::read(entry.path()).map_err(io("reading a downloaded wheel"))?;
            wheels.push(DownloadedWheel {
                name,
                version,
                filename,
                sha256: crate::sha256_hex(&bytes),
                path: entry.path(),
            });
        }
        wheels.sort_by(|a, b| a.name.cmp(&b.name).then(a.filename.cmp(&b.filename)));
        Ok(wheels)
    }

    /// Turn a failed `uv pip compile` into the deploy error: `@conda` names that PyPI does not
    /// know are reported as conda-only; everything else carries uv's explanation.
    fn unresolvable(&self, env: &EnvRequest, e: PyenvError) -> PyenvError {
        let message = match e {
            PyenvError::Tool { message, .. } => message,
            other => return other,
        };
        if env.kind == PythonEnvKind::Conda {
            let missing: Vec<&str> = env
                .packages
                .keys()
                .filter(|n| {
                    let n = normalize_name(n);
                    message.contains(&format!("{n} was not found in the package registry"))
                        || message.contains(&format!("{n} was not found in the provided package"))
                })
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return PyenvError::CondaOnly {
                    env: env.describe(),
                    names: missing.join(", "),
                };
            }
        }
        PyenvError::Unresolvable {
            env: env.describe(),
            message,
        }
    }
}

/// The `--platform` tags pip accepts for a glibc 2.28 Linux on `arch` (pip does not expand
/// PEP 600 tags by itself).
fn manylinux_platforms(arch: &str) -> Vec<String> {
    let mut out: Vec<String> = [28, 27, 26, 25, 24, 17, 12, 5]
        .iter()
        .map(|g| format!("manylinux_2_{g}_{arch}"))
        .collect();
    out.push(format!("manylinux2014_{arch}"));
    if arch == "x86_64" {
        out.push(format!("manylinux2010_{arch}"));
        out.push(format!("manylinux1_{arch}"));
    }
    out
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Run `program args`, returning stdout; a failure carries stderr (ANSI-free, trimmed).
pub(crate) async fn run(program: &Path, args: &[String], tool: &str) -> Result<String, PyenvError> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| PyenvError::Tool {
            tool: tool.to_string(),
            message: format!("cannot start {}: {e}", program.display()),
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if message.is_empty() {
        message = format!("exited with {}", out.status);
    }
    Err(PyenvError::Tool {
        tool: tool.to_string(),
        message,
    })
}
