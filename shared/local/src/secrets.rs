//! The embedded stack's [`Secrets`] adapter: one file per secret under `<FERRY_HOME>/secrets/`
//! (`notify/<deployment>/<request id>` → `secrets/notify/<deployment>/<request id>`), each
//! readable and writable by its owner only (0600) in directories only its owner can enter
//! (0700). A value is written to a fresh 0600 file next to its place and renamed over it, so a
//! reader sees the old value or the new one, and two writers of different secrets never touch
//! the same file.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use ferry_deploy::secrets::{SecretName, Secrets, SecretsError};

/// Secrets as files under a root directory (`<home>/secrets`).
#[derive(Debug, Clone)]
pub struct DirSecrets {
    root: PathBuf,
}

/// The secrets folder of a Ferry home.
pub fn secrets_dir(home: &Path) -> PathBuf {
    crate::home::Home::new(home).secrets()
}

impl DirSecrets {
    /// Secrets under `root` (created, 0700, on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirSecrets { root: root.into() }
    }

    /// The secrets of the Ferry home `home` ([`secrets_dir`]).
    pub fn for_home(home: &Path) -> Self {
        Self::new(secrets_dir(home))
    }

    fn path(&self, name: &SecretName) -> PathBuf {
        // SecretName segments are [A-Za-z0-9_.-] and never `.`/`..`: the path stays under root.
        self.root.join(name.as_str())
    }
}

fn io(what: &str, e: std::io::Error) -> SecretsError {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        SecretsError::Denied(format!("{what}: {e}"))
    } else {
        SecretsError::Other(format!("{what}: {e}"))
    }
}

fn write_private(root: &Path, path: &Path, value: &str) -> Result<(), SecretsError> {
    let dir = path.parent().unwrap_or(root);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io(&format!("creating {}", dir.display()), e))?;
    // The root may predate this code or have been created by someone else's umask.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io(&format!("restricting {}", root.display()), e))?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(value.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&format!("writing {}", path.display()), e));
    }
    Ok(())
}

#[async_trait]
impl Secrets for DirSecrets {
    async fn put(&self, name: &SecretName, value: &str) -> Result<(), SecretsError> {
        let (root, path, value) = (self.root.clone(), self.path(name), value.to_string());
        tokio::task::spawn_blocking(move || write_private(&root, &path, &value))
            .await
            .map_err(|e| SecretsError::Other(e.to_string()))?
    }

    async fn get(&self, name: &SecretName) -> Result<Option<String>, SecretsError> {
        let path = self.path(name);
        match tokio::fs::read_to_string(&path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&format!("reading {}", path.display()), e)),
        }
    }

    async fn exists(&self, name: &SecretName) -> Result<bool, SecretsError> {
        let path = self.path(name);
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(&format!("reading {}", path.display()), e)),
        }
    }

    async fn delete(&self, name: &SecretName) -> Result<bool, SecretsError> {
        let path = self.path(name);
        let existed = match tokio::fs::remove_file(&path).await {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io(&format!("deleting {}", path.display()), e)),
        };
        // Drop the folders the secret leaves empty (never the root); a folder another
        // writer just filled stays (remove_dir fails on a non-empty folder).
        let mut dir = path.parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) || std::fs::remove_dir(&d).is_err() {
                break;
            }
            dir = d.parent().map(Path::to_path_buf);
        }
        Ok(existed)
    }

    fn location(&self, name: &SecretName) -> String {
        self.path(name).display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn secrets_are_owner_only_files_that_come_and_go() {
        let home = tempfile::tempdir().unwrap();
        let s = DirSecrets::for_home(home.path());
        let name =
            SecretName::new("notify/HelloFlow/0b8c8d1e-6a1f-4a53-9e52-1f3c2f4f7a10").unwrap();
        assert_eq!(s.get(&name).await.unwrap(), None);
        assert!(!s.exists(&name).await.unwrap());
        s.put(&name, "{\"slack_webhook_url\":\"https://x/1\"}")
            .await
            .unwrap();
        let file = secrets_dir(home.path()).join(name.as_str());
        assert_eq!(s.location(&name), file.display().to_string());
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&secrets_dir(home.path())), 0o700);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
        assert!(s.exists(&name).await.unwrap());
        s.put(&name, "second").await.unwrap();
        assert_eq!(s.get(&name).await.unwrap().as_deref(), Some("second"));
        assert_eq!(mode(&file), 0o600);
        // No temporary file is left behind.
        assert_eq!(
            std::fs::read_dir(file.parent().unwrap()).unwrap().count(),
            1
        );
        assert!(s.delete(&name).await.unwrap());
        assert!(!s.delete(&name).await.unwrap());
        assert!(!file.exists());
        assert!(!secrets_dir(home.path()).join("notify").exists());
        assert!(secrets_dir(home.path()).exists());
    }
}
