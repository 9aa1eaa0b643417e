//! Matching one event against one dependency of a deployment's trigger, and the parameters its
//! payload sets.
//!
//! Matching follows the Argo Events sensor Metaflow compiles (`_compile_sensor` in
//! `metaflow/plugins/argo/argo_workflows.py`): the names are equal, and for an upstream run the
//! payload's `project_name` and `branch_name` are the upstream's. Ferry adds that an upstream
//! run's event must come from Ferry itself ([`EventOrigin::RunSucceeded`]) and a `@trigger`
//! event from a publisher.
//!
//! Mapping: each `parameter ← field` takes the payload field converted to the parameter's type
//! ([`ferry_spec::param_value::from_json`]); a missing (or `null`) field leaves the parameter's
//! default; a required parameter without a default whose field is missing, or a value that
//! cannot become the type, starts no run and says why. (Argo Events silently ignores an event
//! without a required field, and a wrong-typed value fails the run's start step.)

use ferry_compile::triggers::{EventDependency, TriggerKind};
use ferry_spec::param_value::from_json;
use serde_json::{Map, Value};

use crate::event::{Event, EventOrigin};

/// Whether `event` is the one `dependency` (of a trigger of `kind`) waits for.
pub fn matches(kind: TriggerKind, dependency: &EventDependency, event: &Event) -> bool {
    if dependency.name != event.name {
        return false;
    }
    match kind {
        TriggerKind::Event => event.origin == EventOrigin::Published,
        TriggerKind::Run => {
            event.origin == EventOrigin::RunSucceeded
                && dependency.upstream.as_ref().is_some_and(|up| {
                    field_is(event, "project_name", up.project.as_deref())
                        && field_is(event, "branch_name", up.branch.as_deref())
                        && field_is(event, "flow_name", Some(&up.flow))
                })
        }
    }
}

/// `payload[field]` is the string `want`, or absent when `want` is `None`.
fn field_is(event: &Event, field: &str, want: Option<&str>) -> bool {
    match (event.payload.get(field), want) {
        (None | Some(Value::Null), None) => true,
        (Some(Value::String(got)), Some(want)) => got == want,
        _ => false,
    }
}

/// The parameters `event`'s payload sets for `dependency`: parameter name → value as the run's
/// `Parameters` object carries it. `Err(reason)`: this event starts no run, and why (every
/// problem, joined with "; ").
pub fn map_parameters(
    dependency: &EventDependency,
    event: &Event,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut problems = Vec::new();
    for m in &dependency.parameters {
        let ty = type_name(m.ty);
        match event.payload.get(&m.field) {
            None | Some(Value::Null) if m.required => problems.push(format!(
                "the payload has no field {:?} for the required parameter {} (it has no default)",
                m.field, m.parameter
            )),
            None => {}
            Some(value) => match from_json(m.ty, value) {
                Ok(Some(v)) => {
                    out.insert(m.parameter.clone(), v);
                }
                Ok(None) => {}
                Err(e) => problems.push(format!(
                    "the payload field {:?} cannot set the {ty} parameter {}: {e}",
                    m.field, m.parameter
                )),
            },
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("; "))
    }
}

fn type_name(ty: ferry_spec::ParamType) -> &'static str {
    match ty {
        ferry_spec::ParamType::Str => "str",
        ferry_spec::ParamType::Int => "int",
        ferry_spec::ParamType::Float => "float",
        ferry_spec::ParamType::Bool => "bool",
        ferry_spec::ParamType::Json => "JSON",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RunSucceeded;
    use chrono::Utc;
    use ferry_compile::triggers::{ParameterMapping, Upstream};
    use ferry_spec::ParamType;
    use serde_json::json;

    fn event(name: &str, payload: Value) -> Event {
        let mut body = json!({"name": name, "payload": payload});
        body["payload"]["id"] = json!("e1");
        Event::from_publish_body(body.to_string().as_bytes(), Utc::now()).unwrap()
    }

    fn dep(mappings: &[(&str, &str, ParamType, bool)]) -> EventDependency {
        EventDependency {
            name: "data_ready".into(),
            parameters: mappings
                .iter()
                .map(|(p, f, ty, required)| ParameterMapping {
                    parameter: p.to_string(),
                    field: f.to_string(),
                    ty: *ty,
                    required: *required,
                })
                .collect(),
            upstream: None,
        }
    }

    #[test]
    fn names_must_be_equal_and_published() {
        let d = dep(&[]);
        assert!(matches(
            TriggerKind::Event,
            &d,
            &event("data_ready", json!({}))
        ));
        assert!(!matches(
            TriggerKind::Event,
            &d,
            &event("data_ready_2", json!({}))
        ));
        let mut run = event("data_ready", json!({}));
        run.origin = EventOrigin::RunSucceeded;
        assert!(!matches(TriggerKind::Event, &d, &run));
    }

    #[test]
    fn upstream_runs_match_on_project_and_branch_and_only_from_ferry() {
        let up = |project: Option<&str>, branch: Option<&str>| EventDependency {
            name: match (project, branch) {
                (Some(p), Some(b)) => format!("metaflow.{p}.{b}.IngestFlow.end"),
                _ => "metaflow.IngestFlow.end".into(),
            },
            parameters: vec![],
            upstream: Some(Upstream {
                flow: "IngestFlow".into(),
                project: project.map(Into::into),
                branch: branch.map(Into::into),
                deployment: "x".into(),
            }),
        };
        let run = |project: Option<&str>, branch: Option<&str>| {
            Event::run_succeeded(&RunSucceeded {
                flow: "IngestFlow".into(),
                run_id: "sfn-1".into(),
                end_task_id: None,
                project: project.map(Into::into),
                branch: branch.map(Into::into),
                finished_at: Utc::now(),
            })
        };
        let prod = up(Some("lake"), Some("prod"));
        assert!(matches(
            TriggerKind::Run,
            &prod,
            &run(Some("lake"), Some("prod"))
        ));
        assert!(!matches(
            TriggerKind::Run,
            &prod,
            &run(Some("lake"), Some("test.b"))
        ));
        assert!(!matches(TriggerKind::Run, &prod, &run(None, None)));
        let plain = up(None, None);
        assert!(matches(TriggerKind::Run, &plain, &run(None, None)));
        // A publisher posting the same name and fields does not pose as the upstream.
        let forged = event(
            "metaflow.IngestFlow.end",
            json!({"flow_name": "IngestFlow", "auto-generated-by-metaflow": true}),
        );
        assert!(!matches(TriggerKind::Run, &plain, &forged));
    }

    #[test]
    fn mapped_values_take_the_parameter_type() {
        let d = dep(&[
            ("day", "date", ParamType::Str, true),
            ("count", "n", ParamType::Int, false),
            ("weights", "w", ParamType::Json, false),
        ]);
        let got = map_parameters(
            &d,
            &event(
                "data_ready",
                json!({"date": "2026-12-01", "n": "7", "w": {"a": 1}}),
            ),
        )
        .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"day": "2026-12-01", "count": 7, "weights": "{\"a\":1}"})
        );
    }

    #[test]
    fn missing_fields_leave_defaults_unless_required() {
        let d = dep(&[
            ("day", "date", ParamType::Str, true),
            ("count", "n", ParamType::Int, false),
        ]);
        let got =
            map_parameters(&d, &event("data_ready", json!({"date": "d", "n": null}))).unwrap();
        assert_eq!(Value::Object(got), json!({"day": "d"}));
        assert_eq!(
            map_parameters(&d, &event("data_ready", json!({"n": 3}))).unwrap_err(),
            "the payload has no field \"date\" for the required parameter day (it has no default)"
        );
    }

    #[test]
    fn wrong_types_start_nothing_and_say_why() {
        let d = dep(&[
            ("count", "n", ParamType::Int, false),
            ("ok", "flag", ParamType::Bool, false),
        ]);
        assert_eq!(
            map_parameters(
                &d,
                &event("data_ready", json!({"n": "many", "flag": "perhaps"}))
            )
            .unwrap_err(),
            "the payload field \"n\" cannot set the int parameter count: \"many\" is not an integer; \
             the payload field \"flag\" cannot set the bool parameter ok: \"perhaps\" is not a boolean (true/false)"
        );
    }
}
