//! The lifecycle events of executions on AWS: EventBridge's "Step Functions Execution Status
//! Change" events (source `aws.states`) parsed into the control plane's [`ExecutionEvent`], so a
//! Lambda subscribed to them dispatches to the same [`ferry_control::ExecutionListener`]s the
//! embedded stack calls in-process.
//!
//! The event (Step Functions developer guide, "EventBridge events for Step Functions execution
//! status changes") is an EventBridge envelope whose `detail` is
//! `{executionArn, stateMachineArn, name, status, startDate, stopDate, input, inputDetails,
//! output, outputDetails, error, cause, redriveCount, …}`: dates in epoch milliseconds, `input`
//! and `output` JSON text (or `null` when larger than EventBridge carries: `inputDetails.included`
//! is then `false`). A `RUNNING` status is a start (also a redrive's), `SUCCEEDED`, `FAILED`,
//! `TIMED_OUT` and `ABORTED` an end. Fixtures: `tests/data/sfn-status-change-*.json`.

use chrono::{DateTime, Utc};
use ferry_control::{
    DeploymentName, Execution, ExecutionEvent, ExecutionName, ExecutionStatus, UnknownStatus,
};
use serde::Deserialize;

/// The `source` of Step Functions' events.
pub const SOURCE: &str = "aws.states";
/// The `detail-type` of an execution status change.
pub const DETAIL_TYPE: &str = "Step Functions Execution Status Change";

/// Why an event is not an execution status change Ferry can use.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not JSON of an EventBridge event with the fields of a status change.
    #[error("not a Step Functions execution status change event: {0}")]
    Shape(#[from] serde_json::Error),
    /// Another event (`source`, `detail-type` as given).
    #[error(
        "an EventBridge event from {from:?} of type {detail_type:?}, not a {DETAIL_TYPE:?} from {SOURCE:?}"
    )]
    OtherEvent {
        /// The event's `source`.
        from: String,
        /// The event's `detail-type`.
        detail_type: String,
    },
    /// A status this parser does not know.
    #[error(transparent)]
    Status(#[from] UnknownStatus),
    /// A state machine or execution name Ferry's rules refuse, or an ARN without one.
    #[error("the execution status change names {0}")]
    Name(String),
    /// A date out of range.
    #[error("the execution status change has an invalid {0}")]
    Date(&'static str),
}

#[derive(Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    execution_arn: String,
    state_machine_arn: String,
    name: String,
    status: String,
    start_date: i64,
    #[serde(default)]
    stop_date: Option<i64>,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause: Option<String>,
}

/// The state machine name in a state machine ARN
/// (`arn:<partition>:states:<region>:<account>:stateMachine:<name>[:<version or alias>]`).
fn state_machine_name(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(":stateMachine:")?;
    rest.split(':').next().filter(|n| !n.is_empty())
}

fn date(ms: i64, what: &'static str) -> Result<DateTime<Utc>, EventError> {
    DateTime::from_timestamp_millis(ms).ok_or(EventError::Date(what))
}

/// Parse an EventBridge event (the JSON a Lambda target receives) into an [`ExecutionEvent`]:
/// `RUNNING` → [`ExecutionEvent::started`], a terminal status → [`ExecutionEvent::ended`].
/// Errors: [`EventError`] for anything else.
pub fn parse_status_change(event: &[u8]) -> Result<ExecutionEvent, EventError> {
    let envelope: Envelope = serde_json::from_slice(event)?;
    if envelope.source != SOURCE || envelope.detail_type != DETAIL_TYPE {
        return Err(EventError::OtherEvent {
            from: envelope.source,
            detail_type: envelope.detail_type,
        });
    }
    let d: Detail = serde_json::from_value(envelope.detail)?;
    let status: ExecutionStatus = d.status.parse()?;
    let machine = state_machine_name(&d.state_machine_arn).ok_or_else(|| {
        EventError::Name(format!(
            "no state machine in its ARN {:?}",
            d.state_machine_arn
        ))
    })?;
    let execution = Execution {
        status,
        stop_date: d.stop_date.map(|ms| date(ms, "stopDate")).transpose()?,
        output: d.output,
        error: d.error,
        cause: d.cause,
        ..Execution::running(
            ExecutionName::parse(&d.name).map_err(|e| EventError::Name(e.to_string()))?,
            d.execution_arn,
            DeploymentName::parse(machine).map_err(|e| EventError::Name(e.to_string()))?,
            date(d.start_date, "startDate")?,
            d.input,
        )
    };
    Ok(if status.is_terminal() {
        ExecutionEvent::ended(execution)
    } else {
        ExecutionEvent::started(execution)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine_names_come_from_plain_and_versioned_arns() {
        let arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:fraud.prod.ScoreFlow";
        assert_eq!(state_machine_name(arn), Some("fraud.prod.ScoreFlow"));
        assert_eq!(
            state_machine_name(&format!("{arn}:7")),
            Some("fraud.prod.ScoreFlow")
        );
        assert_eq!(
            state_machine_name("arn:aws:states:eu-west-1:1:activity:x"),
            None
        );
    }
}
