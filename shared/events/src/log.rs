//! The recent-events log: one entry per processed delivery, what the event matched and what
//! each deployment did with it (started a run, waits for other events, or why not). Read by
//! `ferry events`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::{DeploymentOutcome, Outcome};
use crate::event::EventSummary;

/// One processed delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When Ferry processed it.
    pub received_at: DateTime<Utc>,
    /// The event.
    pub event: EventSummary,
    /// One per deployment the event matched; empty when it matched none.
    pub deployments: Vec<LoggedOutcome>,
}

/// What one deployment did with the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedOutcome {
    /// The deployment.
    pub deployment: String,
    /// `started`, `waiting`, `refused`, `duplicate` or `no_deployment`.
    pub outcome: String,
    /// The run it started (or, for a duplicate, the run its first delivery started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Why it started nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `waiting`: the events still missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl From<&DeploymentOutcome> for LoggedOutcome {
    fn from(d: &DeploymentOutcome) -> Self {
        let mut out = LoggedOutcome {
            deployment: d.deployment.clone(),
            outcome: d.outcome.kind().to_string(),
            run_id: None,
            reason: None,
            missing: Vec::new(),
        };
        match &d.outcome {
            Outcome::Start { start } => out.run_id = Some(start.run_id.clone()),
            Outcome::Waiting { missing } => out.missing = missing.clone(),
            Outcome::Refused { reason } | Outcome::NoDeployment { reason } => {
                out.reason = Some(reason.clone())
            }
            Outcome::Duplicate { first, start } => {
                out.run_id = start.as_ref().map(|s| s.run_id.clone());
                out.reason = Some(format!(
                    "already delivered (the first delivery: {first}); nothing more started"
                ));
            }
        }
        out
    }
}
