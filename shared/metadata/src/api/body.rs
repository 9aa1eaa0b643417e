//! The request-body extractor: raw bytes within [`crate::MAX_BODY_BYTES`], any content type
//! (heartbeats are sent without one), with a JSON error when the body is too large.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

use crate::MAX_BODY_BYTES;
use crate::error::ApiError;

/// The raw request body.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(Body(b)),
            Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::TooLarge(
                format!("the body is larger than the limit of {MAX_BODY_BYTES} bytes"),
            )),
            Err(rej) => Err(ApiError::bad(format!(
                "cannot read the body: {}",
                rej.body_text()
            ))),
        }
    }
}
