//! The embedded stack's [`Orchestrator`]: state machines and executions stored durably on a
//! [`Table`] (the SQLite file of the Ferry home), executions run in-process by an [`Engine`] (the
//! state-machine executor).
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
//! `ferry status sfn-<name>` needs no state machine. When the stack starts, executions still in
//! `local#running` were interrupted by a stop of the stack: [`LocalOrchestrator::recover`] marks
//! them `FAILED` with error `Ferry.StackStopped`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_deploy::{
    Execution, ExecutionStatus, Orchestrator, OrchestratorError, StateMachine, StateMachineRef,
};
use ferry_store::{Attr, Condition, Item, Table, TableError, WriteOp};
use serde_json::Value;
use tokio::sync::watch;

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
pub use ferry_deploy::keys::definition_sha256;

/// Partition listing the executions of one state machine by start time.
pub fn sm_executions_pk(state_machine: &str) -> String {
    format!("local#sm-executions#{state_machine}")
}

/// What the orchestrator hands the executor for one execution.
#[derive(Debug, Clone)]
pub struct EngineRun {
    /// The state machine name.
    pub state_machine: String,
    /// The state machine id (`local:stateMachine:<name>`), `$$.StateMachine.Id`.
    pub state_machine_id: String,
    /// The definition the execution runs (the one in force when it started).
    pub definition: String,
    /// `$$.Execution.Name`.
    pub execution_name: String,
    /// `$$.Execution.Id`.
    pub execution_id: String,
    /// The execution input.
    pub input: Value,
    /// `$$.Execution.StartTime`.
    pub start_time: DateTime<Utc>,
}

/// How an execution ended, as the executor reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineOutcome {
    /// `SUCCEEDED` with this output.
    Succeeded(Value),
    /// `FAILED` with an error name, a cause and the state that failed (when known).
    Failed {
        error: String,
        cause: String,
        failing_state: Option<String>,
    },
    /// `TIMED_OUT` (the machine's `TimeoutSeconds`).
    TimedOut { cause: String },
    /// Stopped through the stop signal (the record is already `ABORTED`).
    Aborted,
}

/// The state-machine executor as the orchestrator drives it.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Reject a definition the executor cannot run (with a message naming the problem).
    fn validate(&self, definition: &str) -> Result<(), String>;
    /// Run one execution to its end. `stop` turns `true` when the execution is stopped: the
    /// engine then cancels what runs and returns [`EngineOutcome::Aborted`].
    async fn run(&self, run: EngineRun, stop: watch::Receiver<bool>) -> EngineOutcome;
}

/// The local orchestrator. Cheap to clone.
#[derive(Clone)]
pub struct LocalOrchestrator {
    table: Arc<dyn Table>,
    engine: Arc<dyn Engine>,
    runner: Option<ProcessRunner>,
    live: Arc<Mutex<HashMap<String, LiveExecution>>>,
    stop_grace: Duration,
}

struct LiveExecution {
    stop: watch::Sender<bool>,
    done: watch::Receiver<bool>,
}

fn sm_id(name: &str) -> String {
    format!("local:stateMachine:{name}")
}

fn exec_id(sm: &str, name: &str) -> String {
    format!("local:execution:{sm}:{name}")
}

fn valid_name(kind: &str, name: &str) -> Result<(), OrchestratorError> {
    let ok = !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(OrchestratorError::Invalid(format!(
            "{kind} name {name:?} must be 1 to 80 characters of letters, digits, '-', '_' or '.'"
        )))
    }
}

fn table_err(e: TableError) -> OrchestratorError {
    match e {
        TableError::Transient(m) => OrchestratorError::Transient(m),
        other => OrchestratorError::Other(other.to_string()),
    }
}

fn attr_s(item: &Item, name: &str) -> Option<String> {
    match item.attrs.get(name) {
        Some(Attr::S(s)) => Some(s.clone()),
        _ => None,
    }
}

fn decode<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, OrchestratorError> {
    let raw = attr_s(item, "record").ok_or_else(|| {
        OrchestratorError::Other(format!("item {}/{} has no record", item.pk, item.sk))
    })?;
    serde_json::from_str(&raw)
        .map_err(|e| OrchestratorError::Other(format!("corrupt item {}/{}: {e}", item.pk, item.sk)))
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
        Attr::S(e.state_machine.clone()),
    );
    attrs.insert("schema_version".to_string(), Attr::N(SCHEMA_VERSION));
    Item { pk, sk, attrs }
}

impl LocalOrchestrator {
    /// An orchestrator over `table` running executions with `engine`. `runner`, when given, has
    /// the processes of a stopped execution terminated even if the engine is slow to cancel.
    pub fn new(
        table: Arc<dyn Table>,
        engine: Arc<dyn Engine>,
        runner: Option<ProcessRunner>,
    ) -> Self {
        LocalOrchestrator {
            table,
            engine,
            runner,
            live: Arc::new(Mutex::new(HashMap::new())),
            stop_grace: Duration::from_secs(15),
        }
    }

    /// Mark every execution left `RUNNING` by an earlier run of the stack as `FAILED`
    /// (`Ferry.StackStopped`). Call once at start, before starting executions. Returns their names.
    pub async fn recover(&self) -> Result<Vec<String>, OrchestratorError> {
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
            if self
                .live
                .lock()
                .map(|l| l.contains_key(name))
                .unwrap_or(false)
            {
                continue;
            }
            match self.load(name).await? {
                Some(e) if e.status == ExecutionStatus::Running => {
                    self.finish(
                        e,
                        ExecutionStatus::Failed,
                        None,
                        Some(STACK_STOPPED_ERROR.to_string()),
                        Some(
                            "The Ferry stack stopped while the execution was running.".to_string(),
                        ),
                        None,
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
    pub async fn load(&self, name: &str) -> Result<Option<Execution>, OrchestratorError> {
        match self
            .table
            .get(EXECUTIONS_PK, name)
            .await
            .map_err(table_err)?
        {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// Every state machine, by name.
    pub async fn list_state_machines(&self) -> Result<Vec<StateMachine>, OrchestratorError> {
        let mut out = Vec::new();
        for item in self
            .table
            .query_all(STATE_MACHINES_PK, "")
            .await
            .map_err(table_err)?
        {
            out.push(decode(&item)?);
        }
        Ok(out)
    }

    /// Names of the executions running in this process.
    pub fn running(&self) -> Vec<String> {
        self.live
            .lock()
            .map(|l| l.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The Batch jobs of the execution `name` running (or waiting for a worker) now: empty when
    /// it runs none, has ended, or this orchestrator has no process runner.
    pub fn jobs_of(&self, name: &str) -> Vec<crate::runner::LiveJob> {
        self.runner
            .as_ref()
            .map(|r| r.jobs_of(name))
            .unwrap_or_default()
    }

    /// Stop every running execution (stack shutdown): each ends `FAILED` with
    /// `Ferry.StackStopped`, and its processes are terminated. Waits for them to end.
    pub async fn shutdown(&self) {
        let names = self.running();
        let mut waits = Vec::new();
        for name in names {
            let Ok(Some(e)) = self.load(&name).await else {
                continue;
            };
            if e.status == ExecutionStatus::Running {
                let _ = self
                    .finish(
                        e,
                        ExecutionStatus::Failed,
                        None,
                        Some(STACK_STOPPED_ERROR.to_string()),
                        Some(
                            "The Ferry stack was stopped while the execution was running."
                                .to_string(),
                        ),
                        None,
                    )
                    .await;
            }
            waits.push(self.signal_stop(&name, "The Ferry stack is stopping"));
        }
        for w in waits.into_iter().flatten() {
            wait_done(w, self.stop_grace).await;
        }
    }

    /// Write the terminal state of `e` (only if it is still `RUNNING`). Returns the stored record.
    async fn finish(
        &self,
        mut e: Execution,
        status: ExecutionStatus,
        output: Option<String>,
        error: Option<String>,
        cause: Option<String>,
        failing_state: Option<String>,
    ) -> Result<Execution, OrchestratorError> {
        e.status = status;
        e.stop_date = Some(Utc::now());
        e.output = output;
        e.error = error;
        e.cause = cause;
        e.failing_state = failing_state;
        let ops = vec![
            WriteOp::Put {
                item: record_item(EXECUTIONS_PK.to_string(), e.name.clone(), &e, true),
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
                sk: e.name.clone(),
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(e),
            Err(TableError::ConditionFailed { .. }) => {
                // Already finished (stopped while the engine was ending): keep what is stored.
                self.table
                    .delete(RUNNING_PK, &e.name, Condition::None)
                    .await
                    .map_err(table_err)?;
                self.load(&e.name)
                    .await?
                    .ok_or_else(|| OrchestratorError::NotFound(e.name.clone()))
            }
            Err(other) => Err(table_err(other)),
        }
    }

    /// Ask a live execution to stop and terminate its processes; returns its completion signal.
    fn signal_stop(&self, name: &str, reason: &str) -> Option<watch::Receiver<bool>> {
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

    async fn get_machine(&self, name: &str) -> Result<Option<StateMachine>, OrchestratorError> {
        match self
            .table
            .get(STATE_MACHINES_PK, name)
            .await
            .map_err(table_err)?
        {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }
}

async fn wait_done(mut done: watch::Receiver<bool>, limit: Duration) {
    let _ = tokio::time::timeout(limit, done.wait_for(|d| *d)).await;
}

#[async_trait]
impl Orchestrator for LocalOrchestrator {
    async fn put_state_machine(
        &self,
        name: &str,
        definition: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<StateMachineRef, OrchestratorError> {
        valid_name("state machine", name)?;
        self.engine
            .validate(definition)
            .map_err(OrchestratorError::Invalid)?;
        let created_at = match self.get_machine(name).await? {
            Some(old) => old.created_at,
            None => Some(Utc::now()),
        };
        let sm = StateMachine {
            name: name.to_string(),
            id: sm_id(name),
            definition: definition.to_string(),
            tags: tags.clone(),
            created_at,
        };
        let mut attrs = BTreeMap::new();
        attrs.insert(
            "record".to_string(),
            Attr::S(
                serde_json::to_string(&sm).map_err(|e| OrchestratorError::Other(e.to_string()))?,
            ),
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
        Ok(StateMachineRef {
            name: name.to_string(),
            id: sm.id,
        })
    }

    async fn get_state_machine(
        &self,
        name: &str,
    ) -> Result<Option<StateMachine>, OrchestratorError> {
        self.get_machine(name).await
    }

    async fn delete_state_machine(&self, name: &str) -> Result<bool, OrchestratorError> {
        let existed = self.get_machine(name).await?.is_some();
        self.table
            .delete(STATE_MACHINES_PK, name, Condition::None)
            .await
            .map_err(table_err)?;
        Ok(existed)
    }

    async fn start_execution(
        &self,
        state_machine: &str,
        execution_name: Option<&str>,
        input: &str,
    ) -> Result<Execution, OrchestratorError> {
        self.start_with_definition(state_machine, execution_name, input, None)
            .await
    }

    async fn list_executions(
        &self,
        state_machine: &str,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<Execution>, OrchestratorError> {
        if self.get_machine(state_machine).await?.is_none() {
            return Err(OrchestratorError::NotFound(format!(
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
            let e: Execution = decode(item)?;
            if status.is_none_or(|s| s == e.status) {
                out.push(e);
            }
        }
        Ok(out)
    }

    async fn describe_execution(
        &self,
        state_machine: &str,
        execution: &str,
    ) -> Result<Option<Execution>, OrchestratorError> {
        let name = execution.rsplit(':').next().unwrap_or(execution);
        Ok(self
            .load(name)
            .await?
            .filter(|e| state_machine.is_empty() || e.state_machine == state_machine))
    }

    async fn stop_execution(
        &self,
        state_machine: &str,
        execution: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<Execution, OrchestratorError> {
        let e = self
            .describe_execution(state_machine, execution)
            .await?
            .ok_or_else(|| OrchestratorError::NotFound(format!("execution {execution}")))?;
        if e.status.is_terminal() {
            return Ok(e);
        }
        let name = e.name.clone();
        let stored = self
            .finish(
                e,
                ExecutionStatus::Aborted,
                None,
                Some(error.unwrap_or("States.Aborted").to_string()),
                Some(cause.unwrap_or("Execution stopped").to_string()),
                None,
            )
            .await?;
        if let Some(done) = self.signal_stop(&name, "Execution stopped") {
            wait_done(done, self.stop_grace).await;
        }
        Ok(stored)
    }
}

/// Executions on an earlier definition (`ferry resume` runs the version its origin ran).
impl LocalOrchestrator {
    /// Start an execution of `state_machine` running the definition it has now (`None`), or the
    /// earlier definition with sha256 `definition` that an execution ran (what a Step Functions
    /// version is to `StartExecution`). Errors: those of [`Orchestrator::start_execution`], and
    /// [`OrchestratorError::NotFound`] for a definition no execution ran.
    pub async fn start_with_definition(
        &self,
        state_machine: &str,
        execution_name: Option<&str>,
        input: &str,
        definition: Option<&str>,
    ) -> Result<Execution, OrchestratorError> {
        let sm = self
            .get_machine(state_machine)
            .await?
            .ok_or_else(|| OrchestratorError::NotFound(format!("state machine {state_machine}")))?;
        let definition = match definition {
            None => sm.definition.clone(),
            Some(sha) if sha == definition_sha256(&sm.definition) => sm.definition.clone(),
            Some(sha) => self.kept_definition(sha).await?.ok_or_else(|| {
                OrchestratorError::NotFound(format!(
                    "no execution of {state_machine} ran a definition with sha256 {sha}"
                ))
            })?,
        };
        let name = match execution_name {
            Some(n) => {
                valid_name("execution", n)?;
                n.to_string()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let input_value: Value = serde_json::from_str(input).map_err(|e| {
            OrchestratorError::Invalid(format!("the execution input is not JSON: {e}"))
        })?;
        let e = Execution {
            name: name.clone(),
            id: exec_id(state_machine, &name),
            state_machine: state_machine.to_string(),
            status: ExecutionStatus::Running,
            start_date: Utc::now(),
            stop_date: None,
            input: Some(input.to_string()),
            output: None,
            error: None,
            cause: None,
            failing_state: None,
        };
        let mut running = BTreeMap::new();
        running.insert(
            "state_machine".to_string(),
            Attr::S(state_machine.to_string()),
        );
        let sha = definition_sha256(&definition);
        let ops = vec![
            WriteOp::Put {
                item: record_item(EXECUTIONS_PK.to_string(), name.clone(), &e, true),
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: Item {
                    pk: DEFINITIONS_PK.to_string(),
                    sk: sha.clone(),
                    attrs: BTreeMap::from([(
                        "definition".to_string(),
                        Attr::S(definition.clone()),
                    )]),
                },
                condition: Condition::None,
            },
            WriteOp::Put {
                item: Item {
                    pk: EXECUTION_DEFINITIONS_PK.to_string(),
                    sk: name.clone(),
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
                    sk: name.clone(),
                    attrs: running,
                },
                condition: Condition::None,
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => {
                return Err(OrchestratorError::ExecutionAlreadyExists(name));
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
        let run = EngineRun {
            state_machine: state_machine.to_string(),
            state_machine_id: sm.id.clone(),
            definition,
            execution_name: name.clone(),
            execution_id: e.id.clone(),
            input: input_value,
            start_time: e.start_date,
        };
        let this = self.clone();
        let record = e.clone();
        tokio::spawn(async move {
            let outcome = this.engine.run(run, stop_rx).await;
            let result = match outcome {
                EngineOutcome::Succeeded(out) => {
                    this.finish(
                        record,
                        ExecutionStatus::Succeeded,
                        Some(out.to_string()),
                        None,
                        None,
                        None,
                    )
                    .await
                }
                EngineOutcome::Failed {
                    error,
                    cause,
                    failing_state,
                } => {
                    this.finish(
                        record,
                        ExecutionStatus::Failed,
                        None,
                        Some(error),
                        Some(cause),
                        failing_state,
                    )
                    .await
                }
                EngineOutcome::TimedOut { cause } => {
                    this.finish(
                        record,
                        ExecutionStatus::TimedOut,
                        None,
                        Some("States.Timeout".into()),
                        Some(cause),
                        None,
                    )
                    .await
                }
                EngineOutcome::Aborted => {
                    this.finish(
                        record,
                        ExecutionStatus::Aborted,
                        None,
                        Some("States.Aborted".into()),
                        Some("Execution stopped".into()),
                        None,
                    )
                    .await
                }
            };
            if let Err(err) = result {
                tracing::error!(execution = %name, "recording the end of the execution failed: {err}");
            }
            if let Ok(mut live) = this.live.lock() {
                live.remove(&name);
            }
            let _ = done_tx.send(true);
        });
        Ok(e)
    }

    /// The definition execution `name` ran, if known (executions started before the stack kept
    /// definitions are not).
    pub async fn execution_definition(
        &self,
        name: &str,
    ) -> Result<Option<String>, OrchestratorError> {
        let Some(item) = self
            .table
            .get(EXECUTION_DEFINITIONS_PK, name)
            .await
            .map_err(table_err)?
        else {
            return Ok(None);
        };
        match attr_s(&item, "sha256") {
            Some(sha) => self.kept_definition(&sha).await,
            None => Ok(None),
        }
    }

    async fn kept_definition(&self, sha: &str) -> Result<Option<String>, OrchestratorError> {
        Ok(self
            .table
            .get(DEFINITIONS_PK, sha)
            .await
            .map_err(table_err)?
            .and_then(|item| attr_s(&item, "definition")))
    }
}
