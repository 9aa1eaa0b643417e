//! Blob keys of the deploy path (`docs/runtime-contract.md` §1) and their validation.
//!
//! ```text
//! code/<sha256>.tgz                               the code package
//! deploy/<deployment>/<request-id>/spec.json      the flow spec of a request
//! deploy/<deployment>/<request-id>/request.json   the request, written LAST (its creation triggers the deploy)
//! deploy/<deployment>/<request-id>/result.json    the result, written by the deploy handler
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// A deploy request id: a UUID in its canonical lower-case hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

impl RequestId {
    /// A fresh random (v4) request id.
    pub fn new() -> Self {
        RequestId(uuid::Uuid::new_v4().hyphenated().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl TryFrom<String> for RequestId {
    type Error = KeyError;
    fn try_from(s: String) -> Result<Self, KeyError> {
        s.parse()
    }
}

impl std::str::FromStr for RequestId {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let u = uuid::Uuid::parse_str(s).map_err(|_| KeyError::RequestId(s.to_string()))?;
        let canonical = u.hyphenated().to_string();
        if canonical != s {
            return Err(KeyError::RequestId(s.to_string()));
        }
        Ok(RequestId(canonical))
    }
}

impl From<RequestId> for String {
    fn from(r: RequestId) -> String {
        r.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key (or a part of one) that is not of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{0:?} is not a request id (a lower-case hyphenated UUID)")]
    /// Not a canonical request id.
    RequestId(String),
    #[error(
        "{0:?} is not a valid deployment name (1 to 80 characters among letters, digits, `_`, `-` and `.`, not `.` or `..`)"
    )]
    /// Not a valid deployment name.
    Deployment(String),
    #[error("{0:?} is not a deploy request key (deploy/<deployment>/<request-id>/request.json)")]
    /// Not a request key.
    RequestKey(String),
    #[error("{0:?} is not a lower-case hex sha256")]
    /// Not a sha256.
    Sha256(String),
}

/// Check a deployment (= state machine) name: [`ferry_spec::DeploymentName`]'s rule, 1–80
/// characters of `[A-Za-z0-9_.-]` (Step Functions' limit and Metaflow's `--name` character
/// set), not `.` or `..`.
pub fn validate_deployment(name: &str) -> Result<(), KeyError> {
    ferry_spec::DeploymentName::parse(name)
        .map(|_| ())
        .map_err(|e| KeyError::Deployment(e.0))
}

/// Check a lower-case hex sha256 (64 characters).
pub fn validate_sha256(s: &str) -> Result<(), KeyError> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(KeyError::Sha256(s.to_string()))
    }
}

pub use ferry_spec::digest::sha256_hex;

/// The sha256 that identifies a state machine definition (of its JSON text, as put): how an
/// execution names the version it ran (`ferry resume` starts a new one on it).
pub fn definition_sha256(definition: &str) -> String {
    sha256_hex(definition.as_bytes())
}

/// `code/<sha256>.tgz`.
pub fn code_package_key(sha256: &str) -> String {
    format!("code/{sha256}.tgz")
}

/// `deploy/<deployment>/<request-id>/` (the folder of one request).
pub fn request_prefix(deployment: &str, id: &RequestId) -> String {
    format!("deploy/{deployment}/{id}/")
}

/// `deploy/<deployment>/<request-id>/spec.json`.
pub fn spec_key(deployment: &str, id: &RequestId) -> String {
    format!("{}spec.json", request_prefix(deployment, id))
}

/// `deploy/<deployment>/<request-id>/request.json`.
pub fn request_key(deployment: &str, id: &RequestId) -> String {
    format!("{}request.json", request_prefix(deployment, id))
}

/// `deploy/<deployment>/<request-id>/result.json`.
pub fn result_key(deployment: &str, id: &RequestId) -> String {
    format!("{}result.json", request_prefix(deployment, id))
}

/// The deployment and request id named by a request key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    /// The deployment (= state machine) name.
    pub deployment: String,
    /// The request id.
    pub request_id: RequestId,
}

impl RequestKey {
    /// The key text, `deploy/<deployment>/<request-id>/request.json`.
    pub fn key(&self) -> String {
        request_key(&self.deployment, &self.request_id)
    }
}

/// Parse `deploy/<deployment>/<request-id>/request.json`, relative to the blob root. An S3 event
/// carries the full object key: strip the deployment's blob prefix (e.g. `ferry/`) first.
pub fn parse_request_key(key: &str) -> Result<RequestKey, KeyError> {
    let bad = || KeyError::RequestKey(key.to_string());
    let parts: Vec<&str> = key.split('/').collect();
    let [root, deployment, id, file] = parts.as_slice() else {
        return Err(bad());
    };
    if *root != "deploy" || *file != "request.json" {
        return Err(bad());
    }
    validate_deployment(deployment).map_err(|_| bad())?;
    let request_id: RequestId = id.parse().map_err(|_| bad())?;
    Ok(RequestKey {
        deployment: deployment.to_string(),
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_keys_round_trip() {
        let id = RequestId::new();
        let key = request_key("proj.test.b.Flow", &id);
        let parsed = parse_request_key(&key).unwrap();
        assert_eq!(parsed.deployment, "proj.test.b.Flow");
        assert_eq!(parsed.request_id, id);
        assert_eq!(parsed.key(), key);
    }

    #[test]
    fn request_keys_of_other_shapes_are_refused() {
        let id = RequestId::new();
        for key in [
            format!("deploy/Flow/{id}/result.json"),
            format!("deploy/Flow/{id}/spec.json"),
            format!("ferry/deploy/Flow/{id}/request.json"),
            format!("deploy/../{id}/request.json"),
            format!("deploy/a b/{id}/request.json"),
            format!("deploy//{id}/request.json"),
            format!("deploy/Flow/{}/request.json", id.as_str().to_uppercase()),
            "deploy/Flow/not-a-uuid/request.json".to_string(),
            format!("deploy/{}/{id}/request.json", "x".repeat(81)),
            format!("code/{id}/x/request.json"),
            String::new(),
        ] {
            assert!(parse_request_key(&key).is_err(), "{key} should be refused");
        }
    }

    #[test]
    fn deployment_names() {
        for ok in [
            "HelloFlow",
            "fraud_model.prod.Flow",
            "a-b_c.D",
            &"x".repeat(80),
        ] {
            validate_deployment(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(81)] {
            assert!(validate_deployment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sha256s() {
        let h = sha256_hex(b"abc");
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        validate_sha256(&h).unwrap();
        assert!(validate_sha256(&h.to_uppercase()).is_err());
        assert!(validate_sha256("abc").is_err());
        assert_eq!(code_package_key(&h), format!("code/{h}.tgz"));
    }
}
