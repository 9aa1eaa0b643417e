//! The code package: downloaded from the blob store (transient errors retried), verified against
//! its sha256, extracted safely into a fresh directory, and cached on the host by sha256 so the
//! next task with the same package starts at once.
//!
//! Cache layout: `<cache>/packages/<sha256>/` (complete trees only: each is extracted into
//! `<cache>/packages/.tmp-<uuid>/` and renamed into place atomically).

use std::path::{Path, PathBuf};

use ferry_spec::task::{BlobStoreRef, PackageRef};
use ferry_store::Blobs;

use crate::description::{is_sha256_hex, sha256_hex};
use crate::error::TaskError;
use crate::extract::unpack_tgz;
use crate::stores;
use crate::transient::with_retries;

pub use ferry_spec::task::default_cache_dir;

/// Where the extracted package `sha256` lives in `cache`.
pub fn cached_path(cache: &Path, sha256: &str) -> PathBuf {
    cache.join("packages").join(sha256)
}

/// Make the package available as an extracted directory and return it. Uses the cache when the
/// package is there; else downloads it from the blob store `blobs`, verifies and extracts it. Errors (no user code has run):
/// a malformed sha256, a missing package, a hash mismatch, an unsafe archive.
pub async fn prepare(
    blobs: &BlobStoreRef,
    package: &PackageRef,
    cache: &Path,
) -> Result<PathBuf, TaskError> {
    if !is_sha256_hex(&package.sha256) {
        return Err(TaskError::Package(format!(
            "{:?} is not a lower-case hex sha256",
            package.sha256
        )));
    }
    let target = cached_path(cache, &package.sha256);
    if target.is_dir() {
        return Ok(target);
    }
    // Only a cache miss needs the blob store (on AWS, opening it loads the SDK configuration).
    let blobs = stores::open_blobs(blobs).await?;
    let blobs: &dyn Blobs = blobs.as_ref();
    let bytes = with_retries(&format!("downloading {}", blobs.url(&package.key)), || {
        blobs.get(&package.key)
    })
    .await
    .map_err(|e| TaskError::Package(e.to_string()))?
    .ok_or_else(|| TaskError::Package(format!("{} does not exist", blobs.url(&package.key))))?;
    let actual = sha256_hex(&bytes);
    if actual != package.sha256 {
        return Err(TaskError::Package(format!(
            "sha256 mismatch for {}: expected {}, got {actual}",
            package.key, package.sha256
        )));
    }
    install(&bytes, &target)?;
    Ok(target)
}

/// Extract `bytes` into a fresh temporary directory next to `target`, then rename it into place.
/// A concurrent task that installed the same package first wins; ours is discarded.
fn install(bytes: &[u8], target: &Path) -> Result<(), TaskError> {
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| TaskError::io(format!("creating {}", parent.display()), e))?;
    let tmp = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&tmp)
        .map_err(|e| TaskError::io(format!("creating {}", tmp.display()), e))?;
    let result = unpack_tgz(bytes, &tmp)
        .map_err(|e| TaskError::Package(e.to_string()))
        .and_then(|()| match std::fs::rename(&tmp, target) {
            Ok(()) => Ok(()),
            Err(_) if target.is_dir() => {
                let _ = std::fs::remove_dir_all(&tmp);
                Ok(())
            }
            Err(e) => Err(TaskError::io(
                format!("moving the package into {}", target.display()),
                e,
            )),
        });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
