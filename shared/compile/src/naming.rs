//! Naming rules: `@project` branches and deployment names, production-token prefixes, state
//! machine / schedule / Batch job / state names within AWS limits (contracts metaflow-sfn §6,
//! §1.10 and aws-limits).
//!
//! Hash suffixes are Metaflow's: `"-" + base32(sha1(full name))[:16]`, lower-cased, so a long
//! name stays unique and stable across deploys.

use data_encoding::BASE32;
use sha1::{Digest, Sha1};
use sha2::Sha224;

/// Step Functions names (state machines, executions, states): 1-80 characters.
pub const MAX_SFN_NAME: usize = 80;
/// EventBridge Scheduler schedule names (and legacy rule names): 1-64 characters.
pub const MAX_SCHEDULE_NAME: usize = 64;
/// Batch job and job definition names: 1-128 characters of `[A-Za-z0-9_-]`.
pub const MAX_BATCH_NAME: usize = 128;
/// `@project` names and branches: at most 128 characters (Metaflow's `VALID_NAME_LEN`).
pub const MAX_PROJECT_NAME: usize = 128;
/// Project state machine names longer than this are truncated to it plus a hash (Metaflow).
const PROJECT_TRUNCATE_AT: usize = 60;

/// Characters AWS refuses in Step Functions names (besides whitespace and control characters).
const SFN_FORBIDDEN: &[char] = &[
    '<', '>', '{', '}', '[', ']', '?', '*', '"', '#', '%', '\\', '^', '|', '~', '`', '$', '&', ',',
    ';', ':', '/',
];

/// A name that cannot be used. `Display` says which and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    /// `@project(name=...)` is empty, too long, or has characters outside `[a-z0-9_]`.
    #[error(
        "The @project name {0:?} is invalid: it must be 1 to 128 characters of lowercase letters, digits and underscores. Try @project(name='some_name')."
    )]
    ProjectName(String),
    /// A branch (`--branch`) is empty, too long, or has characters outside `[a-z0-9_]`.
    #[error(
        "The branch name {0:?} is invalid: it must be 1 to 128 characters of lowercase letters, digits and underscores."
    )]
    Branch(String),
    /// `--name` was given for a `@project` flow.
    #[error("--name is not supported for @projects. Use --branch instead.")]
    NameWithProject,
    /// A state machine name with characters Step Functions refuses.
    #[error("Name {0:?} contains invalid characters. Use letters, digits, '_', '-' and '.' only.")]
    InvalidName(String),
    /// The deployer's user name cannot be part of a state machine name.
    #[error(
        "The user name {0:?} cannot be part of a @project branch name: it may only contain letters, digits, '_', '-' and '.'. Set METAFLOW_OWNER (or USER) to a simpler name, or deploy with --branch."
    )]
    InvalidUser(String),
}

/// The deployment a flow goes to: its state machine name, the token prefix, and for `@project`
/// flows the branch (Metaflow's `current.branch_name`, `current.project_flow_name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentNames {
    /// The Step Functions state machine name (≤ 80 characters).
    pub state_machine: String,
    /// The production-token prefix: `mfprj-<hash>` for projects, else the state machine name
    /// lower-cased.
    pub token_prefix: String,
    /// True when the name was shortened with a hash (Metaflow prints a note then).
    pub truncated: bool,
    /// For `@project` flows.
    pub project: Option<ProjectNames>,
}

/// `@project` naming (Metaflow's `current.project_name`, `branch_name`, `project_flow_name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectNames {
    pub project: String,
    /// `user.<user>`, `test.<b>`, `prod` or `prod.<b>`.
    pub branch: String,
    /// `<project>.<branch>.<Flow>`.
    pub project_flow_name: String,
    pub is_user_branch: bool,
    pub is_production: bool,
}

/// How a deploy names its target (the CLI's `--name`, `--branch`, `--production`, and the
/// deployment-wide `SFN_STATE_MACHINE_PREFIX`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameRequest<'a> {
    /// The flow class name.
    pub flow: &'a str,
    /// `--name` (non-project flows only).
    pub name: Option<&'a str>,
    /// `@project(name=...)`, if the flow has one.
    pub project: Option<&'a str>,
    /// The branch: `--branch`, else the decorator's `branch=`.
    pub branch: Option<&'a str>,
    /// `--production`, or the decorator's `production=True`.
    pub production: bool,
    /// The deployer (`METAFLOW_OWNER` or the user name), for `user.<user>` branches.
    pub user: &'a str,
    /// A prefix every state machine name of this installation starts with (`<prefix>_<name>`).
    pub state_machine_prefix: Option<&'a str>,
}

/// Resolve a deployment's names the way Metaflow's `resolve_state_machine_name` does, with two
/// improvements: a non-project name longer than 80 characters is shortened with a hash instead
/// of refused, and every name is checked against Step Functions' character rules.
pub fn deployment_names(req: &NameRequest<'_>) -> Result<DeploymentNames, NamingError> {
    match req.project {
        Some(project) => {
            if req.name.is_some() {
                return Err(NamingError::NameWithProject);
            }
            validate_project_name(project)?;
            let branch = project_branch(req.user, req.branch, req.production)?;
            let project_flow_name = format!("{project}.{branch}.{}", req.flow);
            let (state_machine, truncated) =
                project_state_machine_name(&project_flow_name, req.state_machine_prefix);
            check_sfn_name(&state_machine)?;
            Ok(DeploymentNames {
                token_prefix: project_token_prefix(project, &branch),
                state_machine,
                truncated,
                project: Some(ProjectNames {
                    project: project.to_string(),
                    is_user_branch: branch.starts_with("user."),
                    is_production: branch == "prod" || branch.starts_with("prod."),
                    branch,
                    project_flow_name,
                }),
            })
        }
        None => {
            let base = req.name.unwrap_or(req.flow);
            if base.is_empty()
                || !base
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                return Err(NamingError::InvalidName(base.to_string()));
            }
            let (state_machine, truncated) =
                flow_state_machine_name(base, req.state_machine_prefix);
            check_sfn_name(&state_machine)?;
            Ok(DeploymentNames {
                token_prefix: state_machine.to_lowercase(),
                state_machine,
                truncated,
                project: None,
            })
        }
    }
}

/// `name` with the installation's state machine prefix: `<prefix>_<name>` (none when the
/// name already starts with it, or there is no prefix).
fn with_prefix(name: &str, prefix: Option<&str>) -> String {
    match prefix {
        Some(p) if !p.is_empty() && !name.starts_with(p) => format!("{p}_{name}"),
        _ => name.to_string(),
    }
}

/// The state machine name of the `@project` deployment `<project>.<branch>.<Flow>`
/// (`project_flow_name`), with the installation's prefix; longer than 60 characters, it is
/// cut to 60 plus `-` and [`short_hash`] of the whole (Metaflow's rule). The flag says whether
/// it was cut. Not checked against Step Functions' character rules.
pub fn project_state_machine_name(project_flow_name: &str, prefix: Option<&str>) -> (String, bool) {
    let full = with_prefix(project_flow_name, prefix);
    if full.chars().count() > PROJECT_TRUNCATE_AT {
        (
            format!(
                "{}-{}",
                take_chars(&full, PROJECT_TRUNCATE_AT),
                short_hash(&full)
            ),
            true,
        )
    } else {
        (full, false)
    }
}

/// The state machine name of a deployment without `@project` (the flow name, or `--name`), with
/// the installation's prefix, [`fit`] to 80 characters. The flag says whether it was cut.
pub fn flow_state_machine_name(name: &str, prefix: Option<&str>) -> (String, bool) {
    fit(&with_prefix(name, prefix), MAX_SFN_NAME)
}

/// Check a `@project` name: 1-128 characters of `[a-z0-9_]`.
pub fn validate_project_name(name: &str) -> Result<(), NamingError> {
    if valid_project_word(name) {
        Ok(())
    } else {
        Err(NamingError::ProjectName(name.to_string()))
    }
}

/// Check a `--branch`: 1-128 characters of `[a-z0-9_]`.
pub fn validate_branch(branch: &str) -> Result<(), NamingError> {
    if valid_project_word(branch) {
        Ok(())
    } else {
        Err(NamingError::Branch(branch.to_string()))
    }
}

fn valid_project_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_PROJECT_NAME
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The `@project` branch: `prod.<b>` (branch and production), `test.<b>` (branch), `prod`
/// (production), else `user.<user>`.
pub fn project_branch(
    user: &str,
    branch: Option<&str>,
    production: bool,
) -> Result<String, NamingError> {
    match (branch, production) {
        (Some(b), true) => validate_branch(b).map(|_| format!("prod.{b}")),
        (Some(b), false) => validate_branch(b).map(|_| format!("test.{b}")),
        (None, true) => Ok("prod".to_string()),
        (None, false) => {
            if user.is_empty()
                || !user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                return Err(NamingError::InvalidUser(user.to_string()));
            }
            Ok(format!("user.{user}"))
        }
    }
}

/// The production-token prefix of a `@project` branch:
/// `mfprj-` + base32(sha1("<project>.<branch>"))[:16], lower-cased.
/// Example: (`fraud_model`, `user.alice`) → `mfprj-xpeo6bwux6q4e6rd`.
pub fn project_token_prefix(project: &str, branch: &str) -> String {
    format!("mfprj-{}", short_hash(&format!("{project}.{branch}")))
}

/// Metaflow's 16-character name hash: base32(sha1(s))[:16], lower-cased.
pub fn short_hash(s: &str) -> String {
    let digest = Sha1::digest(s.as_bytes());
    BASE32.encode(&digest)[..16].to_lowercase()
}

/// `name` if it has at most `max` characters, else its first `max - 17` characters, `-` and
/// [`short_hash`] of the whole name (exactly `max` characters). The flag says whether it was
/// shortened. `max` must be at least 18.
pub fn fit(name: &str, max: usize) -> (String, bool) {
    if name.chars().count() <= max {
        (name.to_string(), false)
    } else {
        let keep = max.saturating_sub(17);
        (
            format!("{}-{}", take_chars(name, keep), short_hash(name)),
            true,
        )
    }
}

fn take_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The schedule (EventBridge Scheduler) name of a state machine: the name itself when it has at
/// most 64 characters, else its first 47 characters, `-` and the hash (Metaflow's rule-name rule).
pub fn schedule_name(state_machine: &str) -> String {
    fit(state_machine, MAX_SCHEDULE_NAME).0
}

/// Check a Step Functions name (state machine, state): 1-80 characters, no whitespace, no
/// control characters, none of `< > { } [ ] ? * " # % \ ^ | ~ ` $ & , ; : /`.
pub fn check_sfn_name(name: &str) -> Result<(), NamingError> {
    if is_valid_sfn_name(name) {
        Ok(())
    } else {
        Err(NamingError::InvalidName(name.to_string()))
    }
}

/// True when `name` is a valid Step Functions name (see [`check_sfn_name`]).
pub fn is_valid_sfn_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=MAX_SFN_NAME).contains(&n)
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || SFN_FORBIDDEN.contains(&c))
}

/// True when `name` is a valid Batch job or job definition name: 1-128 characters of
/// `[A-Za-z0-9_-]`, starting with a letter or digit.
pub fn is_valid_batch_name(name: &str) -> bool {
    (1..=MAX_BATCH_NAME).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The Batch job name of a step: `<flow>-<step>` with every character outside `[A-Za-z0-9_-]`
/// replaced by `_`, shortened with a hash past 128 characters.
pub fn batch_job_name(flow: &str, step: &str) -> String {
    let raw: String = format!("{flow}-{step}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let raw = if raw.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        raw
    } else {
        format!("f{raw}")
    };
    fit(&raw, MAX_BATCH_NAME).0
}

/// The state name of a Parallel state: the sha224 hex of its branch names joined with `&`
/// (56 characters; Metaflow's rule, which keeps wide splits under the 80-character limit).
pub fn parallel_state_name(branches: &[String]) -> String {
    hex::encode(Sha224::digest(branches.join("&").as_bytes()))
}

/// The state name of a step's Task state: the step name, shortened with a hash past 80
/// characters. Step names are Python identifiers, so they never contain `-`; every derived or
/// shortened name does, which keeps them apart.
pub fn step_state_name(step: &str) -> String {
    fit(step, MAX_SFN_NAME).0
}

/// The name of a helper state of `step` (e.g. `<step>-cardinality`, `<step>-map`), shortened
/// with a hash past 80 characters.
pub fn helper_state_name(step: &str, role: &str) -> String {
    fit(&format!("{step}-{role}"), MAX_SFN_NAME).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_prefixes_match_metaflow() {
        assert_eq!(
            project_token_prefix("fraud_model", "user.alice"),
            "mfprj-xpeo6bwux6q4e6rd"
        );
        assert_eq!(
            project_token_prefix("fraud_model", "test.feature_x"),
            "mfprj-s22sxzqsxvg2x3xw"
        );
        assert_eq!(
            project_token_prefix("fraud_model", "prod"),
            "mfprj-4fdh7qmx4brk4srx"
        );
    }

    #[test]
    fn branches_and_deployments() {
        let req = |branch, production| NameRequest {
            flow: "FraudFlow",
            project: Some("fraud_model"),
            branch,
            production,
            user: "alice",
            ..Default::default()
        };
        let cases = [
            (
                None,
                false,
                "user.alice",
                "fraud_model.user.alice.FraudFlow",
            ),
            (
                Some("feature_x"),
                false,
                "test.feature_x",
                "fraud_model.test.feature_x.FraudFlow",
            ),
            (None, true, "prod", "fraud_model.prod.FraudFlow"),
            (Some("b"), true, "prod.b", "fraud_model.prod.b.FraudFlow"),
        ];
        for (branch, prod, want_branch, want_name) in cases {
            let n = deployment_names(&req(branch, prod)).unwrap();
            let p = n.project.unwrap();
            assert_eq!(p.branch, want_branch);
            assert_eq!(n.state_machine, want_name);
            assert_eq!(p.project_flow_name, want_name);
            assert_eq!(p.is_production, prod);
            assert_eq!(p.is_user_branch, branch.is_none() && !prod);
            assert!(!n.truncated);
        }
        let n = deployment_names(&req(None, false)).unwrap();
        assert_eq!(n.token_prefix, "mfprj-xpeo6bwux6q4e6rd");
        assert_eq!(
            deployment_names(&req(Some("Bad-Branch"), false)),
            Err(NamingError::Branch("Bad-Branch".into()))
        );
    }

    #[test]
    fn long_project_names_are_truncated_like_metaflow() {
        let req = NameRequest {
            flow: "FraudFlow",
            project: Some("fraud_model"),
            branch: Some("this_is_a_pretty_long_branch_name_for_testing"),
            user: "alice",
            ..Default::default()
        };
        let n = deployment_names(&req).unwrap();
        let full = "fraud_model.test.this_is_a_pretty_long_branch_name_for_testing.FraudFlow";
        assert!(n.truncated);
        assert_eq!(n.state_machine.len(), 77);
        assert_eq!(
            n.state_machine,
            format!("{}-{}", &full[..60], short_hash(full))
        );
    }

    #[test]
    fn non_project_names() {
        let req = NameRequest {
            flow: "GraphFlow",
            user: "alice",
            state_machine_prefix: Some("teama"),
            ..Default::default()
        };
        let n = deployment_names(&req).unwrap();
        assert_eq!(n.state_machine, "teama_GraphFlow");
        assert_eq!(n.token_prefix, "teama_graphflow");
        assert_eq!(
            crate::token::new_token(&n.token_prefix),
            "teama_graphflow-0-vmjr"
        );
        let bad = NameRequest {
            flow: "GraphFlow",
            name: Some("has space"),
            user: "alice",
            ..Default::default()
        };
        assert!(matches!(
            deployment_names(&bad),
            Err(NamingError::InvalidName(_))
        ));
        let long = "x".repeat(100);
        let n = deployment_names(&NameRequest {
            flow: &long,
            user: "alice",
            ..Default::default()
        })
        .unwrap();
        assert_eq!(n.state_machine.len(), 80);
        assert!(n.truncated);
    }

    #[test]
    fn schedule_and_batch_names() {
        let long = "fraud_model.test.this_is_a_pretty_long_branch_name_really.FraudFlow";
        assert_eq!(schedule_name("short"), "short");
        let s = schedule_name(long);
        assert_eq!(s.len(), 64);
        assert_eq!(s, format!("{}-{}", &long[..47], short_hash(long)));
        let j = batch_job_name("Flow", &"s".repeat(300));
        assert!(is_valid_batch_name(&j) && j.len() == 128);
        assert_eq!(batch_job_name("Flow", "start"), "Flow-start");
        assert!(is_valid_batch_name(&batch_job_name("_Flow", "é")));
        assert_eq!(parallel_state_name(&["a".into(), "b".into()]).len(), 56);
        assert_eq!(
            parallel_state_name(&["a".into(), "b".into()]),
            "973768c0e48360cda43c3fb2b5552874a443e55cbdb99e40dd4e341e"
        );
    }
}
