//! [`Schedules`] on EventBridge Scheduler: one schedule per deployment in the stack's schedule
//! group, `cron(<expression>)` in its time zone, targeting the state machine with the
//! Scheduler role and the input `{"Parameters": "{}"}`. Calls: put = `CreateSchedule`, or
//! `CreateSchedule` + `UpdateSchedule` when it exists; delete = `DeleteSchedule`; get =
//! `GetSchedule`.

use async_trait::async_trait;
use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target};
use ferry_control::{DeploymentName, StateMachineRef};
use ferry_deploy::{ScheduleError, ScheduleSpec, Schedules};

use crate::errors::{Failure, classify};

/// EventBridge Scheduler as the schedules port. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SchedulerSchedules {
    client: Client,
    group: String,
    role_arn: String,
}

fn port_error(f: Failure) -> ScheduleError {
    match f {
        Failure::Service { code, message } if code == "ValidationException" => {
            ScheduleError::Invalid(message)
        }
        Failure::Service { code, message } => ScheduleError::Other(format!("{code}: {message}")),
        Failure::Transient(m) => ScheduleError::Transient(m),
        Failure::Other(m) => ScheduleError::Other(m),
    }
}

fn is_code(f: &Failure, c: &str) -> bool {
    matches!(f, Failure::Service { code, .. } if code == c)
}

impl SchedulerSchedules {
    /// Schedules in `group`, started with `role_arn` (the stack's Scheduler role, allowed
    /// `states:StartExecution`).
    pub fn new(client: Client, group: impl Into<String>, role_arn: impl Into<String>) -> Self {
        SchedulerSchedules {
            client,
            group: group.into(),
            role_arn: role_arn.into(),
        }
    }

    /// Create the schedule group unless it exists (the stack creates it; tests on moto use this).
    pub async fn create_group_if_missing(&self) -> Result<(), ScheduleError> {
        match self
            .client
            .create_schedule_group()
            .name(&self.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let f = classify(&e);
                if is_code(&f, "ConflictException") {
                    Ok(())
                } else {
                    Err(port_error(f))
                }
            }
        }
    }

    fn parts(&self, spec: &ScheduleSpec) -> Result<(FlexibleTimeWindow, Target), ScheduleError> {
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| ScheduleError::Other(e.to_string()))?;
        let target = Target::builder()
            .arn(&spec.target.id)
            .role_arn(&self.role_arn)
            .input(&spec.input)
            .build()
            .map_err(|e| ScheduleError::Other(e.to_string()))?;
        Ok((window, target))
    }
}

#[async_trait]
impl Schedules for SchedulerSchedules {
    async fn put(&self, spec: &ScheduleSpec) -> Result<(), ScheduleError> {
        let expression = format!("cron({})", spec.expression);
        let timezone = spec.timezone.clone().unwrap_or_else(|| "UTC".to_string());
        let (window, target) = self.parts(spec)?;
        let created = self
            .client
            .create_schedule()
            .name(&spec.name)
            .group_name(&self.group)
            .schedule_expression(&expression)
            .schedule_expression_timezone(&timezone)
            .flexible_time_window(window.clone())
            .target(target.clone())
            .state(ScheduleState::Enabled)
            .description(format!("Ferry schedule of {}", spec.target.name))
            .send()
            .await;
        match created {
            Ok(_) => return Ok(()),
            Err(e) => {
                let f = classify(&e);
                if !is_code(&f, "ConflictException") {
                    return Err(port_error(f));
                }
            }
        }
        self.client
            .update_schedule()
            .name(&spec.name)
            .group_name(&self.group)
            .schedule_expression(&expression)
            .schedule_expression_timezone(&timezone)
            .flexible_time_window(window)
            .target(target)
            .state(ScheduleState::Enabled)
            .description(format!("Ferry schedule of {}", spec.target.name))
            .send()
            .await
            .map_err(|e| port_error(classify(&e)))?;
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<bool, ScheduleError> {
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let f = classify(&e);
                if is_code(&f, "ResourceNotFoundException") {
                    Ok(false)
                } else {
                    Err(port_error(f))
                }
            }
        }
    }

    async fn get(&self, name: &str) -> Result<Option<ScheduleSpec>, ScheduleError> {
        let out = match self
            .client
            .get_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let f = classify(&e);
                if is_code(&f, "ResourceNotFoundException") {
                    return Ok(None);
                }
                return Err(port_error(f));
            }
        };
        let expression = out.schedule_expression().unwrap_or_default();
        let expression = expression
            .strip_prefix("cron(")
            .and_then(|x| x.strip_suffix(')'))
            .unwrap_or(expression)
            .to_string();
        let target = out.target();
        let arn = target.map(|t| t.arn().to_string()).unwrap_or_default();
        Ok(Some(ScheduleSpec {
            name: out.name().unwrap_or(name).to_string(),
            expression,
            timezone: out.schedule_expression_timezone().map(str::to_string),
            target: StateMachineRef {
                name: DeploymentName::parse(arn.rsplit(':').next().unwrap_or_default())
                    .map_err(|e| ScheduleError::Other(format!("schedule {name}'s target: {e}")))?,
                id: arn,
            },
            input: target
                .and_then(|t| t.input())
                .unwrap_or_default()
                .to_string(),
        }))
    }
}
