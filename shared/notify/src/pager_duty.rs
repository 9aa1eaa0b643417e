//! PagerDuty Events API v2 bodies (developer.pagerduty.com, "Send an Alert Event" and "Send a
//! Change Event"):
//!
//! - a run ending in error → `trigger` with `dedup_key` [`dedup_key`] (one incident per run);
//! - a later run of the deployment succeeding → `resolve` of each incident Ferry opened for it
//!   and has not resolved yet (the keys are kept in the delivery log);
//! - with `--notify-on-success`, a success also sends a change event, as Argo Workflows does.

use serde_json::{Map, Value, json};

use crate::cause::shorten;
use crate::summary::RunSummary;

/// The incident key of `run`: `ferry/<deployment>/sfn-<execution>` (at most 255 characters).
pub fn dedup_key(run: &RunSummary) -> String {
    shorten(&format!("ferry/{}/{}", run.deployment, run.run_id()), 255)
}

fn details(run: &RunSummary) -> Value {
    let mut d = Map::new();
    for (k, v) in run.facts() {
        d.insert(k.to_string(), json!(v));
    }
    d.insert("Look further".into(), json!(run.commands()));
    Value::Object(d)
}

/// The `trigger` event of a run that ended in error.
pub fn trigger(run: &RunSummary, routing_key: &str) -> Value {
    let mut payload = json!({
        "summary": shorten(&format!("Metaflow run {} {} ({})", run.pathspec(), run.status.phrase(), run.status), 1024),
        "source": run.deployment,
        "severity": "error",
        "group": run.deployment,
        "class": run.error.clone().unwrap_or_else(|| run.status.to_string()),
        "custom_details": details(run),
    });
    if let Some(step) = &run.failing_step {
        payload["component"] = json!(step);
    }
    if let Some(t) = run.stopped_at {
        payload["timestamp"] = json!(t.to_rfc3339());
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(run),
        "client": "Ferry",
        "payload": payload,
    })
}

/// The `resolve` event closing the incident `dedup_key` (opened for an earlier run).
pub fn resolve(routing_key: &str, dedup_key: &str) -> Value {
    json!({
        "routing_key": routing_key,
        "event_action": "resolve",
        "dedup_key": dedup_key,
    })
}

/// The change event of a successful run (`--notify-on-success`).
pub fn change(run: &RunSummary, routing_key: &str) -> Value {
    let mut payload = json!({
        "summary": shorten(&format!("Metaflow run {} succeeded", run.pathspec()), 1024),
        "source": run.deployment,
        "custom_details": details(run),
    });
    if let Some(t) = run.stopped_at {
        payload["timestamp"] = json!(t.to_rfc3339());
    }
    json!({"routing_key": routing_key, "payload": payload})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::failed;

    #[test]
    fn a_trigger_per_run_and_its_resolve() {
        let run = failed();
        let t = trigger(&run, "R0UT1NGKEY0123456789");
        assert_eq!(t["routing_key"], "R0UT1NGKEY0123456789");
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(t["dedup_key"], "ferry/EmbeddedFailFlow/sfn-0b8c8d1e");
        assert_eq!(
            t["payload"]["summary"],
            "Metaflow run EmbeddedFailFlow/sfn-0b8c8d1e failed (FAILED)"
        );
        assert_eq!(t["payload"]["severity"], "error");
        assert_eq!(t["payload"]["source"], "EmbeddedFailFlow");
        assert_eq!(t["payload"]["component"], "explode");
        assert_eq!(t["payload"]["class"], "States.TaskFailed");
        assert_eq!(t["payload"]["custom_details"]["Run"], "sfn-0b8c8d1e");
        assert_eq!(
            t["payload"]["custom_details"]["Look further"][0],
            "ferry status sfn-0b8c8d1e"
        );
        let r = resolve("K", "ferry/EmbeddedFailFlow/sfn-0b8c8d1e");
        assert_eq!(
            r,
            json!({"routing_key": "K", "event_action": "resolve", "dedup_key": "ferry/EmbeddedFailFlow/sfn-0b8c8d1e"})
        );
    }
}
