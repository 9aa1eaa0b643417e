//! Errors of the UI's JSON API and their answers: `{"error": {"kind", "message"}}` (the shape of
//! `ferry --json` failures) with the matching status code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong answering a UI request.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No such flow, run, step, task or deployment (404, kind `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// A query or path value is malformed (400, kind `usage`).
    #[error("{0}")]
    BadRequest(String),
    /// A method the route does not serve (405, kind `method_not_allowed`).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// No API key sent (401, kind `unauthorized`).
    #[error("{0}")]
    Unauthorized(String),
    /// A wrong API key (403, kind `forbidden`).
    #[error("{0}")]
    Forbidden(String),
    /// A store answered a transient error (503, kind `unavailable`): try again.
    #[error("{0}")]
    Unavailable(String),
    /// A store failed otherwise (500, kind `failed`).
    #[error("{0}")]
    Store(String),
}

/// Result of a UI handler.
pub type UiResult<T> = Result<T, UiError>;

impl UiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            UiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            UiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "usage"),
            UiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            UiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            UiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            UiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            UiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "failed"),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (code, kind) = self.parts();
        if code.is_server_error() {
            tracing::warn!(kind, "ui request failed: {self}");
        }
        (
            code,
            Json(json!({"error": {"kind": kind, "message": self.to_string()}})),
        )
            .into_response()
    }
}

impl From<ferry_metadata::ApiError> for UiError {
    fn from(e: ferry_metadata::ApiError) -> Self {
        match e.status() {
            StatusCode::SERVICE_UNAVAILABLE => UiError::Unavailable(e.to_string()),
            StatusCode::NOT_FOUND => UiError::NotFound(e.to_string()),
            c if c.is_client_error() => UiError::BadRequest(e.to_string()),
            _ => UiError::Store(e.to_string()),
        }
    }
}

impl From<ferry_store::TableError> for UiError {
    fn from(e: ferry_store::TableError) -> Self {
        match e {
            ferry_store::TableError::Transient(_) => UiError::Unavailable(e.to_string()),
            other => UiError::Store(other.to_string()),
        }
    }
}

impl From<ferry_store::BlobError> for UiError {
    fn from(e: ferry_store::BlobError) -> Self {
        match e {
            ferry_store::BlobError::Transient(_) => UiError::Unavailable(e.to_string()),
            other => UiError::Store(other.to_string()),
        }
    }
}

impl From<ferry_control::ControlError> for UiError {
    fn from(e: ferry_control::ControlError) -> Self {
        use ferry_control::ControlError as E;
        match e {
            E::NotFound(_) => UiError::NotFound(e.to_string()),
            E::Transient(_) | E::Unreachable(_) => UiError::Unavailable(e.to_string()),
            E::Invalid(_) => UiError::BadRequest(e.to_string()),
            other => UiError::Store(other.to_string()),
        }
    }
}
