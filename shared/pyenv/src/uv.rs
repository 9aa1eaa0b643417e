//! Finding `uv` for deploy-side resolution, or installing a pinned one.
//!
//! A deployer with only `pip install metaflow` has no `uv` on `PATH`. [`locate_uv`] looks, in
//! order:
//!
//! 1. `$FERRY_UV` (it must be a file: a wrong value is an error, not a fallback);
//! 2. `uv` on `PATH`;
//! 3. the `uv` of the Python that exports the flow (`FERRY_PYTHON`, else `python3`): when that
//!    Python can import the `uv` PyPI package, its `uv.find_uv_bin()` (the scripts directory of
//!    its environment or base prefix, beside the package for `pip install --target`, the user
//!    scheme's `~/.local/bin`), so an installed but not activated venv, or `pip install --user
//!    uv`, is found;
//! 4. the one Ferry installed before: `<cache>/tools/uv-<UV_VERSION>/bin/uv` (`<cache>` is
//!    [`ferry_spec::task::default_cache_dir`], `~/.cache/ferry`);
//! 5. else it installs `uv==`[`UV_VERSION`] there, once, from the package index that Python's
//!    pip is configured with (`python -m pip install --target <dir> --only-binary=:all:`, a
//!    wheel, no build), saying so first. The deploy resolves from that index anyway. When the
//!    install fails, the error says exactly what to install or set.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::error::PyenvError;

/// The uv version Ferry installs when it finds none (the one `scripts/requirements-test.txt`
/// pins for the tests).
pub const UV_VERSION: &str = "0.13.9";
/// The environment variable naming the `uv` executable to use.
pub const ENV_UV: &str = "FERRY_UV";

/// Where Ferry installs its own uv under the host cache `cache`.
pub fn installed_uv_dir(cache: &Path) -> PathBuf {
    cache.join("tools").join(format!("uv-{UV_VERSION}"))
}

/// Where to look for uv, and what to do when it is nowhere.
#[derive(Debug, Clone)]
pub struct UvLookup {
    /// `$FERRY_UV`, if set.
    pub explicit: Option<PathBuf>,
    /// The Python that exports flows (and runs `pip download`).
    pub python: PathBuf,
    /// The host cache (`<cache>/tools/uv-<version>`).
    pub cache: PathBuf,
    /// The `PATH` searched for `uv` (the process's).
    pub path: Option<std::ffi::OsString>,
}

impl UvLookup {
    /// From the environment: `$FERRY_UV`, the host cache ([`ferry_spec::task::default_cache_dir`]).
    pub fn from_env(python: PathBuf) -> Self {
        UvLookup {
            explicit: std::env::var_os(ENV_UV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            python,
            cache: ferry_spec::task::default_cache_dir(),
            path: std::env::var_os("PATH"),
        }
    }
}

/// Find uv as the module documentation says, installing the pinned one when there is none;
/// `notify` receives the one sentence said before installing.
pub async fn locate_uv(
    lookup: &UvLookup,
    notify: &(dyn Fn(&str) + Send + Sync),
) -> Result<PathBuf, PyenvError> {
    if let Some(uv) = &lookup.explicit {
        return crate::install::which(&uv.to_string_lossy()).ok_or_else(|| PyenvError::Tool {
            tool: "uv".into(),
            message: format!(
                "{ENV_UV}={} is not a file: point it at a uv executable, or unset it to let Ferry find or install uv",
                uv.display()
            ),
        });
    }
    if let Some(uv) = crate::install::which_in("uv", lookup.path.as_deref()) {
        return Ok(uv);
    }
    if let Some(uv) = uv_of_python(&lookup.python).await {
        return Ok(uv);
    }
    let dir = installed_uv_dir(&lookup.cache);
    let installed = dir.join("bin").join("uv");
    if installed.is_file() {
        return Ok(installed);
    }
    notify(&format!(
        "uv (which resolves @pypi/@conda environments) is not on PATH nor importable by {}: installing uv=={UV_VERSION} from PyPI into {} (once)",
        lookup.python.display(),
        dir.display()
    ));
    install(lookup, &dir).await.map_err(|why| PyenvError::Tool {
        tool: "uv".into(),
        message: format!(
            "uv is not on PATH nor importable by {python}, and installing it failed: {why}. Install it with `{python} -m pip install uv=={UV_VERSION}` (or `pipx install uv`), or set {ENV_UV} to a uv executable, then deploy again.",
            python = lookup.python.display()
        ),
    })?;
    Ok(installed)
}

/// The uv binary of the `uv` package `python` imports, if any.
async fn uv_of_python(python: &Path) -> Option<PathBuf> {
    let out = tokio::process::Command::new(python)
        .args(["-c", "import uv; print(uv.find_uv_bin())"])
        // Not the deployer's folder: a `uv/` directory there would shadow the package.
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (path.is_absolute() && path.is_file()).then_some(path)
}

/// `python -m pip install --target <tmp> uv==UV_VERSION`, checked, then renamed to `dir` (a
/// concurrent install that won keeps its copy). `Err`: why, in a few words.
async fn install(lookup: &UvLookup, dir: &Path) -> Result<(), String> {
    let parent = dir.parent().ok_or("the cache folder has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let tmp = parent.join(format!(".tmp-uv-{}", uuid::Uuid::new_v4()));
    let result = async {
        let args: Vec<String> = vec![
            "-m".into(),
            "pip".into(),
            "install".into(),
            "--target".into(),
            tmp.to_string_lossy().into_owned(),
            "--only-binary=:all:".into(),
            "--no-deps".into(),
            "--disable-pip-version-check".into(),
            "--no-input".into(),
            "--quiet".into(),
            format!("uv=={UV_VERSION}"),
        ];
        crate::resolve::run(&lookup.python, &args, "pip install uv")
            .await
            .map_err(|e| e.to_string())?;
        let uv = tmp.join("bin").join("uv");
        let version = crate::resolve::run(&uv, &["--version".into()], "uv --version")
            .await
            .map_err(|e| e.to_string())?;
        if !version.starts_with(&format!("uv {UV_VERSION}")) {
            return Err(format!(
                "the installed uv says {:?}, not uv {UV_VERSION}",
                version.trim()
            ));
        }
        match std::fs::rename(&tmp, dir) {
            Ok(()) => Ok(()),
            Err(_) if dir.join("bin").join("uv").is_file() => Ok(()),
            Err(e) => Err(format!("moving it to {}: {e}", dir.display())),
        }
    }
    .await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wrong_ferry_uv_is_an_error_not_a_fallback() {
        let lookup = UvLookup {
            explicit: Some(PathBuf::from("/nonexistent/uv")),
            python: PathBuf::from("python3"),
            cache: std::env::temp_dir(),
            path: None,
        };
        let e = locate_uv(&lookup, &|_| {}).await.unwrap_err().to_string();
        assert!(e.contains("FERRY_UV=/nonexistent/uv is not a file"), "{e}");
    }

    #[tokio::test]
    async fn a_python_without_pip_gets_the_exact_instruction() {
        // `/bin/false` stands for a Python that neither imports uv nor can pip-install it.
        let cache = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        let lookup = UvLookup {
            explicit: None,
            python: PathBuf::from("/bin/false"),
            cache: cache.path().to_path_buf(),
            path: Some(empty.path().as_os_str().to_owned()),
        };
        let saw = std::sync::Mutex::new(Vec::new());
        let found = locate_uv(&lookup, &|m| saw.lock().unwrap().push(m.to_string())).await;
        let e = found.unwrap_err().to_string();
        assert!(
            e.contains("Install it with `/bin/false -m pip install uv==0.13.9`"),
            "{e}"
        );
        assert!(e.contains("or set FERRY_UV to a uv executable"), "{e}");
        let saw = saw.into_inner().unwrap();
        assert_eq!(saw.len(), 1, "{saw:?}");
        assert!(
            saw[0].contains("installing uv==0.13.9 from PyPI into"),
            "{saw:?}"
        );
        // Nothing half-installed is left.
        assert!(!installed_uv_dir(cache.path()).exists());
        assert_eq!(
            std::fs::read_dir(cache.path().join("tools"))
                .unwrap()
                .count(),
            0
        );
    }
}
