//! Safe extraction of a gzip tar code package into a fresh directory.
//!
//! Refused (the whole package, with a reason): absolute paths, `..` components, symlinks whose
//! target leaves the root (absolute targets included), hard links to paths outside the root,
//! device files, FIFOs and unknown entry types. After extraction every symlink is resolved once
//! more against the real file system, so chains of links cannot escape either.

use std::path::{Component, Path, PathBuf};

use tar::EntryType;

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// An entry is unsafe.
    #[error("refused entry {path:?}: {why}")]
    Unsafe { path: String, why: String },
    /// The archive is not a readable gzip tar, or writing failed.
    #[error("extracting: {0}")]
    Io(#[from] std::io::Error),
}

fn unsafe_entry(path: &Path, why: impl Into<String>) -> ExtractError {
    ExtractError::Unsafe {
        path: path.to_string_lossy().into_owned(),
        why: why.into(),
    }
}

/// A relative path with no `..`, root or prefix components, `.` dropped. `None` if unsafe.
fn clean_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Resolve `target` lexically from directory `base` (both relative to the root); `None` when
/// it climbs above the root or is absolute.
fn resolve_lexically(base: &Path, target: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = base
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect();
    for c in target.components() {
        match c {
            Component::Normal(s) => parts.push(s),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// Extract the gzip tar `bytes` into `dest` (an existing, empty directory).
pub fn unpack_tgz(bytes: &[u8], dest: &Path) -> Result<(), ExtractError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive.set_preserve_permissions(false);
    archive.set_preserve_mtime(false);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path()?.into_owned();
        let rel = clean_relative(&raw)
            .ok_or_else(|| unsafe_entry(&raw, "absolute path or `..` component"))?;
        let kind = entry.header().entry_type();
        match kind {
            EntryType::Regular
            | EntryType::Continuous
            | EntryType::Directory
            | EntryType::GNUSparse => {}
            EntryType::Symlink => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| unsafe_entry(&raw, "symlink without a target"))?
                    .into_owned();
                let base = rel.parent().unwrap_or(Path::new(""));
                if resolve_lexically(base, &target).is_none() {
                    return Err(unsafe_entry(
                        &raw,
                        format!("symlink to {} leaves the package root", target.display()),
                    ));
                }
            }
            EntryType::Link => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| unsafe_entry(&raw, "hard link without a target"))?
                    .into_owned();
                if clean_relative(&target).is_none() {
                    return Err(unsafe_entry(
                        &raw,
                        format!("hard link to {} leaves the package root", target.display()),
                    ));
                }
            }
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => continue,
            EntryType::Char | EntryType::Block => return Err(unsafe_entry(&raw, "device file")),
            EntryType::Fifo => return Err(unsafe_entry(&raw, "FIFO")),
            other => {
                return Err(unsafe_entry(
                    &raw,
                    format!("unsupported entry type {other:?}"),
                ));
            }
        }
        if rel.as_os_str().is_empty() {
            continue;
        }
        if !entry.unpack_in(dest)? {
            return Err(unsafe_entry(&raw, "path leaves the package root"));
        }
    }
    check_links(dest)
}

/// Walk `root` and refuse any symlink whose real target lies outside it.
fn check_links(root: &Path) -> Result<(), ExtractError> {
    let real_root = root.canonicalize()?;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let ft = entry.file_type()?;
            if ft.is_symlink() {
                // A dangling link was already checked lexically; a resolvable one must stay inside.
                if let Ok(real) = path.canonicalize()
                    && !real.starts_with(&real_root)
                {
                    let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                    return Err(unsafe_entry(
                        &rel,
                        "symlink resolves outside the package root",
                    ));
                }
            } else if ft.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_resolution() {
        assert_eq!(
            resolve_lexically(Path::new("a/b"), Path::new("../c")),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(
            resolve_lexically(Path::new("a"), Path::new("../../c")),
            None
        );
        assert_eq!(resolve_lexically(Path::new(""), Path::new("/etc")), None);
        assert!(clean_relative(Path::new("./a/./b")).is_some());
        assert!(clean_relative(Path::new("a/../b")).is_none());
    }
}
