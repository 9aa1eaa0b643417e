//! The embedded stack's home: the one place that spells its layout. `ferry up` creates it,
//! the stack opens its stores in it, and the CLI reads it without a running stack.
//!
//! ```text
//! <home>/ferry.db      the Ferry table (metadata, deployments, executions, schedules, events)
//! <home>/state.db      the state table the compiled state machines read (foreach state)
//! <home>/blobs/        the blob store (code packages, specs, task descriptions, deploy requests)
//! <home>/datastore/    Metaflow's local datastore root (artifacts, task logs under .metaflow)
//! <home>/logs/         raw process output of every job attempt (`ferry_store::task_logs`)
//! <home>/work/         per-attempt working directories (removed after each attempt)
//! <home>/secrets/      notification secrets (`crate::secrets::DirSecrets`)
//! <home>/stack.json    the running stack's url and pid;  stack.lock: held while it runs
//! <home>/last-port     the port the stack listened on last
//! ```

use std::path::{Path, PathBuf};

use ferry_spec::task::{BlobStoreRef, DatastoreSettings, TableRef};

/// The folders the stack creates when it starts.
pub const DIRS: [&str; 4] = ["blobs", "datastore", "logs", "work"];

/// An embedded stack's home folder and the paths in it (see the module docs). Cheap to clone;
/// it touches no file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// The home at `root` (as given: relative paths stay relative).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Home { root: root.into() }
    }

    /// The home folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<home>/ferry.db`: the Ferry table.
    pub fn ferry_db(&self) -> PathBuf {
        self.root.join("ferry.db")
    }

    /// `<home>/state.db`: the state table.
    pub fn state_db(&self) -> PathBuf {
        self.root.join("state.db")
    }

    /// `<home>/blobs`: the blob store's root.
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs")
    }

    /// `<home>/datastore`: Metaflow's local datastore root.
    pub fn datastore(&self) -> PathBuf {
        self.root.join("datastore")
    }

    /// `<home>/logs`: raw process logs of job attempts.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `<home>/work`: per-attempt working directories.
    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    /// `<home>/secrets`: notification secrets.
    pub fn secrets(&self) -> PathBuf {
        self.root.join("secrets")
    }

    /// `<home>/<name>`: a file of the stack (`stack.json`, `stack.lock`, `last-port`).
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The Ferry table as a store reference (SQLite at [`Home::ferry_db`]).
    pub fn ferry_table_ref(&self) -> TableRef {
        TableRef::Sqlite {
            path: self.ferry_db().display().to_string(),
        }
    }

    /// The state table as a store reference (SQLite at [`Home::state_db`]).
    pub fn state_table_ref(&self) -> TableRef {
        TableRef::Sqlite {
            path: self.state_db().display().to_string(),
        }
    }

    /// The blob store as a store reference (a directory at [`Home::blobs`]).
    pub fn blobs_ref(&self) -> BlobStoreRef {
        BlobStoreRef::Dir {
            path: self.blobs().display().to_string(),
        }
    }

    /// Metaflow's datastore settings of the stack's tasks (`local` at [`Home::datastore`]).
    pub fn datastore_settings(&self) -> DatastoreSettings {
        DatastoreSettings {
            kind: "local".into(),
            root: self.datastore().display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_below_the_home() {
        let home = Home::new("/h");
        assert_eq!(home.ferry_db(), Path::new("/h/ferry.db"));
        assert_eq!(home.state_db(), Path::new("/h/state.db"));
        assert_eq!(home.blobs(), Path::new("/h/blobs"));
        assert_eq!(home.datastore(), Path::new("/h/datastore"));
        assert_eq!(home.logs(), Path::new("/h/logs"));
        assert_eq!(home.work(), Path::new("/h/work"));
        assert_eq!(home.secrets(), Path::new("/h/secrets"));
        assert_eq!(home.file("stack.json"), Path::new("/h/stack.json"));
        assert_eq!(
            home.ferry_table_ref(),
            TableRef::Sqlite {
                path: "/h/ferry.db".into()
            }
        );
        assert_eq!(
            home.blobs_ref(),
            BlobStoreRef::Dir {
                path: "/h/blobs".into()
            }
        );
        assert_eq!(home.datastore_settings().root, "/h/datastore");
        for dir in DIRS {
            assert!(home.file(dir).starts_with(home.root()));
        }
    }
}
