//! Flows (svc flow.py): `GET /flows`, `GET|POST /flows/{flow_id}`.

use axum::extract::State;
use axum::response::Response;

use super::extract::Path;
use serde_json::Value;

use super::body::Body;
use super::ok;
use crate::error::{ApiError, ApiResult};
use crate::model::Flow;
use crate::repo::now_ms;
use crate::{AppState, validate};

/// `GET /flows`: every flow.
pub async fn list(State(st): State<AppState>) -> ApiResult<Response> {
    let flows = st.repo.list_flows().await?;
    Ok(ok(Value::Array(flows.iter().map(Flow::to_json).collect())))
}

/// `GET /flows/{flow_id}`: the flow, or `404 {}`.
pub async fn get_one(State(st): State<AppState>, Path(flow): Path<String>) -> ApiResult<Response> {
    validate::name("flow_id", &flow)?;
    match st.repo.get_flow(&flow).await? {
        Some(f) => Ok(ok(f.to_json())),
        None => Err(ApiError::NotFound),
    }
}

/// `POST /flows/{flow_id}`: create the flow from `user_name`, `tags`, `system_tags` (all
/// optional); 409 when it exists.
pub async fn create(
    State(st): State<AppState>,
    Path(flow): Path<String>,
    Body(body): Body,
) -> ApiResult<Response> {
    validate::name("flow_id", &flow)?;
    let obj = validate::object(&body)?;
    let f = Flow {
        flow_id: flow,
        user_name: validate::opt_str(&obj, "user_name")?,
        ts_epoch: now_ms(),
        tags: validate::opt_tags(&obj, "tags")?,
        system_tags: validate::opt_tags(&obj, "system_tags")?,
    };
    st.repo.create_flow(&f).await?;
    Ok(ok(f.to_json()))
}
