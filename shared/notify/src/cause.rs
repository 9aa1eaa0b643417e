//! Reading an execution's cause: the Batch job record (DescribeJobs-like JSON with a `JobId`)
//! that a failed `batch:submitJob.sync` Task carries, alone or inside a wrapping cause such as
//! a Map's `… (last error States.TaskFailed: {…})`. Step Functions and the embedded executor
//! write the same record (`docs/runtime-contract.md`).

use serde_json::Value;

pub use ferry_control::cause::batch_job_in_cause;

/// What a failed Batch job's record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedTask {
    /// The Batch job id (= the Metaflow task id).
    pub task_id: Option<String>,
    /// The step it ran (its `step_name` parameter).
    pub step: Option<String>,
    /// `StatusReason`, e.g. `Essential container in task exited`.
    pub reason: Option<String>,
    /// The container's exit code.
    pub exit_code: Option<i64>,
    /// How many attempts Batch made.
    pub attempts: usize,
}

impl FailedTask {
    /// `task j-42 of step explode: Essential container in task exited, exit code 1, after 2 attempts`.
    pub fn describe(&self) -> String {
        let mut head = String::from("task");
        if let Some(t) = &self.task_id {
            head.push_str(&format!(" {t}"));
        }
        if let Some(s) = &self.step {
            head.push_str(&format!(" of step {s}"));
        }
        let mut parts = Vec::new();
        parts.extend(self.reason.clone());
        if let Some(c) = self.exit_code {
            parts.push(format!("exit code {c}"));
        }
        if self.attempts > 1 {
            parts.push(format!("after {} attempts", self.attempts));
        }
        if parts.is_empty() {
            format!("{head} failed")
        } else {
            format!("{head}: {}", parts.join(", "))
        }
    }
}

/// The failed Batch job in `cause`, when there is one.
pub fn failed_task(cause: &str) -> Option<FailedTask> {
    let v = batch_job_in_cause(cause)?;
    let s = |x: Option<&Value>| x.and_then(Value::as_str).map(str::to_string);
    Some(FailedTask {
        task_id: s(v.get("JobId")),
        step: s(v.get("Parameters").and_then(|p| p.get("step_name"))),
        reason: s(v.get("StatusReason")).filter(|r| !r.is_empty()),
        exit_code: v
            .get("Container")
            .and_then(|c| c.get("ExitCode"))
            .and_then(Value::as_i64),
        attempts: v
            .get("Attempts")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
    })
}

/// `text` cut to at most `max` characters, with `…` when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_record_is_found_inside_wrapping_causes() {
        let job = r#"{"JobId":"j-1","Parameters":{"step_name":"body"},"Container":{"ExitCode":137},"StatusReason":"Essential container in task exited (signal 9)","Attempts":[{}]}"#;
        let wrapped = format!(
            "The specified tolerated failure threshold was exceeded (last error States.TaskFailed: {job})"
        );
        let t = failed_task(&wrapped).unwrap();
        assert_eq!(t.step.as_deref(), Some("body"));
        assert_eq!(t.exit_code, Some(137));
        assert_eq!(
            t.describe(),
            "task j-1 of step body: Essential container in task exited (signal 9), exit code 137"
        );
        assert!(failed_task("no {json here").is_none());
        assert!(failed_task(r#"{"other": 1}"#).is_none());
    }

    #[test]
    fn shorten_counts_characters() {
        assert_eq!(shorten("héllo", 5), "héllo");
        assert_eq!(shorten("héllo world", 5), "héll…");
    }
}
