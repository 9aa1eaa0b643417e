//! `@schedule` → an EventBridge Scheduler schedule (contract metaflow-sfn §5, with time zones).

use ferry_spec::model::{FlowSpec, Schedule};

use crate::naming;
use crate::output::{CompileError, ScheduleSpec};

/// The input every scheduled execution gets: an empty parameter map, so the start task uses
/// the deploy-time defaults (Metaflow's `{"Parameters": "{}"}`).
pub const SCHEDULED_INPUT: &str = r#"{"Parameters": "{}"}"#;

/// The schedule of `spec` for state machine `state_machine`, if the flow has `@schedule`.
/// Errors: an invalid cron expression or time zone; a required parameter without a default.
pub fn schedule_for(
    spec: &FlowSpec,
    state_machine: &str,
) -> Result<Option<ScheduleSpec>, CompileError> {
    let Some(Schedule { every, timezone }) = &spec.decorators.schedule else {
        return Ok(None);
    };
    let expr = every.expression();
    check_cron(expr)?;
    ferry_spec::aws_cron::parse_timezone(timezone.as_deref())
        .map_err(|e| CompileError::Schedule(e.to_string()))?;
    let timezone = timezone.clone().unwrap_or_else(|| "UTC".to_string());
    if let Some(p) = spec
        .parameters
        .iter()
        .find(|p| p.required && p.default.is_none())
    {
        return Err(CompileError::Parameter(format!(
            "The parameter *{}* does not have a default and is required. Scheduling such parameters via EventBridge is not supported: give it a default.",
            p.name
        )));
    }
    Ok(Some(ScheduleSpec {
        name: naming::schedule_name(state_machine),
        expression: format!("cron({expr})"),
        timezone,
        input: SCHEDULED_INPUT.to_string(),
    }))
}

/// Check an EventBridge cron expression (6 fields, exactly one `?` day field, valid values):
/// `ferry_spec::aws_cron` parses it.
pub fn check_cron(expr: &str) -> Result<(), CompileError> {
    ferry_spec::aws_cron::AwsCron::parse(expr)
        .map(|_| ())
        .map_err(|e| CompileError::Schedule(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_shapes() {
        assert!(check_cron("0 10 * * ? *").is_ok());
        assert!(check_cron("0 18 ? * MON-FRI *").is_ok());
        assert!(check_cron("0 9 ? * 6L *").is_ok());
        assert!(check_cron("0 10 * * * *").is_err());
        assert!(check_cron("0 10 * *").is_err());
        assert!(check_cron("0 10 * * ? *; rm").is_err());
    }
}
