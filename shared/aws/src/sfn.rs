//! [`Orchestrator`] on AWS Step Functions.
//!
//! Names map to ARNs without lookups: `arn:<partition>:states:<region>:<account>:stateMachine:<name>`
//! and `…:execution:<state machine>:<execution>`, the account and partition taken from the
//! Step Functions role ARN. Calls per operation: put = `DescribeStateMachine` +
//! `CreateStateMachine` (new) or `DescribeStateMachine` + `UpdateStateMachine` + `TagResource`
//! (existing); get =
//! `DescribeStateMachine` + `ListTagsForResource`; delete = `DescribeStateMachine` +
//! `DeleteStateMachine`; start = `StartExecution`; list = `ListExecutions` per page of 1,000;
//! describe = `DescribeExecution`; stop = `DescribeExecution` + `StopExecution` +
//! `DescribeExecution` (repeated, backing off from 50 ms, until the stop shows, ~3 s at most).
//!
//! Every put publishes a state machine version (`publish`), so an execution can later be
//! started on the definition an earlier one ran ([`SfnOrchestrator::start_on_definition`],
//! `ferry resume`); the oldest versions past [`MAX_KEPT_VERSIONS`] are deleted.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::{ExecutionStatus as SfnStatus, StateMachineStatus, Tag};
use chrono::{DateTime, Utc};
use ferry_deploy::{
    Execution, ExecutionStatus, Orchestrator, OrchestratorError, StateMachine, StateMachineRef,
};

use ferry_deploy::keys::definition_sha256;

use crate::errors::{Failure, classify};

/// The longest pause between the describes that wait for a stop to show (pauses double from
/// 50 ms: 50 + 100 + … + 1,600 ms ≈ 3.1 s in all).
const STOP_SETTLE_MAX_PAUSE: std::time::Duration = std::time::Duration::from_millis(1600);

/// Versions of a state machine kept when a put publishes a new one (Step Functions allows
/// 1,000); runs of older versions cannot be resumed on their own version.
pub const MAX_KEPT_VERSIONS: usize = 100;

/// Step Functions as the orchestrator. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SfnOrchestrator {
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
fn port_error(f: Failure, what: &str) -> OrchestratorError {
    match f {
        Failure::Service { code, message } => match code.as_str() {
            "StateMachineDoesNotExist" | "ExecutionDoesNotExist" | "ResourceNotFound" => {
                OrchestratorError::NotFound(what.to_string())
            }
            "StateMachineDeleting" => OrchestratorError::Deleting(what.to_string()),
            "ExecutionAlreadyExists" => OrchestratorError::ExecutionAlreadyExists(what.to_string()),
            "InvalidDefinition"
            | "InvalidName"
            | "InvalidArn"
            | "InvalidExecutionInput"
            | "ValidationException"
            | "InvalidLoggingConfiguration"
            | "TooManyTags" => OrchestratorError::Invalid(format!("{code}: {message}")),
            _ => OrchestratorError::Other(format!("{code}: {message}")),
        },
        Failure::Transient(m) => OrchestratorError::Transient(m),
        Failure::Other(m) => OrchestratorError::Other(m),
    }
}

fn is_code(f: &Failure, c: &str) -> bool {
    matches!(f, Failure::Service { code, .. } if code == c)
}

impl SfnOrchestrator {
    /// An orchestrator creating state machines with `role_arn` (the stack's Step Functions
    /// role, `arn:<partition>:iam::<account>:role/…`) in `region`.
    /// Errors: [`OrchestratorError::Invalid`] when `role_arn` is not an IAM ARN with an account.
    pub fn new(client: Client, role_arn: &str, region: &str) -> Result<Self, OrchestratorError> {
        let parts: Vec<&str> = role_arn.split(':').collect();
        if parts.len() < 6 || parts[0] != "arn" || parts[4].is_empty() || region.is_empty() {
            return Err(OrchestratorError::Invalid(format!(
                "the Step Functions role {role_arn:?} (region {region:?}) names no account"
            )));
        }
        Ok(SfnOrchestrator {
            client,
            role_arn: role_arn.to_string(),
            arn_prefix: format!("arn:{}:states:{region}:{}", parts[1], parts[4]),
        })
    }

    /// The ARN of the state machine `name`.
    pub fn state_machine_arn(&self, name: &str) -> String {
        format!("{}:stateMachine:{name}", self.arn_prefix)
    }

    /// The ARN of execution `execution` of `state_machine` (an ARN is returned as is).
    pub fn execution_arn(&self, state_machine: &str, execution: &str) -> String {
        if execution.starts_with("arn:") {
            execution.to_string()
        } else {
            format!("{}:execution:{state_machine}:{execution}", self.arn_prefix)
        }
    }

    fn tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
        tags.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }

    async fn describe(
        &self,
        state_machine: &str,
        arn: &str,
    ) -> Result<Option<Execution>, OrchestratorError> {
        let out = match self
            .client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let f = classify(&e);
                if is_code(&f, "ExecutionDoesNotExist") {
                    return Ok(None);
                }
                return Err(port_error(f, arn));
            }
        };
        Ok(Some(Execution {
            name: out.name().unwrap_or_default().to_string(),
            id: out.execution_arn().to_string(),
            state_machine: state_machine.to_string(),
            status: status_of(out.status()),
            start_date: to_chrono(out.start_date()),
            stop_date: out.stop_date().map(to_chrono),
            input: out.input().map(str::to_string),
            output: out.output().map(str::to_string),
            error: out.error().map(str::to_string),
            cause: out.cause().map(str::to_string),
            failing_state: None,
        }))
    }
}

#[async_trait]
impl Orchestrator for SfnOrchestrator {
    async fn put_state_machine(
        &self,
        name: &str,
        definition: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<StateMachineRef, OrchestratorError> {
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
                return Err(OrchestratorError::Deleting(name.to_string()));
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
                .name(name)
                .definition(definition)
                .role_arn(&self.role_arn)
                .set_tags(Some(Self::tags(tags)))
                .publish(true)
                .send()
                .await;
            match created {
                Ok(out) => {
                    return Ok(StateMachineRef {
                        name: name.to_string(),
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
            name: name.to_string(),
            id: arn,
        })
    }

    async fn get_state_machine(
        &self,
        name: &str,
    ) -> Result<Option<StateMachine>, OrchestratorError> {
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
            name: out.name().to_string(),
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

    async fn delete_state_machine(&self, name: &str) -> Result<bool, OrchestratorError> {
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

    async fn start_execution(
        &self,
        state_machine: &str,
        execution_name: Option<&str>,
        input: &str,
    ) -> Result<Execution, OrchestratorError> {
        self.start_on(
            state_machine,
            &self.state_machine_arn(state_machine),
            execution_name,
            input,
        )
        .await
    }

    async fn list_executions(
        &self,
        state_machine: &str,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<Execution>, OrchestratorError> {
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
                all.push(Execution {
                    name: x.name().to_string(),
                    id: x.execution_arn().to_string(),
                    state_machine: state_machine.to_string(),
                    status: status_of(x.status()),
                    start_date: to_chrono(x.start_date()),
                    stop_date: x.stop_date().map(to_chrono),
                    input: None,
                    output: None,
                    error: None,
                    cause: None,
                    failing_state: None,
                });
            }
        }
        all.sort_by_key(|e| std::cmp::Reverse(e.start_date));
        Ok(all)
    }

    async fn describe_execution(
        &self,
        state_machine: &str,
        execution: &str,
    ) -> Result<Option<Execution>, OrchestratorError> {
        self.describe(state_machine, &self.execution_arn(state_machine, execution))
            .await
    }

    async fn stop_execution(
        &self,
        state_machine: &str,
        execution: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<Execution, OrchestratorError> {
        let arn = self.execution_arn(state_machine, execution);
        let current = self
            .describe(state_machine, &arn)
            .await?
            .ok_or_else(|| OrchestratorError::NotFound(execution.to_string()))?;
        if current.status.is_terminal() {
            return Ok(current);
        }
        self.client
            .stop_execution()
            .execution_arn(&arn)
            .set_error(error.map(str::to_string))
            .set_cause(cause.map(str::to_string))
            .send()
            .await
            .map_err(|e| port_error(classify(&e), execution))?;
        // The stop is reflected asynchronously (moto's interpreter, and briefly on AWS too):
        // describe again until the execution is terminal, for at most ~3 s.
        let mut pause = std::time::Duration::from_millis(50);
        loop {
            let now = self
                .describe(state_machine, &arn)
                .await?
                .ok_or_else(|| OrchestratorError::NotFound(execution.to_string()))?;
            if now.status.is_terminal() || pause > STOP_SETTLE_MAX_PAUSE {
                return Ok(now);
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
}

/// Versions: executions on the definition an earlier execution ran (`ferry resume`).
impl SfnOrchestrator {
    /// Start an execution on `target` (the state machine's ARN, or one of its version ARNs).
    async fn start_on(
        &self,
        state_machine: &str,
        target: &str,
        execution_name: Option<&str>,
        input: &str,
    ) -> Result<Execution, OrchestratorError> {
        let out = self
            .client
            .start_execution()
            .state_machine_arn(target)
            .name(
                execution_name
                    .map(str::to_string)
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            )
            .input(input)
            .send()
            .await
            .map_err(|e| {
                let f = classify(&e);
                let what = if is_code(&f, "ExecutionAlreadyExists") {
                    execution_name.unwrap_or_default()
                } else {
                    state_machine
                };
                port_error(f, what)
            })?;
        let arn = out.execution_arn().to_string();
        let name = arn.rsplit(':').next().unwrap_or_default().to_string();
        Ok(Execution {
            name,
            id: arn,
            state_machine: state_machine.to_string(),
            status: ExecutionStatus::Running,
            start_date: to_chrono(out.start_date()),
            stop_date: None,
            input: Some(input.to_string()),
            output: None,
            error: None,
            cause: None,
            failing_state: None,
        })
    }

    /// The definition execution `execution` of `state_machine` ran
    /// (`DescribeStateMachineForExecution`: a version's, when the machine changed since), or
    /// `None` for an unknown execution.
    pub async fn execution_definition(
        &self,
        state_machine: &str,
        execution: &str,
    ) -> Result<Option<String>, OrchestratorError> {
        let arn = self.execution_arn(state_machine, execution);
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
                Err(port_error(f, execution))
            }
        }
    }

    /// Start an execution of `state_machine` on the definition whose text has sha256 `sha256`:
    /// the machine itself when its definition is that one, else the published version that has
    /// it (`ListStateMachineVersions`, `DescribeStateMachine` on each, newest first).
    /// Errors: those of [`Orchestrator::start_execution`]; [`OrchestratorError::NotFound`] when
    /// no kept version has that definition.
    pub async fn start_on_definition(
        &self,
        state_machine: &str,
        execution_name: Option<&str>,
        input: &str,
        sha256: &str,
    ) -> Result<Execution, OrchestratorError> {
        let arn = self.state_machine_arn(state_machine);
        let current = self
            .client
            .describe_state_machine()
            .state_machine_arn(&arn)
            .send()
            .await
            .map_err(|e| port_error(classify(&e), state_machine))?;
        if definition_sha256(current.definition()) == sha256 {
            return self
                .start_on(state_machine, &arn, execution_name, input)
                .await;
        }
        for version in self.versions(&arn).await? {
            let v = self
                .client
                .describe_state_machine()
                .state_machine_arn(&version)
                .send()
                .await
                .map_err(|e| port_error(classify(&e), &version))?;
            if definition_sha256(v.definition()) == sha256 {
                return self
                    .start_on(state_machine, &version, execution_name, input)
                    .await;
            }
        }
        Err(OrchestratorError::NotFound(format!(
            "no kept version of {state_machine} has the definition with sha256 {sha256} (Step Functions keeps the versions Ferry published, the newest {MAX_KEPT_VERSIONS})"
        )))
    }

    /// The version ARNs of the state machine `arn`, newest first.
    async fn versions(&self, arn: &str) -> Result<Vec<String>, OrchestratorError> {
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
