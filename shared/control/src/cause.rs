//! Reading the failed Batch job out of an execution's failure cause.
//!
//! A Batch task state that fails raises `States.TaskFailed` with the job's `DescribeJobs` record
//! (JSON with `JobId`, `Parameters`, `Container.ExitCode`, `StatusReason`, …) as its cause, on
//! Step Functions and on the embedded stack alike. Wrapping errors carry it inside their own
//! cause, e.g. a Map's `States.ExceedToleratedFailureThreshold: … (last error
//! States.TaskFailed: {…})`.

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

/// The step the failed Batch job in `cause` ran (its `step_name` job parameter).
pub fn failing_step(cause: &str) -> Option<String> {
    batch_job_in_cause(cause)?
        .get("Parameters")?
        .get("step_name")?
        .as_str()
        .map(str::to_string)
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
        assert!(batch_job_in_cause(r#"{"other": 1}"#).is_none());
    }
}
