//! The events routes on the stack's REST API (`MetadataApi` in `template.yaml`, API key
//! required, checked by API Gateway before the function runs): API Gateway's Lambda proxy
//! integration hands each request here as an `ApiGatewayProxyRequest` (payload format 1.0)
//! and takes the `ApiGatewayProxyResponse` back.
//!
//! | method and resource | what | answer |
//! |---|---|---|
//! | `POST /ferry/v1/events` | publish: the body Metaflow's `ArgoEvent(name).publish(payload)` sends to `METAFLOW_ARGO_EVENTS_WEBHOOK_URL` (with `METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH=service`, its `x-api-key` header carries the key), delivered to every deployment waiting for the event | `Delivery`, 202 / 200 / 400 / 503 ([`ferry_events::routes::publish`]) |
//! | `GET /ferry/v1/events?limit=N` | the recent-events log on the state table | `[LogEntry]` ([`ferry_events::routes::recent`]) |
//! | another method on it | | 405 `{"error", "kind": "invalid", "detail"}` |
//! | another resource | | 404 `{"error", "kind": "not_found", "detail"}` |
//!
//! Every answer is an API Gateway response, never a failed invocation (API Gateway would answer
//! that with a bare 502): a store or a start that failed transiently is a 503, and the
//! publisher publishes again (deliveries are deduplicated by event id).

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, header};
use chrono::Utc;
use ferry_events::routes::{self, Answer, EVENTS_ROUTE};
use serde_json::Value;

use crate::wiring::EventsContext;

/// Whether `payload` is an API Gateway REST API request (payload format 1.0) rather than an
/// EventBridge delivery: it has `httpMethod` and `requestContext`.
pub fn is_request(payload: &Value) -> bool {
    payload.get("httpMethod").is_some() && payload.get("requestContext").is_some()
}

/// Answer one API Gateway request (see the module docs).
pub async fn handle(ctx: &EventsContext, payload: &Value) -> ApiGatewayProxyResponse {
    let request: ApiGatewayProxyRequest = match serde_json::from_value(payload.clone()) {
        Ok(r) => r,
        Err(e) => {
            return response(Answer::error(
                400,
                "invalid",
                format!("not an API Gateway request: {e}"),
            ));
        }
    };
    // The resource is the API's path template; the path is what was asked for.
    let resource = request
        .resource
        .as_deref()
        .or(request.path.as_deref())
        .unwrap_or_default();
    if resource != EVENTS_ROUTE {
        return response(Answer::error(
            404,
            "not_found",
            format!("no route {resource}: the events function serves {EVENTS_ROUTE} only"),
        ));
    }
    let now = Utc::now();
    let answer = match request.http_method {
        Method::POST => match body_bytes(&request) {
            Ok(body) => routes::publish(&ctx.dispatcher, &body, now).await,
            Err(message) => Answer::error(400, "invalid", message),
        },
        Method::GET => {
            let limit = request.query_string_parameters.first("limit");
            routes::recent(&ctx.dispatcher, limit, now).await
        }
        other => Answer::error(
            405,
            "invalid",
            format!(
                "{other} {EVENTS_ROUTE} is not a route: POST publishes an event, GET lists the recent events"
            ),
        ),
    };
    response(answer)
}

/// The request body's bytes (API Gateway base64-encodes it only for binary media types).
fn body_bytes(request: &ApiGatewayProxyRequest) -> Result<Vec<u8>, String> {
    let text = request.body.as_deref().unwrap_or_default();
    if request.is_base64_encoded {
        data_encoding::BASE64
            .decode(text.as_bytes())
            .map_err(|e| format!("the request body is marked base64 but is not: {e}"))
    } else {
        Ok(text.as_bytes().to_vec())
    }
}

/// The API Gateway response of an [`Answer`]: its status, its body as JSON text.
fn response(answer: Answer) -> ApiGatewayProxyResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut out = ApiGatewayProxyResponse::default();
    out.status_code = i64::from(answer.status);
    out.headers = headers;
    out.body = Some(Body::Text(answer.body.to_string()));
    out
}
