//! The control plane on AWS Step Functions: [`StateMachines`] and [`Executions`].
//!
//! Names map to ARNs without lookups: `arn:<partition>:states:<region>:<account>:stateMachine:<name>`
//! and `…:execution:<state machine>:<execution>`, the account and partition taken from the
//! Step Functions role ARN. Calls per operation: put = `DescribeStateMachine` +
//! `CreateStateMachine` (new) or `DescribeStateMachine` + `UpdateStateMachine` + `TagResource`
//! (existing); get = `DescribeStateMachine` + `ListTagsForResource`; delete =
//! `DescribeStateMachine` + `DeleteStateMachine`; start = `StartExecution`; list =
//! `ListExecutions` per page of 1,000; describe = `DescribeExecution`; stop =
//! `DescribeExecution` + `StopExecution` + `DescribeExecution` (repeated, backing off from 50 ms,
//! until the stop shows, ~3 s at most); wait = `DescribeExecution` polled with
//! [`Backoff::default`] (250 ms doubling to 5 s). Executions whose names do not follow Ferry's
//! rule ([`ExecutionName`]: started outside Ferry with a `.` in the name) are left out of lists.
//!
//! Every put publishes a state machine version (`publish`), so an execution can later be
//! started on the definition an earlier one ran ([`Executions::start_on_definition`],
//! `ferry resume`: `DescribeStateMachine` on the machine, then on each version, newest first);
//! the oldest versions past [`MAX_KEPT_VERSIONS`] are deleted. [`Executions::definition`] is
//! `DescribeStateMachineForExecution`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::{ExecutionStatus as SfnStatus, StateMachineStatus, Tag};
use chrono::{DateTime, Utc};
use ferry_control::{
    Backoff, ControlError, DeploymentName, Execution, ExecutionName, ExecutionStatus, Executions,
    StateMachine, StateMachineRef, StateMachines, poll_until_ended,
};

use ferry_deploy::keys;

use crate::errors::{Failure, classify};

/// The longest pause between the describes that wait for a stop to show (pauses double from
/// 50 ms: 50 + 100 + … + 1,600 ms ≈ 3.1 s in all).
const STOP_SETTLE_MAX_PAUSE: Duration = Duration::from_millis(1600);

/// Versions of a state machine kept when a put publishes a new one (Step Functions allows
/// 1,000); runs of older versions cannot be resumed on their own version.
pub const MAX_KEPT_VERSIONS: usize = 100;

/// Step Functions as the control plane. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: Client,
    role_arn: String,
    arn_prefix: String,
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}

fn status_of(s: &SfnStatus) -> ExecutionStatus {
    match s {
        SfnStatus::Running | SfnStatus::PendingRedrive => ExecutionStatus::Running,
        SfnStatus::Succeeded => ExecutionStatus::Succeeded,
        SfnStatus::TimedOut => ExecutionStatus::TimedOut,
        SfnStatus::Aborted => ExecutionStatus::Aborted,
        _ => ExecutionStatus::Failed,
    }
}

fn sfn_status(s: ExecutionStatus) -> SfnStatus {
    match s {
        ExecutionStatus::Running => SfnStatus::Running,
        ExecutionStatus::Succeeded => SfnStatus::Succeeded,
        ExecutionStatus::Failed => SfnStatus::Failed,
        ExecutionStatus::TimedOut => SfnStatus::TimedOut,
        ExecutionStatus::Aborted => SfnStatus::Aborted,
    }
}

/// Map a failure to the port's error; `what` names the resource.
fn port_error(f: Failure, what: &str) -> ControlError {
    match f {
        Failure::Service { code, message } => match code.as_str() {
            "StateMachineDoesNotExist" | "ExecutionDoesNotExist" | "ResourceNotFound" => {
                ControlError::NotFound(what.to_string())
            }
            "StateMachineDeleting" => ControlError::Deleting(what.to_string()),
            "ExecutionAlreadyExists" => ControlError::AlreadyExists(what.to_string()),
            "InvalidDefinition"
            | "InvalidName"
            | "InvalidArn"
            | "InvalidExecutionInput"
            | "ValidationException"
            | "InvalidLoggingConfiguration"
            | "TooManyTags" => ControlError::Invalid(format!("{code}: {message}")),
            _ => ControlError::Other(format!("{code}: {message}")),
        },
        Failure::Transient(m) => ControlError::Transient(m),
        Failure::Other(m) => ControlError::Other(m),
    }
}

fn is_code(f: &Failure, c: &str) -> bool {
    matches!(f, Failure::Service { code, .. } if code == c)
}

/// A name Step Functions reported that Ferry's rule refuses, as the port's error.
fn foreign_name(e: impl std::fmt::Display) -> ControlError {
    ControlError::Other(format!(
        "Step Functions answered a name Ferry cannot use: {e}"
    ))
}

impl StepFunctions {
    /// Step Functions through `client`, creating state machines with `role_arn` (the stack's
    /// Step Functions role, `arn:<partition>:iam::<account>:role/…`) in `region`.
    /// Errors: [`ControlError::Invalid`] when `role_arn` is not an IAM ARN with an account.
    pub fn new(client: Client, role_arn: &str, region: &str) -> Result<Self, ControlError> {
        let parts: Vec<&str> = role_arn.split(':').collect();
        if parts.len() < 6 || parts[0] != "arn" || parts[4].is_empty() || region.is_empty() {
            return Err(ControlError::Invalid(format!(
                "the Step Functions role {role_arn:?} (region {region:?}) names no account"
            )));
        }
        Ok(StepFunctions {
            client,
            role_arn: role_arn.to_string(),
            arn_prefix: format!("arn:{}:states:{region}:{}", parts[1], parts[4]),
        })
    }

    /// [`StepFunctions::new`] with a client built from `sdk` (endpoint, credentials), for
    /// callers that do not depend on the Step Functions SDK.
    pub fn from_sdk(
        sdk: &aws_config::SdkConfig,
        role_arn: &str,
        region: &str,
    ) -> Result<Self, ControlError> {
        Self::new(Client::new(sdk), role_arn, region)
    }

    /// The ARN of the state machine `name`.
    pub fn state_machine_arn(&self, name: &str) -> String {
        format!("{}:stateMachine:{name}", self.arn_prefix)
    }

    /// The ARN of execution `execution` of `state_machine`.
    pub fn execution_arn(&self, state_machine: &str, execution: &str) -> String {
        format!("{}:execution:{state_machine}:{execution}", self.arn_prefix)
    }

    fn tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
        tags.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }
}

#[async_trait]
impl StateMachines for StepFunctions {
    async fn put(
        &self,
        name: &DeploymentName,
        definition: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<StateMachineRef, ControlError> {
        let arn = self.state_machine_arn(name);
        // Describe first: CreateStateMachine on an existing name with the same definition
        // succeeds without touching tags (and moto accepts any definition then).
        let exists = match self
            .client
            .describe_state_machine()
            .state_machine_arn(&arn)
            .send()
            .await
        {
            Ok(o) if o.status() == Some(&StateMachineStatus::Deleting) => {
                return Err(ControlError::Deleting(name.to_string()));
            }
            Ok(_) => true,
            Err(e) => {
                let f = classify(&e);
                if !is_code(&f, "StateMachineDoesNotExist") {
                    return Err(port_error(f, name));
                }
                false
            }
        };
        if !exists {
            let created = self
                .client
                .create_state_machine()
                .name(name.as_str())
                .definition(definition)
                .role_arn(&self.role_arn)
                .set_tags(Some(Self::tags(tags)))
                .publish(true)
                .send()
                .await;
            match created {
                Ok(out) => {
                    return Ok(StateMachineRef {
                        name: name.clone(),
                        id: out.state_machine_arn().to_string(),
                    });
                }
                Err(e) => {
                    // Created meanwhile by another deploy: update it below.
                    let f = classify(&e);
                    if !is_code(&f, "StateMachineAlreadyExists") {
                        return Err(port_error(f, name));
                    }
                }
            }
        }
        self.client
            .update_state_machine()
            .state_machine_arn(&arn)
            .definition(definition)
            .role_arn(&self.role_arn)
            .publish(true)
            .send()
            .await
            .map_err(|e| port_error(classify(&e), name))?;
        self.prune_versions(&arn).await;
        if !tags.is_empty() {
            self.client
                .tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(Self::tags(tags)))
                .send()
                .await
                .map_err(|e| port_error(classify(&e), name))?;
        }
        Ok(StateMachineRef {
            name: name.clone(),
            id: arn,
        })
    }

    async fn get(&self, name: &DeploymentName) -> Result<Option<StateMachine>, ControlError> {
        let arn = self.state_machine_arn(name);
        let out = match self
            .client
            .describe_state_machine()
            .state_machine_arn(&arn)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let f = classify(&e);
                if is_code(&f, "StateMachineDoesNotExist") {
                    return Ok(None);
                }
                return Err(port_error(f, name));
            }
        };
        if out.status() == Some(&StateMachineStatus::Deleting) {
            return Ok(None);
        }
        let tags = self
            .client
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| port_error(classify(&e), name))?;
        Ok(Some(StateMachine {
            name: name.clone(),
            id: out.state_machine_arn().to_string(),
            definition: out.definition().to_string(),
            tags: tags
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect(),
            created_at: Some(to_chrono(out.creation_date())),
        }))
    }

    async fn delete(&self, name: &DeploymentName) -> Result<bool, ControlError> {
        let arn = self.state_machine_arn(name);
        match self
            .client
            .describe_state_machine()
            .state_machine_arn(&arn)
            .send()
            .await
        {
            Ok(o) if o.status() == Some(&StateMachineStatus::Deleting) => return Ok(false),
            Ok(_) => {}
            Err(e) => {
                let f = classify(&e);
                if is_code(&f, "StateMachineDoesNotExist") {
                    return Ok(false);
                }
                return Err(port_error(f, name));
            }
        }
        match self
            .client
            .delete_state_machine()
            .state_machine_arn(&arn)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let f = classify(&e);
                if is_code(&f, "StateMachineDoesNotExist") || is_code(&f, "StateMachineDeleting") {
                    Ok(false)
                } else {
                    Err(port_error(f, name))
                }
            }
        }
    }
}

#[async_trait]
impl Executions for StepFunctions {
    async fn start(
        &self,
        state_machine: &DeploymentName,
        name: Option<&ExecutionName>,
        input: &str,
    ) -> Result<Execution, ControlError> {
        self.start_on(
            state_machine,
            &self.state_machine_arn(state_machine),
            name,
            input,
        )
        .await
    }

    async fn start_on_definition(
        &self,
        state_machine: &DeploymentName,
        name: Option<&ExecutionName>,
        input: &str,
        definition_sha256: &str,
    ) -> Result<Execution, ControlError> {
        let arn = self.state_machine_arn(state_machine);
        let current = self
            .client
            .describe_state_machine()
            .state_machine_arn(&arn)
            .send()
            .await
            .map_err(|e| port_error(classify(&e), state_machine))?;
        if keys::definition_sha256(current.definition()) == definition_sha256 {
            return self.start_on(state_machine, &arn, name, input).await;
        }
        for version in self.versions(&arn).await? {
            let v = self
                .client
                .describe_state_machine()
                .state_machine_arn(&version)
                .send()
                .await
                .map_err(|e| port_error(classify(&e), &version))?;
            if keys::definition_sha256(v.definition()) == definition_sha256 {
                return self.start_on(state_machine, &version, name, input).await;
            }
        }
        Err(ControlError::NotFound(format!(
            "no kept version of {state_machine} has the definition with sha256 {definition_sha256} (Step Functions keeps the versions Ferry published, the newest {MAX_KEPT_VERSIONS})"
        )))
    }

    async fn state_machine(
        &self,
        name: &DeploymentName,
    ) -> Result<Option<StateMachine>, ControlError> {
        StateMachines::get(self, name).await
    }

    async fn definition(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
    ) -> Result<Option<String>, ControlError> {
        let arn = self.execution_arn(state_machine, name);
        match self
            .client
            .describe_state_machine_for_execution()
            .execution_arn(&arn)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.definition().to_string())),
            Err(e) => {
                let f = classify(&e);
                if is_code(&f, "ExecutionDoesNotExist") || is_code(&f, "ResourceNotFound") {
                    return Ok(None);
                }
                Err(port_error(f, name))
            }
        }
    }

    async fn list(
        &self,
        state_machine: &DeploymentName,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<Execution>, ControlError> {
        let mut pages = self
            .client
            .list_executions()
            .state_machine_arn(self.state_machine_arn(state_machine))
            .set_status_filter(status.map(sfn_status))
            .max_results(1000)
            .into_paginator()
            .send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| port_error(classify(&e), state_machine))?;
            for x in page.executions() {
                let Ok(name) = ExecutionName::parse(x.name()) else {
                    tracing::debug!(
                        execution = x.name(),
                        "not listed: not a Ferry execution name"
                    );
                    continue;
                };
                all.push(Execution {
                    status: status_of(x.status()),
                    stop_date: x.stop_date().map(to_chrono),
                    ..Execution::running(
                        name,
                        x.execution_arn().to_string(),
                        state_machine.clone(),
                        to_chrono(x.start_date()),
                        None,
                    )
                });
            }
        }
        all.sort_by_key(|e| std::cmp::Reverse(e.start_date));
        Ok(all)
    }

    async fn describe(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
    ) -> Result<Option<Execution>, ControlError> {
        let arn = self.execution_arn(state_machine, name);
        let out = match self
            .client
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let f = classify(&e);
                if is_code(&f, "ExecutionDoesNotExist") {
                    return Ok(None);
                }
                return Err(port_error(f, &arn));
            }
        };
        let name = ExecutionName::parse(out.name().unwrap_or_default()).map_err(foreign_name)?;
        Ok(Some(Execution {
            status: status_of(out.status()),
            stop_date: out.stop_date().map(to_chrono),
            output: out.output().map(str::to_string),
            error: out.error().map(str::to_string),
            cause: out.cause().map(str::to_string),
            ..Execution::running(
                name,
                out.execution_arn().to_string(),
                state_machine.clone(),
                to_chrono(out.start_date()),
                out.input().map(str::to_string),
            )
        }))
    }

    async fn stop(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<Execution, ControlError> {
        let not_found = || ControlError::NotFound(name.to_string());
        let current = self
            .describe(state_machine, name)
            .await?
            .ok_or_else(not_found)?;
        if current.status.is_terminal() {
            return Ok(current);
        }
        self.client
            .stop_execution()
            .execution_arn(&current.id)
            .set_error(error.map(str::to_string))
            .set_cause(cause.map(str::to_string))
            .send()
            .await
            .map_err(|e| port_error(classify(&e), name))?;
        // The stop is reflected asynchronously (moto's interpreter, and briefly on AWS too):
        // describe again until the execution is terminal, for at most ~3 s.
        let mut pause = Duration::from_millis(50);
        loop {
            let now = self
                .describe(state_machine, name)
                .await?
                .ok_or_else(not_found)?;
            if now.status.is_terminal() || pause > STOP_SETTLE_MAX_PAUSE {
                return Ok(now);
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }

    async fn wait(
        &self,
        state_machine: &DeploymentName,
        name: &ExecutionName,
        timeout: Duration,
    ) -> Result<Execution, ControlError> {
        poll_until_ended(name, timeout, Backoff::default(), || {
            self.describe(state_machine, name)
        })
        .await
    }
}

/// Versions: executions on the definition an earlier execution ran (`ferry resume`).
impl StepFunctions {
    /// Start an execution on `target`: the state machine's ARN, or one of its version ARNs.
    async fn start_on(
        &self,
        state_machine: &DeploymentName,
        target: &str,
        name: Option<&ExecutionName>,
        input: &str,
    ) -> Result<Execution, ControlError> {
        let name = name.cloned().unwrap_or_else(ExecutionName::random);
        let out = self
            .client
            .start_execution()
            .state_machine_arn(target)
            .name(name.as_str())
            .input(input)
            .send()
            .await
            .map_err(|e| {
                let f = classify(&e);
                let what = if is_code(&f, "ExecutionAlreadyExists") {
                    name.as_str()
                } else {
                    state_machine.as_str()
                };
                port_error(f, what)
            })?;
        Ok(Execution::running(
            name,
            out.execution_arn().to_string(),
            state_machine.clone(),
            to_chrono(out.start_date()),
            Some(input.to_string()),
        ))
    }

    /// The version ARNs of the state machine `arn`, newest first.
    async fn versions(&self, arn: &str) -> Result<Vec<String>, ControlError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_state_machine_versions()
                .state_machine_arn(arn)
                .set_next_token(token.clone())
                .max_results(1000)
                .send()
                .await
                .map_err(|e| port_error(classify(&e), arn))?;
            out.extend(
                page.state_machine_versions()
                    .iter()
                    .map(|v| v.state_machine_version_arn().to_string()),
            );
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// Delete the oldest versions past [`MAX_KEPT_VERSIONS`]. Best effort: a failure leaves
    /// them (the put already succeeded).
    async fn prune_versions(&self, arn: &str) {
        let Ok(versions) = self.versions(arn).await else {
            return;
        };
        for old in versions.iter().skip(MAX_KEPT_VERSIONS) {
            let _ = self
                .client
                .delete_state_machine_version()
                .state_machine_version_arn(old)
                .send()
                .await;
        }
    }
}
