//! What a failed execution's cause says about the task that failed.
//!
//! A `States.TaskFailed` from `batch:submitJob.sync` carries the Batch job record
//! (DescribeJobs-like: `JobId`, `StatusReason`, `Container.ExitCode`, the submitted `Parameters`
//! with `step_name`) as its cause, on Step Functions and on the embedded stack alike; a Map that
//! exceeded its tolerated failures wraps that cause in its own text. `ferry status`, the
//! embedded executor and the web UI read it here.

use serde_json::Value;

/// The Batch job record (with a `JobId`) carried in a cause: the whole cause, or embedded in a
/// wrapping cause such as a Map's
/// `States.ExceedToleratedFailureThreshold: ... (last error States.TaskFailed: {...})`.
pub fn batch_job_in_cause(cause: &str) -> Option<Value> {
    for (i, _) in cause.match_indices('{') {
        let mut values = serde_json::Deserializer::from_str(&cause[i..]).into_iter::<Value>();
        if let Some(Ok(v)) = values.next()
            && v.get("JobId").is_some()
        {
            return Some(v);
        }
    }
    None
}

/// The failed task a cause names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskFailure {
    /// The Batch job id, which is the Metaflow task id of Ferry's tasks.
    pub task_id: Option<String>,
    /// The step the job ran (its `step_name` parameter).
    pub step: Option<String>,
    /// Batch's `StatusReason` (e.g. `Essential container in task exited`).
    pub reason: Option<String>,
    /// The container's exit code.
    pub exit_code: Option<i64>,
}

impl TaskFailure {
    /// The failed task in `cause`, when it carries a Batch job record.
    pub fn from_cause(cause: &str) -> Option<TaskFailure> {
        let v = batch_job_in_cause(cause)?;
        let text = |x: Option<&Value>| x.and_then(Value::as_str).map(str::to_string);
        Some(TaskFailure {
            task_id: text(v.get("JobId")),
            step: text(v.get("Parameters").and_then(|p| p.get("step_name"))),
            reason: text(v.get("StatusReason")),
            exit_code: v
                .get("Container")
                .and_then(|c| c.get("ExitCode"))
                .and_then(Value::as_i64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_record_is_found_inside_wrapping_causes() {
        let job = r#"{"JobId":"j-1","StatusReason":"exited","Parameters":{"step_name":"body"},"Container":{"ExitCode":1}}"#;
        let want = TaskFailure {
            task_id: Some("j-1".into()),
            step: Some("body".into()),
            reason: Some("exited".into()),
            exit_code: Some(1),
        };
        assert_eq!(TaskFailure::from_cause(job), Some(want.clone()));
        let wrapped = format!(
            "The specified tolerated failure threshold was exceeded (last error States.TaskFailed: {job})"
        );
        assert_eq!(TaskFailure::from_cause(&wrapped), Some(want));
        assert!(batch_job_in_cause("no {json here").is_none());
        assert!(batch_job_in_cause(r#"{"other": 1}"#).is_none());
    }
}
