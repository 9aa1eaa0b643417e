//! Amazon EventBridge: the deployments' rules ([`EventBridgeRules`], the deploy port
//! [`EventRules`]) and publishing to the Ferry event bus ([`EventBus`], `ferry publish`).
//!
//! Calls: put = `PutRule` (enabled, with the pattern) then `PutTargets` (the events function,
//! target id [`TARGET_ID`]); delete = `RemoveTargets` then `DeleteRule` (a missing rule is
//! `Ok(false)`); publish = `PutEvents` with one entry. A trigger rule's target wraps the event
//! with an input transformer, `{"deployment": "<name>", "event": <aws.events.event.json>}` (the
//! predefined variable holding the whole original event; EventBridge user guide, "Input
//! transformation"), so the function knows which deployment the delivery is for.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::{InputTransformer, PutEventsRequestEntry, RuleState, Target};
use ferry_compile::event_rules::EventRuleSpec;
use ferry_deploy::ports::AddressedTo;
use ferry_deploy::{EventRuleError, EventRules};
use ferry_events::Event;
use ferry_events::event::EVENT_SOURCE;

use crate::errors::{Failure, classify};

/// The id of the events function's target on every Ferry rule.
pub const TARGET_ID: &str = "ferry-events";

fn port_error(f: Failure) -> EventRuleError {
    match f {
        Failure::Service { code, message }
            if matches!(
                code.as_str(),
                "ValidationException"
                    | "InvalidEventPatternException"
                    | "ResourceNotFoundException"
            ) =>
        {
            EventRuleError::Invalid(format!("{code}: {message}"))
        }
        Failure::Service { code, message } => EventRuleError::Other(format!("{code}: {message}")),
        Failure::Transient(m) => EventRuleError::Transient(m),
        Failure::Other(m) => EventRuleError::Other(m),
    }
}

fn not_found(f: &Failure) -> bool {
    matches!(f, Failure::Service { code, .. } if code == "ResourceNotFoundException")
}

/// The input a trigger rule gives the events function: the deployment and the whole event.
pub fn addressed_template(deployment: &str) -> String {
    // Deployment names are `[A-Za-z0-9_.-]` (`DeploymentName`); JSON-quoted all the same.
    format!(
        "{{\"deployment\": {}, \"event\": <aws.events.event.json>}}",
        serde_json::Value::String(deployment.to_string())
    )
}

/// EventBridge rules targeting the events function `target_arn`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBridgeRules {
    client: Client,
    target_arn: String,
}

impl EventBridgeRules {
    /// Rules whose one target is the Lambda function `target_arn`.
    pub fn new(client: Client, target_arn: impl Into<String>) -> Self {
        EventBridgeRules {
            client,
            target_arn: target_arn.into(),
        }
    }
}

#[async_trait]
impl EventRules for EventBridgeRules {
    async fn put(
        &self,
        rule: &EventRuleSpec,
        addressed_to: AddressedTo<'_>,
    ) -> Result<(), EventRuleError> {
        self.client
            .put_rule()
            .name(&rule.name)
            .event_bus_name(&rule.event_bus)
            .event_pattern(rule.pattern.to_string())
            .description(&rule.description)
            .state(RuleState::Enabled)
            .send()
            .await
            .map_err(|e| port_error(classify(&e)))?;
        let mut target = Target::builder().id(TARGET_ID).arn(&self.target_arn);
        if let Some(deployment) = addressed_to {
            let transformer = InputTransformer::builder()
                .input_template(addressed_template(deployment))
                .build()
                .map_err(|e| EventRuleError::Other(e.to_string()))?;
            target = target.input_transformer(transformer);
        }
        let target = target
            .build()
            .map_err(|e| EventRuleError::Other(e.to_string()))?;
        let out = self
            .client
            .put_targets()
            .rule(&rule.name)
            .event_bus_name(&rule.event_bus)
            .targets(target)
            .send()
            .await
            .map_err(|e| port_error(classify(&e)))?;
        if out.failed_entry_count() > 0 {
            let why: Vec<String> = out
                .failed_entries()
                .iter()
                .map(|f| {
                    format!(
                        "{}: {}",
                        f.error_code().unwrap_or_default(),
                        f.error_message().unwrap_or_default()
                    )
                })
                .collect();
            return Err(EventRuleError::Other(format!(
                "the target of rule {} was not set: {}",
                rule.name,
                why.join("; ")
            )));
        }
        Ok(())
    }

    async fn delete(&self, name: &str, event_bus: &str) -> Result<bool, EventRuleError> {
        if let Err(e) = self
            .client
            .remove_targets()
            .rule(name)
            .event_bus_name(event_bus)
            .ids(TARGET_ID)
            .send()
            .await
        {
            let f = classify(&e);
            if not_found(&f) {
                return Ok(false);
            }
            return Err(port_error(f));
        }
        match self
            .client
            .delete_rule()
            .name(name)
            .event_bus_name(event_bus)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let f = classify(&e);
                if not_found(&f) {
                    Ok(false)
                } else {
                    Err(port_error(f))
                }
            }
        }
    }
}

/// Why `PutEvents` did not take an event.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The bus refused the entry (`ErrorCode`, `ErrorMessage` of its result entry).
    #[error("the event bus {bus} refused the event: {code}: {message}")]
    Refused {
        /// The bus.
        bus: String,
        /// EventBridge's error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The call failed; `transient`: a retry may succeed.
    #[error("publishing to the event bus {bus} failed: {message}")]
    Call {
        /// The bus.
        bus: String,
        /// What went wrong.
        message: String,
        /// Throttling, a timeout or a connection failure.
        transient: bool,
    },
}

/// The Ferry event bus, to publish events on (`PutEvents`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBus {
    client: Client,
    name: String,
}

impl EventBus {
    /// The bus `name` (the stack output `FerryEventBus`).
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        EventBus {
            client,
            name: name.into(),
        }
    }

    /// The bus name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Put `event` on the bus as one entry: source [`EVENT_SOURCE`], detail-type the event
    /// name, detail the event as JSON (`name`, `id`, `timestamp`, `payload`, `origin`). Returns
    /// EventBridge's id of the entry. The caller checks the size
    /// ([`ferry_events::event::MAX_ENTRY_BYTES`]) first, as `Event::published` does.
    pub async fn publish(&self, event: &Event) -> Result<String, PublishError> {
        let detail = serde_json::to_string(event).map_err(|e| PublishError::Call {
            bus: self.name.clone(),
            message: e.to_string(),
            transient: false,
        })?;
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.name)
            .source(EVENT_SOURCE)
            .detail_type(&event.name)
            .detail(detail)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| {
                let f = classify(&e);
                PublishError::Call {
                    bus: self.name.clone(),
                    transient: matches!(f, Failure::Transient(_)),
                    message: match f {
                        Failure::Service { code, message } => format!("{code}: {message}"),
                        Failure::Transient(m) | Failure::Other(m) => m,
                    },
                }
            })?;
        let Some(result) = out.entries().first() else {
            return Err(PublishError::Call {
                bus: self.name.clone(),
                message: "PutEvents answered without an entry".into(),
                transient: true,
            });
        };
        if let Some(code) = result.error_code() {
            return Err(PublishError::Refused {
                bus: self.name.clone(),
                code: code.to_string(),
                message: result.error_message().unwrap_or_default().to_string(),
            });
        }
        Ok(result.event_id().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_addressed_template_names_the_deployment_and_keeps_the_event() {
        assert_eq!(
            addressed_template("lake.prod.ReportFlow"),
            r#"{"deployment": "lake.prod.ReportFlow", "event": <aws.events.event.json>}"#
        );
    }
}
