//! The embedded stack's control API, under `/ferry/v1/` on the stack's port (next to the
//! metadata service). The `ferry` commands (`trigger`, `list-runs`, `status`, `terminate`,
//! `logs`) use it; it mirrors the few Step Functions calls they need. JSON in and out.
//!
//! | method and path | what | answer |
//! |---|---|---|
//! | `GET /ferry/v1/stack` | the stack | `{home, pid, url, started_at, datastore_root, running}` |
//! | `GET /ferry/v1/state-machines` | `ListStateMachines` | `[StateMachine]` (with definitions) |
//! | `GET /ferry/v1/state-machines/{name}` | `DescribeStateMachine` | `StateMachine` |
//! | `POST /ferry/v1/state-machines/{name}/executions` | `StartExecution`, body `{"input": "<JSON text>", "name": optional, "definition_sha256": optional}` (an earlier definition an execution ran, as a Step Functions version) | `Execution` (201) |
//! | `GET /ferry/v1/state-machines/{name}/executions?status=RUNNING` | `ListExecutions` | `[Execution]`, newest first |
//! | `GET /ferry/v1/executions/{name}` | `DescribeExecution` (by name over every machine) | `Execution` |
//! | `GET /ferry/v1/executions/{name}/definition` | `DescribeStateMachineForExecution` | `{"definition", "sha256"}` (404 for executions from before definitions were kept) |
//! | `GET /ferry/v1/executions/{name}/jobs` | the Batch jobs the execution runs now (no Step Functions call has it; `GetExecutionHistory` comes closest) | `[LiveJob]` (`ferry_local::runner::LiveJob`), by step |
//! | `POST /ferry/v1/executions/{name}/stop` | `StopExecution`, body `{"error", "cause"}` optional | `Execution` (ended) |
//! | `GET /ferry/v1/deployments` / `GET /ferry/v1/deployments/{name}` | deployment records | `[DeploymentRecord]` / `DeploymentRecord` |
//!
//! Errors answer `{"error": "<message>", "kind": "<not_found|invalid|conflict|unavailable|internal>"}`
//! with 404, 400, 409, 503 or 500. `Execution` and `StateMachine` are the `ferry_deploy` types.

use std::path::PathBuf;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use ferry_deploy::{DeploymentStore, ExecutionStatus, Orchestrator, OrchestratorError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::orchestrator::LocalOrchestrator;

/// Prefix of every control route.
pub const PREFIX: &str = "/ferry/v1";

/// Facts about the running stack (`GET /ferry/v1/stack`, and `<home>/stack.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackInfo {
    /// The Ferry home.
    pub home: PathBuf,
    /// The stack's process id.
    pub pid: u32,
    /// Base URL of the stack (the metadata service; the control API is under `/ferry/v1`).
    pub url: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// The local Metaflow datastore root (`METAFLOW_DATASTORE_SYSROOT_LOCAL`).
    pub datastore_root: PathBuf,
    /// The per-execution log folder.
    pub logs_dir: PathBuf,
}

/// State of the control handlers.
#[derive(Clone)]
pub struct ControlState {
    pub orchestrator: LocalOrchestrator,
    pub deployments: DeploymentStore,
    pub info: StackInfo,
}

/// Body of `POST .../executions`.
#[derive(Debug, Deserialize)]
pub struct StartBody {
    /// The execution input as JSON text (default `{}`).
    #[serde(default)]
    pub input: Option<String>,
    /// The execution name (default: a UUID).
    #[serde(default)]
    pub name: Option<String>,
    /// Run this earlier definition of the machine (sha256 of its text) instead of the current
    /// one; it must be one an execution ran.
    #[serde(default)]
    pub definition_sha256: Option<String>,
}

/// Body of `POST .../stop`.
#[derive(Debug, Default, Deserialize)]
pub struct StopBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

/// Query of `GET .../executions`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// One status (`RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`).
    #[serde(default)]
    pub status: Option<String>,
}

/// An error answer.
pub struct ControlError(StatusCode, &'static str, String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.2, "kind": self.1}))).into_response()
    }
}

impl From<OrchestratorError> for ControlError {
    fn from(e: OrchestratorError) -> Self {
        let (code, kind) = match &e {
            OrchestratorError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            OrchestratorError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            OrchestratorError::ExecutionAlreadyExists(_) | OrchestratorError::Deleting(_) => {
                (StatusCode::CONFLICT, "conflict")
            }
            OrchestratorError::Transient(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            OrchestratorError::Other(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ControlError(code, kind, e.to_string())
    }
}

fn not_found(what: String) -> ControlError {
    ControlError(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("not found: {what}"),
    )
}

type Res<T> = Result<Json<T>, ControlError>;

/// The control API router (routes under [`PREFIX`]).
pub fn router(state: ControlState) -> Router {
    Router::new()
        .route("/ferry/v1/stack", get(stack))
        .route("/ferry/v1/state-machines", get(list_machines))
        .route("/ferry/v1/state-machines/{name}", get(get_machine))
        .route(
            "/ferry/v1/state-machines/{name}/executions",
            get(list_executions).post(start_execution),
        )
        .route("/ferry/v1/executions/{name}", get(describe_execution))
        .route("/ferry/v1/executions/{name}/jobs", get(execution_jobs))
        .route(
            "/ferry/v1/executions/{name}/definition",
            get(execution_definition),
        )
        .route("/ferry/v1/executions/{name}/stop", post(stop_execution))
        .route("/ferry/v1/deployments", get(list_deployments))
        .route("/ferry/v1/deployments/{name}", get(get_deployment))
        .with_state(state)
}

async fn stack(State(s): State<ControlState>) -> Json<serde_json::Value> {
    let mut v = serde_json::to_value(&s.info).unwrap_or_default();
    v["running"] = json!(s.orchestrator.running());
    Json(v)
}

async fn list_machines(State(s): State<ControlState>) -> Res<Vec<ferry_deploy::StateMachine>> {
    Ok(Json(s.orchestrator.list_state_machines().await?))
}

async fn get_machine(
    State(s): State<ControlState>,
    Path(name): Path<String>,
) -> Res<ferry_deploy::StateMachine> {
    match s.orchestrator.get_state_machine(&name).await? {
        Some(m) => Ok(Json(m)),
        None => Err(not_found(format!("state machine {name}"))),
    }
}

async fn start_execution(
    State(s): State<ControlState>,
    Path(name): Path<String>,
    Json(body): Json<StartBody>,
) -> Result<(StatusCode, Json<ferry_deploy::Execution>), ControlError> {
    let input = body.input.unwrap_or_else(|| "{}".to_string());
    let e = s
        .orchestrator
        .start_with_definition(
            &name,
            body.name.as_deref(),
            &input,
            body.definition_sha256.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(e)))
}

async fn list_executions(
    State(s): State<ControlState>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Res<Vec<ferry_deploy::Execution>> {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(st) => Some(
            st.parse::<ExecutionStatus>()
                .map_err(|e| ControlError(StatusCode::BAD_REQUEST, "invalid", e))?,
        ),
        None => None,
    };
    Ok(Json(s.orchestrator.list_executions(&name, status).await?))
}

async fn describe_execution(
    State(s): State<ControlState>,
    Path(name): Path<String>,
) -> Res<ferry_deploy::Execution> {
    match s.orchestrator.describe_execution("", &name).await? {
        Some(e) => Ok(Json(e)),
        None => Err(not_found(format!("execution {name}"))),
    }
}

async fn execution_jobs(
    State(s): State<ControlState>,
    Path(name): Path<String>,
) -> Res<Vec<crate::runner::LiveJob>> {
    match s.orchestrator.describe_execution("", &name).await? {
        Some(_) => Ok(Json(s.orchestrator.jobs_of(&name))),
        None => Err(not_found(format!("execution {name}"))),
    }
}

async fn execution_definition(
    State(s): State<ControlState>,
    Path(name): Path<String>,
) -> Res<serde_json::Value> {
    match s.orchestrator.execution_definition(&name).await? {
        Some(d) => Ok(Json(json!({
            "sha256": crate::orchestrator::definition_sha256(&d),
            "definition": d,
        }))),
        None => Err(not_found(format!("the definition execution {name} ran"))),
    }
}

async fn stop_execution(
    State(s): State<ControlState>,
    Path(name): Path<String>,
    body: Option<Json<StopBody>>,
) -> Res<ferry_deploy::Execution> {
    let body = body.map(|b| b.0).unwrap_or_default();
    Ok(Json(
        s.orchestrator
            .stop_execution("", &name, body.error.as_deref(), body.cause.as_deref())
            .await?,
    ))
}

async fn list_deployments(
    State(s): State<ControlState>,
) -> Res<Vec<ferry_deploy::DeploymentRecord>> {
    s.deployments
        .list()
        .await
        .map(Json)
        .map_err(|e| ControlError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

async fn get_deployment(
    State(s): State<ControlState>,
    Path(name): Path<String>,
) -> Res<ferry_deploy::DeploymentRecord> {
    match s.deployments.get(&name).await {
        Ok(Some(r)) => Ok(Json(r)),
        Ok(None) => Err(not_found(format!("deployment {name}"))),
        Err(e) => Err(ControlError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )),
    }
}
