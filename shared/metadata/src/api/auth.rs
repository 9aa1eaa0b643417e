//! The optional API key: `x-api-key` must match (401 when missing, 403 when wrong). The
//! comparison is over SHA-256 digests in constant time; the key is never logged.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::{API_KEY_HEADER, AppState};

/// A configured API key (only its digest is kept).
pub struct ApiKey {
    digest: [u8; 32],
}

impl ApiKey {
    /// From the configured key.
    pub fn new(key: &str) -> Self {
        ApiKey {
            digest: Sha256::digest(key.as_bytes()).into(),
        }
    }

    /// Whether `candidate` is the key, in time independent of where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let d: [u8; 32] = Sha256::digest(candidate).into();
        let diff = d
            .iter()
            .zip(self.digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

/// Middleware: reject requests without the right key.
pub async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(key) = &state.api_key else {
        return next.run(req).await;
    };
    match req.headers().get(API_KEY_HEADER) {
        None => ApiError::Unauthorized(format!(
            "missing API key: send it in the {API_KEY_HEADER} header (METAFLOW_SERVICE_AUTH_KEY)"
        ))
        .into_response(),
        Some(v) if key.matches(v.as_bytes()) => next.run(req).await,
        Some(_) => {
            ApiError::Forbidden(format!("the {API_KEY_HEADER} header holds a wrong API key"))
                .into_response()
        }
    }
}
