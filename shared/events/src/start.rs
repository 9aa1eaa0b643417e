//! What an event-started run gets: a deterministic execution name, and the execution input
//! `ferry trigger` would build (`{"Parameters": "<JSON text>"}`) with the run's provenance in
//! the shape of Metaflow's `execution-triggers` task metadata.
//!
//! Metaflow's Argo decorator records `execution-triggers` on the start task as a JSON list of
//! `{"timestamp", "id", "name", "type"}` (`argo_workflows_decorator.py`); the client's
//! `Run.trigger` reads it back (`metaflow/events.py`): `type` `event` or `run`, the id of a
//! `run` event being the upstream's end task pathspec, from which `Trigger.run` finds the run.
//! The list travels under [`ferry_spec::task::PARAMETERS_TRIGGERS`] in the parameters, the way
//! `ferry trigger --tag` sends tags.

use ferry_compile::triggers::TriggerKind;
use ferry_spec::task::{MAX_EXECUTION_INPUT_CHARS, PARAMETERS_TRIGGERS, execution_input};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::event::EventSummary;

/// One entry of Metaflow's `execution-triggers` metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerRecord {
    /// Epoch seconds of the event.
    pub timestamp: i64,
    /// The event id (for `run`: the upstream's end task pathspec).
    pub id: String,
    /// The event name.
    pub name: String,
    /// `event` or `run`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl TriggerRecord {
    /// The record of `event` for a trigger of `kind`.
    pub fn of(event: &EventSummary, kind: TriggerKind) -> TriggerRecord {
        TriggerRecord {
            timestamp: event.timestamp,
            id: event.id.clone(),
            name: event.name.clone(),
            kind: kind.as_str().to_string(),
        }
    }
}

/// A run to start: what the wiring hands to `Executions::start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartDecision {
    /// The deployment (state machine) to start.
    pub deployment: String,
    /// The execution name: `ev-` and 32 hex digits of a hash of the deployment and the ids of
    /// the events that started it, so a repeated start of the same decision names the same
    /// execution (Step Functions refuses a second execution of one name; the embedded executor
    /// must too), and a run is never started twice.
    pub execution_name: String,
    /// The Metaflow run id: `sfn-<execution name>`.
    pub run_id: String,
    /// The execution input: `{"Parameters": "<JSON text>"}`, the text holding the mapped
    /// parameters and [`PARAMETERS_TRIGGERS`]. Parameters too long for the Batch overrides are
    /// moved to a blob by the caller, as `ferry trigger` does.
    pub input: String,
    /// The mapped parameters alone (parameter name → value); the others keep their defaults.
    pub parameters: Map<String, Value>,
    /// The events that started the run (Metaflow's `execution-triggers`).
    pub triggers: Vec<TriggerRecord>,
}

/// The execution name for `deployment` started by the events of `ids`.
pub fn execution_name(deployment: &str, ids: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(deployment.as_bytes());
    for id in ids {
        h.update([0u8]);
        h.update(id.as_bytes());
    }
    format!("ev-{}", &hex::encode(h.finalize())[..32])
}

/// Build the start of `deployment` with `parameters` for `triggers`. `Err(reason)` when the
/// input would exceed [`MAX_EXECUTION_INPUT_CHARS`].
pub fn start_decision(
    deployment: &str,
    parameters: Map<String, Value>,
    triggers: Vec<TriggerRecord>,
) -> Result<StartDecision, String> {
    let ids: Vec<&str> = triggers.iter().map(|t| t.id.as_str()).collect();
    let execution_name = execution_name(deployment, &ids);
    let mut all = parameters.clone();
    all.insert(
        PARAMETERS_TRIGGERS.to_string(),
        serde_json::to_value(&triggers).expect("trigger records serialise"),
    );
    let input = execution_input(&all);
    let chars = input.chars().count();
    if chars > MAX_EXECUTION_INPUT_CHARS {
        return Err(format!(
            "the run's input would be {chars} characters and runs start with at most {MAX_EXECUTION_INPUT_CHARS} (Metaflow's limit): map smaller payload fields"
        ));
    }
    Ok(StartDecision {
        deployment: deployment.to_string(),
        run_id: ferry_spec::task::run_id_for_execution(&execution_name),
        execution_name,
        input,
        parameters,
        triggers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(id: &str) -> TriggerRecord {
        TriggerRecord {
            timestamp: 1_764_547_200,
            id: id.into(),
            name: "data_ready".into(),
            kind: "event".into(),
        }
    }

    #[test]
    fn the_input_is_what_ferry_trigger_sends_plus_the_triggers() {
        let mut params = Map::new();
        params.insert("day".into(), json!("2026-12-01"));
        let d = start_decision("DataReadyFlow", params, vec![record("e1")]).unwrap();
        let input: Value = serde_json::from_str(&d.input).unwrap();
        let inner: Value = serde_json::from_str(input["Parameters"].as_str().unwrap()).unwrap();
        assert_eq!(
            inner,
            json!({
                "day": "2026-12-01",
                "ferry.triggers": [{"timestamp": 1_764_547_200, "id": "e1", "name": "data_ready", "type": "event"}]
            })
        );
        assert_eq!(d.run_id, format!("sfn-{}", d.execution_name));
        assert!(d.execution_name.starts_with("ev-") && d.execution_name.len() == 35);
    }

    #[test]
    fn names_are_stable_per_deployment_and_events() {
        let a = execution_name("F", &["e1"]);
        assert_eq!(a, execution_name("F", &["e1"]));
        assert_ne!(a, execution_name("G", &["e1"]));
        assert_ne!(a, execution_name("F", &["e2"]));
        assert_ne!(
            execution_name("F", &["a", "bc"]),
            execution_name("F", &["ab", "c"])
        );
    }

    #[test]
    fn an_input_too_long_is_refused() {
        let mut params = Map::new();
        params.insert("blob".into(), json!("x".repeat(MAX_EXECUTION_INPUT_CHARS)));
        let err = start_decision("F", params, vec![record("e1")]).unwrap_err();
        assert!(err.contains("runs start with at most 20480"), "{err}");
    }
}
