//! The generic webhook body, version [`WEBHOOK_VERSION`] (`docs/notifications.md` documents
//! every field). Receivers must ignore fields they do not know; a change that removes or
//! changes a field bumps the version.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::cause::shorten;
use crate::summary::RunSummary;

/// The version of the webhook body this crate writes.
pub const WEBHOOK_VERSION: u32 = 1;

/// The longest `cause` a webhook body carries, in characters.
pub const MAX_CAUSE: usize = 8_192;

/// The body posted for `run` at `sent_at`.
pub fn body(run: &RunSummary, sent_at: DateTime<Utc>) -> Value {
    let task = run.failed_task();
    json!({
        "version": WEBHOOK_VERSION,
        "event": "run_finished",
        "sent_at": sent_at.to_rfc3339(),
        "flow": run.flow,
        "run_id": run.run_id(),
        "pathspec": run.pathspec(),
        "execution": run.execution,
        "deployment": run.deployment,
        "namespace": run.namespace,
        "project": run.project,
        "branch": run.branch,
        "status": run.status,
        "succeeded": !run.status.is_error(),
        "failing_step": run.failing_step,
        "failed_task_id": task.as_ref().and_then(|t| t.task_id.clone()),
        "exit_code": task.as_ref().and_then(|t| t.exit_code),
        "error": run.error,
        "reason": run.reason(),
        "cause": run.cause.as_deref().map(|c| shorten(c, MAX_CAUSE)),
        "started_at": run.started_at.map(|t| t.to_rfc3339()),
        "stopped_at": run.stopped_at.map(|t| t.to_rfc3339()),
        "commands": {"status": run.status_command(), "logs": run.logs_command()},
        "text": run.text(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::failed;

    #[test]
    fn every_documented_field() {
        let at = "2026-01-02T03:04:05Z".parse().unwrap();
        let b = body(&failed(), at);
        assert_eq!(b["version"], 1);
        assert_eq!(b["event"], "run_finished");
        assert_eq!(b["sent_at"], "2026-01-02T03:04:05+00:00");
        assert_eq!(b["run_id"], "sfn-0b8c8d1e");
        assert_eq!(b["pathspec"], "EmbeddedFailFlow/sfn-0b8c8d1e");
        assert_eq!(b["status"], "FAILED");
        assert_eq!(b["succeeded"], false);
        assert_eq!(b["failing_step"], "explode");
        assert_eq!(b["failed_task_id"], "j-42");
        assert_eq!(b["exit_code"], 1);
        assert_eq!(b["error"], "States.TaskFailed");
        assert_eq!(b["project"], Value::Null);
        assert_eq!(b["commands"]["status"], "ferry status sfn-0b8c8d1e");
        assert_eq!(
            b["commands"]["logs"],
            "ferry logs EmbeddedFailFlow/sfn-0b8c8d1e/explode --stderr"
        );
        assert!(
            b["text"]
                .as_str()
                .unwrap()
                .starts_with("EmbeddedFailFlow/sfn-0b8c8d1e failed")
        );
    }
}
