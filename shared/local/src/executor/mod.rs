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
//! use ferry_control::{DeploymentName, ExecutionName, ExecutionStatus};
//! use ferry_local::executor::{Executor, Resources};
//! let resources = Resources::new().with_batch(runner).with_table("ferry-state", table);
//! let executor = Executor::new(Arc::new(resources));
//! let machine = executor.validate(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#).unwrap();
//! let flow = DeploymentName::parse("HelloFlow").unwrap();
//! let run = executor.start(machine, &flow, &ExecutionName::parse("run-1").unwrap(), serde_json::json!({}));
//! let record = run.wait().await;
//! assert_eq!(record.status, ExecutionStatus::Succeeded);
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
//!   [`ExecutionRecord`]: the control plane's one [`Execution`] — status, start/stop dates,
//!   input, output, error, cause, failing state — with the event count and distributed Map
//!   runs), [`ExecutionHandle::stop`] (fires the
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
//! (every compiler golden runs in `tests/it/compiled_goldens.rs`). The [`BatchRunner`] contract is
//! on the trait.

mod batch;
mod cancel;
mod choice;
mod context;
mod ddb;
mod error;
mod history;
mod intrinsics;
mod jobs;
pub mod jsonpath;
mod map;
mod model;
mod parse;
mod resources;
mod run;
mod template;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use ferry_control::{DeploymentName, Execution, ExecutionName, ExecutionStatus};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

pub use batch::{
    BatchJob, InvalidJob, JobDependency, MAX_ARRAY_SIZE, MAX_ATTEMPTS, MAX_DEPENDENCIES,
    MIN_ARRAY_SIZE,
};
pub use cancel::{CancelSource, Cancellation};
pub use choice::string_matches;
pub use context::ExecInfo;
pub use error::{DefinitionError, StatesError, names};
pub use history::{HistoryEvent, KEPT_EVENTS, MapRun};
pub use intrinsics::Call as IntrinsicCall;
pub use jobs::DEPENDENT_JOB_FAILED;
pub use model::{Retrier, StateMachine};
pub use resources::{BatchRunner, BucketMount, Resources, TaskContext, TaskResources, integration};
pub use run::{error_matches, retry_delay};

use crate::time::{SystemTime, Time};
use history::History;
use run::{Failure, Runtime, run_machine, timestamp};

/// A finished execution as the executor reports it: the control plane's one [`Execution`]
/// (status, start and stop dates, input and output as JSON text, error, cause, the state that
/// failed; `id` is the execution ARN) and the executor's own counters. Derefs to the
/// [`Execution`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionRecord {
    /// The execution, ended (never `RUNNING` in a record).
    pub execution: Execution,
    /// Number of history events.
    pub events: u64,
    /// Distributed Map runs.
    pub map_runs: Vec<MapRun>,
}

impl std::ops::Deref for ExecutionRecord {
    type Target = Execution;
    fn deref(&self) -> &Execution {
        &self.execution
    }
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
    /// inside a tokio runtime. The names are parsed already ([`ExecutionName`] is Ferry's one
    /// rule for execution names, `.` refused).
    pub fn start(
        &self,
        machine: Arc<StateMachine>,
        machine_name: &DeploymentName,
        name: &ExecutionName,
        input: Value,
    ) -> ExecutionHandle {
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
            jobs: Arc::new(jobs::SubmittedJobs::default()),
        });
        let jobs = rt.jobs.clone();
        let (done_tx, done_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            exec: exec.clone(),
            started: Execution::running(
                name.clone(),
                exec.id.clone(),
                machine_name.clone(),
                start,
                Some(input.to_string()),
            ),
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
            // Jobs submitted without waiting do not outlive the execution locally.
            jobs.terminate_all();
            let mut rec = sh.started.clone();
            rec.status = ExecutionStatus::Succeeded;
            rec.stop_date = Some(time.now());
            match end {
                End::Done(Ok(out)) => {
                    sh.history.event("ExecutionSucceeded", None);
                    rec.output = Some(out.to_string());
                }
                End::Done(Err(f)) => {
                    sh.history.event("ExecutionFailed", None);
                    rec.status = ExecutionStatus::Failed;
                    rec.error = Some(f.error.error);
                    rec.cause = Some(f.error.cause);
                    rec.failing_state = Some(f.state);
                }
                End::Stopped => {
                    sh.history.event("ExecutionAborted", None);
                    let (e, c) = sh
                        .stop_reason
                        .lock()
                        .expect("stop lock")
                        .clone()
                        .unwrap_or_default();
                    rec.status = ExecutionStatus::Aborted;
                    rec.error = Some(e);
                    rec.cause = Some(c);
                }
                End::TimedOut => {
                    sh.history.event("ExecutionTimedOut", None);
                    rec.status = ExecutionStatus::TimedOut;
                    rec.error = Some(names::TIMEOUT.to_string());
                    rec.cause = Some(format!(
                        "The execution exceeded its TimeoutSeconds ({} s)",
                        timeout.unwrap_or(0)
                    ));
                }
            }
            let _ = done_tx.send(Some(ExecutionRecord {
                execution: rec,
                events: sh.history.count(),
                map_runs: sh.history.map_runs(),
            }));
        });
        ExecutionHandle { shared }
    }
}

struct Shared {
    exec: Arc<ExecInfo>,
    /// The execution as it started (`RUNNING`), which the end completes.
    started: Execution,
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
    pub fn status(&self) -> ExecutionStatus {
        self.shared
            .done
            .borrow()
            .as_ref()
            .map(|r| r.status)
            .unwrap_or(ExecutionStatus::Running)
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
        let mut e = self.shared.started.clone();
        e.status = ExecutionStatus::Aborted;
        e.stop_date = Some(Utc::now());
        e.error = Some(names::ABORTED.to_string());
        e.cause = Some("the runtime running the execution shut down".to_string());
        ExecutionRecord {
            execution: e,
            events: self.shared.history.count(),
            map_runs: self.shared.history.map_runs(),
        }
    }
    /// Stop the execution (`StopExecution`): running tasks get the cancellation signal and are
    /// dropped; the status becomes `ABORTED` with this error and cause. No effect once finished.
    pub fn stop(&self, error: Option<&str>, cause: Option<&str>) {
        if self.status() != ExecutionStatus::Running {
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
