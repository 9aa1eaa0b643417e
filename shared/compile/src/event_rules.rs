//! A deployment's EventBridge rules, both targeting the stack's events Lambda:
//!
//! - its trigger rule ([`event_rule`], a deployment with `@trigger` or `@trigger_on_finish`),
//!   named [`event_rule_name`] (`<prefix>trigger-<deployment>`);
//! - its status-change rule ([`status_change_rule`], every deployment), named
//!   [`status_rule_name`] (`<prefix>status-<deployment>`): Step Functions' "Execution Status
//!   Change" events of the deployment's own state machine, on the `default` bus, for what
//!   reacts to its runs starting and ending (notifications, the metadata run status).
//!
//! Trigger rules:
//!
//! - `@trigger`: a rule on the Ferry event bus matching the events Ferry puts there for each
//!   publish: source [`RuleSettings::event_source`], detail-type the event name.
//! - `@trigger_on_finish`: a rule on the account's `default` bus (the only bus Step Functions
//!   sends to) matching the "Step Functions Execution Status Change" events with status
//!   `SUCCEEDED` of the upstream state machines, so no publisher is needed.
//!
//! AWS limits checked (EventBridge API reference, `PutRule`; EventBridge quotas): rule names
//! are 1 to 64 characters of `[.-_A-Za-z0-9]`, cut with a hash as Metaflow cuts schedule names;
//! an event pattern is at most [`MAX_EVENT_PATTERN`] characters (the default quota).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::naming::{MAX_SCHEDULE_NAME, fit};
use crate::output::CompileError;
use crate::triggers::{TriggerKind, TriggerSpec};

/// Longest EventBridge rule name (`PutRule` `Name`).
pub const MAX_RULE_NAME: usize = MAX_SCHEDULE_NAME;
/// Longest event pattern under EventBridge's default quota, in characters.
pub const MAX_EVENT_PATTERN: usize = 2_048;
/// The source of Step Functions' status change events.
pub const STEP_FUNCTIONS_SOURCE: &str = "aws.states";
/// Their detail-type.
pub const STATUS_CHANGE_DETAIL_TYPE: &str = "Step Functions Execution Status Change";
/// The bus Step Functions sends status changes to.
pub const DEFAULT_BUS: &str = "default";

/// What a rule depends on in the installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSettings {
    /// Prefix of every rule name of this installation (e.g. `ferry-`), so the deploy Lambda's
    /// IAM policy can allow `rule/<prefix>*` only.
    pub rule_prefix: String,
    /// The Ferry event bus that published events go to.
    pub event_bus: String,
    /// The `source` Ferry gives published events (e.g. `ferry.events`; never `aws.*`).
    pub event_source: String,
    /// The ARN of this installation's state machines without the name:
    /// `arn:<partition>:states:<region>:<account>:stateMachine:`.
    pub state_machine_arn_prefix: String,
}

/// One EventBridge rule to put (`PutRule` with `EventPattern`), targeting the trigger Lambda.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRuleSpec {
    /// The rule name (≤ 64 characters).
    pub name: String,
    /// The bus it goes on: [`RuleSettings::event_bus`] for `@trigger`, [`DEFAULT_BUS`] for
    /// `@trigger_on_finish`.
    pub event_bus: String,
    /// The event pattern.
    pub pattern: Value,
    /// `Description`: which deployment and what it waits for.
    pub description: String,
}

/// The name of `deployment`'s trigger rule: `<prefix>trigger-<deployment>` (see [`rule_name`]).
/// A deploy that drops its trigger, or moves between `@trigger` and `@trigger_on_finish`,
/// removes this name from both buses.
pub fn event_rule_name(deployment: &str, rule_prefix: &str) -> String {
    rule_name(&format!("{rule_prefix}trigger-"), deployment)
}

/// The name of `deployment`'s status-change rule: `<prefix>status-<deployment>` (see
/// [`rule_name`]).
pub fn status_rule_name(deployment: &str, rule_prefix: &str) -> String {
    rule_name(&format!("{rule_prefix}status-"), deployment)
}

/// `<prefix><deployment>` with characters EventBridge refuses replaced by `-`, cut to 64
/// characters with a hash of the whole when longer (or when a character was replaced, so two
/// deployments never share a rule). The two kinds differ right after the installation's prefix
/// (`trigger-`, `status-`), so no trigger rule can take a status rule's name.
fn rule_name(prefix: &str, deployment: &str) -> String {
    let full = format!("{prefix}{deployment}");
    let clean: String = full
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean == full {
        fit(&full, MAX_RULE_NAME).0
    } else {
        let keep: String = clean.chars().take(MAX_RULE_NAME - 17).collect();
        format!("{keep}-{}", crate::naming::short_hash(&full))
    }
}

/// The rule of `deployment` for `trigger`. Errors: an event pattern longer than
/// [`MAX_EVENT_PATTERN`] characters (too many or too long event names).
pub fn event_rule(
    deployment: &str,
    trigger: &TriggerSpec,
    settings: &RuleSettings,
) -> Result<EventRuleSpec, CompileError> {
    let mut names: Vec<&str> = Vec::new();
    for e in &trigger.events {
        if !names.contains(&e.name.as_str()) {
            names.push(&e.name);
        }
    }
    let (event_bus, pattern, waits_for) = match trigger.kind {
        TriggerKind::Event => (
            settings.event_bus.clone(),
            json!({"source": [settings.event_source], "detail-type": names}),
            format!("events {}", names.join(", ")),
        ),
        TriggerKind::Run => {
            let mut arns: Vec<String> = Vec::new();
            for up in trigger.events.iter().filter_map(|e| e.upstream.as_ref()) {
                let arn = format!("{}{}", settings.state_machine_arn_prefix, up.deployment);
                if !arns.contains(&arn) {
                    arns.push(arn);
                }
            }
            let flows: Vec<String> = trigger
                .events
                .iter()
                .filter_map(|e| e.upstream.as_ref().map(|u| u.display_name()))
                .collect();
            (
                DEFAULT_BUS.to_string(),
                json!({
                    "source": [STEP_FUNCTIONS_SOURCE],
                    "detail-type": [STATUS_CHANGE_DETAIL_TYPE],
                    "detail": {"status": ["SUCCEEDED"], "stateMachineArn": arns}
                }),
                format!("successful runs of {}", flows.join(", ")),
            )
        }
    };
    let chars = pattern.to_string().chars().count();
    if chars > MAX_EVENT_PATTERN {
        return Err(CompileError::Unsupported(format!(
            "The EventBridge event pattern of this deployment's trigger has {chars} characters; EventBridge allows {MAX_EVENT_PATTERN} by default. Wait for fewer or shorter events."
        )));
    }
    let description: String = format!("Ferry: start {deployment} on {waits_for}")
        .chars()
        .take(512)
        .collect();
    Ok(EventRuleSpec {
        name: event_rule_name(deployment, &settings.rule_prefix),
        event_bus,
        pattern,
        description,
    })
}

/// The status-change rule of `deployment` (every status, `RUNNING` included, of its state
/// machine `<state_machine_arn_prefix><deployment>`), on the [`DEFAULT_BUS`].
pub fn status_change_rule(deployment: &str, settings: &RuleSettings) -> EventRuleSpec {
    let arn = format!("{}{deployment}", settings.state_machine_arn_prefix);
    EventRuleSpec {
        name: status_rule_name(deployment, &settings.rule_prefix),
        event_bus: DEFAULT_BUS.to_string(),
        pattern: json!({
            "source": [STEP_FUNCTIONS_SOURCE],
            "detail-type": [STATUS_CHANGE_DETAIL_TYPE],
            "detail": {"stateMachineArn": [arn]}
        }),
        description: format!("Ferry: runs of {deployment} starting and ending")
            .chars()
            .take(512)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_fit_and_stay_distinct() {
        assert_eq!(
            event_rule_name("HelloFlow", "ferry-"),
            "ferry-trigger-HelloFlow"
        );
        assert_eq!(
            status_rule_name("HelloFlow", "ferry-"),
            "ferry-status-HelloFlow"
        );
        let long = format!("lake.test.{}.ReportFlow", "b".repeat(60));
        let name = event_rule_name(&long, "ferry-");
        assert_eq!(name.chars().count(), MAX_RULE_NAME);
        assert_ne!(
            name,
            event_rule_name(
                &format!("lake.test.{}.ReportFlow2", "b".repeat(60)),
                "ferry-"
            )
        );
        // A character EventBridge refuses is replaced, with a hash so that names stay distinct.
        let odd = event_rule_name("team:HelloFlow", "ferry-");
        assert!(odd.starts_with("ferry-trigger-team-HelloFlow-"), "{odd}");
        assert_ne!(odd, event_rule_name("team-HelloFlow", "ferry-"));
    }

    #[test]
    fn the_status_rule_matches_every_status_of_its_own_state_machine() {
        let settings = RuleSettings {
            rule_prefix: "ferry-ab12cd34-".into(),
            event_bus: "ferry-bus".into(),
            event_source: "ferry.events".into(),
            state_machine_arn_prefix: "arn:aws:states:eu-west-1:123456789012:stateMachine:".into(),
        };
        let rule = status_change_rule("lake.prod.IngestFlow", &settings);
        assert_eq!(rule.name, "ferry-ab12cd34-status-lake.prod.IngestFlow");
        assert_eq!(rule.event_bus, "default");
        assert_eq!(
            rule.pattern,
            json!({"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
                   "detail": {"stateMachineArn": ["arn:aws:states:eu-west-1:123456789012:stateMachine:lake.prod.IngestFlow"]}})
        );
    }
}
