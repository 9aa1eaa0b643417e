//! What a notification is about: one finished run of a deployment ([`RunSummary`]), filled by
//! the caller from the execution (Step Functions' or the embedded executor's) and the
//! deployment record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cause;

/// How a run ended, spelled as Step Functions spells execution statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// The execution succeeded.
    Succeeded,
    /// An uncaught error ended it (a task failed, a Batch job never started, …).
    Failed,
    /// It ran past the deployment's `--workflow-timeout`.
    TimedOut,
    /// It was stopped (`ferry terminate`, `StopExecution`, a stop of the embedded stack).
    Aborted,
}

impl RunStatus {
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "SUCCEEDED",
            RunStatus::Failed => "FAILED",
            RunStatus::TimedOut => "TIMED_OUT",
            RunStatus::Aborted => "ABORTED",
        }
    }

    /// Whether `--notify-on-error` covers it (every status but `SUCCEEDED`).
    pub fn is_error(self) -> bool {
        self != RunStatus::Succeeded
    }

    /// The past-tense phrase of messages: `succeeded`, `failed`, `timed out`, `was aborted`.
    pub fn phrase(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed out",
            RunStatus::Aborted => "was aborted",
        }
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;
    /// A finished status in Step Functions' spelling (any case); `RUNNING` is not one.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::TimedOut,
            RunStatus::Aborted,
        ]
        .into_iter()
        .find(|x| x.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("{s:?} is not a finished execution status"))
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finished run, as every message describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The flow class name, e.g. `HelloFlow`.
    pub flow: String,
    /// The deployment (= state machine) name, e.g. `fraud_model.prod.ScoreFlow`.
    pub deployment: String,
    /// The execution name; the Metaflow run id is `sfn-<execution>`.
    pub execution: String,
    /// How it ended.
    pub status: RunStatus,
    /// The namespace the run's results are in (`production:<token>` or `--namespace`).
    pub namespace: String,
    /// `@project` name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// `@project` branch (`prod`, `test.b`, …), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The step whose task failed (from the Batch job record in the cause, else the failing
    /// state); `None` when no step failed (a timeout, an abort, a run that never reached a task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_step: Option<String>,
    /// The execution's error name, e.g. `States.TaskFailed`, `States.Timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The execution's cause (for a failed task, the Batch job record as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// When the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
}

impl RunSummary {
    /// The Metaflow run id, `sfn-<execution>`.
    pub fn run_id(&self) -> String {
        format!("sfn-{}", self.execution)
    }

    /// The run's pathspec, `<Flow>/sfn-<execution>`.
    pub fn pathspec(&self) -> String {
        format!("{}/{}", self.flow, self.run_id())
    }

    /// The command that shows the run's status (and, for a failed run, its failing step).
    pub fn status_command(&self) -> String {
        format!("ferry status {}", self.run_id())
    }

    /// The command that prints the failing step's logs; for a run without one, `end`'s when
    /// it succeeded, else none.
    pub fn logs_command(&self) -> Option<String> {
        let step = match (&self.failing_step, self.status) {
            (Some(step), _) => step.as_str(),
            (None, RunStatus::Succeeded) => "end",
            (None, _) => return None,
        };
        Some(format!("ferry logs {}/{step} --stderr", self.pathspec()))
    }

    /// The failed Batch job in the cause, when there is one.
    pub fn failed_task(&self) -> Option<cause::FailedTask> {
        cause::failed_task(self.cause.as_deref()?)
    }

    /// One readable line on why the run did not succeed: the failed task's reason, exit code
    /// and attempts, else the error and the start of the cause; `None` for a success.
    pub fn reason(&self) -> Option<String> {
        if self.status == RunStatus::Succeeded {
            return None;
        }
        if let Some(task) = self.failed_task() {
            return Some(task.describe());
        }
        let cause = self
            .cause
            .as_deref()
            .map(|c| cause::shorten(c.trim(), 500))
            .filter(|c| !c.is_empty());
        match (&self.error, cause) {
            (Some(e), Some(c)) => Some(format!("{e}: {c}")),
            (Some(e), None) => Some(e.clone()),
            (None, Some(c)) => Some(c),
            (None, None) => None,
        }
    }

    /// The headline of every message: `HelloFlow/sfn-1234 failed (FAILED)`.
    pub fn headline(&self) -> String {
        format!(
            "{} {} ({})",
            self.pathspec(),
            self.status.phrase(),
            self.status
        )
    }

    /// The plain-text body (SNS, e-mail): the headline, one `Name: value` line per fact, and
    /// the commands to look further.
    pub fn text(&self) -> String {
        let mut out = format!("{}\n\n", self.headline());
        for (k, v) in self.facts() {
            out.push_str(&format!("{:<14}{v}\n", format!("{k}:")));
        }
        out.push_str("\nLook further:\n");
        for c in self.commands() {
            out.push_str(&format!("  {c}\n"));
        }
        out
    }

    /// The facts every message shows, in order, as (name, value).
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("Flow", self.flow.clone()),
            ("Run", self.run_id()),
            ("Status", self.status.to_string()),
            ("Deployment", self.deployment.clone()),
            ("Namespace", self.namespace.clone()),
        ];
        if let Some(p) = &self.project {
            f.push((
                "Project",
                match &self.branch {
                    Some(b) => format!("{p} (branch {b})"),
                    None => p.clone(),
                },
            ));
        }
        if let Some(s) = &self.failing_step {
            f.push(("Failing step", s.clone()));
        }
        if let Some(e) = &self.error
            && self.status.is_error()
        {
            f.push(("Error", e.clone()));
        }
        if let Some(r) = self.reason() {
            f.push(("Reason", r));
        }
        if let (Some(a), Some(b)) = (self.started_at, self.stopped_at) {
            f.push(("Duration", format!("{} s", (b - a).num_seconds().max(0))));
        }
        f
    }

    /// The commands to look further: `ferry status …` and, when there is a step to read,
    /// `ferry logs …`.
    pub fn commands(&self) -> Vec<String> {
        let mut c = vec![self.status_command()];
        c.extend(self.logs_command());
        c
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn failed() -> RunSummary {
        RunSummary {
            flow: "EmbeddedFailFlow".into(),
            deployment: "EmbeddedFailFlow".into(),
            execution: "0b8c8d1e".into(),
            status: RunStatus::Failed,
            namespace: "production:embeddedfailflow-0-abcd".into(),
            project: None,
            branch: None,
            failing_step: Some("explode".into()),
            error: Some("States.TaskFailed".into()),
            cause: Some(
                r#"{"JobId":"j-42","Status":"FAILED","StatusReason":"Essential container in task exited","Parameters":{"step_name":"explode"},"Attempts":[{},{}],"Container":{"ExitCode":1}}"#
                    .into(),
            ),
            started_at: None,
            stopped_at: None,
        }
    }

    #[test]
    fn a_failed_run_names_its_step_reason_and_commands() {
        let r = failed();
        assert_eq!(r.run_id(), "sfn-0b8c8d1e");
        assert_eq!(
            r.headline(),
            "EmbeddedFailFlow/sfn-0b8c8d1e failed (FAILED)"
        );
        assert_eq!(
            r.reason().unwrap(),
            "task j-42 of step explode: Essential container in task exited, exit code 1, after 2 attempts"
        );
        assert_eq!(
            r.commands(),
            [
                "ferry status sfn-0b8c8d1e",
                "ferry logs EmbeddedFailFlow/sfn-0b8c8d1e/explode --stderr"
            ]
        );
        let text = r.text();
        assert!(
            text.starts_with(
                "EmbeddedFailFlow/sfn-0b8c8d1e failed (FAILED)\n\nFlow:         EmbeddedFailFlow\n"
            ),
            "{text}"
        );
        assert!(text.contains("Failing step: explode\n"), "{text}");
        assert!(
            text.contains("\nLook further:\n  ferry status sfn-0b8c8d1e\n"),
            "{text}"
        );
    }

    #[test]
    fn runs_without_a_task_still_say_why() {
        let r = RunSummary {
            status: RunStatus::TimedOut,
            failing_step: None,
            error: Some("States.Timeout".into()),
            cause: Some("The execution ran past its TimeoutSeconds".into()),
            ..failed()
        };
        assert_eq!(
            r.reason().unwrap(),
            "States.Timeout: The execution ran past its TimeoutSeconds"
        );
        assert_eq!(r.logs_command(), None);
        let ok = RunSummary {
            status: RunStatus::Succeeded,
            failing_step: None,
            error: None,
            cause: None,
            ..failed()
        };
        assert_eq!(ok.reason(), None);
        assert_eq!(
            ok.logs_command().unwrap(),
            "ferry logs EmbeddedFailFlow/sfn-0b8c8d1e/end --stderr"
        );
        assert_eq!(
            "timed_out".parse::<RunStatus>().unwrap(),
            RunStatus::TimedOut
        );
        assert!("RUNNING".parse::<RunStatus>().is_err());
    }
}
