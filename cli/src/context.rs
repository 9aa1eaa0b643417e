//! What every command needs: the Ferry home, the target (embedded stack or AWS), the output
//! mode and the user.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use ferry_spec::task::{BlobStoreRef, TableRef};
use ferry_store::Blobs;
use serde::{Deserialize, Serialize};

/// Where deploys go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "lowercase")]
pub enum Target {
    /// The embedded stack (`ferry up`): blobs in `<home>/blobs`, the table in `<home>/ferry.db`.
    Local,
    /// A deployed Ferry stack on AWS (written by `ferry configure`).
    Aws(AwsTarget),
}

/// The AWS target's settings (`<home>/config.json`, `"target": "aws"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsTarget {
    /// The stack's bucket.
    pub bucket: String,
    /// Key prefix of Ferry's blobs in the bucket (`ferry/`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// AWS region, e.g. `eu-west-1`; `None`: the SDK's default chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Endpoint override (a moto server in tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// The stack's DynamoDB table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Anything else `ferry configure` records (metadata URL, stack name, …).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl AwsTarget {
    /// A string setting `ferry configure` recorded (`service_url`, `events_url`, …); `None`
    /// when it is absent, not a string or empty.
    pub fn setting(&self, key: &str) -> Option<String> {
        self.extra
            .get(key)
            .and_then(serde_json::Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// The stack API's key: the recorded `api_key`, else `METAFLOW_SERVICE_AUTH_KEY` (what the
    /// Metaflow client sends as `x-api-key`).
    pub fn api_key(&self) -> Option<String> {
        self.setting("api_key").or_else(|| {
            std::env::var("METAFLOW_SERVICE_AUTH_KEY")
                .ok()
                .filter(|k| !k.is_empty())
        })
    }

    /// The endpoint and region recorded for the stack, as AWS client settings.
    pub fn client_settings(&self) -> ferry_store::AwsClientSettings {
        ferry_store::AwsClientSettings {
            endpoint_url: self.endpoint_url.clone(),
            region: self.region.clone(),
        }
    }
}

fn default_prefix() -> String {
    "ferry/".to_string()
}

/// The config file, `<home>/config.json`. Absent: [`Target::Local`].
pub const CONFIG_FILE: &str = "config.json";

/// Shared state of one `ferry` invocation.
#[derive(Debug, Clone)]
pub struct Context {
    /// `--home`, else `$FERRY_HOME`, else `~/.ferry`.
    pub home: PathBuf,
    /// From `<home>/config.json`; the embedded stack when there is none.
    pub target: Target,
    /// `--json`: print machine-readable JSON on stdout instead of text.
    pub json: bool,
    /// The user: `$METAFLOW_USER`, else `$USER`, else `$USERNAME`; `None` when none is set
    /// (commands that need it call [`Context::user`]).
    pub user: Option<String>,
}

impl Context {
    /// Build the context from the global flags and the environment.
    pub fn load(home: Option<PathBuf>, json: bool) -> anyhow::Result<Self> {
        let home = match home {
            Some(h) => h,
            None => default_home()?,
        };
        let target = read_target(&home)?;
        Ok(Context {
            home,
            target,
            json,
            user: current_user().ok(),
        })
    }

    /// The user, or an error saying how to set it.
    pub fn user(&self) -> anyhow::Result<&str> {
        self.user
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("cannot tell who you are: set METAFLOW_USER (or USER)"))
    }

    /// The embedded stack's blob root, `<home>/blobs`.
    pub fn local_blobs_dir(&self) -> PathBuf {
        self.local_home().blobs()
    }

    /// The embedded stack's table file, `<home>/ferry.db`.
    pub fn local_table_path(&self) -> PathBuf {
        self.local_home().ferry_db()
    }

    /// The home as the embedded stack lays it out (`ferry.db`, `blobs`, `datastore`, `logs`…).
    pub fn local_home(&self) -> ferry_local::home::Home {
        ferry_local::home::Home::new(&self.home)
    }

    /// Where deployed flows run, as the deploy handler's messages name it.
    pub fn platform(&self) -> &'static str {
        match self.target {
            Target::Local => ferry_deploy::PLATFORM_LOCAL,
            Target::Aws(_) => ferry_deploy::PLATFORM_AWS,
        }
    }

    /// The installation's state machine name prefix (`state_machine_prefix` in the AWS config).
    pub fn state_machine_prefix(&self) -> Option<String> {
        match &self.target {
            Target::Local => None,
            Target::Aws(aws) => aws
                .extra
                .get("state_machine_prefix")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        }
    }

    /// The blob store deploys are uploaded to: `<home>/blobs` locally, the stack's bucket and
    /// prefix on AWS.
    pub fn blob_store_ref(&self) -> BlobStoreRef {
        match &self.target {
            Target::Local => BlobStoreRef::Dir {
                path: self.local_blobs_dir().display().to_string(),
            },
            Target::Aws(aws) => BlobStoreRef::S3 {
                bucket: aws.bucket.clone(),
                prefix: aws.prefix.clone(),
            },
        }
    }

    /// The table holding the deployment records: `<home>/ferry.db` locally, the stack's
    /// deployments table on AWS.
    pub fn table_ref(&self) -> anyhow::Result<TableRef> {
        match &self.target {
            Target::Local => Ok(TableRef::Sqlite {
                path: self.local_table_path().display().to_string(),
            }),
            Target::Aws(aws) => match &aws.table {
                Some(t) => Ok(TableRef::Dynamodb { table: t.clone() }),
                None => bail!(
                    "the AWS configuration in {} names no table: run `ferry configure`",
                    self.home.join(CONFIG_FILE).display()
                ),
            },
        }
    }

    /// The AWS client settings `ferry configure` recorded (endpoint, region), which win over
    /// the environment's; empty for the embedded stack.
    pub fn aws_settings(&self) -> ferry_store::AwsClientSettings {
        match &self.target {
            Target::Local => ferry_store::AwsClientSettings::default(),
            Target::Aws(aws) => aws.client_settings(),
        }
    }

    /// Open the table of [`Self::table_ref`]. The embedded stack's table is only opened in a
    /// home that `ferry up` has made (it holds `ferry.db`): a mistyped `--home` is an
    /// [`crate::failure::ErrorKind::Unavailable`] error, and nothing is created there.
    pub async fn table(&self) -> anyhow::Result<Arc<dyn ferry_store::Table>> {
        let r = self.table_ref()?;
        if matches!(r, TableRef::Sqlite { .. }) && !self.local_table_path().is_file() {
            return Err(crate::failure::Failure::new(
                crate::failure::ErrorKind::Unavailable,
                format!(
                    "{} is no Ferry home (it has no {}): check --home or FERRY_HOME, or start the embedded stack there with `ferry up --home {}`",
                    self.home.display(),
                    self.local_table_path()
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    self.home.display()
                ),
            ));
        }
        ferry_store::open_table_with(&r, &self.aws_settings())
            .await
            .with_context(|| format!("opening the table {r:?}"))
    }

    /// Open the blob store of [`Self::blob_store_ref`].
    pub async fn blobs(&self) -> anyhow::Result<Arc<dyn Blobs>> {
        let r = self.blob_store_ref();
        ferry_store::open_blobs_with(&r, &self.aws_settings())
            .await
            .with_context(|| format!("opening the blob store {r:?}"))
    }
}

/// `$FERRY_HOME`, else `~/.ferry`.
pub fn default_home() -> anyhow::Result<PathBuf> {
    if let Some(h) = std::env::var_os("FERRY_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".ferry")),
        None => bail!("set --home or FERRY_HOME: there is no HOME to put ~/.ferry in"),
    }
}

/// `~/.ferry`, resolved (the home a command uses without `--home` or `FERRY_HOME`), if it exists.
pub fn home_dir_default() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    PathBuf::from(home).join(".ferry").canonicalize().ok()
}

/// The user, as Metaflow finds it: `$METAFLOW_USER`, else `$USER`, else `$USERNAME`.
pub fn current_user() -> anyhow::Result<String> {
    for var in ["METAFLOW_USER", "USER", "USERNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.trim().is_empty()
        {
            if u.chars().any(char::is_control) {
                bail!("${var} contains control characters");
            }
            return Ok(u);
        }
    }
    bail!("cannot tell who you are: set METAFLOW_USER (or USER)")
}

fn read_target(home: &Path) -> anyhow::Result<Target> {
    let path = home.join(CONFIG_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target::Local),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The Python interpreter that imports flows (it needs `metaflow`): `$FERRY_PYTHON`, else
/// `python3` on `PATH`.
pub fn python() -> PathBuf {
    std::env::var_os("FERRY_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}
