//! The embedded stack's control API, under `/ferry/v1/` on the stack's port (next to the
//! metadata service): the server ([`router`]) and its client ([`ControlClient`], an
//! [`Executions`] adapter the `ferry` run commands use), the one owner of the route contract.
//! JSON in and out; `Execution` and `StateMachine` are the `ferry_control` types.
//!
//! | method and path | what | answer |
//! |---|---|---|
//! | `GET /ferry/v1/stack` | the stack | `{home, pid, url, started_at, datastore_root, logs_dir, running}` |
//! | `GET /ferry/v1/state-machines` | `ListStateMachines` | `[StateMachine]` (with definitions) |
//! | `GET /ferry/v1/state-machines/{name}` | `DescribeStateMachine` | `StateMachine` |
//! | `POST /ferry/v1/state-machines/{name}/executions` | `StartExecution`, body `{"input": "<JSON text>", "name": optional, "definition_sha256": optional}` (an earlier definition an execution ran, as a Step Functions version) | `Execution` (201) |
//! | `GET /ferry/v1/state-machines/{name}/executions?status=RUNNING` | `ListExecutions` | `[Execution]`, newest first |
//! | `GET /ferry/v1/executions/{name}[?state_machine=SM]` | `DescribeExecution` (by name over every machine, or only of `SM`) | `Execution` |
//! | `GET /ferry/v1/executions/{name}/wait?timeout_ms=N[&state_machine=SM]` | long poll: answers once the execution has ended, or after `N` ms (at most [`MAX_LONG_POLL`]) | `Execution` (ended, or still `RUNNING`) |
//! | `GET /ferry/v1/executions/{name}/definition[?state_machine=SM]` | `DescribeStateMachineForExecution` | `{"definition", "sha256"}` (404 for executions from before definitions were kept) |
//! | `GET /ferry/v1/executions/{name}/jobs` | the Batch jobs the execution runs now (no Step Functions call has it; `GetExecutionHistory` comes closest) | `[RunningJob]`, by step |
//! | `POST /ferry/v1/executions/{name}/stop` | `StopExecution`, body `{"error", "cause", "state_machine"}` optional | `Execution` (ended) |
//! | `GET /ferry/v1/deployments` / `GET /ferry/v1/deployments/{name}` | deployment records | `[DeploymentRecord]` / `DeploymentRecord` |
//! | `POST /ferry/v1/events`, `GET /ferry/v1/events` | publish an event, the recent-events log (served by [`crate::events`]) | `Delivery` / `[LogEntry]` |
//!
//! Names in paths are parsed ([`ExecutionName`], [`DeploymentName`]): a bad one answers 400.
//! Errors answer `{"error": "<message>", "kind": "<kind>", "detail": "<message without the
//! kind's words>"}`, kind and status one per [`ControlError`] variant: `not_found` 404,
//! `already_exists` 409, `deleting` 409, `invalid` 400, `unavailable` 503 (transient),
//! `internal` 500; the client turns them back into the same [`ControlError`].

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use ferry_control::{
    ControlError, DeploymentName, Execution, ExecutionName, ExecutionStatus, Executions,
    RunningJob, StateMachine,
};
use ferry_deploy::{DeploymentRecord, DeploymentStore};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::orchestrator::LocalOrchestrator;

/// Prefix of every control route.
pub const PREFIX: &str = "/ferry/v1";

/// The longest one long poll (`.../wait`) holds the request; [`ControlClient`]'s waits longer
/// than this poll again.
pub const MAX_LONG_POLL: Duration = Duration::from_secs(20);

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
    /// The stack's orchestrator.
    pub orchestrator: LocalOrchestrator,
    /// The deployment records.
    pub deployments: DeploymentStore,
    /// What `GET /ferry/v1/stack` answers.
    pub info: StackInfo,
}

/// Body of `POST .../executions`.
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StopBody {
    /// The error name recorded (default `States.Aborted`).
    #[serde(default)]
    pub error: Option<String>,
    /// The cause recorded (default `Execution stopped`).
    #[serde(default)]
    pub cause: Option<String>,
    /// Only stop it if it belongs to this state machine.
    #[serde(default)]
    pub state_machine: Option<String>,
}

/// Query of `GET .../executions`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// One status (`RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`).
    #[serde(default)]
    pub status: Option<String>,
}

/// Query of `GET /executions/{name}` and `.../wait`.
#[derive(Debug, Default, Deserialize)]
pub struct ExecutionQuery {
    /// Only an execution of this state machine.
    #[serde(default)]
    pub state_machine: Option<String>,
    /// `.../wait`: how long to hold the request, in milliseconds (capped at [`MAX_LONG_POLL`]).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// The kind and HTTP status of each [`ControlError`] variant on the wire.
fn kind_of(e: &ControlError) -> (StatusCode, &'static str) {
    match e {
        ControlError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        ControlError::AlreadyExists(_) => (StatusCode::CONFLICT, "already_exists"),
        ControlError::Deleting(_) => (StatusCode::CONFLICT, "deleting"),
        ControlError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
        ControlError::Transient(_) | ControlError::Unreachable(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
        ControlError::Other(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// The [`ControlError`] an error answer stands for (the inverse of [`kind_of`]).
fn error_of(kind: &str, detail: String) -> ControlError {
    match kind {
        "not_found" => ControlError::NotFound(detail),
        "already_exists" => ControlError::AlreadyExists(detail),
        "deleting" => ControlError::Deleting(detail),
        "invalid" => ControlError::Invalid(detail),
        "unavailable" => ControlError::Transient(detail),
        _ => ControlError::Other(detail),
    }
}

/// An error answer.
pub struct ApiError(ControlError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, kind) = kind_of(&self.0);
        let body = json!({"error": self.0.to_string(), "kind": kind, "detail": self.0.detail()});
        (code, Json(body)).into_response()
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        ApiError(e)
    }
}

fn not_found(what: String) -> ApiError {
    ApiError(ControlError::NotFound(what))
}

fn execution_name(name: &str) -> Result<ExecutionName, ApiError> {
    ExecutionName::parse(name).map_err(|e| ApiError(ControlError::Invalid(e.to_string())))
}

fn deployment_name(name: &str) -> Result<DeploymentName, ApiError> {
    DeploymentName::parse(name).map_err(|e| ApiError(ControlError::Invalid(e.to_string())))
}

fn optional_deployment(name: Option<&str>) -> Result<Option<DeploymentName>, ApiError> {
    name.filter(|n| !n.is_empty())
        .map(deployment_name)
        .transpose()
}

type Res<T> = Result<Json<T>, ApiError>;

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
        .route("/ferry/v1/executions/{name}/wait", get(wait_execution))
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

async fn stack(State(s): State<ControlState>) -> Json<Value> {
    let mut v = serde_json::to_value(&s.info).unwrap_or_default();
    v["running"] = json!(s.orchestrator.running());
    Json(v)
}

async fn list_machines(State(s): State<ControlState>) -> Res<Vec<StateMachine>> {
    Ok(Json(s.orchestrator.list_state_machines().await?))
}

async fn get_machine(State(s): State<ControlState>, Path(name): Path<String>) -> Res<StateMachine> {
    let name = deployment_name(&name)?;
    match ferry_control::StateMachines::get(&s.orchestrator, &name).await? {
        Some(m) => Ok(Json(m)),
        None => Err(not_found(format!("state machine {name}"))),
    }
}

async fn start_execution(
    State(s): State<ControlState>,
    Path(name): Path<String>,
    Json(body): Json<StartBody>,
) -> Result<(StatusCode, Json<Execution>), ApiError> {
    let sm = deployment_name(&name)?;
    let execution = body.name.as_deref().map(execution_name).transpose()?;
    let input = body.input.unwrap_or_else(|| "{}".to_string());
    let e = s
        .orchestrator
        .start_or_on_definition(
            &sm,
            execution.as_ref(),
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
) -> Res<Vec<Execution>> {
    let sm = deployment_name(&name)?;
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(st) => Some(
            st.parse::<ExecutionStatus>()
                .map_err(|e| ApiError(ControlError::Invalid(e.to_string())))?,
        ),
        None => None,
    };
    Ok(Json(s.orchestrator.list(&sm, status).await?))
}

async fn describe_execution(
    State(s): State<ControlState>,
    Path(name): Path<String>,
    Query(q): Query<ExecutionQuery>,
) -> Res<Execution> {
    let name = execution_name(&name)?;
    let sm = optional_deployment(q.state_machine.as_deref())?;
    match s.orchestrator.load_of(&name, sm.as_ref()).await? {
        Some(e) => Ok(Json(e)),
        None => Err(not_found(format!("execution {name}"))),
    }
}

async fn wait_execution(
    State(s): State<ControlState>,
    Path(name): Path<String>,
    Query(q): Query<ExecutionQuery>,
) -> Res<Execution> {
    let name = execution_name(&name)?;
    let sm = optional_deployment(q.state_machine.as_deref())?;
    let timeout = Duration::from_millis(q.timeout_ms.unwrap_or(0)).min(MAX_LONG_POLL);
    Ok(Json(
        s.orchestrator.wait_of(&name, sm.as_ref(), timeout).await?,
    ))
}

async fn execution_jobs(
    State(s): State<ControlState>,
    Path(name): Path<String>,
) -> Res<Vec<RunningJob>> {
    let name = execution_name(&name)?;
    match s.orchestrator.load(&name).await? {
        Some(_) => Ok(Json(s.orchestrator.jobs_of(&name))),
        None => Err(not_found(format!("execution {name}"))),
    }
}

async fn execution_definition(
    State(s): State<ControlState>,
    Path(name): Path<String>,
    Query(q): Query<ExecutionQuery>,
) -> Res<Value> {
    let name = execution_name(&name)?;
    let sm = optional_deployment(q.state_machine.as_deref())?;
    match s.orchestrator.definition_of(&name, sm.as_ref()).await? {
        Some(d) => Ok(Json(json!({
            "sha256": ferry_deploy::keys::definition_sha256(&d),
            "definition": d,
        }))),
        None => Err(not_found(format!("the definition execution {name} ran"))),
    }
}

async fn stop_execution(
    State(s): State<ControlState>,
    Path(name): Path<String>,
    body: Option<Json<StopBody>>,
) -> Res<Execution> {
    let name = execution_name(&name)?;
    let body = body.map(|b| b.0).unwrap_or_default();
    let sm = optional_deployment(body.state_machine.as_deref())?;
    Ok(Json(
        s.orchestrator
            .stop_of(
                &name,
                sm.as_ref(),
                body.error.as_deref(),
                body.cause.as_deref(),
            )
            .await?,
    ))
}

async fn list_deployments(State(s): State<ControlState>) -> Res<Vec<DeploymentRecord>> {
    s.deployments
        .list()
        .await
        .map(Json)
        .map_err(|e| ApiError(ControlError::Other(e.to_string())))
}

async fn get_deployment(
    State(s): State<ControlState>,
    Path(name): Path<String>,
) -> Res<DeploymentRecord> {
    match s.deployments.get(&name).await {
        Ok(Some(r)) => Ok(Json(r)),
        Ok(None) => Err(not_found(format!("deployment {name}"))),
        Err(e) => Err(ApiError(ControlError::Other(e.to_string()))),
    }
}

/// A client of a running stack's control API: the embedded stack's [`Executions`] seen from
/// another process (the `ferry` commands). Waits long-poll `.../wait`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ControlClient {
    base: String,
    http: reqwest::Client,
    /// A remote stack's API ([`Self::remote`]), not an embedded stack `ferry up` runs.
    remote: bool,
}

impl ControlClient {
    /// A client of the stack at `url` (its base URL, `http://127.0.0.1:<port>`, as in
    /// [`StackInfo::url`]). Errors: [`ControlError::Other`] when no HTTP client can be built.
    pub fn new(url: &str) -> Result<Self, ControlError> {
        Self::build(url, reqwest::Client::builder().no_proxy(), false)
    }

    /// A client of a remote stack's API (the AWS stack's REST API, whose events routes
    /// `functions/events` serves), with its key sent as `x-api-key` on every request when given;
    /// the system's proxy settings apply. Errors: as [`Self::new`], and a key that is no HTTP
    /// header value.
    pub fn remote(url: &str, api_key: Option<&str>) -> Result<Self, ControlError> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(k) = api_key {
            let mut key = reqwest::header::HeaderValue::from_str(k).map_err(|_| {
                ControlError::Other("the API key is not a valid HTTP header value".into())
            })?;
            key.set_sensitive(true);
            headers.insert("x-api-key", key);
        }
        Self::build(
            url,
            reqwest::Client::builder().default_headers(headers),
            true,
        )
    }

    fn build(
        url: &str,
        builder: reqwest::ClientBuilder,
        remote: bool,
    ) -> Result<Self, ControlError> {
        let http = builder
            .build()
            .map_err(|e| ControlError::Other(format!("building the HTTP client: {e}")))?;
        Ok(ControlClient {
            base: url.trim_end_matches('/').to_string(),
            http,
            remote,
        })
    }

    /// The stack's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn route(&self, path: &str) -> String {
        format!("{}{PREFIX}/{path}", self.base)
    }

    /// Send `req` and decode a success as `T`; an error answer becomes its [`ControlError`], no
    /// answer at all [`ControlError::Unreachable`].
    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ControlError> {
        let resp = req.send().await.map_err(|e| {
            ControlError::Unreachable(if self.remote {
                format!("the Ferry API at {} does not answer: {e}", self.base)
            } else {
                format!(
                    "the Ferry stack at {} does not answer (is `ferry up` still running?): {e}",
                    self.base
                )
            })
        })?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| ControlError::Transient(format!("reading the stack's answer: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| ControlError::Other(format!("decoding the stack's answer: {e}")));
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let detail = field("detail")
            .or_else(|| field("error"))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        let kind = field("kind").unwrap_or_else(|| match status {
            StatusCode::NOT_FOUND => "not_found".into(),
            _ => "internal".into(),
        });
        Err(error_of(&kind, detail))
    }

    /// `GET /ferry/v1/<path>`.
    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ControlError> {
        self.send(self.http.get(self.route(path))).await
    }

    /// `POST /ferry/v1/<path>` with a JSON `body`.
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ControlError> {
        self.send(self.http.post(self.route(path)).json(body)).await
    }

    /// Whether the stack answers (`GET /ferry/v1/stack`), with what it says about itself.
    pub async fn stack(&self) -> Result<Value, ControlError> {
        self.get("stack").await
    }

    /// Publish an event (`POST /ferry/v1/events`, [`crate::events`]): `body` is what
    /// `ArgoEvent(...).publish()` sends (`ferry_events::Event::publish_body`). Returns what each
    /// deployment did with it. Errors: [`ControlError::Invalid`] for a body that is no event
    /// (the message says why), [`ControlError::Transient`] when the stack could not process it
    /// (publish again), [`ControlError::Unreachable`].
    pub async fn publish(&self, body: &Value) -> Result<crate::events::Delivery, ControlError> {
        self.post("events", body).await
    }

    /// The recent-events log (`GET /ferry/v1/events?limit=N`, [`crate::events`]): at most
    /// `limit` entries (1 to 1,000), newest first. Errors: [`ControlError::Transient`] when
    /// the stack could not read it, [`ControlError::Unreachable`].
    pub async fn recent_events(
        &self,
        limit: usize,
    ) -> Result<Vec<ferry_events::LogEntry>, ControlError> {
        self.get(&format!("events?limit={limit}")).await
    }

    /// `POST state-machines/{state_machine}/executions`, on the definition with sha256
    /// `definition_sha256` when given.
    async fn post_start(
        &self,
        state_machine: &DeploymentName,
        name: Option<&ExecutionName>,
        input: &str,
        definition_sha256: Option<&str>,
    ) -> Result<Execution, ControlError> {
        let body = StartBody {
            input: Some(input.to_string()),
            name: name.map(ToString::to_string),
            definition_sha256: definition_sha256.map(str::to_string),
        };
        self.post(&format!("state-machines/{state_machine}/executions"), &body)
            .await
    }

    /// [`Executions::describe`] with the state machine optional.
    async fn get_execution(
        &self,
        name: &ExecutionName,
        state_machine: Option<&DeploymentName>,
    ) -> Result<Option<Execution>, ControlError> {
        // Names are parsed, so they need no escaping in a path or a query.
        let path = match state_machine {
            Some(sm) => format!("executions/{name}?state_machine={sm}"),
            None => format!("executions/{name}"),
        };
        match self.get(&path).await {
            Ok(e) => Ok(Some(e)),
            Err(ControlError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Executions for ControlClient {
    async fn start(
        &self,
        state_machine: &DeploymentName,
        name: Option<&ExecutionName>,
        input: &str,
    ) -> Result<Execution, ControlError> {
        self.post_start(state_machine, name, input, None).await
    }

    async fn start_on_definition(
        &self,
        state_machine: &DeploymentName,
        name: Option<&ExecutionName>,
        input: &str,
        definition_sha256: &str,
    ) -> Result<Execution, ControlError> {
        self.post_start(state_machine, name, input, Some(definition_sha256))
            .await
    }

    async fn state_machine(
        &self,
        name: &DeploymentName,
    ) -> Result<Option<StateMachine>, ControlError> {
        match self.get(&format!("state-machines/{name}")).await {
            Ok(sm) => Ok(Some(sm)),
            Err(ControlError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn definition(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
    ) -> Result<Option<String>, ControlError> {
        let path = format!("executions/{name}/definition?state_machine={state_machine}");
        match self.get::<Value>(&path).await {
            Ok(v) => v
                .get("definition")
                .and_then(Value::as_str)
                .map(|d| Some(d.to_string()))
                .ok_or_else(|| {
                    ControlError::Other(format!("the stack's answer to {path} has no definition"))
                }),
            Err(ControlError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list(
        &self,
        state_machine: &DeploymentName,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<Execution>, ControlError> {
        let path = match status {
            Some(st) => format!("state-machines/{state_machine}/executions?status={st}"),
            None => format!("state-machines/{state_machine}/executions"),
        };
        self.get(&path).await
    }

    async fn describe(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
    ) -> Result<Option<Execution>, ControlError> {
        self.get_execution(name, Some(state_machine)).await
    }

    /// One lookup by name: the embedded stack's names are unique over the stack.
    async fn find(
        &self,
        name: &ExecutionName,
        _candidates: &[DeploymentName],
    ) -> Result<Option<Execution>, ControlError> {
        self.get_execution(name, None).await
    }

    async fn stop(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<Execution, ControlError> {
        let body = StopBody {
            error: error.map(str::to_string),
            cause: cause.map(str::to_string),
            state_machine: Some(state_machine.to_string()),
        };
        self.post(&format!("executions/{name}/stop"), &body).await
    }

    async fn wait(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
        timeout: Duration,
    ) -> Result<Execution, ControlError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let poll = left.min(MAX_LONG_POLL);
            let e: Execution = self
                .send(
                    self.http
                        .get(self.route(&format!(
                            "executions/{name}/wait?state_machine={state_machine}&timeout_ms={}",
                            poll.as_millis()
                        )))
                        // The server holds the request up to `poll`; leave room for the answer.
                        .timeout(poll + Duration::from_secs(10)),
                )
                .await?;
            if e.status.is_terminal() || left <= poll {
                return Ok(e);
            }
        }
    }

    /// `GET .../jobs`; `None` when the stack does not know the execution (it ended just now,
    /// or a stack from before the route).
    async fn running_jobs(
        &self,
        execution: &Execution,
    ) -> Result<Option<Vec<RunningJob>>, ControlError> {
        match self
            .get(&format!("executions/{}/jobs", execution.name))
            .await
        {
            Ok(jobs) => Ok(Some(jobs)),
            Err(ControlError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
