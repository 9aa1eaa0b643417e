//! The rules of `@trigger` and `@trigger_on_finish` that hold for any deployment of a flow,
//! and the one place that says which payload field sets which parameter ([`event_mappings`]).
//!
//! Semantics are Metaflow's (`metaflow/plugins/events_decorator.py` and `_process_triggers` in
//! `metaflow/plugins/argo/argo_workflows.py`): event names of letters, digits, `_`, `-` and
//! `.`; no event twice; mapped parameters exist in the flow (case-insensitively) and are set by
//! one event only; a flow with a single event and no mapping maps every parameter to the
//! payload field of its lower-cased name; `@trigger` and `@trigger_on_finish` are not combined;
//! upstream flow names are `[A-Za-z0-9_]`; an upstream's project and branch come together
//! unless the flow has `@project`. Ferry adds what AWS or a sound deployment needs: event names
//! fit an EventBridge detail-type (at most [`MAX_EVENT_NAME`] characters, PutEvents API), a
//! required parameter without a default is set by some event, and only the `reset_at` option
//! (the one Metaflow's Argo deployer reads) is accepted, with a valid cron.

use crate::model::{FlowSpec, Parameter, TriggerOptions};
use crate::standard_cron::StandardCron;
use crate::validate::project_name_problem;

/// Longest event name: EventBridge's `DetailType` (1 to 128 characters, `PutEventsRequestEntry`
/// in the EventBridge API reference), which carries a published event's name on AWS.
pub const MAX_EVENT_NAME: usize = 128;

/// One broken trigger rule. `Display` is the message a user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    /// `@trigger` and `@trigger_on_finish` on one flow.
    #[error(
        "The flow uses both @trigger and @trigger_on_finish. Ferry, like Metaflow's Argo Workflows deployer, deploys one or the other: keep one of them."
    )]
    Both,
    /// `@trigger` without events (Metaflow's message).
    #[error("No event(s) specified in *@trigger* decorator.")]
    NoEvents,
    /// `@trigger_on_finish` without flows (Metaflow's message).
    #[error("No flow(s) specified in *@trigger_on_finish* decorator.")]
    NoFlows,
    /// An event name that cannot be used.
    #[error("The @trigger event name {name:?} cannot be used: {reason}.")]
    EventName { name: String, reason: String },
    /// The same event twice (Metaflow's message, with the name).
    #[error("Duplicate event names defined in *@trigger* decorator: *{name}*.")]
    DuplicateEvent { name: String },
    /// A mapping naming a parameter the flow lacks (Metaflow's message, with the parameters).
    #[error(
        "Parameter *{parameter}* defined in the event mappings for *@trigger* decorator not found in the flow. {known}"
    )]
    UnknownParameter { parameter: String, known: String },
    /// Two mappings for one parameter (Metaflow's message).
    #[error(
        "Duplicate entries for parameter *{parameter}* defined in the event mappings for *@trigger* decorator."
    )]
    DuplicateMapping { parameter: String },
    /// A mapping to an empty payload field.
    #[error(
        "The event *{event}* of @trigger maps parameter *{parameter}* to an empty payload field. Name the field, e.g. parameters={{'{parameter}': 'field'}}."
    )]
    EmptyField { event: String, parameter: String },
    /// A required parameter without a default that no event sets.
    #[error(
        "The parameter *{parameter}* is required and has no default, but {why}. Give it a default{how}."
    )]
    RequiredUnmapped {
        parameter: String,
        why: String,
        how: String,
    },
    /// An upstream flow name that is not `[A-Za-z0-9_]` (Metaflow's message).
    #[error(
        "Invalid flow name *{flow}* in *@trigger_on_finish* decorator. Only alphanumeric characters and underscores(_) are allowed."
    )]
    UpstreamFlow { flow: String },
    /// An upstream's project or branch that is not a valid name.
    #[error("The upstream flow *{flow}* of @trigger_on_finish: {message}")]
    UpstreamProject { flow: String, message: String },
    /// Only one of project and branch given for an upstream of a flow without `@project`
    /// (Metaflow's message).
    #[error(
        "Incomplete project info for the upstream flow *{flow}* of @trigger_on_finish. Please specify both 'project' and 'project_branch' or use the @project decorator."
    )]
    IncompleteProject { flow: String },
    /// The same upstream twice.
    #[error("The upstream flow *{flow}* is listed twice in @trigger_on_finish.")]
    DuplicateUpstream { flow: String },
    /// An option Ferry does not know.
    #[error(
        "@{decorator} has options={{'{option}': ...}}, which Ferry does not know. Ferry supports options={{'reset_at': {{'cron': '0 0 * * *', 'timezone': 'Europe/Paris'}}}}, the one option Metaflow's Argo Workflows deployer reads; remove the others."
    )]
    UnknownOption { decorator: String, option: String },
    /// A `reset_at` cron or time zone that cannot be read.
    #[error("The reset_at option of @{decorator} is not valid: {reason}.")]
    ResetAt { decorator: String, reason: String },
}

/// Why `name` cannot be an event name, if it cannot: empty, longer than [`MAX_EVENT_NAME`]
/// characters, or a character other than letters, digits, `_`, `-` and `.` (Metaflow's rule).
pub fn event_name_problem(name: &str) -> Option<String> {
    let len = name.chars().count();
    if name.is_empty() {
        Some("it is empty".to_string())
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        Some(format!(
            "only letters, digits, '_', '-' and '.' are allowed in event names (Metaflow's rule), not {c:?}"
        ))
    } else if len > MAX_EVENT_NAME {
        Some(format!(
            "it has {len} characters and AWS EventBridge carries event names of at most {MAX_EVENT_NAME} (an event's detail-type); shorten it"
        ))
    } else {
        None
    }
}

/// The flow parameter a mapping key names: Metaflow matches them ignoring case.
pub fn parameter_named<'a>(spec: &'a FlowSpec, key: &str) -> Option<&'a Parameter> {
    spec.parameters
        .iter()
        .find(|p| p.name.to_lowercase() == key.to_lowercase())
}

/// One `parameter ← payload field` mapping of an event of `@trigger`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMapping {
    /// Index of the event in `@trigger`'s events.
    pub event: usize,
    /// The parameter as the flow declares it.
    pub parameter: String,
    /// The payload field.
    pub field: String,
}

/// Every mapping of the flow's `@trigger`, with Metaflow's default: a trigger of one event
/// without mappings maps every parameter to the payload field of its lower-cased name.
/// Mapping keys that name no parameter are left out (validation reports them).
pub fn event_mappings(spec: &FlowSpec) -> Vec<EventMapping> {
    let Some(trigger) = &spec.decorators.trigger else {
        return Vec::new();
    };
    if trigger.events.len() == 1 && trigger.events[0].parameters.is_empty() {
        return spec
            .parameters
            .iter()
            .map(|p| EventMapping {
                event: 0,
                parameter: p.name.clone(),
                field: p.name.to_lowercase(),
            })
            .collect();
    }
    let mut out = Vec::new();
    for (i, event) in trigger.events.iter().enumerate() {
        for (key, field) in &event.parameters {
            if let Some(p) = parameter_named(spec, key) {
                out.push(EventMapping {
                    event: i,
                    parameter: p.name.clone(),
                    field: field.clone(),
                });
            }
        }
    }
    out
}

/// Check the trigger rules of `spec`; every broken rule, in a stable order.
pub fn check_triggers(spec: &FlowSpec) -> Vec<TriggerError> {
    let d = &spec.decorators;
    let mut errors = Vec::new();
    if d.trigger.is_some() && d.trigger_on_finish.is_some() {
        errors.push(TriggerError::Both);
    }
    if let Some(trigger) = &d.trigger {
        check_events(spec, &mut errors);
        check_options("trigger", &trigger.options, &mut errors);
    }
    if let Some(on_finish) = &d.trigger_on_finish {
        check_upstreams(spec, &mut errors);
        check_options("trigger_on_finish", &on_finish.options, &mut errors);
    }
    if d.trigger.is_some() || d.trigger_on_finish.is_some() {
        check_required(spec, &mut errors);
    }
    errors
}

fn check_events(spec: &FlowSpec, errors: &mut Vec<TriggerError>) {
    let Some(trigger) = &spec.decorators.trigger else {
        return;
    };
    if trigger.events.is_empty() {
        errors.push(TriggerError::NoEvents);
    }
    let mut names = std::collections::BTreeSet::new();
    let mut mapped = std::collections::BTreeSet::new();
    let known = known_parameters(spec);
    for event in &trigger.events {
        let shown = match &event.namespace_prefix {
            Some(prefix) => format!("{prefix}.{}", event.name),
            None => event.name.clone(),
        };
        if let Some(reason) = event_name_problem(&shown) {
            errors.push(TriggerError::EventName {
                name: event.name.clone(),
                reason,
            });
        }
        if !names.insert(shown) {
            errors.push(TriggerError::DuplicateEvent {
                name: event.name.clone(),
            });
        }
        for (key, field) in &event.parameters {
            match parameter_named(spec, key) {
                None => errors.push(TriggerError::UnknownParameter {
                    parameter: key.clone(),
                    known: known.clone(),
                }),
                Some(p) => {
                    if !mapped.insert(p.name.to_lowercase()) {
                        errors.push(TriggerError::DuplicateMapping {
                            parameter: key.to_lowercase(),
                        });
                    }
                }
            }
            if field.is_empty() {
                errors.push(TriggerError::EmptyField {
                    event: event.name.clone(),
                    parameter: key.clone(),
                });
            }
        }
    }
}

fn known_parameters(spec: &FlowSpec) -> String {
    if spec.parameters.is_empty() {
        "The flow has no parameters.".to_string()
    } else {
        let names: Vec<&str> = spec.parameters.iter().map(|p| p.name.as_str()).collect();
        format!("The flow's parameters are: {}.", names.join(", "))
    }
}

fn check_upstreams(spec: &FlowSpec, errors: &mut Vec<TriggerError>) {
    let Some(on_finish) = &spec.decorators.trigger_on_finish else {
        return;
    };
    if on_finish.flows.is_empty() {
        errors.push(TriggerError::NoFlows);
    }
    let has_project = spec.decorators.project.is_some();
    let mut seen = std::collections::BTreeSet::new();
    for up in &on_finish.flows {
        let flow = up.flow.clone();
        if up.flow.is_empty()
            || !up
                .flow
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            errors.push(TriggerError::UpstreamFlow { flow: flow.clone() });
        }
        if let Some(project) = &up.project
            && let Some(message) = project_name_problem(project, "name")
        {
            errors.push(TriggerError::UpstreamProject {
                flow: flow.clone(),
                message,
            });
        }
        if let Some(branch) = &up.branch {
            let bad = branch.is_empty()
                || branch.starts_with('.')
                || branch.ends_with('.')
                || !branch
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if bad {
                errors.push(TriggerError::UpstreamProject {
                    flow: flow.clone(),
                    message: format!(
                        "the branch {branch:?} is not a Metaflow branch; branches look like prod, prod.staging, test.my_experiment or user.bob."
                    ),
                });
            }
        }
        if !has_project && (up.project.is_some() != up.branch.is_some()) {
            errors.push(TriggerError::IncompleteProject { flow: flow.clone() });
        }
        let key = (up.project.clone(), up.branch.clone(), up.flow.clone());
        if !seen.insert(key) {
            errors.push(TriggerError::DuplicateUpstream { flow });
        }
    }
}

fn check_options(decorator: &str, options: &TriggerOptions, errors: &mut Vec<TriggerError>) {
    for option in &options.unsupported {
        errors.push(TriggerError::UnknownOption {
            decorator: decorator.to_string(),
            option: option.clone(),
        });
    }
    if let Some(reset) = &options.reset_at
        && let Err(e) = StandardCron::parse(&reset.cron, reset.timezone.as_deref())
    {
        errors.push(TriggerError::ResetAt {
            decorator: decorator.to_string(),
            reason: e.to_string(),
        });
    }
}

fn check_required(spec: &FlowSpec, errors: &mut Vec<TriggerError>) {
    let mapped: Vec<String> = event_mappings(spec)
        .into_iter()
        .map(|m| m.parameter)
        .collect();
    for p in &spec.parameters {
        if !p.required || p.default.is_some() || mapped.contains(&p.name) {
            continue;
        }
        let (why, how) = if spec.decorators.trigger.is_some() {
            (
                "no event of @trigger sets it".to_string(),
                format!(
                    ", or set it from an event's payload: parameters={{'{}': 'field'}}",
                    p.name
                ),
            )
        } else {
            (
                "runs started by @trigger_on_finish cannot set parameters".to_string(),
                String::new(),
            )
        };
        errors.push(TriggerError::RequiredUnmapped {
            parameter: p.name.clone(),
            why,
            how,
        });
    }
}
