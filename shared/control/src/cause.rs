//! Reading the failed Batch job out of an execution's failure cause.
//!
//! A Batch task state that fails raises `States.TaskFailed` with the job's `DescribeJobs` record
//! (JSON with `JobId`, `Parameters`, `Container.ExitCode`, `StatusReason`, …) as its cause, on
//! Step Functions and on the embedded stack alike. Wrapping errors carry it inside their own
//! cause, e.g. a Map's `States.ExceedToleratedFailureThreshold: … (last error
//! States.TaskFailed: {…})`. `ferry status`, the embedded executor and the web UI read it here.

use serde_json::Value;

/// The Batch job record (an object with a `JobId`) in `cause`: the whole cause, or the first
/// such object embedded in it. `None` when there is none.
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

/// Whether the failed Batch job in `cause` is an array job (its record has `ArrayProperties`).
/// Its record then names the array job, not the child that failed, as AWS Batch's
/// `DescribeJobs` of an array job does: the failed child is found elsewhere (the step's task
/// whose latest attempt failed, in the metadata).
pub fn names_array_job(cause: &str) -> bool {
    batch_job_in_cause(cause).is_some_and(|job| job.get("ArrayProperties").is_some())
}

/// The step the failed Batch job in `cause` ran (its `step_name` job parameter).
pub fn failing_step(cause: &str) -> Option<String> {
    TaskFailure::from_cause(cause)?.step
}

/// The failed task a cause names ([`TaskFailure::from_cause`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskFailure {
    /// The Batch job id, which is the Metaflow task id of Ferry's tasks.
    pub task_id: Option<String>,
    /// The step the job ran (its `step_name` parameter).
    pub step: Option<String>,
    /// Batch's `StatusReason` (e.g. `Essential container in task exited`).
    pub reason: Option<String>,
    /// The container's exit code (128 + N for a process ended by signal N, e.g. 137 for
    /// SIGKILL, as Batch reports it).
    pub exit_code: Option<i64>,
    /// The memory the job asked for, in MiB (`Container.ResourceRequirements` `MEMORY`, as
    /// `DescribeJobs` reports it), when the record says.
    pub memory_mib: Option<u64>,
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
            memory_mib: v
                .get("Container")
                .and_then(|c| c.get("ResourceRequirements"))
                .and_then(Value::as_array)
                .and_then(|reqs| {
                    reqs.iter()
                        .rev()
                        .find(|r| r.get("Type").and_then(Value::as_str) == Some("MEMORY"))
                })
                .and_then(|r| match r.get("Value") {
                    Some(Value::String(s)) => s.trim().parse().ok(),
                    Some(v) => v.as_u64(),
                    None => None,
                }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_record_is_found_inside_wrapping_causes() {
        let job = r#"{"JobId":"j-1","Parameters":{"step_name":"body"},"Container":{"ExitCode":1}}"#;
        assert_eq!(failing_step(job).as_deref(), Some("body"));
        let wrapped = format!(
            "The specified tolerated failure threshold was exceeded (last error States.TaskFailed: {job})"
        );
        assert_eq!(failing_step(&wrapped).as_deref(), Some("body"));
        assert_eq!(
            batch_job_in_cause(&wrapped).unwrap()["Container"]["ExitCode"],
            1
        );
        assert!(batch_job_in_cause("no {json here").is_none());
        let failed = r#"{"JobId":"j-1","StatusReason":"exited","Parameters":{"step_name":"body"},"Container":{"ExitCode":1}}"#;
        let want = TaskFailure {
            task_id: Some("j-1".into()),
            step: Some("body".into()),
            reason: Some("exited".into()),
            exit_code: Some(1),
            memory_mib: None,
        };
        assert_eq!(TaskFailure::from_cause(failed), Some(want.clone()));
        assert_eq!(
            TaskFailure::from_cause(&format!("(last error States.TaskFailed: {failed})")),
            Some(want)
        );
        assert!(batch_job_in_cause(r#"{"other": 1}"#).is_none());
        assert!(!names_array_job(failed));
        let array = r#"{"JobId":"a-1","ArrayProperties":{"Size":3,"StatusSummary":{"FAILED":1}}}"#;
        assert!(names_array_job(&format!(
            "(last error States.TaskFailed: {array})"
        )));
    }

    #[test]
    fn the_memory_the_job_asked_for_is_read_from_its_resource_requirements() {
        let killed = r#"{"JobId":"j-2","Container":{"ExitCode":137,"ResourceRequirements":[{"Type":"VCPU","Value":"1"},{"Type":"MEMORY","Value":"512"}]}}"#;
        let f = TaskFailure::from_cause(killed).unwrap();
        assert_eq!((f.exit_code, f.memory_mib), (Some(137), Some(512)));
        let none = r#"{"JobId":"j-2","Container":{"ExitCode":1}}"#;
        assert_eq!(TaskFailure::from_cause(none).unwrap().memory_mib, None);
    }
}
