//! The Metaflow metadata HTTP API (metaflow-service 2.5.1 wire contract,
//! `contracts/metadata-api.md`) as an axum [`Router`] over the [`ferry_store::Table`] port.
//!
//! The same router serves AWS Lambda (through `lambda_http`, in `functions/metadata-api`), a
//! plain HTTP server on 127.0.0.1 ([`serve`]), and `ferry up` (which embeds [`router`]).
//!
//! Modules: [`api`] (one handler module per resource), [`validate`] (input checks),
//! [`layout`] (the single-table keys), [`model`] (stored objects and their wire form),
//! [`repo`] (data access), [`ids`] (run-number and task-id allocation), [`error`] (errors →
//! responses), [`run_status`] (a run's status: its execution's for runs of Ferry deployments,
//! recorded by [`RunStatusListener`]; else derived from heartbeats).

#![warn(missing_docs)]

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use ferry_store::Table;
use tokio::net::TcpListener;

pub mod api;
pub mod error;
pub mod ids;
pub mod layout;
pub mod model;
pub mod repo;
pub mod run_status;
pub mod validate;

pub use error::{ApiError, ApiResult};
pub use run_status::RunStatusListener;

/// The service version announced on `GET /ping` in the `METADATA_SERVICE_VERSION` header
/// (a PEP 440 version: the client parses it to enable heartbeats, tag mutation, attempts,
/// `filtered_tasks`).
pub const SERVICE_VERSION: &str = "2.5.1";

/// Largest accepted request body, in bytes (AWS Lambda's synchronous payload limit, 6 MB).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// The request header carrying the API key (`METAFLOW_SERVICE_AUTH_KEY` on the client side).
pub const API_KEY_HEADER: &str = "x-api-key";

/// How the service is configured.
#[derive(Clone)]
pub struct Config {
    /// The store (SQLite locally, DynamoDB on AWS).
    pub table: Arc<dyn Table>,
    /// When set, every request must carry this value in `x-api-key` (401 without it, 403 when
    /// it differs). Compared in constant time; never logged.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub(crate) repo: Arc<repo::Repo>,
    pub(crate) api_key: Option<Arc<api::auth::ApiKey>>,
}

impl AppState {
    /// State built from a config.
    pub fn new(config: Config) -> Self {
        AppState {
            repo: Arc::new(repo::Repo::new(config.table)),
            api_key: config.api_key.map(|k| Arc::new(api::auth::ApiKey::new(&k))),
        }
    }
}

/// The metadata service router: every route of contract §2, the API-key check when configured,
/// the 6 MB body limit, and JSON 404/405 answers for unknown routes and methods.
pub fn router(config: Config) -> Router {
    api::router(AppState::new(config))
}

/// Serve the router on a listener until `shutdown` completes, then finish in-flight requests.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve<F>(listener: TcpListener, config: Config, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}
