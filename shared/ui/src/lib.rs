//! Ferry's web UI: an axum [`Router`] whose routes all start with `/ui`, merged into the router
//! that serves the metadata API (by `ferry up` in `ferry_local::stack`, and by the metadata
//! Lambda in `functions/metadata-api`), so the UI needs nothing extra to run.
//!
//! - `/ui`, `/ui/…`: the HTML shell (one page; the script routes by path, so deep links such as
//!   `/ui/runs/<Flow>/<run id>` work), public.
//! - `/ui/static/<file>`: the embedded scripts, styles and icon ([`assets`]), public.
//! - `/ui/api/…`: the JSON read API ([`api`]), which needs the API key when one is configured
//!   (`x-api-key`, as the metadata API; [`auth`]).
//!
//! It reads the same stores as the rest of Ferry: the metadata table
//! ([`ferry_metadata::repo::Repo`]), the deployment records (`ferry_deploy::record`), the
//! deployed flow specs (blobs), executions through one module ([`executions`]), and task logs
//! and artifact infos in the Metaflow datastore ([`ferry_store::task_logs`]). Every answer carries
//! a strict Content-Security-Policy; the page renders all data as text.

#![warn(missing_docs)]

use std::sync::Arc;

use axum::Router;
use ferry_metadata::repo::Repo;
use ferry_store::task_logs::TaskLogs;
use ferry_store::{Blobs, Table};

pub mod api;
pub mod assets;
pub mod auth;
pub mod dag;
pub mod error;
pub mod executions;
pub mod specs;
pub mod status;
pub mod summaries;

pub use error::{UiError, UiResult};

/// The path every UI route starts with.
pub const PREFIX: &str = "/ui";

/// What the UI reads. Every store but the metadata table is optional: without one, the pages
/// show what the others tell (a plain `metadata-api` server has no deployments or executions).
#[derive(Clone)]
pub struct UiConfig {
    /// The metadata service's table (flows, runs, steps, tasks, metadata, artifacts).
    pub metadata: Arc<dyn Table>,
    /// The table holding the deployment records (`ferry_deploy::record`): the Ferry table of the
    /// embedded stack, the `DeploymentsTable` on AWS.
    pub deployments: Option<Arc<dyn Table>>,
    /// The blob store the deploy path writes to (the flow specs the records name).
    pub blobs: Option<Arc<dyn Blobs>>,
    /// The executions of the deployed state machines (the local orchestrator, or Step Functions).
    pub executions: Option<Arc<dyn ferry_control::Executions>>,
    /// The task-log reader over the Metaflow datastore (also where artifact infos are read).
    pub logs: TaskLogs,
    /// When set, `/ui/api/…` needs this value in `x-api-key` (401 without it, 403 when wrong);
    /// the HTML shell and assets stay public. Compared in constant time; never logged.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for UiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiConfig")
            .field("deployments", &self.deployments.is_some())
            .field("blobs", &self.blobs.is_some())
            .field("executions", &self.executions.is_some())
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// The handlers' shared state.
#[derive(Clone)]
pub struct UiState {
    pub(crate) repo: Arc<Repo>,
    pub(crate) deployments: Option<Arc<dyn Table>>,
    pub(crate) specs: specs::Specs,
    pub(crate) executions: executions::Executions,
    pub(crate) logs: TaskLogs,
    pub(crate) blobs: Option<Arc<dyn Blobs>>,
    pub(crate) summaries: summaries::StepSummaries,
}

impl UiState {
    /// State from a configuration.
    pub fn new(config: &UiConfig) -> Self {
        UiState {
            repo: Arc::new(Repo::new(config.metadata.clone())),
            deployments: config.deployments.clone(),
            specs: specs::Specs::new(config.blobs.clone()),
            executions: executions::Executions::new(config.executions.clone()),
            logs: config.logs.clone(),
            blobs: config.blobs.clone(),
            summaries: summaries::StepSummaries::default(),
        }
    }
}

/// The UI router: the shell and assets at `/ui`, the JSON API at `/ui/api`, every answer with
/// the security headers of [`assets::security_headers`]. Merge it into the metadata router
/// (`ferry_metadata::router(...).merge(ferry_ui::router(...))`): its routes never overlap.
pub fn router(config: UiConfig) -> Router {
    let state = UiState::new(&config);
    let key = config
        .api_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .map(|k| Arc::new(ferry_metadata::api::auth::ApiKey::new(k)));
    let api = api::router(state).layer(axum::middleware::from_fn_with_state(key, auth::check));
    Router::new()
        .nest(&format!("{PREFIX}/api"), api)
        .merge(assets::router())
        .layer(axum::middleware::from_fn(assets::security_headers))
}
