//! [`DirBlobs`]: the [`Blobs`] port over a local directory (the embedded default).
//!
//! The object at key `a/b/c` is the file `<root>/a/b/c`. A put writes a temporary file in the
//! object's own folder (named `.ferry-tmp.<uuid>`, never listed) and renames it over the target,
//! so readers see the old object or the new one, never a partial one. Keys are checked with
//! [`validate_key`], so no key can name a path outside the root; keys with a segment starting
//! with `.ferry-tmp.` are refused too. File I/O runs on
//! `tokio::task::spawn_blocking`.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::blobs::{BlobError, Blobs, validate_key};

/// File-name prefix of in-flight puts; such files are never listed.
const TMP_PREFIX: &str = ".ferry-tmp.";

/// A blob store in a directory.
#[derive(Debug, Clone)]
pub struct DirBlobs {
    root: PathBuf,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> BlobError {
    BlobError::Other(format!("{what} {}: {e}", path.display()))
}

async fn blocking<T, F>(f: F) -> Result<T, BlobError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BlobError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Other(format!("blob worker failed: {e}")))?
}

impl DirBlobs {
    /// A store rooted at `root`, created (with its parents) when missing. The root is made
    /// absolute and canonical, so [`Blobs::url`] names it unambiguously.
    ///
    /// Blocking (creates the folder). Errors: [`BlobError::Other`] when it cannot be created.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, BlobError> {
        let root = root.as_ref();
        std::fs::create_dir_all(root).map_err(|e| io_err("creating", root, e))?;
        let root = std::fs::canonicalize(root).map_err(|e| io_err("resolving", root, e))?;
        Ok(DirBlobs { root })
    }

    /// The canonical root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a (validated) key.
    fn file(&self, key: &str) -> Result<PathBuf, BlobError> {
        validate_key(key)?;
        if key.split('/').any(|seg| seg.starts_with(TMP_PREFIX)) {
            return Err(BlobError::InvalidKey(
                key.to_string(),
                "names a temporary file of this store",
            ));
        }
        Ok(self.root.join(key))
    }
}

/// Every file under `dir`, as keys relative to `root` (`/`-separated), skipping in-flight puts.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), BlobError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(()),
        Err(e) => return Err(io_err("listing", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_err("listing", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(TMP_PREFIX) {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| io_err("listing", &path, e))?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file()
            && let Ok(rel) = path.strip_prefix(root)
        {
            let key: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
            out.push(key.join("/"));
        }
    }
    Ok(())
}

#[async_trait]
impl Blobs for DirBlobs {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        let target = self.file(key)?;
        blocking(move || {
            let dir = target.parent().unwrap_or(Path::new("/")).to_path_buf();
            let tmp = dir.join(format!("{TMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
            // A concurrent delete may remove the (empty) folder between creating it and the
            // file: try again a few times.
            let mut attempt = 0;
            loop {
                attempt += 1;
                std::fs::create_dir_all(&dir).map_err(|e| io_err("creating", &dir, e))?;
                match std::fs::File::create(&tmp) {
                    Ok(mut f) => {
                        if let Err(e) = f.write_all(&body) {
                            let _ = std::fs::remove_file(&tmp);
                            return Err(io_err("writing", &tmp, e));
                        }
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 5 => continue,
                    Err(e) => return Err(io_err("writing", &tmp, e)),
                }
            }
            std::fs::rename(&tmp, &target).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                io_err("renaming onto", &target, e)
            })
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.file(key)?;
        blocking(move || match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::IsADirectory
                        | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(io_err("reading", &path, e)),
        })
        .await
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let path = self.file(key)?;
        blocking(move || Ok(path.is_file())).await
    }

    /// Keys starting with `prefix` (a plain string prefix, as on S3: `a/b` matches `a/bc`).
    /// Errors: [`BlobError::InvalidKey`] when the folder part of the prefix is not a valid key.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        crate::validate::blob_prefix(prefix)?;
        let folder = match prefix.rfind('/') {
            Some(i) => self.root.join(&prefix[..i]),
            None => self.root.clone(),
        };
        let (root, prefix) = (self.root.clone(), prefix.to_string());
        blocking(move || {
            let mut keys = Vec::new();
            walk(&root, &folder, &mut keys)?;
            keys.retain(|k| k.starts_with(&prefix));
            keys.sort();
            Ok(keys)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.file(key)?;
        let root = self.root.clone();
        blocking(move || {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound
                            | std::io::ErrorKind::IsADirectory
                            | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    return Ok(());
                }
                Err(e) => return Err(io_err("deleting", &path, e)),
            }
            // Remove folders left empty, up to the root (best effort: a concurrent put may refill one).
            let mut dir = path.parent();
            while let Some(d) = dir {
                if d == root || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
            Ok(())
        })
        .await
    }

    /// `file://<canonical root>/<key>` (the key as given, not percent-encoded).
    fn url(&self, key: &str) -> String {
        format!("file://{}/{}", self.root.display(), key)
    }
}
