//! From an event to started runs, for every caller of the engine: the embedded stack (its
//! publish route and its run-succeeded listener, `ferry_local::events`) and the AWS events
//! Lambda (`functions/events`). One [`Dispatcher`] reads the subscriptions from the deployment
//! records, hands the event to the [`Engine`], and starts each run the engine decides through
//! [`Executions::start`] under the decision's execution name, its parameters moved to a blob
//! first when they are too long for Batch's container overrides (as `ferry trigger` does,
//! [`ferry_deploy::run_input`]).
//!
//! An execution of the decision's name existing already is success (a redelivery, or a start a
//! crash interrupted and a redelivery completes), so nothing starts twice.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_control::{
    ControlError, Execution, ExecutionEvent, ExecutionEventKind, ExecutionListener, ExecutionName,
    ExecutionStatus, Executions, ListenerError,
};
use ferry_deploy::record::RecordError;
use ferry_deploy::run_input::{RunInputError, offload_long_parameters};
use ferry_deploy::{DeploymentRecord, DeploymentStore};
use ferry_store::{Blobs, Table};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Outcome, Receipt, Subscription};
use crate::event::{Event, EventSummary, RunSucceeded};
use crate::log::LoggedOutcome;
use crate::start::StartDecision;

/// Why an event could not be processed. The publisher (or EventBridge) may deliver it again:
/// deliveries are deduplicated by event id, so a retry starts nothing twice.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The engine's state store failed.
    #[error(transparent)]
    Engine(#[from] crate::EventsError),
    /// The deployment records could not be read.
    #[error("reading the deployment records: {0}")]
    Records(#[from] RecordError),
    /// A start failed in a way a retry may fix (throttled, the store was busy).
    #[error("starting {run_id} of {deployment}: {error}; publish the event again")]
    Start {
        /// The deployment.
        deployment: String,
        /// The run that did not start.
        run_id: String,
        /// Why.
        error: ControlError,
    },
    /// The run's long parameters could not be stored (the blob store failed transiently).
    #[error("starting {run_id} of {deployment}: {error}; publish the event again")]
    Parameters {
        /// The deployment.
        deployment: String,
        /// The run that did not start.
        run_id: String,
        /// Why.
        error: RunInputError,
    },
    /// No executions bound yet ([`Dispatcher::bind`] not called: the stack is still starting).
    #[error("the Ferry stack is still starting; publish the event again")]
    NotReady,
}

/// What one deployment did with a delivered event: the log's [`LoggedOutcome`] (`deployment`,
/// `outcome`, `run_id`, `reason`, `missing`), its flow, and whether this delivery started the
/// run (`false` for a duplicate whose run exists already).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveredOutcome {
    /// As logged.
    #[serde(flatten)]
    pub logged: LoggedOutcome,
    /// The deployment's flow class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// The execution name of the run (`run_id` is `sfn-<it>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_name: Option<String>,
    /// This delivery started the run now.
    #[serde(default)]
    pub started: bool,
    /// Why the decided run could not start (its state machine is gone, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_error: Option<String>,
}

/// The answer to a delivery: the event as Ferry read it and what each deployment did with it.
///
/// JSON: `{"event": {"name", "id", "timestamp", "origin"}, "received_at": RFC 3339,
/// "deployments": [{"deployment", "flow", "outcome", "run_id", "execution_name", "started",
/// "reason", "missing"}], "message": "<one line>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The event.
    pub event: EventSummary,
    /// When it was processed.
    pub received_at: DateTime<Utc>,
    /// One per deployment whose trigger waits for the event; empty when none does.
    pub deployments: Vec<DeliveredOutcome>,
    /// A one-line summary ("started DailySalesReportFlow/sfn-ev-…", "no deployment waits for
    /// the event data_ready").
    pub message: String,
}

impl Delivery {
    /// The runs this delivery started now.
    pub fn started(&self) -> impl Iterator<Item = &DeliveredOutcome> {
        self.deployments.iter().filter(|d| d.started)
    }
}

/// The engine, the deployment records it reads the subscriptions from, the executions it starts
/// runs with (bound once they exist: on the embedded stack the orchestrator's listeners include
/// a [`RunSucceededListener`] of this dispatcher) and the blob store long parameters go to.
/// Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    engine: Engine,
    deployments: DeploymentStore,
    executions: Arc<OnceLock<Arc<dyn Executions>>>,
    blobs: Option<Arc<dyn Blobs>>,
}

impl Dispatcher {
    /// A dispatcher reading deployment records from `records` (the Ferry table) and keeping the
    /// engine's state on `state` (the embedded stack passes its one table twice; on AWS the
    /// state table, whose DynamoDB TTL removes expired items).
    pub fn new(records: Arc<dyn Table>, state: Arc<dyn Table>) -> Self {
        Dispatcher {
            engine: Engine::new(state),
            deployments: DeploymentStore::new(records),
            executions: Arc::new(OnceLock::new()),
            blobs: None,
        }
    }

    /// Move parameters too long for Batch's container overrides to `blobs` before a start
    /// (the store the task wrapper reads `params/` from). Without it inputs start unchanged.
    pub fn with_blobs(mut self, blobs: Arc<dyn Blobs>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Start runs with `executions` from now on (the first binding wins).
    pub fn bind(&self, executions: Arc<dyn Executions>) {
        let _ = self.executions.set(executions);
    }

    /// The engine (its recent-events log).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The deployment records.
    pub fn deployments(&self) -> &DeploymentStore {
        &self.deployments
    }

    fn bound(&self) -> Result<Arc<dyn Executions>, DeliveryError> {
        self.executions
            .get()
            .cloned()
            .ok_or(DeliveryError::NotReady)
    }

    /// Process one delivery of `event` at `now` against every deployment with a trigger (read
    /// from the records now, so a deploy or a delete takes effect at once); start what the
    /// engine decides.
    pub async fn deliver(
        &self,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<Delivery, DeliveryError> {
        let executions = self.bound()?;
        let records: Vec<DeploymentRecord> = self
            .deployments
            .list()
            .await?
            .into_iter()
            .filter(|r| r.triggers.is_some())
            .collect();
        let subscriptions: Vec<Subscription> = records.iter().filter_map(subscription).collect();
        let receipt = self.engine.receive(event, &subscriptions, now).await?;
        self.start_all(executions.as_ref(), receipt, &records).await
    }

    /// Process one delivery of `event` addressed to `deployment` (on AWS an EventBridge rule
    /// targets one deployment): a deployment deleted since, or without a trigger now, starts
    /// nothing and the log says so (`no_deployment`).
    pub async fn deliver_to(
        &self,
        event: &Event,
        deployment: &str,
        now: DateTime<Utc>,
    ) -> Result<Delivery, DeliveryError> {
        let executions = self.bound()?;
        let record = self.deployments.get(deployment).await?;
        let sub = record.as_ref().and_then(subscription);
        let receipt = self
            .engine
            .receive_for(event, deployment, sub.as_ref(), now)
            .await?;
        let records: Vec<DeploymentRecord> = record.into_iter().collect();
        self.start_all(executions.as_ref(), receipt, &records).await
    }

    /// The event a succeeded execution raises for `@trigger_on_finish` ([`Event::run_succeeded`]),
    /// from the deployment record of its state machine; `None` when the execution did not
    /// succeed or its state machine has no record (nobody can wait for it).
    pub async fn run_succeeded(&self, e: &Execution) -> Result<Option<Event>, RecordError> {
        if e.status != ExecutionStatus::Succeeded {
            return Ok(None);
        }
        let record = match self.deployments.get(e.state_machine.as_str()).await? {
            Some(r) => r,
            None => match self
                .deployments
                .list()
                .await?
                .into_iter()
                .find(|r| r.state_machine.name == e.state_machine)
            {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        Ok(Some(Event::run_succeeded(&RunSucceeded {
            flow: record.flow.clone(),
            run_id: e.run_id().to_string(),
            end_task_id: None,
            project: record.project.clone(),
            branch: record.branch.clone(),
            finished_at: e.stop_date.unwrap_or_else(Utc::now),
        })))
    }

    async fn start_all(
        &self,
        executions: &dyn Executions,
        receipt: Receipt,
        records: &[DeploymentRecord],
    ) -> Result<Delivery, DeliveryError> {
        let mut deployments = Vec::new();
        for d in &receipt.deployments {
            let record = records.iter().find(|r| r.deployment == d.deployment);
            let mut out = DeliveredOutcome {
                logged: LoggedOutcome::from(d),
                flow: record.map(|r| r.flow.clone()),
                execution_name: None,
                started: false,
                start_error: None,
            };
            let start = match &d.outcome {
                Outcome::Start { start } => Some(start),
                Outcome::Duplicate { start, .. } => start.as_ref(),
                _ => None,
            };
            if let (Some(start), Some(record)) = (start, record) {
                out.execution_name = Some(start.execution_name.clone());
                let duplicate = matches!(d.outcome, Outcome::Duplicate { .. });
                match self.start_run(executions, record, start, duplicate).await {
                    Ok(started) => out.started = started,
                    Err(e) if e.is_transient() => return Err(e.into_delivery_error(start)),
                    Err(e) => out.start_error = Some(e.to_string()),
                }
            }
            deployments.push(out);
        }
        let message = summary(&receipt.event, &deployments);
        Ok(Delivery {
            event: receipt.event,
            received_at: receipt.received_at,
            deployments,
            message,
        })
    }

    /// Start `start` on `record`'s state machine: `Ok(true)` when it started now, `Ok(false)`
    /// when an execution of its name exists already.
    ///
    /// A `duplicate` delivery's start only completes a start a crash or a missing state machine
    /// interrupted, so it first looks the execution up: Step Functions answers a repeated
    /// `StartExecution` of a running execution with that execution, not an error, and only the
    /// lookup tells "started now" from "started by the first delivery".
    async fn start_run(
        &self,
        executions: &dyn Executions,
        record: &DeploymentRecord,
        start: &StartDecision,
        duplicate: bool,
    ) -> Result<bool, StartError> {
        let name = ExecutionName::parse(&start.execution_name)
            .map_err(|e| StartError::Control(ControlError::Invalid(e.to_string())))?;
        if duplicate
            && executions
                .describe(&record.state_machine.name, &name)
                .await
                .map_err(StartError::Control)?
                .is_some()
        {
            return Ok(false);
        }
        let input = match &self.blobs {
            Some(blobs) => offload_long_parameters(blobs.as_ref(), start.input.clone())
                .await
                .map_err(StartError::Parameters)?,
            None => start.input.clone(),
        };
        match executions
            .start(&record.state_machine.name, Some(&name), &input)
            .await
        {
            Ok(_) => Ok(true),
            Err(ControlError::AlreadyExists(_)) => Ok(false),
            Err(e) => Err(StartError::Control(e)),
        }
    }
}

/// Why one start failed.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Control(ControlError),
    #[error(transparent)]
    Parameters(RunInputError),
}

impl StartError {
    fn is_transient(&self) -> bool {
        match self {
            StartError::Control(e) => e.is_transient(),
            StartError::Parameters(e) => e.is_transient(),
        }
    }

    fn into_delivery_error(self, start: &StartDecision) -> DeliveryError {
        let (deployment, run_id) = (start.deployment.clone(), start.run_id.clone());
        match self {
            StartError::Control(error) => DeliveryError::Start {
                deployment,
                run_id,
                error,
            },
            StartError::Parameters(error) => DeliveryError::Parameters {
                deployment,
                run_id,
                error,
            },
        }
    }
}

/// The subscription of a record with a trigger.
fn subscription(r: &DeploymentRecord) -> Option<Subscription> {
    Some(Subscription {
        deployment: r.deployment.clone(),
        trigger: r.triggers.clone()?,
    })
}

/// The one-line summary of a delivery.
fn summary(event: &EventSummary, deployments: &[DeliveredOutcome]) -> String {
    if deployments.is_empty() {
        return format!(
            "no deployment waits for the event {}; nothing started",
            event.name
        );
    }
    let parts: Vec<String> = deployments
        .iter()
        .map(|d| {
            let who = d.flow.as_deref().unwrap_or(&d.logged.deployment);
            let run = d.logged.run_id.as_deref().unwrap_or("");
            if let Some(error) = &d.start_error {
                return format!("{who}: the run {run} could not start: {error}");
            }
            match d.logged.outcome.as_str() {
                _ if d.started => format!("started {who}/{run}"),
                "started" | "duplicate" if !run.is_empty() => {
                    format!("{who}: already delivered, its run {who}/{run} exists")
                }
                "waiting" => format!("{who} waits for {} too", d.logged.missing.join(", ")),
                "duplicate" => format!(
                    "{who}: {}",
                    d.logged.reason.as_deref().unwrap_or("already delivered")
                ),
                _ => format!(
                    "{who} refused it: {}",
                    d.logged.reason.as_deref().unwrap_or("no reason given")
                ),
            }
        })
        .collect();
    parts.join("; ")
}

/// The `@trigger_on_finish` half as a lifecycle listener: when an execution ends `SUCCEEDED`,
/// the event Metaflow's Argo decorator publishes from the `end` step
/// ([`Dispatcher::run_succeeded`]) goes to every deployment waiting for it. Runs of state
/// machines without a deployment record raise nothing; failed, timed-out and aborted runs raise
/// nothing.
pub struct RunSucceededListener {
    dispatcher: Dispatcher,
}

impl RunSucceededListener {
    /// The listener delivering to `dispatcher`.
    pub fn new(dispatcher: Dispatcher) -> Self {
        RunSucceededListener { dispatcher }
    }
}

#[async_trait]
impl ExecutionListener for RunSucceededListener {
    fn name(&self) -> &str {
        "trigger_on_finish"
    }

    async fn on_event(&self, event: &ExecutionEvent) -> Result<(), ListenerError> {
        if event.kind != ExecutionEventKind::Ended {
            return Ok(());
        }
        let Some(raised) = self.dispatcher.run_succeeded(&event.execution).await? else {
            return Ok(());
        };
        let delivery = self.dispatcher.deliver(&raised, Utc::now()).await?;
        if !delivery.deployments.is_empty() {
            tracing::info!(event = %raised.id, "{}", delivery.message);
        }
        Ok(())
    }
}
