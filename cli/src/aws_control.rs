//! The embedded stack's control API routes, answered on AWS: the run commands (`trigger`,
//! `list-runs`, `status`, `terminate`) talk to [`crate::cmd::runs::StackClient`], which hands
//! their requests here when the target is AWS. Executions go to Step Functions
//! (`ferry_aws::SfnOrchestrator`), deployment records come from the stack's DynamoDB table.
//!
//! | route | AWS |
//! |---|---|
//! | `GET deployments/<name>` | the record (`DeploymentStore::get`) |
//! | `GET executions/<name>[?state_machine=SM]` | `DescribeExecution` on SM, else on each deployment's state machine until found |
//! | `GET state-machines/<sm>/executions[?status=S]` | `ListExecutions` (404 when the machine is missing) |
//! | `GET state-machines/<sm>` | `DescribeStateMachine` (the definition) |
//! | `GET executions/<name>/definition?state_machine=SM` | `DescribeStateMachineForExecution` |
//! | `POST state-machines/<sm>/executions` `{"input", "definition_sha256"?}` | `StartExecution`, on the version with that definition when given (`ferry resume`) |
//! | `POST executions/<name>/stop` `{"error", "cause"}` | `StopExecution` |

use std::sync::Arc;

use anyhow::{Context as _, bail};
use ferry_deploy::{DeploymentStore, ExecutionStatus, Orchestrator, OrchestratorError};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::cmd::runs::ApiFailure;
use crate::context::AwsTarget;

/// The AWS side of the control routes; clients are built on first use.
pub struct AwsControl {
    target: AwsTarget,
    ready: OnceCell<(ferry_aws::SfnOrchestrator, DeploymentStore)>,
}

fn not_found(what: String) -> ApiFailure {
    ApiFailure {
        status: 404,
        message: what,
    }
}

fn port_failure(e: OrchestratorError) -> anyhow::Result<Result<Value, ApiFailure>> {
    match e {
        OrchestratorError::NotFound(m) => Ok(Err(not_found(m))),
        OrchestratorError::ExecutionAlreadyExists(m) | OrchestratorError::Invalid(m) => {
            Ok(Err(ApiFailure {
                status: 400,
                message: m,
            }))
        }
        other => Err(other.into()),
    }
}

impl AwsControl {
    /// For the stack `target` describes (`sfn_role` and `region` from `ferry configure`).
    pub fn new(target: AwsTarget) -> Self {
        AwsControl {
            target,
            ready: OnceCell::new(),
        }
    }

    async fn clients(&self) -> anyhow::Result<&(ferry_aws::SfnOrchestrator, DeploymentStore)> {
        self.ready
            .get_or_try_init(|| async {
                let extra = |k: &str| {
                    self.target
                        .extra
                        .get(k)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                let Some(role) = extra("sfn_role") else {
                    bail!("the AWS configuration names no Step Functions role: run `ferry configure --from-stack FILE` (or --sfn-role)");
                };
                let sdk = ferry_store::sdk_config_with(&self.target.client_settings()).await;
                let region = self
                    .target
                    .region
                    .clone()
                    .or_else(|| sdk.region().map(|r| r.to_string()))
                    .context("no AWS region: run `ferry configure --region REGION` or set AWS_REGION")?;
                let sfn = ferry_aws::SfnOrchestrator::new(
                    ferry_aws::sfn_client(&sdk),
                    &role,
                    &region,
                )?;
                let Some(table) = &self.target.table else {
                    bail!("the AWS configuration names no deployments table: run `ferry configure`");
                };
                let table = ferry_store::open_table_with(
                    &ferry_spec::task::TableRef::Dynamodb {
                        table: table.clone(),
                    },
                    &self.target.client_settings(),
                )
                .await?;
                Ok((sfn, DeploymentStore::new(Arc::clone(&table))))
            })
            .await
    }

    /// Answer `method path` with `body`, like the control API would (JSON value or failure).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Result<Value, ApiFailure>> {
        let (sfn, records) = self.clients().await?;
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let parts: Vec<&str> = route.split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", ["deployments", name]) => match records.get(name).await? {
                Some(r) => Ok(Ok(serde_json::to_value(r)?)),
                None => Ok(Err(not_found(format!("no deployment {name}")))),
            },
            ("GET", ["executions", name]) => {
                // `?state_machine=SM`: one DescribeExecution instead of one per deployment.
                if let Some(sm) = query.strip_prefix("state_machine=") {
                    return match sfn.describe_execution(sm, name).await? {
                        Some(e) => Ok(Ok(serde_json::to_value(e)?)),
                        None => Ok(Err(not_found(format!("no execution {name}")))),
                    };
                }
                for r in records.list().await? {
                    if let Some(e) = sfn.describe_execution(&r.state_machine.name, name).await? {
                        return Ok(Ok(serde_json::to_value(e)?));
                    }
                }
                Ok(Err(not_found(format!("no execution {name}"))))
            }
            ("GET", ["state-machines", sm]) => match sfn.get_state_machine(sm).await {
                Ok(Some(m)) => Ok(Ok(serde_json::to_value(m)?)),
                Ok(None) => Ok(Err(not_found(format!("no state machine {sm}")))),
                Err(e) => port_failure(e),
            },
            ("GET", ["executions", name, "definition"]) => {
                let sm = match query.strip_prefix("state_machine=") {
                    Some(sm) => sm.to_string(),
                    None => {
                        let mut found = None;
                        for r in records.list().await? {
                            if sfn
                                .describe_execution(&r.state_machine.name, name)
                                .await?
                                .is_some()
                            {
                                found = Some(r.state_machine.name);
                                break;
                            }
                        }
                        match found {
                            Some(sm) => sm,
                            None => return Ok(Err(not_found(format!("no execution {name}")))),
                        }
                    }
                };
                match sfn.execution_definition(&sm, name).await {
                    Ok(Some(d)) => Ok(Ok(serde_json::json!({
                        "sha256": ferry_deploy::keys::definition_sha256(&d),
                        "definition": d,
                    }))),
                    Ok(None) => Ok(Err(not_found(format!("no execution {name}")))),
                    Err(e) => port_failure(e),
                }
            }
            ("GET", ["state-machines", sm, "executions"]) => {
                let status = match query.strip_prefix("status=") {
                    Some(s) => Some(s.parse::<ExecutionStatus>().map_err(anyhow::Error::msg)?),
                    None => None,
                };
                match sfn.list_executions(sm, status).await {
                    Ok(list) => Ok(Ok(serde_json::to_value(list)?)),
                    Err(e) => port_failure(e),
                }
            }
            ("POST", ["state-machines", sm, "executions"]) => {
                let input = body
                    .and_then(|b| b.get("input"))
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_else(|| "{}".to_string());
                let started = match body
                    .and_then(|b| b.get("definition_sha256"))
                    .and_then(Value::as_str)
                {
                    Some(sha) => sfn.start_on_definition(sm, None, &input, sha).await,
                    None => sfn.start_execution(sm, None, &input).await,
                };
                match started {
                    Ok(e) => Ok(Ok(serde_json::to_value(e)?)),
                    Err(e) => port_failure(e),
                }
            }
            ("POST", ["executions", name, "stop"]) => {
                let field = |k: &str| body.and_then(|b| b.get(k)).and_then(Value::as_str);
                for r in records.list().await? {
                    let sm = &r.state_machine.name;
                    if sfn.describe_execution(sm, name).await?.is_some() {
                        return match sfn
                            .stop_execution(sm, name, field("error"), field("cause"))
                            .await
                        {
                            Ok(e) => Ok(Ok(serde_json::to_value(e)?)),
                            Err(e) => port_failure(e),
                        };
                    }
                }
                Ok(Err(not_found(format!("no execution {name}"))))
            }
            _ => bail!("{method} {path} is not available on the AWS target"),
        }
    }
}
