//! incident.io alert events (`POST <api>/v2/alert_events/http/<alert source config id>` with
//! `Authorization: Bearer <key>`), shaped as Argo Workflows' Metaflow integration shapes them
//! (`metaflow/plugins/argo/argo_workflows.py`): `idempotency_key` = the run id, `status`
//! `firing`, a title and description naming the run, `source_url` (none: Ferry has no UI
//! URL), and `metadata` = the user's `--incident-io-metadata` overridden by `run_status`,
//! `flow_name` and `run_id`. Ferry adds the status, deployment, namespace, failing step and
//! the commands to look further, in the description and the metadata.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::summary::RunSummary;

/// The alert event of `run` with the user's `metadata`.
pub fn alert(run: &RunSummary, metadata: &BTreeMap<String, String>) -> Value {
    let mut m: Map<String, Value> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let run_status = if run.status.is_error() {
        "failed"
    } else {
        "succeeded"
    };
    m.insert("run_status".into(), json!(run_status));
    m.insert("flow_name".into(), json!(run.flow));
    m.insert("run_id".into(), json!(run.run_id()));
    m.insert("status".into(), json!(run.status));
    m.insert("deployment".into(), json!(run.deployment));
    m.insert("namespace".into(), json!(run.namespace));
    if let Some(s) = &run.failing_step {
        m.insert("failing_step".into(), json!(s));
    }
    let mut description = format!("Metaflow run {} {}!", run.pathspec(), run.status.phrase());
    if let Some(r) = run.reason() {
        description.push_str(&format!("\n\n{r}"));
    }
    description.push_str("\n\nLook further with:\n\n");
    description.push_str(
        &run.commands()
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join("\n\n"),
    );
    json!({
        "idempotency_key": run.run_id(),
        "status": "firing",
        "title": format!("Flow {} has {}.", run.flow, run_status),
        "description": description,
        "source_url": Value::Null,
        "metadata": m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::failed;

    #[test]
    fn argo_shaped_alert_with_user_metadata_overridden() {
        let meta = BTreeMap::from([
            ("team".to_string(), "fraud".to_string()),
            ("run_id".to_string(), "user value".to_string()),
        ]);
        let a = alert(&failed(), &meta);
        assert_eq!(a["idempotency_key"], "sfn-0b8c8d1e");
        assert_eq!(a["status"], "firing");
        assert_eq!(a["title"], "Flow EmbeddedFailFlow has failed.");
        assert!(
            a["description"]
                .as_str()
                .unwrap()
                .starts_with("Metaflow run EmbeddedFailFlow/sfn-0b8c8d1e failed!\n\ntask j-42")
        );
        assert_eq!(a["source_url"], Value::Null);
        assert_eq!(a["metadata"]["team"], "fraud");
        assert_eq!(a["metadata"]["run_id"], "sfn-0b8c8d1e");
        assert_eq!(a["metadata"]["run_status"], "failed");
        assert_eq!(a["metadata"]["status"], "FAILED");
        assert_eq!(a["metadata"]["failing_step"], "explode");
    }
}
