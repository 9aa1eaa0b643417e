//! The secrets port: where a deployment's notification webhook URLs and keys are kept, apart
//! from everything else Ferry stores (`docs/notifications.md`, "Secrets").
//!
//! | adapter | where | crate |
//! |---|---|---|
//! | `SsmSecrets` | SSM Parameter Store `SecureString` parameters under the stack's prefix (`/ferry/<stack>/`) | `ferry-aws` |
//! | `DirSecrets` | one file per secret under `<FERRY_HOME>/secrets/`, mode 0600 in 0700 directories | `ferry-local` |
//!
//! Records, requests, definitions and logs hold only a [`SecretName`] (and masked forms of the
//! values, `crate::notifications::mask_url`/`mask_key`), never a value.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What went wrong in a [`Secrets`] call. Messages never contain a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The name or the value cannot be stored (too long, refused by the store).
    #[error("invalid secret: {0}")]
    Invalid(String),
    /// Not allowed to read or write the secret (IAM, file permissions).
    #[error("access to the secret store was denied: {0}")]
    Denied(String),
    /// Throttling, a timeout or a connection error: the caller may retry.
    #[error("transient secret store error: {0}")]
    Transient(String),
    /// Anything else.
    #[error("secret store error: {0}")]
    Other(String),
}

/// The longest [`SecretName`], in characters (SSM allows 1,011 for a whole parameter name,
/// prefix included).
pub const MAX_SECRET_NAME: usize = 500;

/// The name of a secret relative to its store: `/`-separated segments of ASCII letters, digits,
/// `_`, `-` and `.` (not `.` or `..`), e.g. `notify/HelloFlow/0b8c8d1e-6a1f-4a53-9e52-1f3c2f4f7a10`.
/// Safe as an SSM parameter name suffix and as a relative file path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

impl SecretName {
    /// Check `name` (see the type's rules).
    pub fn new(name: impl Into<String>) -> Result<Self, SecretsError> {
        let name = name.into();
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        if name.len() > MAX_SECRET_NAME || !name.split('/').all(segment_ok) {
            return Err(SecretsError::Invalid(format!(
                "{name:?} is not a secret name: use at most {MAX_SECRET_NAME} characters, \
                 /-separated segments of letters, digits, _, - and ."
            )));
        }
        Ok(SecretName(name))
    }

    /// The secret holding the notification secrets of deploy request `request_id` of
    /// `deployment`: `notify/<deployment>/<request id>`. One per request, so a request that is
    /// refused cannot replace the secret of the deployment in force.
    pub fn for_notifications(
        deployment: &str,
        request_id: &crate::keys::RequestId,
    ) -> Result<Self, SecretsError> {
        Self::new(format!("notify/{deployment}/{request_id}"))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretName {
    type Error = SecretsError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SecretName::new(s)
    }
}

impl From<SecretName> for String {
    fn from(n: SecretName) -> String {
        n.0
    }
}

impl std::fmt::Display for SecretName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secrets port: SSM Parameter Store on AWS, a directory of 0600 files on the embedded stack.
#[async_trait]
pub trait Secrets: Send + Sync + 'static {
    /// Store `value` (text, at most 4 KiB on SSM) under `name`, replacing any earlier value.
    async fn put(&self, name: &SecretName, value: &str) -> Result<(), SecretsError>;
    /// The value under `name`, or `None` when there is none.
    async fn get(&self, name: &SecretName) -> Result<Option<String>, SecretsError>;
    /// Whether `name` holds a value (without reading or decrypting it).
    async fn exists(&self, name: &SecretName) -> Result<bool, SecretsError>;
    /// Delete `name`; returns whether it existed (absent is `Ok(false)`).
    async fn delete(&self, name: &SecretName) -> Result<bool, SecretsError>;
    /// Where `name` is kept, for messages: `ssm:/ferry/<stack>/notify/…` or a file path.
    fn location(&self, name: &SecretName) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_path_and_parameter_safe() {
        let id = crate::keys::RequestId::new();
        let n = SecretName::for_notifications("proj.test.b.HelloFlow", &id).unwrap();
        assert_eq!(n.as_str(), format!("notify/proj.test.b.HelloFlow/{id}"));
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "a/../b",
            "..",
            "a b",
            "a\\b",
            "a/\u{e9}",
            &"x".repeat(MAX_SECRET_NAME + 1),
        ] {
            assert!(SecretName::new(bad).is_err(), "{bad:?} accepted");
        }
        let back: SecretName = serde_json::from_str("\"notify/F/1\"").unwrap();
        assert_eq!(back.as_str(), "notify/F/1");
        assert!(serde_json::from_str::<SecretName>("\"../x\"").is_err());
    }
}
