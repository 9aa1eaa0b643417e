//! The lock document and the blob keys of the environment store.
//!
//! Layout in the deployment's blob store:
//! - `envs/wheels/<sha256>/<filename>`: one wheel, content-addressed (stored once for every
//!   deployment that uses it);
//! - `envs/locks/<sha256>.json`: a [`Lock`], keyed by the sha256 of its bytes (the lock hash,
//!   which is also the host cache key of the built environment).

use std::collections::BTreeMap;

use ferry_spec::task::PythonEnvKind;
use serde::{Deserialize, Serialize};

use crate::error::PyenvError;

/// Version of the lock format this crate writes.
pub const LOCK_VERSION: u32 = 1;

/// `linux-x86_64`.
pub const PLATFORM_X86_64: &str = "linux-x86_64";
/// `linux-aarch64`.
pub const PLATFORM_AARCH64: &str = "linux-aarch64";

/// The platforms every environment is resolved for (AWS Batch runs on both).
pub const PLATFORMS: [&str; 2] = [PLATFORM_X86_64, PLATFORM_AARCH64];

/// This host's platform name in a lock, if it is one Ferry resolves for.
pub fn host_platform() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some(PLATFORM_X86_64),
        ("linux", "aarch64") => Some(PLATFORM_AARCH64),
        _ => None,
    }
}

/// The resolved environment: exactly which files to install, per platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// [`LOCK_VERSION`].
    pub version: u32,
    /// `pypi` or `conda`.
    pub kind: PythonEnvKind,
    /// The Python version (`X.Y`) the wheels were chosen for.
    pub python: String,
    /// What was asked for (name → specifier), for people reading the lock.
    pub requirements: BTreeMap<String, String>,
    /// Platform name (`linux-x86_64`, `linux-aarch64`) → the wheels, sorted by name.
    pub platforms: BTreeMap<String, Vec<LockedWheel>>,
}

/// One pinned wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedWheel {
    /// Distribution name as resolved (normalised: lower case, `-`).
    pub name: String,
    /// Exact version.
    pub version: String,
    /// The wheel's file name (`tomli-2.0.1-py3-none-any.whl`).
    pub filename: String,
    /// Lower-case hex sha256 of the wheel.
    pub sha256: String,
    /// Blob key: [`wheel_key`] of `sha256` and `filename`.
    pub key: String,
}

/// `envs/wheels/<sha256>/<filename>`.
pub fn wheel_key(sha256: &str, filename: &str) -> String {
    format!("envs/wheels/{sha256}/{filename}")
}

/// `envs/locks/<sha256>.json`.
pub fn lock_key(sha256: &str) -> String {
    format!("envs/locks/{sha256}.json")
}

/// 64 lower-case hex digits.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A wheel file name that is safe as a path segment: `*.whl`, no separators, no leading dot.
pub fn check_wheel_filename(name: &str) -> bool {
    name.ends_with(".whl")
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+!".contains(c))
}

impl Lock {
    /// The canonical bytes (compact JSON; maps are ordered, wheel lists sorted).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a lock serialises")
    }

    /// Parse and check a stored lock (`key` names it in errors): version, python, hashes,
    /// file names, and that every key is the content address of its wheel.
    pub fn from_bytes(key: &str, bytes: &[u8]) -> Result<Lock, PyenvError> {
        let bad = |message: String| PyenvError::Lock {
            key: key.to_string(),
            message,
        };
        let lock: Lock = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if lock.version > LOCK_VERSION {
            return Err(bad(format!(
                "version {} is newer than this wrapper understands ({LOCK_VERSION})",
                lock.version
            )));
        }
        crate::request::check_python(&lock.python).map_err(|e| bad(e.to_string()))?;
        for wheels in lock.platforms.values() {
            for w in wheels {
                if !is_sha256(&w.sha256) {
                    return Err(bad(format!("{:?} is not a sha256", w.sha256)));
                }
                if !check_wheel_filename(&w.filename) {
                    return Err(bad(format!("{:?} is not a wheel file name", w.filename)));
                }
                if w.key != wheel_key(&w.sha256, &w.filename) {
                    return Err(bad(format!("{:?} is not the key of {}", w.key, w.filename)));
                }
            }
        }
        Ok(lock)
    }
}

/// `(name, version)` from a wheel file name `{name}-{version}(-{build})?-{py}-{abi}-{plat}.whl`,
/// the name normalised (lower case, runs of `-_.` → `-`).
pub fn parse_wheel_filename(filename: &str) -> Option<(String, String)> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 {
        return None;
    }
    Some((normalize_name(parts[0]), parts[1].to_string()))
}

/// PEP 503 normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if "-_.".contains(c) {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        let sha = "a".repeat(64);
        let file = "tomli-2.0.1-py3-none-any.whl".to_string();
        Lock {
            version: LOCK_VERSION,
            kind: PythonEnvKind::Pypi,
            python: "3.11".into(),
            requirements: BTreeMap::from([("tomli".into(), "2.0.1".into())]),
            platforms: BTreeMap::from([(
                PLATFORM_X86_64.to_string(),
                vec![LockedWheel {
                    name: "tomli".into(),
                    version: "2.0.1".into(),
                    key: wheel_key(&sha, &file),
                    filename: file,
                    sha256: sha,
                }],
            )]),
        }
    }

    #[test]
    fn lock_round_trips_and_is_canonical() {
        let l = sample();
        let bytes = l.to_bytes();
        assert_eq!(Lock::from_bytes("k", &bytes).unwrap(), l);
        assert_eq!(Lock::from_bytes("k", &bytes).unwrap().to_bytes(), bytes);
    }

    #[test]
    fn lock_with_foreign_key_or_path_is_refused() {
        let mut l = sample();
        l.platforms.get_mut(PLATFORM_X86_64).unwrap()[0].key = "code/x.tgz".into();
        let e = Lock::from_bytes("envs/locks/x.json", &l.to_bytes()).unwrap_err();
        assert!(e.to_string().contains("envs/locks/x.json"), "{e}");
        let mut l = sample();
        let w = &mut l.platforms.get_mut(PLATFORM_X86_64).unwrap()[0];
        w.filename = "../../evil.whl".into();
        w.key = wheel_key(&w.sha256, &w.filename);
        assert!(Lock::from_bytes("k", &l.to_bytes()).is_err());
    }

    #[test]
    fn wheel_names() {
        assert_eq!(
            parse_wheel_filename("Typing_Extensions-4.9.0-py3-none-any.whl"),
            Some(("typing-extensions".into(), "4.9.0".into()))
        );
        assert_eq!(
            parse_wheel_filename(
                "numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
            ),
            Some(("numpy".into(), "2.1.0".into()))
        );
        assert_eq!(parse_wheel_filename("x.tar.gz"), None);
        assert!(check_wheel_filename("a-1-py3-none-any.whl"));
        assert!(!check_wheel_filename("a/b-1-py3-none-any.whl"));
        assert_eq!(normalize_name("Foo.Bar__baz"), "foo-bar-baz");
    }
}
