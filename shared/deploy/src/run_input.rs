//! The execution input of a run as it is started, by `ferry trigger`, `ferry resume` and the
//! event-started runs of `ferry-events` alike: parameters too long for Batch's container
//! overrides move to a content-addressed blob the task wrapper reads.
//!
//! The input is `{"Parameters": "<JSON text>"}`. Batch counts the text as it appears,
//! JSON-escaped, in the container overrides; past
//! [`ferry_compile::limits::MAX_TRIGGER_PARAMETERS_CHARS`] the text is stored at
//! `params/<sha256>.json` and the input becomes
//! `{"Parameters": "{\"ferry.parameters_blob\": {\"key\": ..., \"sha256\": ...}}"}`
//! ([`ferry_spec::task::PARAMETERS_BLOB`]); the wrapper fetches the blob and checks its hash.

use ferry_store::{BlobError, Blobs};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why an input could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum RunInputError {
    /// The input is not JSON text.
    #[error("the execution input is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// Storing the parameters failed (a retry may help when the error is transient).
    #[error("storing the run's parameters at {key}: {error}")]
    Store {
        /// The blob key.
        key: String,
        /// The store's error.
        error: BlobError,
    },
}

impl RunInputError {
    /// Whether a retry may succeed (the blob store was throttled or unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RunInputError::Store {
                error: BlobError::Transient(_),
                ..
            }
        )
    }
}

/// The blob key of a parameters text whose sha256 is `sha256` (lower-case hex).
pub fn parameters_key(sha256: &str) -> String {
    format!("params/{sha256}.json")
}

/// `input` (`{"Parameters": "<JSON text>"}`) as it can be started: unchanged when its parameters
/// fit Batch's container overrides, else with the parameters moved to `blobs` (key
/// [`parameters_key`], content-addressed, so storing the same parameters twice is harmless).
/// Errors: [`RunInputError`].
pub async fn offload_long_parameters(
    blobs: &dyn Blobs,
    input: String,
) -> Result<String, RunInputError> {
    let parsed: Value = serde_json::from_str(&input)?;
    let inner = parsed["Parameters"].as_str().unwrap_or_default();
    // The length Batch counts: the string as it appears, JSON-escaped, in the overrides.
    let escaped = serde_json::to_string(inner)?.len() - 2;
    if escaped <= ferry_compile::limits::MAX_TRIGGER_PARAMETERS_CHARS {
        return Ok(input);
    }
    let sha = hex::encode(Sha256::digest(inner.as_bytes()));
    let key = parameters_key(&sha);
    blobs
        .put(&key, inner.as_bytes().to_vec())
        .await
        .map_err(|error| RunInputError::Store {
            key: key.clone(),
            error,
        })?;
    let pointer = json!({ ferry_spec::task::PARAMETERS_BLOB: {"key": key, "sha256": sha} });
    Ok(json!({ "Parameters": pointer.to_string() }).to_string())
}

#[cfg(test)]
mod tests {
    use ferry_store::DirBlobs;

    use super::*;

    #[tokio::test]
    async fn short_parameters_stay_and_long_ones_move_to_a_verified_blob() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = DirBlobs::open(dir.path()).unwrap();
        let short = json!({"Parameters": json!({"day": "2026-12-01"}).to_string()}).to_string();
        assert_eq!(
            offload_long_parameters(&blobs, short.clone())
                .await
                .unwrap(),
            short
        );

        let text = json!({"blob": "\"x\"".repeat(1_500)}).to_string();
        let long = json!({"Parameters": text}).to_string();
        let out: Value =
            serde_json::from_str(&offload_long_parameters(&blobs, long).await.unwrap()).unwrap();
        let pointer: Value = serde_json::from_str(out["Parameters"].as_str().unwrap()).unwrap();
        let blob = &pointer[ferry_spec::task::PARAMETERS_BLOB];
        let sha = hex::encode(Sha256::digest(text.as_bytes()));
        assert_eq!(blob["sha256"], json!(sha));
        assert_eq!(blob["key"], json!(parameters_key(&sha)));
        let stored = blobs.get(&parameters_key(&sha)).await.unwrap().unwrap();
        assert_eq!(stored, text.as_bytes());

        assert!(matches!(
            offload_long_parameters(&blobs, "not json".into()).await,
            Err(RunInputError::NotJson(_))
        ));
    }
}
