//! Event-started runs on the embedded stack (`docs/events.md`): the publish route and the
//! `@trigger_on_finish` listener, both handing events to the one [`ferry_events::Engine`] (its
//! state on the stack's table) and starting what it decides through [`Executions::start`].
//!
//! | method and path | what | answer |
//! |---|---|---|
//! | `POST /ferry/v1/events` | publish: the body Metaflow's `ArgoEvent(name).publish(payload)` POSTs to `METAFLOW_ARGO_EVENTS_WEBHOOK_URL` (`metaflow/plugins/argo/argo_events.py`), which `ferry publish` sends too | [`Delivery`]: 202 when a run started, else 200 (nothing new started: no deployment waits for the event, a duplicate, a refusal, waiting for other events); 400 for a body that is no event; 503 when the state store or the start failed (publish again: deliveries are deduplicated by event id) |
//! | `GET /ferry/v1/events?limit=N` | the recent-events log, newest first (default 50, at most 1,000) | `[LogEntry]` |
//!
//! The subscriptions are the deployment records' `triggers`, read at each event, so a deploy or
//! a delete takes effect at once. Each start uses the decision's execution name: an execution
//! of that name already existing is success (a redelivery, or a start a crash interrupted and a
//! redelivery completes), so nothing starts twice.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use ferry_control::{
    ControlError, ExecutionEvent, ExecutionEventKind, ExecutionListener, ExecutionName,
    ExecutionStatus, Executions, ListenerError,
};
use ferry_deploy::{DeploymentRecord, DeploymentStore};
use ferry_events::{
    Engine, Event, EventSummary, LogEntry, LoggedOutcome, Outcome, RunSucceeded, StartDecision,
    Subscription,
};
use ferry_store::Table;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The publish route, under the control API's prefix.
pub const EVENTS_ROUTE: &str = "/ferry/v1/events";

/// The URL Metaflow's `ArgoEvent(...).publish()` posts to for the stack at `url` (its base URL):
/// the value of `METAFLOW_ARGO_EVENTS_WEBHOOK_URL`.
pub fn events_url(url: &str) -> String {
    format!("{}{EVENTS_ROUTE}", url.trim_end_matches('/'))
}

/// Why an event could not be processed. The publisher may deliver it again (deliveries are
/// deduplicated by event id, so a retry starts nothing twice).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The engine's state store failed.
    #[error(transparent)]
    Engine(#[from] ferry_events::EventsError),
    /// The deployment records could not be read.
    #[error("reading the deployment records: {0}")]
    Records(#[from] ferry_deploy::record::RecordError),
    /// A start failed in a way a retry may fix (the executions store was busy).
    #[error("starting {run_id} of {deployment}: {error}; publish the event again")]
    Start {
        /// The deployment.
        deployment: String,
        /// The run that did not start.
        run_id: String,
        /// Why.
        error: ControlError,
    },
    /// The stack is still starting ([`StackEvents::bind`] not called yet).
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

/// The answer to a publish: the event as Ferry read it and what each deployment did with it.
///
/// JSON: `{"event": {"name", "id", "timestamp", "origin"}, "received_at": RFC 3339,
/// "deployments": [{"deployment", "flow", "outcome", "run_id", "execution_name", "started",
/// "reason", "missing"}], "message": "<one line>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The event.
    pub event: EventSummary,
    /// When the stack processed it.
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

/// The engine on the stack, the deployment records it reads the subscriptions from, and the
/// executions it starts runs with (bound once the orchestrator exists, since the orchestrator's
/// listeners include [`RunSucceededListener`]). Cheap to clone.
#[derive(Clone)]
pub struct StackEvents {
    engine: Engine,
    deployments: DeploymentStore,
    executions: Arc<OnceLock<Arc<dyn Executions>>>,
}

impl StackEvents {
    /// Events over `table` (the stack's `ferry.db`: deployment records and the engine's state).
    pub fn new(table: Arc<dyn Table>) -> Self {
        StackEvents {
            engine: Engine::new(table.clone()),
            deployments: DeploymentStore::new(table),
            executions: Arc::new(OnceLock::new()),
        }
    }

    /// Start runs with `executions` from now on (the first binding wins).
    pub fn bind(&self, executions: Arc<dyn Executions>) {
        let _ = self.executions.set(executions);
    }

    /// The engine (its recent-events log).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Process one delivery of `event` at `now`: every deployment whose trigger waits for it
    /// decides, and each run decided is started under its decision's execution name.
    pub async fn deliver(
        &self,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<Delivery, DeliveryError> {
        let executions = self
            .executions
            .get()
            .ok_or(DeliveryError::NotReady)?
            .clone();
        let records: Vec<DeploymentRecord> = self
            .deployments
            .list()
            .await?
            .into_iter()
            .filter(|r| r.triggers.is_some())
            .collect();
        let subscriptions: Vec<Subscription> = records
            .iter()
            .filter_map(|r| {
                Some(Subscription {
                    deployment: r.deployment.clone(),
                    trigger: r.triggers.clone()?,
                })
            })
            .collect();
        let receipt = self.engine.receive(event, &subscriptions, now).await?;
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
                match start_run(executions.as_ref(), record, start).await {
                    Ok(started) => out.started = started,
                    Err(error) if error.is_transient() => {
                        return Err(DeliveryError::Start {
                            deployment: d.deployment.clone(),
                            run_id: start.run_id.clone(),
                            error,
                        });
                    }
                    Err(error) => out.start_error = Some(error.to_string()),
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
}

/// Start `start` on `record`'s state machine: `Ok(true)` when it started now, `Ok(false)` when
/// an execution of its name exists already.
async fn start_run(
    executions: &dyn Executions,
    record: &DeploymentRecord,
    start: &StartDecision,
) -> Result<bool, ControlError> {
    let name = ExecutionName::parse(&start.execution_name)
        .map_err(|e| ControlError::Invalid(e.to_string()))?;
    match executions
        .start(&record.state_machine.name, Some(&name), &start.input)
        .await
    {
        Ok(_) => Ok(true),
        Err(ControlError::AlreadyExists(_)) => Ok(false),
        Err(e) => Err(e),
    }
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

/// The `@trigger_on_finish` half: when an execution ends `SUCCEEDED`, the event Metaflow's Argo
/// decorator publishes from the `end` step ([`Event::run_succeeded`]) goes to the same engine,
/// so the downstream deployments start. Runs of state machines without a deployment record
/// raise nothing. Failed, timed-out and aborted runs raise nothing.
pub struct RunSucceededListener {
    events: StackEvents,
}

impl RunSucceededListener {
    /// The listener delivering to `events`.
    pub fn new(events: StackEvents) -> Self {
        RunSucceededListener { events }
    }
}

#[async_trait]
impl ExecutionListener for RunSucceededListener {
    fn name(&self) -> &str {
        "trigger_on_finish"
    }

    async fn on_event(&self, event: &ExecutionEvent) -> Result<(), ListenerError> {
        let e = &event.execution;
        if event.kind != ExecutionEventKind::Ended || e.status != ExecutionStatus::Succeeded {
            return Ok(());
        }
        let record = match self.events.deployments.get(&e.state_machine).await? {
            Some(r) => r,
            None => match self
                .events
                .deployments
                .list()
                .await?
                .into_iter()
                .find(|r| r.state_machine.name == e.state_machine)
            {
                Some(r) => r,
                None => return Ok(()),
            },
        };
        let run = RunSucceeded {
            flow: record.flow.clone(),
            run_id: e.run_id().to_string(),
            end_task_id: None,
            project: record.project.clone(),
            branch: record.branch.clone(),
            finished_at: e.stop_date.unwrap_or_else(Utc::now),
        };
        let delivery = self
            .events
            .deliver(&Event::run_succeeded(&run), Utc::now())
            .await?;
        if !delivery.deployments.is_empty() {
            tracing::info!(run = %format!("{}/{}", run.flow, run.run_id), "{}", delivery.message);
        }
        Ok(())
    }
}

/// Query of `GET /ferry/v1/events`.
#[derive(Debug, Default, Deserialize)]
pub struct RecentQuery {
    /// At most this many entries (default 50, at most 1,000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// The events routes (see the module docs).
pub fn router(events: StackEvents) -> Router {
    Router::new()
        .route(EVENTS_ROUTE, post(publish).get(recent))
        .with_state(events)
}

/// An error answer in the control API's shape: `{"error", "kind", "detail"}`.
fn error_answer(status: StatusCode, kind: &str, message: String) -> Response {
    (
        status,
        Json(json!({"error": message, "kind": kind, "detail": message})),
    )
        .into_response()
}

async fn publish(State(events): State<StackEvents>, body: Bytes) -> Response {
    let now = Utc::now();
    let event = match Event::from_publish_body(&body, now) {
        Ok(e) => e,
        Err(e) => return error_answer(StatusCode::BAD_REQUEST, "invalid", e.to_string()),
    };
    match events.deliver(&event, now).await {
        Ok(delivery) => {
            let status = if delivery.started().next().is_some() {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            (status, Json(delivery)).into_response()
        }
        Err(e) => {
            tracing::warn!(event = %event.name, id = %event.id, "event not processed: {e}");
            error_answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            )
        }
    }
}

async fn recent(State(events): State<StackEvents>, Query(q): Query<RecentQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    match events.engine.recent(limit, Utc::now()).await {
        Ok(entries) => Json::<Vec<LogEntry>>(entries).into_response(),
        Err(e) => error_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        ),
    }
}
