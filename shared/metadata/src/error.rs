//! API errors and how they become HTTP responses.
//!
//! Status codes follow metaflow-service 2.5.1 (contract `metadata-api.md` §1, §3): `404 {}` for a
//! missing single object, `409` for an object that exists, `400`/`422` for bad input and tag
//! rules. Store throttling and transient failures become **503**, the only status the metaflow
//! client retries (never 429 or 500). Every error body but the `404 {}` is a JSON object
//! `{"message": "..."}` saying what is wrong.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_store::TableError;

use crate::SERVICE_VERSION;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The addressed object does not exist: `404 {}` (svc's body for single-object misses).
    #[error("not found")]
    NotFound,
    /// A parent the request needs does not exist: `404 {"message": ...}`.
    #[error("{0}")]
    MissingParent(String),
    /// The request is malformed (JSON, types, names, sizes): `400 {"message": ...}`.
    #[error("{0}")]
    BadRequest(String),
    /// The object exists already: `409 {"message": ...}` (the client then re-GETs it).
    #[error("{0}")]
    Conflict(String),
    /// The request is well formed but breaks a rule (removing a system tag): `422`.
    #[error("{0}")]
    Unprocessable(String),
    /// The body is larger than the limit: `413`.
    #[error("{0}")]
    TooLarge(String),
    /// The `x-api-key` header is missing: `401`.
    #[error("{0}")]
    Unauthorized(String),
    /// The `x-api-key` header is wrong: `403`.
    #[error("{0}")]
    Forbidden(String),
    /// Throttling or a transient store failure: `503`, which the client retries.
    #[error("{0}")]
    Unavailable(String),
    /// A store failure that retrying will not fix: `500`.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound | ApiError::MissingParent(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Shorthand for [`ApiError::BadRequest`].
    pub fn bad(msg: impl Into<String>) -> Self {
        ApiError::BadRequest(msg.into())
    }
}

impl From<TableError> for ApiError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::Transient(m) => {
                ApiError::Unavailable(format!("the store is busy, retry: {m}"))
            }
            TableError::ConditionFailed { .. } => {
                ApiError::Conflict("conflicting concurrent write, please retry".into())
            }
            TableError::Invalid(m) => {
                ApiError::BadRequest(format!("the store refused the request: {m}"))
            }
            TableError::Other(m) => ApiError::Internal(format!("store error: {m}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match status {
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::INTERNAL_SERVER_ERROR => {
                tracing::warn!(status = status.as_u16(), error = %self, "request failed");
            }
            _ => tracing::debug!(status = status.as_u16(), error = %self, "request rejected"),
        }
        let body = match &self {
            ApiError::NotFound => "{}".to_string(),
            other => serde_json::json!({ "message": other.to_string() }).to_string(),
        };
        json_response(status, body)
    }
}

/// A response with a JSON body (already serialised) and the version header.
pub fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        "metadata_service_version",
        HeaderValue::from_static(SERVICE_VERSION),
    );
    resp
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
