//! The metadata API on AWS Lambda: the `ferry_metadata` router and the web UI (`ferry_ui`, at
//! `/ui`) behind API Gateway (REST API proxy events v1 and HTTP API events v2, through
//! `lambda_http`), with the stage prefix (`/prod/flows/...`) removed before routing.

pub mod ui;

use axum::Router;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use tower::util::MapRequest;

/// Remove a leading `/<stage>` from the request path, where `<stage>` is the API Gateway stage
/// named in the event's request context (`$default` and missing stages change nothing).
pub fn strip_stage(mut req: Request) -> Request {
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.stage.clone(),
        Some(RequestContext::ApiGatewayV2(c)) => c.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") else {
        return req;
    };
    let prefix = format!("/{stage}");
    let path = req.uri().path();
    let rest = match path.strip_prefix(&prefix) {
        Some("") => "/",
        Some(r) if r.starts_with('/') => r,
        _ => return req,
    };
    let pq = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(uri) = lambda_http::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The whole service: the metadata API and, on the same router, the web UI at `/ui` (its data
/// under the same API key).
pub fn app(metadata: ferry_metadata::Config, ui: ferry_ui::UiConfig) -> Router {
    ferry_metadata::router(metadata).merge(ferry_ui::router(ui))
}

/// The service `lambda_http::run` drives: stage stripping, then the router.
pub fn lambda_service(router: Router) -> MapRequest<Router, fn(Request) -> Request> {
    MapRequest::new(router, strip_stage as fn(Request) -> Request)
}
