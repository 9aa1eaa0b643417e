//! `GET /ping`, `/version`, `/healthcheck` (svc admin.py).

use axum::http::StatusCode;
use axum::response::Response;

use crate::SERVICE_VERSION;
use crate::error::json_response;

/// `GET /ping`: `pong` with the `METADATA_SERVICE_VERSION: 2.5.1` header.
pub async fn ping() -> Response {
    text(json_response(StatusCode::OK, "pong".into()))
}

fn text(mut r: Response) -> Response {
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `GET /version`: the version as text.
pub async fn version() -> Response {
    text(json_response(StatusCode::OK, SERVICE_VERSION.into()))
}

/// `GET /healthcheck`: `"{\"status\": \"UP\"}"` (double-encoded, as svc).
pub async fn healthcheck() -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_string("{\"status\": \"UP\"}").unwrap_or_default(),
    )
}
