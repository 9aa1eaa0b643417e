//! The event model and the two ways events come in: the body Metaflow's
//! `ArgoEvent(name).publish(payload)` POSTs (`metaflow/plugins/argo/argo_events.py`), which
//! `ferry publish` sends too, and the success of an upstream run (what Metaflow's Argo
//! decorator publishes from a run's `end` step, `argo_workflows_decorator.py`).
//!
//! The publish body:
//!
//! ```json
//! {"name": "data_ready",
//!  "payload": {"name": "data_ready", "id": "<uuid4>", "timestamp": 1764547200,
//!              "utc_date": "20251201", "generated-by-metaflow": true, "date": "2026-12-01"}}
//! ```
//!
//! The payload's default fields come first and the publisher's own fields override them, so
//! `payload.name`, `payload.id` and `payload.timestamp` are what the publisher says. As Argo
//! Events matches on `body.payload.name`, so does Ferry; a missing `id` or `timestamp` is
//! generated on receipt (and written into the payload), so every event has both.

use chrono::{DateTime, Utc};
use ferry_compile::triggers::run_succeeded_event_name;
use ferry_spec::trigger_rules::event_name_problem;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The `source` of the EventBridge entry carrying a published event on AWS.
pub const EVENT_SOURCE: &str = "ferry.events";
/// The largest PutEvents entry, in bytes (256 KiB; EventBridge `PutEvents`, "Calculating
/// PutEvents event entry size"). Ferry applies it to every published event, on AWS and off.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;
/// Bytes EventBridge counts for an entry's `Time`.
const ENTRY_TIME_BYTES: usize = 14;
/// Longest event id Ferry accepts, in characters.
pub const MAX_EVENT_ID: usize = 1024;

/// Where an event came from. Only Ferry itself raises [`EventOrigin::RunSucceeded`] events
/// (from the executor, or Step Functions' own status change on AWS), so a publisher cannot
/// pose as a finished upstream run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOrigin {
    /// `ferry publish`, `ArgoEvent(...).publish()`, or any POST to the events route.
    Published,
    /// A run of a deployment succeeded.
    RunSucceeded,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event name (`payload.name`), e.g. `data_ready`.
    pub name: String,
    /// The event id (`payload.id`): kept from the publisher, else a UUID generated on receipt.
    /// Deliveries of one id start at most one run per deployment.
    pub id: String,
    /// Epoch seconds (`payload.timestamp`): kept from the publisher, else the receipt time.
    pub timestamp: i64,
    /// The payload, with `name`, `id` and `timestamp` always present.
    pub payload: Map<String, Value>,
    /// Where it came from.
    pub origin: EventOrigin,
}

/// Why a publish body is refused. `Display` says what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not a JSON object.
    #[error(
        "the event is not a JSON object ({0}); send {{\"name\": \"data_ready\", \"payload\": {{...}}}} as ArgoEvent(...).publish() does"
    )]
    NotJson(String),
    /// No name in `payload.name` nor `name`.
    #[error("the event has no name: give \"name\" (a string), as in {{\"name\": \"data_ready\"}}")]
    NoName,
    /// `payload` is not an object.
    #[error("the event's payload must be a JSON object of fields, not {0}")]
    PayloadNotObject(String),
    /// A name no trigger can wait for.
    #[error("the event name {name:?} cannot be published: {reason}")]
    BadName { name: String, reason: String },
    /// An id that is not a string or number, or too long.
    #[error(
        "the event id {0} is not usable: give a string (or a number) of at most {MAX_EVENT_ID} characters, or none and Ferry generates one"
    )]
    BadId(String),
    /// A timestamp that is not epoch seconds.
    #[error(
        "the event timestamp {0} is not epoch seconds: give an integer such as 1764547200, or none and Ferry uses the time it arrives"
    )]
    BadTimestamp(String),
    /// Larger than an EventBridge entry.
    #[error(
        "the event is {bytes} bytes, above the {MAX_ENTRY_BYTES}-byte limit of an AWS EventBridge event; send a smaller payload (a pointer to the data, such as an S3 key, rather than the data)"
    )]
    TooLarge { bytes: usize },
}

impl Event {
    /// Read the body of a publish (see the module docs) received at `received_at`.
    pub fn from_publish_body(body: &[u8], received_at: DateTime<Utc>) -> Result<Event, EventError> {
        if body.len() > MAX_ENTRY_BYTES * 2 {
            return Err(EventError::TooLarge { bytes: body.len() });
        }
        let doc: Value =
            serde_json::from_slice(body).map_err(|e| EventError::NotJson(e.to_string()))?;
        let Value::Object(mut doc) = doc else {
            return Err(EventError::NotJson(format!("got {}", kind_of(&doc))));
        };
        let payload = match doc.remove("payload") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(p)) => p,
            Some(other) => return Err(EventError::PayloadNotObject(kind_of(&other).into())),
        };
        let top_name = doc.remove("name");
        Event::from_payload(payload, top_name, received_at)
    }

    /// A published event of `name` carrying the publisher's `fields`, with the defaults
    /// `ArgoEvent(...).publish()` adds (`name`, a UUID `id`, `timestamp` = `now`, `utc_date`
    /// as `YYYYMMDD`), the publisher's fields overriding them. What `ferry publish` sends.
    pub fn published(
        name: &str,
        fields: Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Event, EventError> {
        let mut payload = Map::new();
        payload.insert("name".into(), json!(name));
        payload.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
        payload.insert("timestamp".into(), json!(now.timestamp()));
        payload.insert("utc_date".into(), json!(now.format("%Y%m%d").to_string()));
        payload.extend(fields);
        Event::from_payload(payload, Some(json!(name)), now)
    }

    fn from_payload(
        mut payload: Map<String, Value>,
        top_name: Option<Value>,
        received_at: DateTime<Utc>,
    ) -> Result<Event, EventError> {
        let name = match (payload.get("name"), top_name) {
            (Some(Value::String(n)), _) => n.clone(),
            (_, Some(Value::String(n))) => n,
            _ => return Err(EventError::NoName),
        };
        if let Some(reason) = event_name_problem(&name) {
            return Err(EventError::BadName {
                name,
                reason: format!("{reason}, so no @trigger can wait for it"),
            });
        }
        let id = match payload.get("id") {
            None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_EVENT_ID => {
                s.clone()
            }
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => return Err(EventError::BadId(other.to_string())),
        };
        let timestamp = match payload.get("timestamp") {
            None | Some(Value::Null) => received_at.timestamp(),
            Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i,
                (None, Some(f)) if f.is_finite() && f.abs() < 1e15 => f.floor() as i64,
                _ => return Err(EventError::BadTimestamp(n.to_string())),
            },
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| EventError::BadTimestamp(format!("{s:?}")))?,
            Some(other) => return Err(EventError::BadTimestamp(other.to_string())),
        };
        payload.insert("name".into(), json!(name));
        payload.insert("id".into(), json!(id));
        payload.insert("timestamp".into(), json!(timestamp));
        let event = Event {
            name,
            id,
            timestamp,
            payload,
            origin: EventOrigin::Published,
        };
        let bytes = event.entry_bytes();
        if bytes > MAX_ENTRY_BYTES {
            return Err(EventError::TooLarge { bytes });
        }
        Ok(event)
    }

    /// The event raised when a run of a deployment succeeds, named and shaped as Metaflow's
    /// Argo decorator publishes it from the `end` step: name `metaflow.<project_flow_name>.end`,
    /// id the end task's pathspec (`Flow/run/end/task`, or `Flow/run/end` when the task id is not
    /// known), and the payload fields `pathspec`, `flow_name`, `run_id`, `step_name`, `task_id`,
    /// `project_name`, `branch_name`, `is_user_branch`, `is_production`, `project_flow_name`,
    /// `auto-generated-by-metaflow`.
    pub fn run_succeeded(run: &RunSucceeded) -> Event {
        let project_flow_name = match (&run.project, &run.branch) {
            (Some(p), Some(b)) => format!("{p}.{b}.{}", run.flow),
            _ => run.flow.clone(),
        };
        let name = run_succeeded_event_name(&project_flow_name);
        let pathspec = match &run.end_task_id {
            Some(t) => format!("{}/{}/end/{t}", run.flow, run.run_id),
            None => format!("{}/{}/end", run.flow, run.run_id),
        };
        let timestamp = run.finished_at.timestamp();
        let mut payload = Map::new();
        payload.insert("name".into(), json!(name));
        payload.insert("id".into(), json!(pathspec));
        payload.insert("timestamp".into(), json!(timestamp));
        payload.insert("pathspec".into(), json!(pathspec));
        payload.insert("flow_name".into(), json!(run.flow));
        payload.insert("run_id".into(), json!(run.run_id));
        payload.insert("step_name".into(), json!("end"));
        if let Some(t) = &run.end_task_id {
            payload.insert("task_id".into(), json!(t));
        }
        if let (Some(p), Some(b)) = (&run.project, &run.branch) {
            payload.insert("project_name".into(), json!(p));
            payload.insert("branch_name".into(), json!(b));
            payload.insert("is_user_branch".into(), json!(b.starts_with("user.")));
            payload.insert(
                "is_production".into(),
                json!(b == "prod" || b.starts_with("prod.")),
            );
            payload.insert("project_flow_name".into(), json!(project_flow_name));
        }
        payload.insert("auto-generated-by-metaflow".into(), json!(true));
        Event {
            name,
            id: pathspec,
            timestamp,
            payload,
            origin: EventOrigin::RunSucceeded,
        }
    }

    /// The body `ArgoEvent(...).publish()` would POST for this event:
    /// `{"name": ..., "payload": {...}}`.
    pub fn publish_body(&self) -> Value {
        json!({"name": self.name, "payload": self.payload})
    }

    /// The size EventBridge counts for the PutEvents entry carrying this event: its
    /// detail-type (the name), source ([`EVENT_SOURCE`]), detail (this event as JSON) and time.
    pub fn entry_bytes(&self) -> usize {
        let detail = serde_json::to_string(self).map(|s| s.len()).unwrap_or(0);
        self.name.len() + EVENT_SOURCE.len() + detail + ENTRY_TIME_BYTES
    }

    /// `{name, id, timestamp, origin}`, without the payload.
    pub fn summary(&self) -> EventSummary {
        EventSummary {
            name: self.name.clone(),
            id: self.id.clone(),
            timestamp: self.timestamp,
            origin: self.origin,
        }
    }
}

/// An event without its payload (logs, receipts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSummary {
    pub name: String,
    pub id: String,
    /// Epoch seconds.
    pub timestamp: i64,
    pub origin: EventOrigin,
}

/// A run that succeeded, as the wiring knows it (the embedded executor's end-of-execution
/// callback, or a Step Functions status change plus the upstream's deployment record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSucceeded {
    /// The flow class.
    pub flow: String,
    /// The Metaflow run id (`sfn-<execution name>`).
    pub run_id: String,
    /// The `end` task's id, when known.
    pub end_task_id: Option<String>,
    /// The deployment's `@project`, if any.
    pub project: Option<String>,
    /// The deployment's branch (`prod`, `test.b`, `user.<name>`), with a project.
    pub branch: Option<String>,
    /// When the run finished.
    pub finished_at: DateTime<Utc>,
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap()
    }

    /// The exact body `ArgoEvent('data_ready').publish({'date': ...})` sends.
    #[test]
    fn the_body_metaflow_publishes_keeps_its_id_and_timestamp() {
        let body = br#"{"name": "data_ready", "payload": {"name": "data_ready",
            "id": "6f1c7a52-8d1e-4f7e-9a59-1f1bdc0b2f10", "timestamp": 1764547200,
            "utc_date": "20251201", "generated-by-metaflow": true, "date": "2026-12-01"}}"#;
        let e = Event::from_publish_body(body, now()).unwrap();
        assert_eq!(e.name, "data_ready");
        assert_eq!(e.id, "6f1c7a52-8d1e-4f7e-9a59-1f1bdc0b2f10");
        assert_eq!(e.timestamp, 1_764_547_200);
        assert_eq!(e.payload["date"], "2026-12-01");
        assert_eq!(e.payload["generated-by-metaflow"], true);
        assert_eq!(e.origin, EventOrigin::Published);
    }

    #[test]
    fn a_bare_body_gets_an_id_and_the_receipt_time() {
        let e = Event::from_publish_body(br#"{"name": "data_ready"}"#, now()).unwrap();
        assert!(uuid::Uuid::parse_str(&e.id).is_ok(), "{}", e.id);
        assert_eq!(e.timestamp, now().timestamp());
        assert_eq!(e.payload["id"], json!(e.id));
        assert_eq!(e.payload["timestamp"], json!(e.timestamp));
        // Numbers and strings are accepted where Metaflow's client would send them.
        let e = Event::from_publish_body(
            br#"{"name": "x", "payload": {"id": 42, "timestamp": "1764547200"}}"#,
            now(),
        )
        .unwrap();
        assert_eq!((e.id.as_str(), e.timestamp), ("42", 1_764_547_200));
    }

    /// Argo Events matches `body.payload.name`, so a payload that overrides the name wins.
    #[test]
    fn the_payload_name_is_the_name() {
        let e =
            Event::from_publish_body(br#"{"name": "outer", "payload": {"name": "inner"}}"#, now())
                .unwrap();
        assert_eq!(e.name, "inner");
        let e = Event::from_publish_body(br#"{"payload": {"name": "only"}}"#, now()).unwrap();
        assert_eq!(e.name, "only");
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        let err = |b: &[u8]| Event::from_publish_body(b, now()).unwrap_err().to_string();
        assert!(err(b"not json").starts_with("the event is not a JSON object"));
        assert!(err(b"[1]").contains("got an array"));
        assert_eq!(
            err(br#"{"payload": {}}"#),
            "the event has no name: give \"name\" (a string), as in {\"name\": \"data_ready\"}"
        );
        assert_eq!(
            err(br#"{"name": "a", "payload": [1]}"#),
            "the event's payload must be a JSON object of fields, not an array"
        );
        assert!(
            err(br#"{"name": "data ready"}"#)
                .starts_with("the event name \"data ready\" cannot be published: only letters")
        );
        let long = format!(r#"{{"name": "{}"}}"#, "n".repeat(129));
        assert!(
            err(long.as_bytes()).contains("at most 128"),
            "{}",
            err(long.as_bytes())
        );
        assert!(
            err(br#"{"name": "a", "payload": {"id": {"x": 1}}}"#)
                .starts_with("the event id {\"x\":1} is not usable")
        );
        assert!(
            err(br#"{"name": "a", "payload": {"timestamp": "soon"}}"#)
                .starts_with("the event timestamp \"soon\" is not epoch seconds")
        );
    }

    #[test]
    fn an_event_larger_than_eventbridge_carries_is_refused() {
        let big = "x".repeat(MAX_ENTRY_BYTES);
        let body = json!({"name": "a", "payload": {"blob": big}}).to_string();
        let err = Event::from_publish_body(body.as_bytes(), now()).unwrap_err();
        assert!(matches!(err, EventError::TooLarge { bytes } if bytes > MAX_ENTRY_BYTES));
        assert!(
            err.to_string().contains("above the 262144-byte limit"),
            "{err}"
        );
        // Just under the limit is fine.
        let fits = "x".repeat(MAX_ENTRY_BYTES - 400);
        let body = json!({"name": "a", "payload": {"id": "i", "timestamp": 1, "blob": fits}});
        assert!(Event::from_publish_body(body.to_string().as_bytes(), now()).is_ok());
    }

    #[test]
    fn published_events_carry_argo_event_defaults_overridable_by_the_publisher() {
        let mut fields = Map::new();
        fields.insert("date".into(), json!("2026-12-01"));
        fields.insert("id".into(), json!("my-id"));
        let e = Event::published("data_ready", fields, now()).unwrap();
        assert_eq!(e.id, "my-id");
        assert_eq!(e.payload["utc_date"], "20261201");
        assert_eq!(e.payload["timestamp"], json!(now().timestamp()));
        // Its body reads back as the same event.
        let again =
            Event::from_publish_body(e.publish_body().to_string().as_bytes(), now()).unwrap();
        assert_eq!(again, e);
    }

    #[test]
    fn a_succeeded_run_is_the_event_metaflow_publishes_from_end() {
        let run = RunSucceeded {
            flow: "IngestFlow".into(),
            run_id: "sfn-abc".into(),
            end_task_id: Some("t-9".into()),
            project: Some("lake".into()),
            branch: Some("prod".into()),
            finished_at: now(),
        };
        let e = Event::run_succeeded(&run);
        assert_eq!(e.name, "metaflow.lake.prod.IngestFlow.end");
        assert_eq!(e.id, "IngestFlow/sfn-abc/end/t-9");
        assert_eq!(e.origin, EventOrigin::RunSucceeded);
        assert_eq!(e.payload["project_flow_name"], "lake.prod.IngestFlow");
        assert_eq!(e.payload["is_production"], true);
        assert_eq!(e.payload["auto-generated-by-metaflow"], true);
        let plain = Event::run_succeeded(&RunSucceeded {
            project: None,
            branch: None,
            end_task_id: None,
            ..run
        });
        assert_eq!(plain.name, "metaflow.IngestFlow.end");
        assert_eq!(plain.id, "IngestFlow/sfn-abc/end");
        assert!(!plain.payload.contains_key("project_name"));
    }
}
