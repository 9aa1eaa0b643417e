//! The execution lifecycle hook: one event when an execution starts and one when it ends, given
//! to every [`ExecutionListener`] a stack wires into its [`Listeners`].
//!
//! Where the events come from:
//! - the embedded stack: its in-process orchestrator dispatches them itself, once per start and
//!   once per end, whatever ended the execution (success, failure, timeout, `ferry terminate`,
//!   a stop of the stack, the recovery of executions a crashed stack left running, a failure
//!   before any task ran);
//! - AWS: Step Functions publishes "Step Functions Execution Status Change" events on
//!   EventBridge; `ferry_aws::events` parses them into [`ExecutionEvent`]s for the same
//!   listeners.
//!
//! A listener sees the [`Execution`] as it is at that moment: state machine and execution name,
//! status, start and stop dates, error and cause, and the input (from which the run id,
//! parameters and tags follow). A listener's failure is logged; it never changes the execution.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferry_spec::RunId;
use serde::{Deserialize, Serialize};

use crate::Execution;

/// Which moment of an execution's life an [`ExecutionEvent`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionEventKind {
    /// The execution was recorded `RUNNING`.
    Started,
    /// The execution reached its terminal status (`SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`).
    Ended,
}

/// An execution started or ended, with the execution as it is then.
///
/// JSON: `{"kind": "started"|"ended", "execution": Execution}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionEvent {
    /// Started or ended.
    pub kind: ExecutionEventKind,
    /// The execution at that moment (ended: with its stop date, error and cause).
    pub execution: Execution,
}

impl ExecutionEvent {
    /// `execution` has started.
    pub fn started(execution: Execution) -> Self {
        ExecutionEvent {
            kind: ExecutionEventKind::Started,
            execution,
        }
    }

    /// `execution` has ended.
    pub fn ended(execution: Execution) -> Self {
        ExecutionEvent {
            kind: ExecutionEventKind::Ended,
            execution,
        }
    }

    /// The Metaflow run id of the execution, `sfn-<name>`.
    pub fn run_id(&self) -> RunId {
        self.execution.run_id()
    }
}

/// What a listener's failure carries (logged, never returned to whoever ended the execution).
pub type ListenerError = Box<dyn std::error::Error + Send + Sync>;

/// Something that reacts to executions starting and ending: a metadata status update, a failure
/// notification, an `@exit_hook`, a `@trigger_on_finish` start, a UI feed.
#[async_trait]
pub trait ExecutionListener: Send + Sync + 'static {
    /// A short name for logs, e.g. `notifications`.
    fn name(&self) -> &str {
        "listener"
    }

    /// React to `event`. An error is logged by [`Listeners::dispatch`]; the execution is not
    /// affected.
    async fn on_event(&self, event: &ExecutionEvent) -> Result<(), ListenerError>;
}

/// The listeners of a stack, wired once where the stack is built. Cheap to clone.
#[derive(Clone)]
pub struct Listeners {
    listeners: Vec<Arc<dyn ExecutionListener>>,
    timeout: Duration,
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners {
            listeners: Vec::new(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field(
                "listeners",
                &self.listeners.iter().map(|l| l.name()).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Listeners {
    /// How long one listener may take with one event before it is given up (logged).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// No listeners (dispatching is a no-op).
    pub fn new() -> Self {
        Self::default()
    }

    /// These listeners and `listener`.
    pub fn with(mut self, listener: Arc<dyn ExecutionListener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Give each listener at most `timeout` per event (default [`Self::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many listeners there are.
    pub fn len(&self) -> usize {
        self.listeners.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// Give `event` to every listener, concurrently, and return once each has finished, failed
    /// or run out of time. Failures and timeouts are logged (`tracing::warn!`) with the
    /// listener's name and the run id; nothing is returned to the caller.
    pub async fn dispatch(&self, event: &ExecutionEvent) {
        let calls = self.listeners.iter().map(|l| async move {
            match tokio::time::timeout(self.timeout, l.on_event(event)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(
                    listener = l.name(),
                    run_id = %event.run_id(),
                    kind = ?event.kind,
                    "an execution listener failed (the execution is not affected): {e}"
                ),
                Err(_) => tracing::warn!(
                    listener = l.name(),
                    run_id = %event.run_id(),
                    kind = ?event.kind,
                    "an execution listener took longer than {:?} and was given up",
                    self.timeout
                ),
            }
        });
        futures::future::join_all(calls).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::ExecutionStatus;

    struct Recorder(Mutex<Vec<(ExecutionEventKind, ExecutionStatus)>>);

    #[async_trait]
    impl ExecutionListener for Recorder {
        async fn on_event(&self, ev: &ExecutionEvent) -> Result<(), ListenerError> {
            self.0.lock().unwrap().push((ev.kind, ev.execution.status));
            Ok(())
        }
    }

    struct Failing;

    #[async_trait]
    impl ExecutionListener for Failing {
        fn name(&self) -> &str {
            "failing"
        }
        async fn on_event(&self, _: &ExecutionEvent) -> Result<(), ListenerError> {
            Err("the webhook answered 500".into())
        }
    }

    struct Slow;

    #[async_trait]
    impl ExecutionListener for Slow {
        async fn on_event(&self, _: &ExecutionEvent) -> Result<(), ListenerError> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    }

    fn execution(status: ExecutionStatus) -> Execution {
        serde_json::from_value(serde_json::json!({
            "name": "run-1", "id": "x", "state_machine": "F", "status": status,
            "start_date": "2026-11-30T04:00:00Z", "input": "{\"Parameters\": \"{}\"}"
        }))
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn every_listener_sees_every_event_despite_failing_or_slow_neighbours() {
        let rec = Arc::new(Recorder(Mutex::new(Vec::new())));
        let listeners = Listeners::new()
            .with(Arc::new(Failing))
            .with(Arc::new(Slow))
            .with(rec.clone())
            .with_timeout(Duration::from_secs(2));
        assert_eq!(listeners.len(), 3);
        let started = tokio::time::Instant::now();
        listeners
            .dispatch(&ExecutionEvent::started(execution(
                ExecutionStatus::Running,
            )))
            .await;
        let ended = ExecutionEvent::ended(execution(ExecutionStatus::Failed));
        assert_eq!(ended.run_id().to_string(), "sfn-run-1");
        listeners.dispatch(&ended).await;
        // The slow listener is given up after its timeout, once per event.
        assert_eq!(started.elapsed(), Duration::from_secs(4));
        assert_eq!(
            *rec.0.lock().unwrap(),
            vec![
                (ExecutionEventKind::Started, ExecutionStatus::Running),
                (ExecutionEventKind::Ended, ExecutionStatus::Failed)
            ]
        );
        assert!(Listeners::new().is_empty());
    }
}
