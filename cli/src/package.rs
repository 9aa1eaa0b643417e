//! The code package: a deterministic gzip tar of a flow's folder, content-addressed by sha256.
//!
//! What goes in: every regular file under the flow's folder whose name ends with one of the
//! suffixes (`--package-suffixes`, default `.py`), at its path relative to that folder. What
//! stays out: hidden folders (`.git`, `.venv`, `.tools`…), `__pycache__`, and symlinks whose
//! target lies outside the folder (symlinks inside it are followed, once).
//!
//! Determinism: entries sorted by path, mtime 0, uid/gid 0, no owner names, mode 0644 (0755 when
//! the file is executable by its owner), gzip header without name or time. The same files give
//! the same bytes, hence the same `code/<sha256>.tgz`, and an unchanged flow is not uploaded twice.
//!
//! Metaflow itself (the `metaflow` argument of [`build_with`], `ferry deploy` on an AWS stack unless
//! `--no-package-metaflow`): the deployer's `metaflow` package (the one [`locate_metaflow`]
//! finds with the python that exports the flow) goes under [`METAFLOW_DIR`]`/metaflow/`, its
//! `.py` files and the data files it reads at run time ([`METAFLOW_SUFFIXES`]: the card
//! templates), without `__pycache__` and the `tutorials/` folder. `.mf_code` is Metaflow's own
//! folder name for this; user files can never land there (hidden folders are skipped). The
//! task wrapper puts it first on the step's `PYTHONPATH`, so tasks run the deployer's exact
//! Metaflow and an image needs only python3 (`docs/runtime-contract.md` §5). Extensions
//! (`metaflow_extensions`) are not shipped: install them in the image.

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use flate2::{Compression, GzBuilder};

/// A built package.
#[derive(Debug, Clone)]
pub struct Package {
    /// The `.tgz` bytes.
    pub bytes: Vec<u8>,
    /// Lower-case hex sha256 of `bytes`.
    pub sha256: String,
    /// The archived paths, sorted.
    pub files: Vec<String>,
}

/// Parse `--package-suffixes` (`.py,.sql`, or `py`): comma-separated, each given a leading dot
/// when it has none. Empty entries are ignored; an empty list is an error.
pub fn parse_suffixes(spec: &str) -> anyhow::Result<Vec<String>> {
    let out: Vec<String> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with('.') {
                s.to_string()
            } else {
                format!(".{s}")
            }
        })
        .collect();
    if out.is_empty() {
        bail!("--package-suffixes needs at least one suffix, e.g. `.py` or `.py,.sql`");
    }
    Ok(out)
}

/// The package folder holding the shipped `metaflow` package (`<package>/.mf_code/metaflow/`).
pub const METAFLOW_DIR: &str = ".mf_code";

/// Files of the `metaflow` package that are shipped: its modules and the card templates
/// (`.html`, `.css`, `.js`) it reads at run time.
pub const METAFLOW_SUFFIXES: [&str; 4] = [".py", ".html", ".css", ".js"];

/// Prints the directory of the `metaflow` package the interpreter would import, without
/// importing it (empty when there is none, or only a namespace package).
const LOCATE_METAFLOW_PY: &str = "\
import importlib.util as u, os
s = u.find_spec('metaflow')
print(os.path.dirname(os.path.abspath(s.origin)) if s and s.origin else '')
";

/// The folder of the `metaflow` package that `python` imports when it runs in `folder` (the flow's
/// folder: where the exporter runs too), canonical. `Ok(None)` when that package lies inside
/// `folder`: it is then in the package already, as user code. Errors: `python` cannot run,
/// or has no `metaflow`.
pub fn locate_metaflow(python: &Path, folder: &Path) -> anyhow::Result<Option<PathBuf>> {
    let out = std::process::Command::new(python)
        .args(["-c", LOCATE_METAFLOW_PY])
        .current_dir(folder)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {} to find metaflow", python.display()))?;
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || found.is_empty() {
        bail!(
            "{} has no `metaflow` package to ship in the code package ({}): install metaflow \
             there, point FERRY_PYTHON at a python that has it, or deploy with \
             --no-package-metaflow",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let dir = Path::new(&found)
        .canonicalize()
        .with_context(|| format!("reading the metaflow package at {found}"))?;
    let folder = folder
        .canonicalize()
        .with_context(|| format!("reading the flow folder {}", folder.display()))?;
    Ok((!dir.starts_with(&folder)).then_some(dir))
}

/// Build the package of folder `root` with files matching `suffixes`, and with the `metaflow`
/// package at `metaflow` (a folder holding `__init__.py`, from [`locate_metaflow`]) under
/// [`METAFLOW_DIR`]`/metaflow/` when given.
pub fn build_with(
    root: &Path,
    suffixes: &[String],
    metaflow: Option<&Path>,
) -> anyhow::Result<Package> {
    let canon_root = root
        .canonicalize()
        .with_context(|| format!("reading the flow folder {}", root.display()))?;
    let mut files = BTreeMap::new();
    let mut visited = HashSet::new();
    collect(
        &canon_root,
        &canon_root,
        "",
        suffixes,
        &mut files,
        &mut visited,
    )?;
    if let Some(dir) = metaflow {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("reading the metaflow package at {}", dir.display()))?;
        anyhow::ensure!(
            dir.join("__init__.py").is_file(),
            "{} is not the metaflow package (no __init__.py)",
            dir.display()
        );
        let lib_suffixes: Vec<String> = METAFLOW_SUFFIXES.iter().map(|s| s.to_string()).collect();
        let mut lib = BTreeMap::new();
        collect(&dir, &dir, "", &lib_suffixes, &mut lib, &mut HashSet::new())?;
        for (rel, path) in lib {
            if !rel.starts_with("tutorials/") {
                files.insert(format!("{METAFLOW_DIR}/metaflow/{rel}"), path);
            }
        }
    }
    let mut gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::default());
    {
        let mut tar = tar::Builder::new(&mut gz);
        tar.mode(tar::HeaderMode::Deterministic);
        for (rel, path) in &files {
            let data =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let meta = std::fs::metadata(path)?;
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(if is_executable(&meta) { 0o755 } else { 0o644 });
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, rel, data.as_slice())
                .with_context(|| format!("archiving {rel}"))?;
        }
        tar.finish()?;
    }
    gz.flush()?;
    let bytes = gz.finish()?;
    let sha256 = ferry_deploy::keys::sha256_hex(&bytes);
    Ok(Package {
        bytes,
        sha256,
        files: files.into_keys().collect(),
    })
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o100 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

/// Folders never packaged.
fn skipped_dir(name: &str) -> bool {
    name.starts_with('.') || name == "__pycache__"
}

fn collect(
    root: &Path,
    dir: &Path,
    rel: &str,
    suffixes: &[String],
    out: &mut BTreeMap<String, PathBuf>,
    visited: &mut HashSet<PathBuf>,
) -> anyhow::Result<()> {
    // `dir` is canonical; a folder reached twice (through a symlink) is archived once.
    if !visited.insert(dir.to_path_buf()) {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue; // not UTF-8: cannot be a Python module name
        };
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = entry.path();
        let ft = entry.file_type()?;
        let (target, is_dir) = if ft.is_symlink() {
            let Ok(target) = path.canonicalize() else {
                continue;
            }; // dangling
            if !target.starts_with(root) {
                continue; // escapes the flow folder
            }
            let is_dir = target.is_dir();
            (target, is_dir)
        } else {
            (path.clone(), ft.is_dir())
        };
        if is_dir {
            if !skipped_dir(&name) {
                let canon = target.canonicalize()?;
                collect(root, &canon, &child_rel, suffixes, out, visited)?;
            }
        } else if target.is_file() && suffixes.iter().any(|s| name.ends_with(s.as_str())) {
            out.insert(child_rel, target);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn write(p: &Path, body: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    fn entries(bytes: &[u8]) -> Vec<(String, String, u32, u64)> {
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                let mode = e.header().mode().unwrap();
                let mtime = e.header().mtime().unwrap();
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                (path, s, mode, mtime)
            })
            .collect()
    }

    #[test]
    fn packages_matching_files_sorted_and_skips_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(&r.join("flow.py"), "flow");
        write(&r.join("lib/util.py"), "util");
        write(&r.join("lib/data.sql"), "select 1");
        write(&r.join("notes.txt"), "no");
        write(&r.join(".git/hook.py"), "no");
        write(&r.join(".tools/venv/x.py"), "no");
        write(&r.join("lib/__pycache__/util.cpython-312.py"), "no");
        let outside = tempfile::tempdir().unwrap();
        write(&outside.path().join("secret.py"), "no");
        std::os::unix::fs::symlink(outside.path().join("secret.py"), r.join("escape.py")).unwrap();
        std::os::unix::fs::symlink(outside.path(), r.join("escape_dir")).unwrap();
        std::os::unix::fs::symlink(r.join("lib/util.py"), r.join("alias.py")).unwrap();
        std::os::unix::fs::symlink(r.join("lib"), r.join("lib2")).unwrap();

        let p = build_with(r, &parse_suffixes(".py").unwrap(), None).unwrap();
        assert_eq!(p.files, vec!["alias.py", "flow.py", "lib/util.py"]);
        let e = entries(&p.bytes);
        let names: Vec<_> = e.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(names, vec!["alias.py", "flow.py", "lib/util.py"]);
        assert_eq!(e[0].1, "util");
        assert!(e.iter().all(|x| x.2 == 0o644 && x.3 == 0));

        let p2 = build_with(r, &parse_suffixes("py, .sql").unwrap(), None).unwrap();
        assert_eq!(
            p2.files,
            vec!["alias.py", "flow.py", "lib/data.sql", "lib/util.py"]
        );
    }

    #[test]
    fn the_same_files_give_the_same_bytes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for r in [a.path(), b.path()] {
            write(&r.join("z.py"), "z");
            write(&r.join("a/b.py"), "b");
        }
        // Different mtimes and creation order must not matter.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(&b.path().join("z.py"), "z");
        let suffixes = parse_suffixes(".py").unwrap();
        let pa = build_with(a.path(), &suffixes, None).unwrap();
        let pb = build_with(b.path(), &suffixes, None).unwrap();
        assert_eq!(pa.sha256, pb.sha256);
        assert_eq!(pa.bytes, pb.bytes);
        write(&b.path().join("z.py"), "changed");
        assert_ne!(
            build_with(b.path(), &suffixes, None).unwrap().sha256,
            pa.sha256
        );
    }

    #[test]
    fn ships_metaflow_under_mf_code_deterministically() {
        let flow = tempfile::tempdir().unwrap();
        write(&flow.path().join("flow.py"), "flow");
        let lib = tempfile::tempdir().unwrap();
        let mf = lib.path().join("metaflow");
        write(&mf.join("__init__.py"), "init");
        write(&mf.join("plugins/cards/card_modules/base.html"), "<html>");
        write(&mf.join("plugins/cards/card_modules/main.js"), "js");
        write(&mf.join("py.typed"), "");
        write(&mf.join("tutorials/00-helloworld/helloworld.py"), "no");
        write(&mf.join("__pycache__/x.cpython-311.py"), "no");
        write(&mf.join("notes.md"), "no");
        let suffixes = parse_suffixes(".py").unwrap();
        let p = build_with(flow.path(), &suffixes, Some(&mf)).unwrap();
        assert_eq!(
            p.files,
            vec![
                ".mf_code/metaflow/__init__.py",
                ".mf_code/metaflow/plugins/cards/card_modules/base.html",
                ".mf_code/metaflow/plugins/cards/card_modules/main.js",
                "flow.py",
            ]
        );
        let e = entries(&p.bytes);
        assert_eq!(e[0].1, "init");
        assert!(e.iter().all(|x| x.2 == 0o644 && x.3 == 0));
        // Same bytes again; without metaflow, the plain package.
        assert_eq!(
            build_with(flow.path(), &suffixes, Some(&mf)).unwrap().bytes,
            p.bytes
        );
        assert_eq!(
            build_with(flow.path(), &suffixes, None).unwrap().files,
            vec!["flow.py"]
        );
        // Not a package: refused.
        assert!(build_with(flow.path(), &suffixes, Some(lib.path())).is_err());
    }

    #[test]
    fn locates_the_metaflow_the_exporter_imports() {
        let flow = tempfile::tempdir().unwrap();
        let py = ferry_testkit::python();
        let dir = locate_metaflow(&py, flow.path()).unwrap().unwrap();
        assert!(dir.join("flowspec.py").is_file(), "{}", dir.display());
        assert!(dir.ends_with("site-packages/metaflow"), "{}", dir.display());
        // A `metaflow` inside the flow's folder is what the flow imports: already packaged.
        write(&flow.path().join("metaflow/__init__.py"), "");
        assert_eq!(locate_metaflow(&py, flow.path()).unwrap(), None);
        // A python without metaflow: an error that names the way out.
        let bare = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new(&py)
            .args(["-m", "venv", "--without-pip"])
            .arg(bare.path().join("venv"))
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let e = locate_metaflow(&bare.path().join("venv/bin/python"), bare.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--no-package-metaflow"), "{e}");
    }

    #[test]
    fn suffix_lists() {
        assert_eq!(
            parse_suffixes("py,.sql, ,yaml").unwrap(),
            vec![".py", ".sql", ".yaml"]
        );
        assert!(parse_suffixes(" , ").is_err());
    }
}
