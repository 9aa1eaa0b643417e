//! Golden files for triggers: each case's compiled [`TriggerSpec`] (what the deployment record
//! keeps) and EventBridge rule are compared with `tests/golden/triggers/<case>.json`
//! (regenerate with `FERRY_BLESS=1 cargo test -p ferry-compile --test it event_rules::` and review
//! the diff). The rules' limits are checked on every case.

use ferry_compile::event_rules::{
    EventRuleSpec, MAX_EVENT_PATTERN, MAX_RULE_NAME, RuleSettings, event_rule,
};
use ferry_compile::naming::{NameRequest, deployment_names};
use ferry_compile::triggers::{TriggerSpec, compile_triggers};
use ferry_spec::FlowSpec;
use serde_json::{Value, json};

fn settings() -> RuleSettings {
    RuleSettings {
        rule_prefix: "ferry-".into(),
        event_bus: "ferry-events".into(),
        event_source: "ferry.events".into(),
        state_machine_arn_prefix: "arn:aws:states:eu-west-1:123456789012:stateMachine:".into(),
    }
}

fn spec(flow: &str, parameters: Value, decorators: Value) -> FlowSpec {
    let spec: FlowSpec = serde_json::from_value(json!({
        "spec_version": 2, "flow": flow, "file": "f.py",
        "parameters": parameters, "decorators": decorators,
        "steps": [
            {"name": "start", "type": "start", "next": ["end"]},
            {"name": "end", "type": "end"}
        ]
    }))
    .unwrap();
    ferry_spec::validate(&spec).unwrap_or_else(|e| panic!("{flow}: {e}"));
    spec
}

/// (case, spec, --branch, --production, state machine prefix)
type Case = (
    &'static str,
    FlowSpec,
    Option<&'static str>,
    bool,
    Option<&'static str>,
);

fn cases() -> Vec<Case> {
    vec![
        (
            "one_event",
            spec(
                "DataReadyFlow",
                json!([
                    {"name": "day", "type": "str", "required": true},
                    {"name": "limit", "type": "int", "default": 10}
                ]),
                json!({"trigger": {"events": [{"name": "data_ready", "parameters": {"day": "date"}}]}}),
            ),
            None,
            false,
            None,
        ),
        (
            "two_events_in_a_project",
            spec(
                "JoinEventsFlow",
                json!([{"name": "version", "type": "int", "default": 1}]),
                json!({
                    "project": {"name": "lake"},
                    "trigger": {
                        "events": [
                            {"name": "table_loaded"},
                            {"name": "model_ready", "namespace_prefix": "mfns", "parameters": {"version": "model_version"}}
                        ],
                        "options": {"reset_at": {"cron": "0 0 * * *", "timezone": "Europe/Paris"}}
                    }
                }),
            ),
            Some("exp"),
            false,
            None,
        ),
        (
            "on_finish_in_a_project",
            spec(
                "ReportFlow",
                json!([]),
                json!({
                    "project": {"name": "lake"},
                    "trigger_on_finish": {"flows": [
                        {"flow": "IngestFlow"},
                        {"flow": "CleanFlow", "project": "other", "branch": "prod"}
                    ]}
                }),
            ),
            None,
            true,
            Some("team"),
        ),
        (
            "long_names",
            spec(
                "AVeryLongFlowNameForAReportThatWaitsForItsUpstream",
                json!([]),
                json!({
                    "project": {"name": "a_long_project_name"},
                    "trigger_on_finish": {"flows": [{"flow": "AnUpstreamFlowWithALongName"}]}
                }),
            ),
            Some("a_long_branch_name"),
            false,
            None,
        ),
    ]
}

fn compile_case(
    spec: &FlowSpec,
    branch: Option<&str>,
    production: bool,
    prefix: Option<&str>,
) -> (String, TriggerSpec, EventRuleSpec) {
    let names = deployment_names(&NameRequest {
        flow: &spec.flow,
        project: spec.decorators.project.as_ref().map(|p| p.name.as_str()),
        branch,
        production,
        user: "alice",
        state_machine_prefix: prefix,
        ..NameRequest::default()
    })
    .unwrap();
    let trigger = compile_triggers(spec, &names, prefix).unwrap().unwrap();
    let rule = event_rule(&names.state_machine, &trigger, &settings()).unwrap();
    (names.state_machine, trigger, rule)
}

#[test]
fn golden_triggers_and_rules() {
    let bless = std::env::var_os("FERRY_BLESS").is_some();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/triggers");
    let mut mismatches = Vec::new();
    for (case, spec, branch, production, prefix) in cases() {
        let (deployment, trigger, rule) = compile_case(&spec, branch, production, prefix);
        assert!(rule.name.chars().count() <= MAX_RULE_NAME, "{case}");
        assert!(
            rule.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')),
            "{case}: {}",
            rule.name
        );
        assert!(
            rule.pattern.to_string().len() <= MAX_EVENT_PATTERN,
            "{case}"
        );
        let view = json!({"deployment": deployment, "trigger": trigger, "rule": rule});
        let text = serde_json::to_string_pretty(&view).unwrap() + "\n";
        let path = dir.join(format!("{case}.json"));
        if bless {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            mismatches.push(format!("{case}:\n{text}"));
        }
        // The record keeps the trigger as JSON: it reads back the same.
        let back: TriggerSpec =
            serde_json::from_value(serde_json::to_value(&trigger).unwrap()).unwrap();
        assert_eq!(back, trigger);
    }
    assert!(
        mismatches.is_empty(),
        "golden files differ (FERRY_BLESS=1 to regenerate):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn a_pattern_too_large_for_eventbridge_is_refused() {
    let events: Vec<Value> = (0..20)
        .map(|i| json!({"name": format!("{i:02}{}", "e".repeat(120))}))
        .collect();
    let s = spec(
        "ManyEventsFlow",
        json!([]),
        json!({"trigger": {"events": events}}),
    );
    let names = deployment_names(&NameRequest {
        flow: "ManyEventsFlow",
        user: "alice",
        ..NameRequest::default()
    })
    .unwrap();
    let trigger = compile_triggers(&s, &names, None).unwrap().unwrap();
    let err = event_rule("ManyEventsFlow", &trigger, &settings())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("The EventBridge event pattern of this deployment's trigger has 2")
            && err.contains("EventBridge allows 2048 by default"),
        "{err}"
    );
}
