//! Identity newtypes: a deployment's name, an execution's name and the Metaflow run id made of
//! it. Each is parsed once where it enters Ferry (a command line, an HTTP route, a stored
//! record) and trusted from then on, so every place that names an execution applies one rule.
//!
//! | type | rule | example |
//! |---|---|---|
//! | [`DeploymentName`] | 1–80 of `[A-Za-z0-9_.-]`, not `.` or `..` (Step Functions' name limit, Metaflow's `--name` characters); it is also the state machine name | `fraud.prod.ScoreFlow` |
//! | [`ExecutionName`] | 1–80 of `[A-Za-z0-9_-]` ([`EXECUTION_NAME_RULE`]) | `0b1c2d3e-aaaa-bbbb-cccc-123456789012` |
//! | [`RunId`] | `sfn-` + an [`ExecutionName`] (Metaflow's run id of a Step Functions execution) | `sfn-0b1c2d3e-…` |
//!
//! Step Functions accepts more characters in execution names (1–80 of anything but whitespace,
//! brackets, wildcards and `" # % \ ^ | ~ ` $ & , ; : /`). Ferry refuses every character but
//! letters, digits, `-` and `_`, the `.` included: the run id `sfn-<name>` is a segment of
//! Metaflow pathspecs (`Flow/sfn-<name>/step/task`), of datastore keys and of URLs, where `.` and
//! `..` have meanings of their own. Executions Ferry starts are named by UUIDs, which fit.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest deployment or execution name (Step Functions' limit on names).
pub const MAX_NAME_LEN: usize = 80;

/// The prefix of the Metaflow run id of a Step Functions execution (`sfn-<execution name>`), as
/// Metaflow's own Step Functions integration makes it.
pub const RUN_ID_PREFIX: &str = "sfn-";

/// The one rule for execution names, as every message that refuses one says it.
pub const EXECUTION_NAME_RULE: &str = "an execution name is 1 to 80 letters, digits, '-' or '_' \
     (no '.' or other punctuation: run ids sfn-<name> must be safe in pathspecs and URLs)";

/// At most this many characters of a refused value are quoted back in a message.
const SHOWN_CHARS: usize = 40;

/// `value` cut to [`SHOWN_CHARS`] characters (with `…` when cut), for messages.
fn shown(value: &str) -> String {
    let mut out: String = value.chars().take(SHOWN_CHARS).collect();
    if value.chars().count() > SHOWN_CHARS {
        out.push('…');
    }
    out
}

/// A name that is not an [`ExecutionName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{:?} is not a valid execution name: {EXECUTION_NAME_RULE}", shown(.0))]
pub struct ExecutionNameError(pub String);

/// A value that is not a [`RunId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunIdError {
    /// It does not start with `sfn-` (Metaflow's own message for this case).
    #[error(
        "Run IDs for flows executed through Ferry (as through AWS Step Functions) begin with 'sfn-': {0:?}"
    )]
    MissingPrefix(String),
    /// What follows `sfn-` is not an execution name.
    #[error(
        "{:?} is not a run id: expected sfn- and an execution name, as `ferry list-runs` prints; {EXECUTION_NAME_RULE}",
        shown(.0)
    )]
    BadName(String),
}

/// A name that is not a [`DeploymentName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a valid deployment name (1 to 80 characters among letters, digits, `_`, `-` and `.`, not `.` or `..`)"
)]
pub struct DeploymentNameError(pub String);

/// Whether `name` follows [`EXECUTION_NAME_RULE`].
fn is_execution_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Implements the string-like traits of a newtype over `String` with a `parse` constructor.
macro_rules! string_newtype {
    ($ty:ident, $err:ty) => {
        impl $ty {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $err;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $ty::parse(&s)
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $ty {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

/// The name of an execution of a state machine (Step Functions' `name`, `$$.Execution.Name`),
/// following [`EXECUTION_NAME_RULE`]. Unique per state machine; on the embedded stack unique
/// over the whole stack. Serialises as the plain string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExecutionName(String);

impl ExecutionName {
    /// Parse `name`. Errors: [`ExecutionNameError`] (its message states the rule).
    pub fn parse(name: &str) -> Result<Self, ExecutionNameError> {
        if is_execution_name(name) {
            Ok(ExecutionName(name.to_string()))
        } else {
            Err(ExecutionNameError(name.to_string()))
        }
    }

    /// A fresh name, a random (v4) UUID, as Step Functions names executions started without one.
    pub fn random() -> Self {
        ExecutionName(uuid::Uuid::new_v4().to_string())
    }
}

string_newtype!(ExecutionName, ExecutionNameError);

/// The Metaflow run id of an execution: `sfn-<execution name>` ([`RUN_ID_PREFIX`]). The only
/// place the prefix is added or removed. Serialises as the plain string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    /// Parse a run id such as `sfn-0b1c…`. Errors: [`RunIdError::MissingPrefix`] without `sfn-`,
    /// [`RunIdError::BadName`] when the rest is not an [`ExecutionName`].
    pub fn parse(run_id: &str) -> Result<Self, RunIdError> {
        let Some(name) = run_id.strip_prefix(RUN_ID_PREFIX) else {
            return Err(RunIdError::MissingPrefix(run_id.to_string()));
        };
        if is_execution_name(name) {
            Ok(RunId(run_id.to_string()))
        } else {
            Err(RunIdError::BadName(run_id.to_string()))
        }
    }

    /// The execution this run is.
    pub fn execution_name(&self) -> ExecutionName {
        ExecutionName(self.0[RUN_ID_PREFIX.len()..].to_string())
    }
}

impl From<&ExecutionName> for RunId {
    fn from(name: &ExecutionName) -> Self {
        RunId(format!("{RUN_ID_PREFIX}{name}"))
    }
}

string_newtype!(RunId, RunIdError);

/// The name of a deployment, which is also its state machine's name (`HelloFlow`,
/// `fraud.prod.ScoreFlow`, with the installation's state machine prefix when it has one).
/// Serialises as the plain string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeploymentName(String);

impl DeploymentName {
    /// Parse `name`. Errors: [`DeploymentNameError`].
    pub fn parse(name: &str) -> Result<Self, DeploymentNameError> {
        let ok = (1..=MAX_NAME_LEN).contains(&name.len())
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(DeploymentName(name.to_string()))
        } else {
            Err(DeploymentNameError(name.to_string()))
        }
    }
}

string_newtype!(DeploymentName, DeploymentNameError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_are_letters_digits_dashes_and_underscores() {
        for good in [
            "0b1c2d3e-aaaa-bbbb-cccc-123456789012",
            "run_1",
            "R",
            &"a".repeat(80),
        ] {
            assert_eq!(ExecutionName::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "a.b",
            ".",
            "..",
            "a/b",
            "a b",
            "a:b",
            "é",
            &"a".repeat(81),
        ] {
            let e = ExecutionName::parse(bad).unwrap_err().to_string();
            assert!(e.contains(EXECUTION_NAME_RULE), "{bad}: {e}");
            assert!(e.len() < 300, "short: {e}");
        }
    }

    #[test]
    fn random_names_are_uuids_and_parse() {
        let a = ExecutionName::random();
        let b = ExecutionName::random();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4', "version 4: {a}");
        assert!(ExecutionName::parse(&a).is_ok());
    }

    #[test]
    fn run_ids_own_the_sfn_prefix() {
        let r = RunId::parse("sfn-abc_1").unwrap();
        assert_eq!(r.execution_name(), "abc_1");
        assert_eq!(r.to_string(), "sfn-abc_1");
        let name = ExecutionName::parse("abc_1").unwrap();
        assert_eq!(RunId::from(&name), r);
        assert!(matches!(
            RunId::parse("run-1"),
            Err(RunIdError::MissingPrefix(_))
        ));
        for bad in [
            "sfn-",
            "sfn-a.b",
            "sfn-../x",
            &format!("sfn-{}", "a".repeat(81)),
        ] {
            let e = RunId::parse(bad).unwrap_err();
            assert!(matches!(e, RunIdError::BadName(_)), "{bad}");
            let m = e.to_string();
            assert!(m.contains("sfn-") && m.contains(EXECUTION_NAME_RULE), "{m}");
            assert!(m.len() < 300, "short: {m}");
        }
    }

    #[test]
    fn deployment_names_allow_dots_but_not_dot_segments() {
        for good in ["HelloFlow", "fraud.prod.ScoreFlow", "a-b_c"] {
            assert!(DeploymentName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", &"a".repeat(81)] {
            assert!(DeploymentName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_serialise_as_strings_and_are_checked_when_read() {
        let n: ExecutionName = serde_json::from_str("\"run-1\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"run-1\"");
        assert!(serde_json::from_str::<ExecutionName>("\"a.b\"").is_err());
        assert!(serde_json::from_str::<DeploymentName>("\"..\"").is_err());
        let r: RunId = serde_json::from_str("\"sfn-x\"").unwrap();
        assert_eq!(r.execution_name(), "x");
    }
}
