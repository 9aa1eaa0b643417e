//! The events routes' request-to-answer logic, one for every server that serves them: the
//! embedded stack (axum, `ferry_local::events`) and the AWS events Lambda behind API Gateway
//! (`functions/events`). Each server only turns its request into these calls and an
//! [`Answer`] into its response.
//!
//! | method and path | request | answer |
//! |---|---|---|
//! | `POST /ferry/v1/events` ([`publish`]) | the body Metaflow's `ArgoEvent(name).publish(payload)` POSTs to `METAFLOW_ARGO_EVENTS_WEBHOOK_URL` (`metaflow/plugins/argo/argo_events.py`), which `ferry publish` sends too | [`Delivery`]: 202 when a run started, else 200 (nothing new started: no deployment waits for the event, a duplicate, a refusal, waiting for other events); 400 for a body that is no event; 503 when the state store or a start failed (publish again: deliveries are deduplicated by event id) |
//! | `GET /ferry/v1/events?limit=N` ([`recent`]) | `limit`: at most this many entries, 1 to 1,000 (default 50) | `[LogEntry]`, newest first; 400 for a `limit` that is no number; 503 when the state store failed |
//!
//! Error bodies have the control API's shape: `{"error": <message>, "kind": "invalid" |
//! "unavailable" | "not_found", "detail": <message>}`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::dispatch::Dispatcher;
use crate::event::Event;

/// The events routes' path, under the control API's prefix.
pub const EVENTS_ROUTE: &str = "/ferry/v1/events";

/// Entries `GET /ferry/v1/events` returns without a `limit`.
pub const DEFAULT_RECENT_LIMIT: usize = 50;

/// The most entries one `GET /ferry/v1/events` returns.
pub const MAX_RECENT_LIMIT: usize = 1000;

/// The URL Metaflow's `ArgoEvent(...).publish()` posts to for a stack whose API is at `base`
/// (the value of `METAFLOW_ARGO_EVENTS_WEBHOOK_URL`): `<base>/ferry/v1/events`.
pub fn events_url(base: &str) -> String {
    format!("{}{EVENTS_ROUTE}", base.trim_end_matches('/'))
}

/// The API base of an events URL (`https://abc.execute-api…/api/ferry/v1/events` →
/// `https://abc.execute-api…/api`), the inverse of [`events_url`]; a trailing `/` is allowed.
/// `None` when `url` is no http(s) URL ending in [`EVENTS_ROUTE`].
pub fn events_api_base(url: &str) -> Option<&str> {
    let url = url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return None;
    }
    url.trim_end_matches('/').strip_suffix(EVENTS_ROUTE)
}

/// An HTTP answer: the status code and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The HTTP status code (200, 202, 400, 404, 503).
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl Answer {
    /// An error answer `{"error", "kind", "detail"}` with `status`.
    pub fn error(status: u16, kind: &str, message: impl Into<String>) -> Answer {
        let message = message.into();
        Answer {
            status,
            body: json!({"error": message, "kind": kind, "detail": message}),
        }
    }
}

/// `POST /ferry/v1/events` with `body` at `now`: the event is read
/// ([`Event::from_publish_body`]) and delivered to every deployment waiting for it
/// ([`Dispatcher::deliver`]), which starts the runs it decides.
pub async fn publish(dispatcher: &Dispatcher, body: &[u8], now: DateTime<Utc>) -> Answer {
    let event = match Event::from_publish_body(body, now) {
        Ok(e) => e,
        Err(e) => return Answer::error(400, "invalid", e.to_string()),
    };
    match dispatcher.deliver(&event, now).await {
        Ok(delivery) => {
            let status = if delivery.started().next().is_some() {
                202
            } else {
                200
            };
            tracing::info!(event = %event.name, id = %event.id, "{}", delivery.message);
            Answer {
                status,
                body: serde_json::to_value(&delivery).unwrap_or(Value::Null),
            }
        }
        Err(e) => {
            tracing::warn!(event = %event.name, id = %event.id, "event not processed: {e}");
            Answer::error(503, "unavailable", e.to_string())
        }
    }
}

/// The `limit` of `GET /ferry/v1/events` from its query parameter's text (`None`: absent):
/// [`DEFAULT_RECENT_LIMIT`] when absent, clamped to 1..=[`MAX_RECENT_LIMIT`]. Errors: a text
/// that is no whole number, with what to write instead.
pub fn recent_limit(text: Option<&str>) -> Result<usize, String> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(DEFAULT_RECENT_LIMIT),
        Some(t) => t
            .parse::<usize>()
            .map(|n| n.clamp(1, MAX_RECENT_LIMIT))
            .map_err(|_| {
                format!(
                    "limit={t:?} is not a whole number: write limit=50 (1 to {MAX_RECENT_LIMIT})"
                )
            }),
    }
}

/// `GET /ferry/v1/events?limit=<limit>` at `now`: the recent-events log, newest first
/// ([`crate::Engine::recent`]).
pub async fn recent(dispatcher: &Dispatcher, limit: Option<&str>, now: DateTime<Utc>) -> Answer {
    let limit = match recent_limit(limit) {
        Ok(n) => n,
        Err(message) => return Answer::error(400, "invalid", message),
    };
    match dispatcher.engine().recent(limit, now).await {
        Ok(entries) => Answer {
            status: 200,
            body: serde_json::to_value(&entries).unwrap_or(Value::Null),
        },
        Err(e) => Answer::error(503, "unavailable", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_api_base_inverts_events_url() {
        let base = "https://abc.execute-api.eu-west-1.amazonaws.com/api";
        assert_eq!(events_api_base(&events_url(base)), Some(base));
        assert_eq!(
            events_api_base("http://127.0.0.1:8080/ferry/v1/events/"),
            Some("http://127.0.0.1:8080")
        );
        for bad in [
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/ferry/v1/event",
            "127.0.0.1:8080/ferry/v1/events",
            "ftp://h/ferry/v1/events",
        ] {
            assert_eq!(events_api_base(bad), None, "{bad}");
        }
    }

    #[test]
    fn limits_default_clamp_and_refuse_words() {
        assert_eq!(recent_limit(None), Ok(50));
        assert_eq!(recent_limit(Some("")), Ok(50));
        assert_eq!(recent_limit(Some("7")), Ok(7));
        assert_eq!(recent_limit(Some("0")), Ok(1));
        assert_eq!(recent_limit(Some("5000")), Ok(1000));
        let e = recent_limit(Some("many")).unwrap_err();
        assert!(e.contains("\"many\"") && e.contains("limit=50"), "{e}");
    }

    #[test]
    fn the_events_url_is_under_the_base() {
        assert_eq!(
            events_url("https://a.example/api/"),
            "https://a.example/api/ferry/v1/events"
        );
        assert_eq!(
            events_url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/ferry/v1/events"
        );
    }
}
