//! The embedded stack's in-process control plane: [`StateMachines`] and [`Executions`] stored
//! durably on a [`Table`] (the SQLite file of the Ferry home), executions run in this process by
//! the state-machine [`Executor`] (their Batch jobs by the [`ProcessRunner`]), and every start
//! and end given to the stack's [`Listeners`] (the lifecycle hook, `ferry_control::lifecycle`).
//!
//! Table layout (all on the Ferry table, next to the deployment records):
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `local#state-machines` | `<name>` | `record` (S: [`StateMachine`] JSON), `schema_version` |
//! | `local#executions` | `<execution name>` | `record` (S: [`Execution`] JSON, with input/output), `status` (S), `state_machine` (S), `schema_version` |
//! | `local#sm-executions#<state machine>` | `<start epoch ms, 15 digits>#<execution name>` | `record` (S: [`Execution`] JSON without input/output), `status` (S) |
//! | `local#running` | `<execution name>` | `state_machine` (S): executions not finished yet |
//! | `local#definitions` | `<sha256 of a definition>` | `definition` (S): every definition an execution ran |
//! | `local#execution-definitions` | `<execution name>` | `sha256` (S): the definition it ran (Step Functions' `DescribeStateMachineForExecution`) |
//!
//! Execution names are unique over the whole stack (UUIDs unless the caller names them), so
//! `ferry status sfn-<name>` needs no state machine ([`Executions::find`] looks the name up
//! once).
//!
//! Lifecycle: [`Executions::start`] records the execution `RUNNING`, dispatches
//! [`ExecutionEvent::started`], then runs it. Its end is recorded once (a conditional write on
//! `RUNNING`) and [`ExecutionEvent::ended`] dispatched by whoever recorded it: the end of the
//! run (succeeded, failed, timed out, failed before any task ran), [`Executions::stop`]
//! (`ABORTED`), [`LocalOrchestrator::shutdown`] (a stop of the stack) or
//! [`LocalOrchestrator::recover`] (executions a stack that died left `RUNNING`), the last two
//! `FAILED` with error [`STACK_STOPPED_ERROR`]. Waiters ([`Executions::wait`]) are woken after
//! the listeners have run.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use ferry_control::{
    ControlError, DeploymentName, Execution, ExecutionEvent, ExecutionName, ExecutionStatus,
    Executions, Listeners, RunningJob, StateMachine, StateMachineRef, StateMachines, cause,
};
use ferry_store::{Attr, Condition, Item, ItemError, Table, TableError, WriteOp};
use serde_json::Value;
use tokio::sync::watch;

use ferry_deploy::keys::definition_sha256;

use crate::executor::{Executor, names};
use crate::runner::ProcessRunner;

/// Version of the items this module writes.
pub const SCHEMA_VERSION: i64 = 1;
/// Partition of the state machines.
pub const STATE_MACHINES_PK: &str = "local#state-machines";
/// Partition of the execution records by name.
pub const EXECUTIONS_PK: &str = "local#executions";
/// Partition of the executions still running.
pub const RUNNING_PK: &str = "local#running";
/// Error name of executions interrupted by a stop of the stack.
pub const STACK_STOPPED_ERROR: &str = "Ferry.StackStopped";
/// Partition of the definitions executions ran, by sha256.
pub const DEFINITIONS_PK: &str = "local#definitions";
/// Partition naming the definition each execution ran.
pub const EXECUTION_DEFINITIONS_PK: &str = "local#execution-definitions";

/// Partition listing the executions of one state machine by start time.
pub fn sm_executions_pk(state_machine: &str) -> String {
    format!("local#sm-executions#{state_machine}")
}

/// The embedded stack's orchestrator. Cheap to clone.
#[derive(Clone)]
pub struct LocalOrchestrator {
    table: Arc<dyn Table>,
    executor: Executor,
    runner: Option<ProcessRunner>,
    listeners: Listeners,
    live: Arc<Mutex<HashMap<ExecutionName, LiveExecution>>>,
    /// Bumped after every recorded end (and its listeners): what waiters wait on.
    ended: Arc<watch::Sender<u64>>,
    stop_grace: Duration,
}

/// An execution running in this process.
struct LiveExecution {
    /// Turns `true` to stop it.
    stop: watch::Sender<bool>,
    /// Turns `true` once its end is recorded and it no longer runs.
    done: watch::Receiver<bool>,
}

/// How an execution ends: what [`LocalOrchestrator::finish`] records.
struct Ending {
    status: ExecutionStatus,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
    failing_state: Option<String>,
}

impl Ending {
    /// `FAILED` with `error` and `cause`.
    fn failed(error: &str, cause: impl Into<String>) -> Self {
        Ending {
            status: ExecutionStatus::Failed,
            output: None,
            error: Some(error.to_string()),
            cause: Some(cause.into()),
            failing_state: None,
        }
    }

    /// The end of a run as the executor reports it. A failed Batch job names its step (from the
    /// job record in the cause) rather than the state that ran it.
    fn of_run(run: &Execution) -> Self {
        match run.status {
            ExecutionStatus::Succeeded => Ending {
                status: ExecutionStatus::Succeeded,
                output: Some(run.output.clone().unwrap_or_else(|| "null".into())),
                error: None,
                cause: None,
                failing_state: None,
            },
            ExecutionStatus::Aborted => Ending {
                status: ExecutionStatus::Aborted,
                output: None,
                error: Some(names::ABORTED.into()),
                cause: Some("Execution stopped".into()),
                failing_state: None,
            },
            ExecutionStatus::TimedOut => Ending {
                status: ExecutionStatus::TimedOut,
                output: None,
                error: Some(names::TIMEOUT.into()),
                cause: Some(run.cause.clone().unwrap_or_default()),
                failing_state: None,
            },
            ExecutionStatus::Failed | ExecutionStatus::Running => {
                let cause = run.cause.clone().unwrap_or_default();
                Ending {
                    status: ExecutionStatus::Failed,
                    output: None,
                    error: Some(
                        run.error
                            .clone()
                            .unwrap_or_else(|| names::TASK_FAILED.into()),
                    ),
                    failing_state: cause::failing_step(&cause).or(run.failing_state.clone()),
                    cause: Some(cause),
                }
            }
        }
    }
}

fn sm_id(name: &str) -> String {
    format!("local:stateMachine:{name}")
}

fn exec_id(sm: &str, name: &str) -> String {
    format!("local:execution:{sm}:{name}")
}

fn table_err(e: TableError) -> ControlError {
    match e {
        TableError::Transient(m) => ControlError::Transient(m),
        other => ControlError::Other(other.to_string()),
    }
}

fn item_err(e: ItemError) -> ControlError {
    ControlError::Other(e.to_string())
}

fn index_sk(e: &Execution) -> String {
    format!("{:015}#{}", e.start_date.timestamp_millis().max(0), e.name)
}

fn record_item(pk: String, sk: String, e: &Execution, full: bool) -> Item {
    let mut summary = e.clone();
    if !full {
        summary.input = None;
        summary.output = None;
    }
    let mut attrs = BTreeMap::new();
    attrs.insert(
        "record".to_string(),
        Attr::S(serde_json::to_string(&summary).unwrap_or_default()),
    );
    attrs.insert("status".to_string(), Attr::S(e.status.as_str().to_string()));
    attrs.insert(
        "state_machine".to_string(),
        Attr::S(e.state_machine.to_string()),
    );
    attrs.insert("schema_version".to_string(), Attr::N(SCHEMA_VERSION));
    Item { pk, sk, attrs }
}

impl LocalOrchestrator {
    /// An orchestrator over `table` running executions with `executor`. `runner`, when given,
    /// is the executor's Batch runner: the processes of a stopped execution are terminated
    /// through it even if the executor is slow to cancel, and [`Executions::running_jobs`]
    /// reads it. No listeners until [`LocalOrchestrator::with_listeners`].
    pub fn new(table: Arc<dyn Table>, executor: Executor, runner: Option<ProcessRunner>) -> Self {
        LocalOrchestrator {
            table,
            executor,
            runner,
            listeners: Listeners::new(),
            live: Arc::new(Mutex::new(HashMap::new())),
            ended: Arc::new(watch::channel(0).0),
            stop_grace: Duration::from_secs(15),
        }
    }

    /// Give every start and end to `listeners` (wire them before [`LocalOrchestrator::recover`],
    /// whose ends they see too).
    pub fn with_listeners(mut self, listeners: Listeners) -> Self {
        self.listeners = listeners;
        self
    }

    /// Mark every execution left `RUNNING` by an earlier run of the stack as `FAILED`
    /// (`Ferry.StackStopped`), each with its ended event. Call once at start, before starting
    /// executions. Returns their names.
    pub async fn recover(&self) -> Result<Vec<String>, ControlError> {
        let mut names = Vec::new();
        for item in self
            .table
            .query_all(RUNNING_PK, "")
            .await
            .map_err(table_err)?
        {
            names.push(item.sk);
        }
        for name in &names {
            let Ok(parsed) = ExecutionName::parse(name) else {
                // Not an execution this stack could have started: forget the marker.
                self.table
                    .delete(RUNNING_PK, name, Condition::None)
                    .await
                    .map_err(table_err)?;
                continue;
            };
            if self.is_live(&parsed) {
                continue;
            }
            match self.load(&parsed).await? {
                Some(e) if e.status == ExecutionStatus::Running => {
                    self.finish(
                        e,
                        Ending::failed(
                            STACK_STOPPED_ERROR,
                            "The Ferry stack stopped while the execution was running.",
                        ),
                    )
                    .await?;
                }
                _ => {
                    self.table
                        .delete(RUNNING_PK, name, Condition::None)
                        .await
                        .map_err(table_err)?;
                }
            }
        }
        Ok(names)
    }

    /// One execution by name, over every state machine.
    pub async fn load(&self, name: &ExecutionName) -> Result<Option<Execution>, ControlError> {
        match self
            .table
            .get(EXECUTIONS_PK, name)
            .await
            .map_err(table_err)?
        {
            Some(item) => Ok(Some(item.json("record").map_err(item_err)?)),
            None => Ok(None),
        }
    }

    /// One execution by name, only if it belongs to `state_machine` when that is given.
    pub async fn load_of(
        &self,
        name: &ExecutionName,
        state_machine: Option<&DeploymentName>,
    ) -> Result<Option<Execution>, ControlError> {
        Ok(self
            .load(name)
            .await?
            .filter(|e| state_machine.is_none_or(|sm| &e.state_machine == sm)))
    }

    /// [`LocalOrchestrator::load_of`], [`ControlError::NotFound`] when there is none.
    async fn existing(
        &self,
        name: &ExecutionName,
        state_machine: Option<&DeploymentName>,
    ) -> Result<Execution, ControlError> {
        self.load_of(name, state_machine)
            .await?
            .ok_or_else(|| ControlError::NotFound(format!("execution {name}")))
    }

    /// Every state machine, by name.
    pub async fn list_state_machines(&self) -> Result<Vec<StateMachine>, ControlError> {
        self.table
            .query_all(STATE_MACHINES_PK, "")
            .await
            .map_err(table_err)?
            .iter()
            .map(|item| item.json("record").map_err(item_err))
            .collect()
    }

    /// Names of the executions running in this process.
    pub fn running(&self) -> Vec<String> {
        self.live
            .lock()
            .map(|l| l.keys().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    fn is_live(&self, name: &ExecutionName) -> bool {
        self.live
            .lock()
            .map(|l| l.contains_key(name))
            .unwrap_or(false)
    }

    /// The Batch jobs of the execution `name` running (or waiting for a worker) now: empty when
    /// it runs none, has ended, or this orchestrator has no process runner.
    pub fn jobs_of(&self, name: &ExecutionName) -> Vec<RunningJob> {
        self.runner
            .as_ref()
            .map(|r| r.jobs_of(name))
            .unwrap_or_default()
            .into_iter()
            .map(|j| RunningJob {
                job_id: j.job_id,
                step: j.step,
                attempt: j.attempt,
                submitted_at: j.submitted_at,
                started_at: j.started_at,
            })
            .collect()
    }

    /// Stop the execution `name` (of `state_machine`, when given): see [`Executions::stop`].
    pub async fn stop_of(
        &self,
        name: &ExecutionName,
        state_machine: Option<&DeploymentName>,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<Execution, ControlError> {
        let e = self.existing(name, state_machine).await?;
        if e.status.is_terminal() {
            return Ok(e);
        }
        let stored = self
            .finish(
                e,
                Ending {
                    status: ExecutionStatus::Aborted,
                    output: None,
                    error: Some(error.unwrap_or(names::ABORTED).to_string()),
                    cause: Some(cause.unwrap_or("Execution stopped").to_string()),
                    failing_state: None,
                },
            )
            .await?;
        if let Some(done) = self.signal_stop(name, "Execution stopped") {
            wait_done(done, self.stop_grace).await;
        }
        Ok(stored)
    }

    /// Wait for the end of `name` (of `state_machine`, when given): see [`Executions::wait`].
    pub async fn wait_of(
        &self,
        name: &ExecutionName,
        state_machine: Option<&DeploymentName>,
        timeout: Duration,
    ) -> Result<Execution, ControlError> {
        // Subscribed before the first read: an end recorded in between still wakes us.
        let mut ended = self.ended.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let e = self.existing(name, state_machine).await?;
            if e.status.is_terminal() {
                return Ok(e);
            }
            tokio::select! {
                changed = ended.changed() => {
                    if changed.is_err() {
                        return Ok(e);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return Ok(e),
            }
        }
    }

    /// Stop every running execution (stack shutdown): each ends `FAILED` with
    /// `Ferry.StackStopped` (its ended event dispatched), and its processes are terminated.
    /// Waits for them to end.
    pub async fn shutdown(&self) {
        let names: Vec<ExecutionName> = self
            .live
            .lock()
            .map(|l| l.keys().cloned().collect())
            .unwrap_or_default();
        let mut waits = Vec::new();
        for name in names {
            let Ok(Some(e)) = self.load(&name).await else {
                continue;
            };
            if e.status == ExecutionStatus::Running {
                let _ = self
                    .finish(
                        e,
                        Ending::failed(
                            STACK_STOPPED_ERROR,
                            "The Ferry stack was stopped while the execution was running.",
                        ),
                    )
                    .await;
            }
            waits.push(self.signal_stop(&name, "The Ferry stack is stopping"));
        }
        for w in waits.into_iter().flatten() {
            wait_done(w, self.stop_grace).await;
        }
    }

    /// Record the end of `e` (only if it is still `RUNNING`), then dispatch its ended event and
    /// wake the waiters. Returns the stored record (the earlier end when one was recorded first).
    async fn finish(&self, mut e: Execution, end: Ending) -> Result<Execution, ControlError> {
        e.status = end.status;
        e.stop_date = Some(Utc::now());
        e.output = end.output;
        e.error = end.error;
        e.cause = end.cause;
        e.failing_state = end.failing_state;
        let ops = vec![
            WriteOp::Put {
                item: record_item(EXECUTIONS_PK.to_string(), e.name.to_string(), &e, true),
                condition: Condition::AttrEquals(
                    "status".into(),
                    Attr::S(ExecutionStatus::Running.as_str().into()),
                ),
            },
            WriteOp::Put {
                item: record_item(sm_executions_pk(&e.state_machine), index_sk(&e), &e, false),
                condition: Condition::None,
            },
            WriteOp::Delete {
                pk: RUNNING_PK.to_string(),
                sk: e.name.to_string(),
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => {
                self.listeners
                    .dispatch(&ExecutionEvent::ended(e.clone()))
                    .await;
                self.ended.send_modify(|n| *n += 1);
                Ok(e)
            }
            Err(TableError::ConditionFailed { .. }) => {
                // Already ended (stopped while the run was ending): keep what is stored.
                self.table
                    .delete(RUNNING_PK, &e.name, Condition::None)
                    .await
                    .map_err(table_err)?;
                self.load(&e.name)
                    .await?
                    .ok_or_else(|| ControlError::NotFound(format!("execution {}", e.name)))
            }
            Err(other) => Err(table_err(other)),
        }
    }

    /// Ask a live execution to stop and terminate its processes (the runner's process groups,
    /// at once, whether or not the executor has reached them); returns its completion signal.
    fn signal_stop(&self, name: &ExecutionName, reason: &str) -> Option<watch::Receiver<bool>> {
        let done = {
            let live = self.live.lock().ok()?;
            let l = live.get(name)?;
            let _ = l.stop.send(true);
            l.done.clone()
        };
        if let Some(r) = &self.runner {
            r.terminate_execution(name, reason);
        }
        Some(done)
    }

    async fn get_machine(&self, name: &str) -> Result<Option<StateMachine>, ControlError> {
        match self
            .table
            .get(STATE_MACHINES_PK, name)
            .await
            .map_err(table_err)?
        {
            Some(item) => Ok(Some(item.json("record").map_err(item_err)?)),
            None => Ok(None),
        }
    }

    /// Start an execution of `state_machine` on the definition it has now (`definition`
    /// `None`), or on the definition with sha256 `definition` (the current one, or an earlier
    /// one an execution ran: what a Step Functions version is to `StartExecution`). Records the
    /// definition the execution runs ([`Executions::definition`]). Errors: those of
    /// [`Executions::start`], and [`ControlError::NotFound`] for a definition no execution ran.
    pub async fn start_or_on_definition(
        &self,
        state_machine: &DeploymentName,
        name: Option<&ExecutionName>,
        input: &str,
        definition: Option<&str>,
    ) -> Result<Execution, ControlError> {
        let mut sm = self
            .get_machine(state_machine)
            .await?
            .ok_or_else(|| ControlError::NotFound(format!("state machine {state_machine}")))?;
        match definition {
            Some(sha) if sha != definition_sha256(&sm.definition) => {
                sm.definition = self.kept_definition(sha).await?.ok_or_else(|| {
                    ControlError::NotFound(format!(
                        "no execution of {state_machine} ran a definition with sha256 {sha}"
                    ))
                })?;
            }
            _ => {}
        }
        let name = name.cloned().unwrap_or_else(ExecutionName::random);
        let input_value: Value = serde_json::from_str(input)
            .map_err(|e| ControlError::Invalid(format!("the execution input is not JSON: {e}")))?;
        let e = Execution::running(
            name.clone(),
            exec_id(state_machine, &name),
            state_machine.clone(),
            Utc::now(),
            Some(input.to_string()),
        );
        let mut running = BTreeMap::new();
        running.insert(
            "state_machine".to_string(),
            Attr::S(state_machine.to_string()),
        );
        let sha = definition_sha256(&sm.definition);
        let ops = vec![
            WriteOp::Put {
                item: record_item(EXECUTIONS_PK.to_string(), name.to_string(), &e, true),
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: Item {
                    pk: DEFINITIONS_PK.to_string(),
                    sk: sha.clone(),
                    attrs: BTreeMap::from([(
                        "definition".to_string(),
                        Attr::S(sm.definition.clone()),
                    )]),
                },
                condition: Condition::None,
            },
            WriteOp::Put {
                item: Item {
                    pk: EXECUTION_DEFINITIONS_PK.to_string(),
                    sk: name.to_string(),
                    attrs: BTreeMap::from([("sha256".to_string(), Attr::S(sha))]),
                },
                condition: Condition::None,
            },
            WriteOp::Put {
                item: record_item(sm_executions_pk(state_machine), index_sk(&e), &e, false),
                condition: Condition::None,
            },
            WriteOp::Put {
                item: Item {
                    pk: RUNNING_PK.to_string(),
                    sk: name.to_string(),
                    attrs: running,
                },
                condition: Condition::None,
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => {
                return Err(ControlError::AlreadyExists(name.to_string()));
            }
            Err(other) => return Err(table_err(other)),
        }

        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(false);
        if let Ok(mut live) = self.live.lock() {
            live.insert(
                name.clone(),
                LiveExecution {
                    stop: stop_tx,
                    done: done_rx,
                },
            );
        }
        // Started before the run begins, so no listener sees its end first.
        self.listeners
            .dispatch(&ExecutionEvent::started(e.clone()))
            .await;
        let this = self.clone();
        let record = e.clone();
        tokio::spawn(async move {
            this.run(sm, record, input_value, stop_rx).await;
            if let Ok(mut live) = this.live.lock() {
                live.remove(&name);
            }
            let _ = done_tx.send(true);
        });
        Ok(e)
    }

    /// The definition execution `name` ran (of `state_machine` only, when given), if known:
    /// executions started before the stack kept definitions are not.
    pub async fn definition_of(
        &self,
        name: &ExecutionName,
        state_machine: Option<&DeploymentName>,
    ) -> Result<Option<String>, ControlError> {
        if self.load_of(name, state_machine).await?.is_none() {
            return Ok(None);
        }
        let Some(item) = self
            .table
            .get(EXECUTION_DEFINITIONS_PK, name)
            .await
            .map_err(table_err)?
        else {
            return Ok(None);
        };
        match item.str("sha256") {
            Ok(sha) => self.kept_definition(sha).await,
            Err(_) => Ok(None),
        }
    }

    /// The definition with sha256 `sha` an execution ran, if any.
    async fn kept_definition(&self, sha: &str) -> Result<Option<String>, ControlError> {
        match self
            .table
            .get(DEFINITIONS_PK, sha)
            .await
            .map_err(table_err)?
        {
            Some(item) => Ok(Some(item.str("definition").map_err(item_err)?.to_string())),
            None => Ok(None),
        }
    }

    /// Run the recorded execution `e` of `sm` to its end and record it; `stop` turns `true` when
    /// the execution is stopped.
    async fn run(&self, sm: StateMachine, e: Execution, input: Value, stop: watch::Receiver<bool>) {
        let end = match self.executor.validate(&sm.definition) {
            Err(err) => Ending::failed(names::RUNTIME, err.to_string()),
            Ok(machine) => {
                let handle = self.executor.start(machine, &sm.name, &e.name, input);
                let waiter = handle.clone();
                let mut stop = stop;
                let record = tokio::select! {
                    r = waiter.wait() => r,
                    _ = stopped(&mut stop) => {
                        handle.stop(Some(names::ABORTED), Some("Execution stopped"));
                        handle.wait().await
                    }
                };
                Ending::of_run(&record)
            }
        };
        let name = e.name.clone();
        if let Err(err) = self.finish(e, end).await {
            tracing::error!(execution = %name, "recording the end of the execution failed: {err}");
        }
    }
}

/// Resolves once `stop` reads `true` (never if its sender is dropped first).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

async fn wait_done(mut done: watch::Receiver<bool>, limit: Duration) {
    let _ = tokio::time::timeout(limit, done.wait_for(|d| *d)).await;
}

#[async_trait]
impl StateMachines for LocalOrchestrator {
    async fn put(
        &self,
        name: &DeploymentName,
        definition: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<StateMachineRef, ControlError> {
        self.executor
            .validate(definition)
            .map_err(|e| ControlError::Invalid(e.to_string()))?;
        let created_at = match self.get_machine(name).await? {
            Some(old) => old.created_at,
            None => Some(Utc::now()),
        };
        let sm = StateMachine {
            name: name.clone(),
            id: sm_id(name),
            definition: definition.to_string(),
            tags: tags.clone(),
            created_at,
        };
        let mut attrs = BTreeMap::new();
        attrs.insert(
            "record".to_string(),
            Attr::S(serde_json::to_string(&sm).map_err(|e| ControlError::Other(e.to_string()))?),
        );
        attrs.insert("schema_version".to_string(), Attr::N(SCHEMA_VERSION));
        self.table
            .put(
                Item {
                    pk: STATE_MACHINES_PK.to_string(),
                    sk: name.to_string(),
                    attrs,
                },
                Condition::None,
            )
            .await
            .map_err(table_err)?;
        Ok(sm.reference())
    }

    async fn get(&self, name: &DeploymentName) -> Result<Option<StateMachine>, ControlError> {
        self.get_machine(name).await
    }

    async fn delete(&self, name: &DeploymentName) -> Result<bool, ControlError> {
        let existed = self.get_machine(name).await?.is_some();
        self.table
            .delete(STATE_MACHINES_PK, name, Condition::None)
            .await
            .map_err(table_err)?;
        Ok(existed)
    }
}

#[async_trait]
impl Executions for LocalOrchestrator {
    async fn start(
        &self,
        state_machine: &DeploymentName,
        name: Option<&ExecutionName>,
        input: &str,
    ) -> Result<Execution, ControlError> {
        self.start_or_on_definition(state_machine, name, input, None)
            .await
    }

    async fn start_on_definition(
        &self,
        state_machine: &DeploymentName,
        name: Option<&ExecutionName>,
        input: &str,
        definition_sha256: &str,
    ) -> Result<Execution, ControlError> {
        self.start_or_on_definition(state_machine, name, input, Some(definition_sha256))
            .await
    }

    async fn state_machine(
        &self,
        name: &DeploymentName,
    ) -> Result<Option<StateMachine>, ControlError> {
        self.get_machine(name).await
    }

    async fn definition(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
    ) -> Result<Option<String>, ControlError> {
        self.definition_of(name, Some(state_machine)).await
    }

    async fn list(
        &self,
        state_machine: &DeploymentName,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<Execution>, ControlError> {
        if self.get_machine(state_machine).await?.is_none() {
            return Err(ControlError::NotFound(format!(
                "state machine {state_machine}"
            )));
        }
        let pk = sm_executions_pk(state_machine);
        let mut out = Vec::new();
        // Newest first.
        for item in self
            .table
            .query_all(&pk, "")
            .await
            .map_err(table_err)?
            .iter()
            .rev()
        {
            let e: Execution = item.json("record").map_err(item_err)?;
            if status.is_none_or(|s| s == e.status) {
                out.push(e);
            }
        }
        Ok(out)
    }

    async fn describe(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
    ) -> Result<Option<Execution>, ControlError> {
        self.load_of(name, Some(state_machine)).await
    }

    /// One lookup by name: names are unique over the stack (`candidates` is not needed).
    async fn find(
        &self,
        name: &ExecutionName,
        _candidates: &[DeploymentName],
    ) -> Result<Option<Execution>, ControlError> {
        self.load(name).await
    }

    async fn stop(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<Execution, ControlError> {
        self.stop_of(name, Some(state_machine), error, cause).await
    }

    async fn wait(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
        timeout: Duration,
    ) -> Result<Execution, ControlError> {
        self.wait_of(name, Some(state_machine), timeout).await
    }

    async fn running_jobs(
        &self,
        execution: &Execution,
    ) -> Result<Option<Vec<RunningJob>>, ControlError> {
        Ok(Some(self.jobs_of(&execution.name)))
    }
}
