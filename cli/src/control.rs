//! The control plane the run commands (`trigger`, `list-runs`, `status`, `terminate`) use,
//! chosen once from the context: the embedded stack's control API
//! ([`ferry_local::control::ControlClient`], found in `<home>/stack.json`), or on AWS Step
//! Functions (`ferry_aws::StepFunctions`, with the Step Functions role and region `ferry
//! configure` recorded). Deployment records come from the target's table either way
//! (`<home>/ferry.db`, or the stack's DynamoDB table).

use anyhow::bail;
use chrono::{DateTime, Utc};
use ferry_control::{ControlError, DeploymentName, Execution, Executions, RunId};
use ferry_deploy::{DeploymentRecord, DeploymentStore};
use ferry_local::control::ControlClient;

use crate::context::{Context, Target};
use crate::failure::{ErrorKind, Failure};

/// Executions and deployment records of the context's target.
pub struct ControlPlane {
    executions: Box<dyn Executions>,
    records: DeploymentStore,
}

/// The client of the embedded stack running on the context's home, `None` when its
/// `stack.json` says none runs (a clean stop removes it).
pub fn local_stack(ctx: &Context) -> anyhow::Result<Option<ControlClient>> {
    match ferry_local::stack::read_stack_file(&ctx.home) {
        Some(info) => Ok(Some(ControlClient::new(&info.url)?)),
        None => Ok(None),
    }
}

/// The client of the embedded stack running on the context's home; when none runs, an
/// [`ErrorKind::Unavailable`] failure saying how to start one ([`no_stack`]).
pub fn running_stack(ctx: &Context) -> anyhow::Result<ControlClient> {
    local_stack(ctx)?.ok_or_else(|| no_stack(ctx))
}

/// The failure of a command that needs the embedded stack on the context's home when none
/// runs there.
pub fn no_stack(ctx: &Context) -> anyhow::Error {
    Failure::new(
        ErrorKind::Unavailable,
        format!(
            "no Ferry stack is running on {}: start one with `ferry up --home {}`",
            ctx.home.display(),
            ctx.home.display()
        ),
    )
}

impl ControlPlane {
    /// The control plane of the context's target. Errors: no embedded stack running on the
    /// home ([`ErrorKind::Unavailable`], saying how to start one); an AWS configuration without
    /// the Step Functions role, region or table (saying which `ferry configure` flag sets it).
    pub async fn connect(ctx: &Context) -> anyhow::Result<Self> {
        let executions: Box<dyn Executions> = match &ctx.target {
            Target::Local => Box::new(running_stack(ctx)?),
            Target::Aws(aws) => aws_executions(ctx, aws).await?,
        };
        Ok(ControlPlane {
            executions,
            records: DeploymentStore::new(ctx.table().await?),
        })
    }

    /// The executions port.
    pub fn executions(&self) -> &dyn Executions {
        self.executions.as_ref()
    }

    /// The deployment record `name`, `None` if there is no such deployment.
    pub async fn deployment(
        &self,
        name: &DeploymentName,
    ) -> anyhow::Result<Option<DeploymentRecord>> {
        Ok(self.records.get(name).await?)
    }

    /// The execution of the run `run_id`, over every deployment's state machine; `None` if
    /// unknown.
    pub async fn find_run(&self, run_id: &RunId) -> anyhow::Result<Option<Execution>> {
        let candidates: Vec<DeploymentName> = self
            .records
            .list()
            .await?
            .into_iter()
            .map(|r| r.state_machine.name)
            .collect();
        self.executions
            .find(&run_id.execution_name(), &candidates)
            .await
            .map_err(failure)
    }
}

/// Step Functions for the AWS target.
#[cfg(feature = "aws")]
async fn aws_executions(
    _ctx: &Context,
    aws: &crate::context::AwsTarget,
) -> anyhow::Result<Box<dyn Executions>> {
    use anyhow::Context as _;
    let Some(role) = aws
        .extra
        .get("sfn_role")
        .and_then(serde_json::Value::as_str)
    else {
        bail!(
            "the AWS configuration names no Step Functions role: run `ferry configure --from-stack FILE` (or --sfn-role)"
        );
    };
    let sdk = ferry_store::sdk_config_with(&aws.client_settings()).await;
    let region = aws
        .region
        .clone()
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .context("no AWS region: run `ferry configure --region REGION` or set AWS_REGION")?;
    Ok(Box::new(ferry_aws::StepFunctions::from_sdk(
        &sdk, role, &region,
    )?))
}

/// Without the `aws` feature, an AWS target has no control plane here.
#[cfg(not(feature = "aws"))]
async fn aws_executions(
    ctx: &Context,
    _aws: &crate::context::AwsTarget,
) -> anyhow::Result<Box<dyn Executions>> {
    bail!(
        "this command works with the embedded stack; {} points at AWS",
        ctx.home.display()
    )
}

/// A control-plane error as a command reports it: no answer from the stack is
/// [`ErrorKind::Unavailable`], anything else a plain failure with the port's message.
pub fn failure(e: ControlError) -> anyhow::Error {
    match e {
        ControlError::Unreachable(m) => Failure::new(ErrorKind::Unavailable, m),
        other => anyhow::Error::new(other),
    }
}

/// `2026-11-30 02:24:19+00:00`, as Metaflow prints boto's datetimes: how the run commands print
/// an execution's times.
pub fn metaflow_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%:z").to_string()
}
