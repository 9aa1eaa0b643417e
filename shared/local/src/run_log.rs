//! The embedded stack's voice about runs: one log line when a run starts and one when it ends,
//! with its status (and, for a run that did not succeed, its error and failing step), through
//! `tracing` at `info` (`ferry up` prints them on stderr; `FERRY_LOG` and `--quiet` tune them).
//! A lifecycle listener ([`ferry_control::ExecutionListener`]) that `ferry up` wires into the
//! stack's [`ferry_control::Listeners`].

use async_trait::async_trait;
use ferry_control::{ExecutionEvent, ExecutionEventKind, ExecutionListener, ListenerError};

/// Logs each run's start and end (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct RunLogListener;

impl RunLogListener {
    /// The line logged for `event`, e.g. `run sfn-1 of HelloFlow ended SUCCEEDED after 12 s`.
    pub fn line(event: &ExecutionEvent) -> String {
        let e = &event.execution;
        match event.kind {
            ExecutionEventKind::Started => {
                format!("run {} of {} started", e.run_id(), e.state_machine)
            }
            ExecutionEventKind::Ended => {
                let mut s = format!(
                    "run {} of {} ended {}",
                    e.run_id(),
                    e.state_machine,
                    e.status
                );
                if let Some(stop) = e.stop_date {
                    let secs = (stop - e.start_date).num_milliseconds().max(0) as f64 / 1000.0;
                    s.push_str(&format!(" after {secs:.1} s"));
                }
                if let Some(step) = &e.failing_state {
                    s.push_str(&format!(" in step {step}"));
                }
                if let Some(error) = &e.error {
                    s.push_str(&format!(" ({error})"));
                }
                s
            }
        }
    }
}

#[async_trait]
impl ExecutionListener for RunLogListener {
    fn name(&self) -> &str {
        "run log"
    }

    async fn on_event(&self, event: &ExecutionEvent) -> Result<(), ListenerError> {
        tracing::info!("{}", Self::line(event));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_control::Execution;

    #[test]
    fn starts_and_ends_are_one_line_each_with_the_status() {
        let e: Execution = serde_json::from_value(serde_json::json!({
            "name": "r1", "id": "x", "state_machine": "HelloFlow", "status": "RUNNING",
            "start_date": "2026-11-30T04:00:00Z"
        }))
        .unwrap();
        assert_eq!(
            RunLogListener::line(&ExecutionEvent::started(e.clone())),
            "run sfn-r1 of HelloFlow started"
        );
        let failed: Execution = serde_json::from_value(serde_json::json!({
            "name": "r1", "id": "x", "state_machine": "HelloFlow", "status": "FAILED",
            "start_date": "2026-11-30T04:00:00Z", "stop_date": "2026-11-30T04:00:12.5Z",
            "error": "States.TaskFailed", "failing_state": "train"
        }))
        .unwrap();
        assert_eq!(
            RunLogListener::line(&ExecutionEvent::ended(failed)),
            "run sfn-r1 of HelloFlow ended FAILED after 12.5 s in step train (States.TaskFailed)"
        );
    }
}
