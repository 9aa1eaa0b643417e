//! A local AWS Step Functions interpreter (JSONPath query language).
//!
//! It runs the very state machine Ferry deploys (see `docs/runtime-contract.md`), with Task
//! resources behind the [`TaskResources`] port: [`Resources`] maps `batch:submitJob.sync` to a
//! [`BatchRunner`] (local processes, implemented by the embedded stack), `dynamodb:*` to
//! [`ferry_store::Table`]s and `s3:*` to [`ferry_store::Blobs`].
//!
//! ```no_run
//! # async fn demo(table: std::sync::Arc<dyn ferry_store::Table>, runner: std::sync::Arc<dyn ferry_local::executor::BatchRunner>) {
//! use std::sync::Arc;
//! use ferry_local::executor::{Executor, Resources, Status};
//! let resources = Resources::new().with_batch(runner).with_table("ferry-state", table);
//! let executor = Executor::new(Arc::new(resources));
//! let machine = executor.validate(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#).unwrap();
//! let run = executor.start(machine, "HelloFlow", "run-1", serde_json::json!({})).unwrap();
//! let record = run.wait().await;
//! assert_eq!(record.status, Status::Succeeded);
//! # }
//! ```
//!
//! Supported: every state type (Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map inline
//! and distributed with `ItemReader` / `ItemBatcher` / `ResultWriter` / tolerated failures),
//! `InputPath`, `Parameters`, `ResultSelector`, `ResultPath`, `OutputPath`, the context object,
//! intrinsic functions, Retry/Catch, state and execution timeouts. Not supported: JSONata,
//! variables (`Assign`), `.waitForTaskToken`, activities, Lambda.
//!
//! # Lifecycle and guarantees
//!
//! - [`Executor::validate`] parses and checks a definition once (shape, transitions,
//!   reachability, JSONPaths, templates, intrinsics, Retry/Catch, and that every resource is
//!   supported); the `Arc<StateMachine>` can start any number of executions.
//! - [`Executor::start`] spawns the execution on the current tokio runtime and returns an
//!   [`ExecutionHandle`]: [`ExecutionHandle::status`], [`ExecutionHandle::wait`] (the
//!   [`ExecutionRecord`]: status, start/stop dates, input, output, error, cause, failing state,
//!   event count, distributed Map runs), [`ExecutionHandle::stop`] (fires the
//!   [`Cancellation`] every task got and drops the running tasks: status `ABORTED`),
//!   [`ExecutionHandle::events_count`] / [`ExecutionHandle::event_counts`] /
//!   [`ExecutionHandle::history`] (the first [`KEPT_EVENTS`] events only).
//! - Time (Wait, retry back-off, timeouts) goes through [`crate::time::Time`]; jitter through
//!   [`Executor::with_random`].
//! - Map iterations run concurrently up to `MaxConcurrency` (0 = all) inside the execution's
//!   task; distributed Map iterations are child executions (own `$$.Execution.Name`/`Id`/
//!   `Input`), counted in [`MapRun`]s, their records kept only when a `ResultWriter` asks.
//!
//! # For the embedded stack
//!
//! `Resources::new().with_batch(runner).with_default_table(state_table)
//! .with_bucket("ferry-local-blobs", blobs, "").with_default_bucket(blobs, "ferry/")` serves the
//! compiled machines of `docs/runtime-contract.md` §6 whatever `TableName`/`Bucket` they name
//! (every compiler golden runs in `tests/compiled_goldens.rs`). The [`BatchRunner`] contract is
//! on the trait.

mod cancel;
mod choice;
mod context;
mod ddb;
mod error;
mod history;
mod intrinsics;
pub mod jsonpath;
mod model;
mod resources;
mod run;
mod template;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

pub use cancel::{CancelSource, Cancellation};
pub use choice::string_matches;
pub use context::ExecInfo;
pub use error::{DefinitionError, StatesError, names};
pub use history::{HistoryEvent, KEPT_EVENTS, MapRun};
pub use intrinsics::Call as IntrinsicCall;
pub use model::{Retrier, StateMachine};
pub use resources::{
    BatchJob, BatchRunner, BucketMount, Resources, TaskContext, TaskResources, describe_job,
    integration,
};
pub use run::{error_matches, retry_delay};

use crate::time::{SystemTime, Time};
use history::History;
use run::{Failure, Runtime, run_machine, timestamp};

/// Why an execution could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The definition is invalid.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// The execution or state machine name is not a valid Step Functions name.
    #[error(
        "invalid name {0:?}: 1 to 80 characters, no whitespace, brackets, wildcards or punctuation such as \" # % \\ ^ | ~ ` $ & , ; : /"
    )]
    InvalidName(String),
}

/// An execution's status (`DescribeExecution.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl Status {
    /// The AWS spelling: `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        }
    }
}

/// The outcome of a finished execution (`DescribeExecution` + counts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionRecord {
    /// `arn:aws:states:local:000000000000:execution:<machine>:<name>`.
    pub execution_arn: String,
    /// The execution name.
    pub name: String,
    /// The state machine name.
    pub state_machine_name: String,
    /// Final status (never `Running` in a record).
    pub status: Status,
    /// Start instant.
    pub start_date: DateTime<Utc>,
    /// Stop instant.
    pub stop_date: DateTime<Utc>,
    /// The input.
    pub input: Value,
    /// The output (`SUCCEEDED` only).
    pub output: Option<Value>,
    /// Error name (`FAILED`, `TIMED_OUT`, `ABORTED`).
    pub error: Option<String>,
    /// Error cause.
    pub cause: Option<String>,
    /// The state that raised the error (`FAILED`).
    pub failed_state: Option<String>,
    /// Number of history events.
    pub events: u64,
    /// Distributed Map runs.
    pub map_runs: Vec<MapRun>,
}

/// Runs state machines. Cheap to clone; every execution is a tokio task.
#[derive(Clone)]
pub struct Executor {
    resources: Arc<dyn TaskResources>,
    time: Arc<dyn Time>,
    random: Arc<dyn Fn() -> f64 + Send + Sync>,
    region: String,
    account: String,
}

/// Step Functions' name rule for executions and state machines.
pub fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=80).contains(&n)
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c))
}

impl Executor {
    /// An executor over `resources`, on the system clock, with region `local` and account
    /// `000000000000` in ARNs.
    pub fn new(resources: Arc<dyn TaskResources>) -> Self {
        Executor {
            resources,
            time: Arc::new(SystemTime),
            random: Arc::new(rand::random::<f64>),
            region: "local".into(),
            account: "000000000000".into(),
        }
    }

    /// Use `time` for Wait states, retry back-off and timeouts (tests: [`crate::time::ManualTime`]).
    pub fn with_time(mut self, time: Arc<dyn Time>) -> Self {
        self.time = time;
        self
    }

    /// Use `random` (values in `[0, 1)`) for `JitterStrategy: FULL`.
    pub fn with_random(mut self, random: Arc<dyn Fn() -> f64 + Send + Sync>) -> Self {
        self.random = random;
        self
    }

    /// Region and account shown in ARNs (`$$.Execution.Id`...).
    pub fn with_arn_parts(mut self, region: impl Into<String>, account: impl Into<String>) -> Self {
        self.region = region.into();
        self.account = account.into();
        self
    }

    /// Parse and check a definition, including that every Task resource (and ItemReader /
    /// ResultWriter resource) is supported by this executor's resources.
    pub fn validate(&self, definition: &str) -> Result<Arc<StateMachine>, DefinitionError> {
        let sm = StateMachine::parse(definition)?;
        for (at, resource) in sm.resources() {
            if !self.resources.supports(&resource) {
                return Err(DefinitionError::Invalid {
                    at,
                    why: format!("resource {resource:?} is not supported by the local executor"),
                });
            }
        }
        Ok(Arc::new(sm))
    }

    /// Start an execution `name` of `machine` (named `machine_name`) on `input`. Must be called
    /// inside a tokio runtime.
    pub fn start(
        &self,
        machine: Arc<StateMachine>,
        machine_name: &str,
        name: &str,
        input: Value,
    ) -> Result<ExecutionHandle, StartError> {
        for n in [machine_name, name] {
            if !valid_name(n) {
                return Err(StartError::InvalidName(n.to_string()));
            }
        }
        let sm_arn = format!(
            "arn:aws:states:{}:{}:stateMachine:{machine_name}",
            self.region, self.account
        );
        let start = self.time.now();
        let exec = Arc::new(ExecInfo {
            id: format!(
                "arn:aws:states:{}:{}:execution:{machine_name}:{name}",
                self.region, self.account
            ),
            name: name.to_string(),
            input: input.clone(),
            start_time: timestamp(start),
            role_arn: format!("arn:aws:iam::{}:role/ferry-local", self.account),
            state_machine_id: sm_arn,
            state_machine_name: machine_name.to_string(),
        });
        let cancel = CancelSource::new();
        let history = Arc::new(History::new(self.time.clone()));
        let rt = Arc::new(Runtime {
            resources: self.resources.clone(),
            time: self.time.clone(),
            random: self.random.clone(),
            cancel: cancel.token(),
            history: history.clone(),
        });
        let (done_tx, done_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            exec: exec.clone(),
            cancel,
            history: history.clone(),
            done: done_rx,
            stop_reason: Mutex::new(None),
        });
        history.event("ExecutionStarted", None);
        let timeout = machine.timeout_seconds;
        let token = rt.cancel.clone();
        let time = self.time.clone();
        let sh = shared.clone();
        tokio::spawn(async move {
            let run = run_machine(rt, machine, exec.clone(), input.clone());
            let limit = async {
                match timeout {
                    Some(s) => time.sleep(Duration::from_secs(s)).await,
                    None => std::future::pending().await,
                }
            };
            enum End {
                Done(Result<Value, Failure>),
                Stopped,
                TimedOut,
            }
            let end = tokio::select! {
                r = run => End::Done(r),
                _ = token.cancelled() => End::Stopped,
                _ = limit => End::TimedOut,
            };
            let mut rec = ExecutionRecord {
                execution_arn: exec.id.clone(),
                name: exec.name.clone(),
                state_machine_name: exec.state_machine_name.clone(),
                status: Status::Succeeded,
                start_date: start,
                stop_date: time.now(),
                input,
                output: None,
                error: None,
                cause: None,
                failed_state: None,
                events: 0,
                map_runs: vec![],
            };
            match end {
                End::Done(Ok(out)) => {
                    sh.history.event("ExecutionSucceeded", None);
                    rec.output = Some(out);
                }
                End::Done(Err(f)) => {
                    sh.history.event("ExecutionFailed", None);
                    rec.status = Status::Failed;
                    rec.error = Some(f.error.error);
                    rec.cause = Some(f.error.cause);
                    rec.failed_state = Some(f.state);
                }
                End::Stopped => {
                    sh.history.event("ExecutionAborted", None);
                    let (e, c) = sh
                        .stop_reason
                        .lock()
                        .expect("stop lock")
                        .clone()
                        .unwrap_or_default();
                    rec.status = Status::Aborted;
                    rec.error = Some(e);
                    rec.cause = Some(c);
                }
                End::TimedOut => {
                    sh.history.event("ExecutionTimedOut", None);
                    rec.status = Status::TimedOut;
                    rec.error = Some(names::TIMEOUT.to_string());
                    rec.cause = Some(format!(
                        "The execution exceeded its TimeoutSeconds ({} s)",
                        timeout.unwrap_or(0)
                    ));
                }
            }
            rec.events = sh.history.count();
            rec.map_runs = sh.history.map_runs();
            let _ = done_tx.send(Some(rec));
        });
        Ok(ExecutionHandle { shared })
    }
}

struct Shared {
    exec: Arc<ExecInfo>,
    cancel: CancelSource,
    history: Arc<History>,
    done: watch::Receiver<Option<ExecutionRecord>>,
    stop_reason: Mutex<Option<(String, String)>>,
}

/// A running or finished execution. Cheap to clone.
#[derive(Clone)]
pub struct ExecutionHandle {
    shared: Arc<Shared>,
}

impl ExecutionHandle {
    /// The execution ARN.
    pub fn arn(&self) -> &str {
        &self.shared.exec.id
    }
    /// The execution name.
    pub fn name(&self) -> &str {
        &self.shared.exec.name
    }
    /// `RUNNING` until the record exists.
    pub fn status(&self) -> Status {
        self.shared
            .done
            .borrow()
            .as_ref()
            .map(|r| r.status)
            .unwrap_or(Status::Running)
    }
    /// The final record, once finished.
    pub fn record(&self) -> Option<ExecutionRecord> {
        self.shared.done.borrow().clone()
    }
    /// Wait for the end and return the record.
    /// If the runtime running the execution shut down first, the record says `ABORTED`
    /// with error `States.Aborted`.
    pub async fn wait(&self) -> ExecutionRecord {
        let mut rx = self.shared.done.clone();
        if let Ok(r) = rx.wait_for(Option::is_some).await
            && let Some(rec) = r.clone()
        {
            return rec;
        }
        let e = &self.shared.exec;
        let start = chrono::DateTime::parse_from_rfc3339(&e.start_time)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now());
        ExecutionRecord {
            execution_arn: e.id.clone(),
            name: e.name.clone(),
            state_machine_name: e.state_machine_name.clone(),
            status: Status::Aborted,
            start_date: start,
            stop_date: Utc::now(),
            input: e.input.clone(),
            output: None,
            error: Some(names::ABORTED.to_string()),
            cause: Some("the runtime running the execution shut down".to_string()),
            failed_state: None,
            events: self.shared.history.count(),
            map_runs: self.shared.history.map_runs(),
        }
    }
    /// Stop the execution (`StopExecution`): running tasks get the cancellation signal and are
    /// dropped; the status becomes `ABORTED` with this error and cause. No effect once finished.
    pub fn stop(&self, error: Option<&str>, cause: Option<&str>) {
        if self.status() != Status::Running {
            return;
        }
        *self.shared.stop_reason.lock().expect("stop lock") = Some((
            error.unwrap_or_default().to_string(),
            cause.unwrap_or_default().to_string(),
        ));
        self.shared.cancel.cancel();
    }
    /// Number of history events so far.
    pub fn events_count(&self) -> u64 {
        self.shared.history.count()
    }
    /// Event counts by kind (`TaskStateEntered` → 3, ...).
    pub fn event_counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.history.counts()
    }
    /// The first [`KEPT_EVENTS`] history events.
    pub fn history(&self) -> Vec<HistoryEvent> {
        self.shared.history.events()
    }
}
