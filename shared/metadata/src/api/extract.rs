//! Path and query extractors whose rejections are API errors: a path segment that is not UTF-8
//! once percent-decoded (`/flows/%FF`), or a query that does not deserialize, gets a JSON
//! `{"message": …}` like every other error, not axum's `text/plain` rejection.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The route's path parameters (axum's `Path`), rejected with [`ApiError`].
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rej) => Err(rejected("path", rej.status(), rej.body_text())),
        }
    }
}

/// The query string (axum's `Query`), rejected with [`ApiError`].
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rej) => Err(rejected("query", rej.status(), rej.body_text())),
        }
    }
}

/// A client mistake (4xx) is a 400 saying what axum found; anything else (a route declared
/// without the parameters its handler reads) is a 500.
fn rejected(what: &str, status: axum::http::StatusCode, detail: String) -> ApiError {
    if status.is_client_error() {
        ApiError::bad(format!(
            "cannot read the request {what} ({detail}): names are UTF-8 text, percent-encoded in URLs"
        ))
    } else {
        ApiError::Internal(format!("cannot read the request {what}: {detail}"))
    }
}
