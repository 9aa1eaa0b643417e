//! Unpacking one wheel into an environment (the binary distribution format, PEP 427): files go
//! to `site-packages`, the `<name>-<version>.data/<category>/` trees to their scheme paths
//! (`purelib`/`platlib` → `site-packages`, `scripts` → `bin` with `#!python` rewritten to the
//! environment's interpreter, `headers` → `include`, `data` → the environment root). Entry
//! names are checked to stay inside their target (`ZipFile::enclosed_name`). Console-script
//! entry points are not generated (steps import libraries; they do not run their CLIs).

use std::io::{Cursor, Read as _, Write as _};
use std::path::{Component, Path, PathBuf};

use crate::error::PyenvError;

/// Where a wheel's files go.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The environment root (`sys.prefix`).
    pub root: PathBuf,
    /// `lib/pythonX.Y/site-packages`.
    pub site_packages: PathBuf,
    /// `bin`.
    pub bin: PathBuf,
    /// The environment's interpreter (`bin/python`), for script shebangs.
    pub python: PathBuf,
}

/// Unpack `bytes` (the wheel `filename`, already hash-checked) into `layout`.
pub fn install_wheel(filename: &str, bytes: &[u8], layout: &Layout) -> Result<(), PyenvError> {
    let bad = |message: String| PyenvError::Wheel {
        file: filename.to_string(),
        message,
    };
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(format!("not a zip: {e}")))?;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let Some(rel) = entry.enclosed_name() else {
            return Err(bad(format!("entry {:?} escapes the wheel", entry.name())));
        };
        let (target, is_script) = target_of(&rel, layout)
            .ok_or_else(|| bad(format!("entry {:?} has no place to go", entry.name())))?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| PyenvError::io(format!("creating {}", parent.display()), e))?;
        }
        let mut body = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut body)
            .map_err(|e| bad(format!("reading {:?}: {e}", entry.name())))?;
        let mut mode = entry.unix_mode().unwrap_or(0o644) & 0o777;
        if is_script {
            mode |= 0o755;
            if let Some(rest) = body.strip_prefix(b"#!python") {
                let mut fixed = format!("#!{}", layout.python.display()).into_bytes();
                fixed.extend_from_slice(rest.strip_prefix(b"w").unwrap_or(rest));
                body = fixed;
            }
        }
        write_file(&target, &body, mode | 0o600)?;
    }
    Ok(())
}

/// The destination of a wheel entry, and whether it is a script.
fn target_of(rel: &Path, layout: &Layout) -> Option<(PathBuf, bool)> {
    let mut comps = rel.components();
    let first = match comps.next()? {
        Component::Normal(c) => c.to_str()?,
        _ => return None,
    };
    if !first.ends_with(".data") {
        return Some((layout.site_packages.join(rel), false));
    }
    let category = match comps.next()? {
        Component::Normal(c) => c.to_str()?,
        _ => return None,
    };
    let rest: PathBuf = comps.collect();
    if rest.as_os_str().is_empty() {
        return None;
    }
    match category {
        "purelib" | "platlib" => Some((layout.site_packages.join(rest), false)),
        "scripts" => Some((layout.bin.join(rest), true)),
        "headers" => Some((layout.root.join("include").join(rest), false)),
        "data" => Some((layout.root.join(rest), false)),
        _ => None,
    }
}

fn write_file(path: &Path, body: &[u8], mode: u32) -> Result<(), PyenvError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| PyenvError::io(format!("writing {}", path.display()), e))?;
    f.write_all(body)
        .map_err(|e| PyenvError::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn wheel(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn layout(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            site_packages: root.join("lib/python3.11/site-packages"),
            bin: root.join("bin"),
            python: root.join("bin/python"),
        }
    }

    #[test]
    fn files_go_to_their_scheme_paths() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(dir.path());
        let w = wheel(&[
            ("pkg/__init__.py", b"X = 1\n"),
            ("pkg-1.0.dist-info/METADATA", b"Name: pkg\n"),
            ("pkg-1.0.data/scripts/tool", b"#!python\nprint(1)\n"),
            ("pkg-1.0.data/platlib/native.py", b""),
            ("pkg-1.0.data/data/share/x.txt", b"x"),
        ]);
        install_wheel("pkg-1.0-py3-none-any.whl", &w, &l).unwrap();
        assert_eq!(
            std::fs::read(l.site_packages.join("pkg/__init__.py")).unwrap(),
            b"X = 1\n"
        );
        assert!(l.site_packages.join("pkg-1.0.dist-info/METADATA").is_file());
        assert!(l.site_packages.join("native.py").is_file());
        assert!(dir.path().join("share/x.txt").is_file());
        let script = std::fs::read_to_string(l.bin.join("tool")).unwrap();
        assert!(
            script.starts_with(&format!("#!{}\n", l.python.display())),
            "{script}"
        );
    }

    #[test]
    fn escaping_entries_and_garbage_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(dir.path());
        let w = wheel(&[("../../evil.py", b"")]);
        let e = install_wheel("evil-1-py3-none-any.whl", &w, &l).unwrap_err();
        assert!(e.to_string().contains("evil-1-py3-none-any.whl"), "{e}");
        assert!(!dir.path().parent().unwrap().join("evil.py").exists());
        let e = install_wheel("junk-1-py3-none-any.whl", b"not a zip", &l).unwrap_err();
        assert!(e.to_string().contains("junk-1-py3-none-any.whl"), "{e}");
    }
}
