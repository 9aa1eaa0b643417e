//! `@trigger` / `@trigger_on_finish` → the deployment's [`TriggerSpec`]: what the matching
//! engine (`ferry-events`) compares events with, kept in the deployment record.
//!
//! Compiling resolves what depends on the deployment, as Metaflow's Argo Workflows deployer
//! does at deploy time (`_process_triggers` in `metaflow/plugins/argo/argo_workflows.py`):
//! - `namespaced_event_name(n)` becomes `<prefix>.<project>.<branch>.<n>` (`<prefix>.<n>`
//!   without `@project`);
//! - the payload field of every mapped parameter, with Metaflow's default for one event without
//!   mappings ([`ferry_spec::trigger_rules::event_mappings`]), and the parameter's type;
//! - each upstream of `@trigger_on_finish` gets the deployment's project and branch unless it
//!   names its own, the event name Metaflow's Argo decorator publishes when that upstream's run
//!   succeeds (`metaflow.<project>.<branch>.<Flow>.end`, or `metaflow.<Flow>.end`), and the
//!   upstream's state machine name (for the AWS rule on its status changes).

use ferry_spec::model::{FlowSpec, ParamType, ResetAt};
use ferry_spec::trigger_rules::{event_mappings, event_name_problem};
use serde::{Deserialize, Serialize};

use crate::naming::{DeploymentNames, flow_state_machine_name, project_state_machine_name};
use crate::output::CompileError;

/// What starts a deployment's runs, besides `ferry trigger` and `@schedule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// Published events (`@trigger`) or upstream runs (`@trigger_on_finish`).
    pub kind: TriggerKind,
    /// The events a run waits for, in declaration order: with one, every arrival starts a run;
    /// with several, a run starts once each has arrived (the events are then consumed).
    pub events: Vec<EventDependency>,
    /// `options={"reset_at": ...}`: events still waiting for the others are forgotten at every
    /// fire time of this cron.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_at: Option<ResetAt>,
}

/// The kind of a trigger, named as Metaflow's `execution-triggers` metadata names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    /// `@trigger`: events published with `ferry publish` or `ArgoEvent(...).publish()`.
    Event,
    /// `@trigger_on_finish`: an upstream deployment's run succeeded.
    Run,
}

impl TriggerKind {
    /// `"event"` or `"run"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Event => "event",
            TriggerKind::Run => "run",
        }
    }
}

/// One event a deployment waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDependency {
    /// The event name, resolved (e.g. `data_ready`, `mfns.lake.prod.model_ready`,
    /// `metaflow.lake.prod.IngestFlow.end`).
    pub name: String,
    /// The parameters this event's payload sets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParameterMapping>,
    /// For [`TriggerKind::Run`]: the upstream deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
}

/// A flow parameter set from a payload field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterMapping {
    /// The parameter as the flow declares it.
    pub parameter: String,
    /// The payload field holding its value.
    pub field: String,
    /// The parameter's type (what the value must become).
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// Required and without a default: an event without the field starts no run.
    #[serde(default)]
    pub required: bool,
}

/// The upstream of a `@trigger_on_finish` dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// The upstream flow class.
    pub flow: String,
    /// Its `@project`, if any (given, or the deployment's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Its branch, if any (given, or the deployment's own), e.g. `prod`, `test.exp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Its deployment (state machine) name, e.g. `lake.prod.IngestFlow`.
    pub deployment: String,
}

impl TriggerSpec {
    /// One line per event for people: `event data_ready (day ← date)`, `flow IngestFlow
    /// succeeds (deployment lake.prod.IngestFlow)`.
    pub fn describe(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| match &e.upstream {
                Some(up) => format!(
                    "the flow {} succeeds (deployment {})",
                    up.display_name(),
                    up.deployment
                ),
                None if e.parameters.is_empty() => format!("the event {} is published", e.name),
                None => {
                    let maps: Vec<String> = e
                        .parameters
                        .iter()
                        .map(|m| format!("{} ← {}", m.parameter, m.field))
                        .collect();
                    format!(
                        "the event {} is published (sets {})",
                        e.name,
                        maps.join(", ")
                    )
                }
            })
            .collect()
    }
}

impl Upstream {
    /// `project.branch.Flow`, or `Flow` without a project (how Metaflow's deploy text names it).
    pub fn display_name(&self) -> String {
        match (&self.project, &self.branch) {
            (Some(p), Some(b)) => format!("{p}.{b}.{}", self.flow),
            _ => self.flow.clone(),
        }
    }
}

/// The event name Metaflow publishes when a run of `project_flow_name` (`<project>.<branch>.
/// <Flow>`, or `<Flow>`) succeeds: `metaflow.<project_flow_name>.end`
/// (`argo_workflows_decorator.py`, the end step's event).
pub fn run_succeeded_event_name(project_flow_name: &str) -> String {
    format!("metaflow.{project_flow_name}.end")
}

/// Keep only the characters Metaflow keeps in the project and branch of a namespaced event
/// name (`_make_namespaced_event_name`: letters, digits, `_`, `-`, `.`).
fn namespace_part(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect()
}

/// The [`TriggerSpec`] of `spec` deployed as `names` on an installation whose state machines
/// carry `state_machine_prefix`; `None` without `@trigger`/`@trigger_on_finish`. The spec must
/// have passed [`ferry_spec::validate`]. Errors: a namespaced event name that becomes longer than
/// an EventBridge detail-type allows once the project and branch are in it.
pub fn compile_triggers(
    spec: &FlowSpec,
    names: &DeploymentNames,
    state_machine_prefix: Option<&str>,
) -> Result<Option<TriggerSpec>, CompileError> {
    let d = &spec.decorators;
    if let Some(trigger) = &d.trigger {
        let mappings = event_mappings(spec);
        let mut events = Vec::with_capacity(trigger.events.len());
        for (i, event) in trigger.events.iter().enumerate() {
            let name = match (&event.namespace_prefix, &names.project) {
                (Some(prefix), Some(p)) => format!(
                    "{prefix}.{}.{}.{}",
                    namespace_part(&p.project),
                    namespace_part(&p.branch),
                    event.name
                ),
                (Some(prefix), None) => format!("{prefix}.{}", event.name),
                (None, _) => event.name.clone(),
            };
            if let Some(reason) = event_name_problem(&name) {
                return Err(CompileError::Unsupported(format!(
                    "The @trigger event namespaced_event_name({:?}) is {name:?} in this deployment and cannot be used: {reason}.",
                    event.name
                )));
            }
            let parameters = mappings
                .iter()
                .filter(|m| m.event == i)
                .filter_map(|m| {
                    let p = spec.parameters.iter().find(|p| p.name == m.parameter)?;
                    Some(ParameterMapping {
                        parameter: p.name.clone(),
                        field: m.field.clone(),
                        ty: p.ty,
                        required: p.required && p.default.is_none(),
                    })
                })
                .collect();
            events.push(EventDependency {
                name,
                parameters,
                upstream: None,
            });
        }
        return Ok(Some(TriggerSpec {
            kind: TriggerKind::Event,
            events,
            reset_at: trigger.options.reset_at.clone(),
        }));
    }
    if let Some(on_finish) = &d.trigger_on_finish {
        let own = names.project.as_ref();
        let events = on_finish
            .flows
            .iter()
            .map(|up| {
                let project = up.project.clone().or(own.map(|p| p.project.clone()));
                let branch = up.branch.clone().or(own.map(|p| p.branch.clone()));
                let (project_flow_name, deployment) = match (&project, &branch) {
                    (Some(p), Some(b)) => {
                        let pfn = format!("{p}.{b}.{}", up.flow);
                        let sm = project_state_machine_name(&pfn, state_machine_prefix).0;
                        (pfn, sm)
                    }
                    _ => (
                        up.flow.clone(),
                        flow_state_machine_name(&up.flow, state_machine_prefix).0,
                    ),
                };
                EventDependency {
                    name: run_succeeded_event_name(&project_flow_name),
                    parameters: Vec::new(),
                    upstream: Some(Upstream {
                        flow: up.flow.clone(),
                        project,
                        branch,
                        deployment,
                    }),
                }
            })
            .collect();
        return Ok(Some(TriggerSpec {
            kind: TriggerKind::Run,
            events,
            reset_at: on_finish.options.reset_at.clone(),
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::{NameRequest, deployment_names};
    use serde_json::json;

    fn spec(decorators: serde_json::Value, parameters: serde_json::Value) -> FlowSpec {
        serde_json::from_value(json!({
            "spec_version": 2, "flow": "ReportFlow", "file": "r.py",
            "parameters": parameters, "decorators": decorators,
            "steps": [
                {"name": "start", "type": "start", "next": ["end"]},
                {"name": "end", "type": "end"}
            ]
        }))
        .unwrap()
    }

    fn names(project: Option<&str>, branch: Option<&str>, production: bool) -> DeploymentNames {
        deployment_names(&NameRequest {
            flow: "ReportFlow",
            project,
            branch,
            production,
            user: "alice",
            ..NameRequest::default()
        })
        .unwrap()
    }

    #[test]
    fn one_event_maps_every_parameter_by_its_lower_cased_name() {
        let s = spec(
            json!({"trigger": {"events": [{"name": "data_ready"}]}}),
            json!([
                {"name": "Day", "type": "str", "required": true},
                {"name": "count", "type": "int", "default": 1}
            ]),
        );
        let t = compile_triggers(&s, &names(None, None, false), None)
            .unwrap()
            .unwrap();
        assert_eq!(t.kind, TriggerKind::Event);
        assert_eq!(
            t.events[0].parameters,
            [
                ParameterMapping {
                    parameter: "Day".into(),
                    field: "day".into(),
                    ty: ParamType::Str,
                    required: true
                },
                ParameterMapping {
                    parameter: "count".into(),
                    field: "count".into(),
                    ty: ParamType::Int,
                    required: false
                },
            ]
        );
        assert_eq!(
            t.describe(),
            ["the event data_ready is published (sets Day ← day, count ← count)"]
        );
    }

    #[test]
    fn several_events_map_only_what_they_say_and_namespaces_resolve() {
        let s = spec(
            json!({
                "project": {"name": "lake"},
                "trigger": {"events": [
                    {"name": "table_loaded"},
                    {"name": "model_ready", "namespace_prefix": "mfns", "parameters": {"VERSION": "v"}}
                ], "options": {"reset_at": {"cron": "0 0 * * *"}}}
            }),
            json!([{"name": "version", "type": "int", "default": 1}]),
        );
        let t = compile_triggers(&s, &names(Some("lake"), Some("exp"), false), None)
            .unwrap()
            .unwrap();
        assert_eq!(t.events[0].name, "table_loaded");
        assert!(t.events[0].parameters.is_empty());
        assert_eq!(t.events[1].name, "mfns.lake.test.exp.model_ready");
        assert_eq!(t.events[1].parameters[0].parameter, "version");
        assert_eq!(t.reset_at.as_ref().unwrap().cron, "0 0 * * *");
        // Without @project: <prefix>.<name>.
        let plain = spec(
            json!({"trigger": {"events": [{"name": "m", "namespace_prefix": "mfns"}]}}),
            json!([]),
        );
        let t = compile_triggers(&plain, &names(None, None, false), None)
            .unwrap()
            .unwrap();
        assert_eq!(t.events[0].name, "mfns.m");
    }

    #[test]
    fn a_namespaced_name_too_long_for_eventbridge_is_refused() {
        let s = spec(
            json!({
                "project": {"name": "lake"},
                "trigger": {"events": [{"name": "e".repeat(100), "namespace_prefix": "mfns"}]}
            }),
            json!([]),
        );
        let err = compile_triggers(&s, &names(Some("lake"), Some("longer_branch"), false), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is \"mfns.lake.test.longer_branch.eee"),
            "{err}"
        );
        assert!(err.contains("at most 128"), "{err}");
    }

    #[test]
    fn upstreams_take_the_deployments_project_and_branch_unless_given() {
        let s = spec(
            json!({
                "project": {"name": "lake"},
                "trigger_on_finish": {"flows": [
                    {"flow": "IngestFlow"},
                    {"flow": "CleanFlow", "project": "other", "branch": "prod"},
                    {"flow": "ScoreFlow", "branch": "test.exp"}
                ]}
            }),
            json!([]),
        );
        let t = compile_triggers(&s, &names(Some("lake"), None, true), Some("team"))
            .unwrap()
            .unwrap();
        assert_eq!(t.kind, TriggerKind::Run);
        let got: Vec<(&str, &str)> = t
            .events
            .iter()
            .map(|e| {
                (
                    e.name.as_str(),
                    e.upstream.as_ref().unwrap().deployment.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "metaflow.lake.prod.IngestFlow.end",
                    "team_lake.prod.IngestFlow"
                ),
                (
                    "metaflow.other.prod.CleanFlow.end",
                    "team_other.prod.CleanFlow"
                ),
                (
                    "metaflow.lake.test.exp.ScoreFlow.end",
                    "team_lake.test.exp.ScoreFlow"
                ),
            ]
        );
        assert_eq!(
            t.describe()[1],
            "the flow other.prod.CleanFlow succeeds (deployment team_other.prod.CleanFlow)"
        );
    }

    #[test]
    fn an_upstream_without_projects_is_the_flow_itself() {
        let s = spec(
            json!({"trigger_on_finish": {"flows": [{"flow": "IngestFlow"}]}}),
            json!([]),
        );
        let t = compile_triggers(&s, &names(None, None, false), None)
            .unwrap()
            .unwrap();
        assert_eq!(t.events[0].name, "metaflow.IngestFlow.end");
        let up = t.events[0].upstream.as_ref().unwrap();
        assert_eq!((up.deployment.as_str(), &up.project), ("IngestFlow", &None));
        assert_eq!(
            compile_triggers(&spec(json!({}), json!([])), &names(None, None, false), None).unwrap(),
            None
        );
    }
}
