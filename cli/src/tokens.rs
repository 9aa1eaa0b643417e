//! The local production-token store, as Metaflow keeps it (contract metaflow-sfn §4 "Storage"):
//! a JSON file `{"production_token": "<token>"}` named after the token prefix, in
//! `$METAFLOW_TOKEN_HOME`, else `$METAFLOW_HOME`, else `~/.metaflowconfig`. A deploy without
//! `--authorize` sends the stored token, so tokens stored by Metaflow's own deployer work too.

use std::path::PathBuf;

use anyhow::Context as _;

/// The folder of the token files, or `None` when there is no home to put it in.
pub fn token_dir() -> Option<PathBuf> {
    for var in ["METAFLOW_TOKEN_HOME", "METAFLOW_HOME"] {
        if let Some(d) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(d));
        }
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".metaflowconfig"))
}

/// A token prefix is a file name: lower-case letters, digits, `_`, `-`, `.`; not `.`/`..`.
fn safe_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix != "."
        && prefix != ".."
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The stored token of `prefix`, if any (an unreadable file counts as none).
pub fn load(prefix: &str) -> Option<String> {
    if !safe_prefix(prefix) {
        return None;
    }
    let bytes = std::fs::read(token_dir()?.join(prefix)).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("production_token")?.as_str().map(str::to_string)
}

/// Store `token` for `prefix`.
pub fn store(prefix: &str, token: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        safe_prefix(prefix),
        "token prefix {prefix:?} cannot be a file name"
    );
    let Some(dir) = token_dir() else {
        anyhow::bail!(
            "no METAFLOW_TOKEN_HOME, METAFLOW_HOME or HOME to store the production token in"
        );
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(prefix);
    let body = serde_json::to_vec(&serde_json::json!({ "production_token": token }))?;
    let tmp = dir.join(format!(".{prefix}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
