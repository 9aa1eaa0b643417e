//! Notifications as a listener of the control plane's lifecycle hook ([`NotifyListener`]): when
//! an execution ends, the deployment's `--notify-*` settings are read from its record, their
//! secret values from the secret store, and the [`Notifier`] delivers on its own task, so
//! retries never hold the execution's end. The embedded stack wires it into its `Listeners`
//! (`ferry_local::stack`); on AWS the same listener takes the `ExecutionEvent`s that
//! `ferry_aws::events` parses from Step Functions' status-change events.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_control::{
    Execution, ExecutionEvent, ExecutionEventKind, ExecutionListener, ExecutionStatus,
    ListenerError,
};
use ferry_deploy::secrets::Secrets;
use ferry_deploy::{DeploymentRecord, DeploymentStore};

use crate::{Notifier, RunStatus, RunSummary, Targets};

/// Notifies a deployment's destinations when one of its executions ends. Cheap to clone.
#[derive(Clone)]
pub struct NotifyListener {
    records: DeploymentStore,
    secrets: Arc<dyn Secrets>,
    notifier: Notifier,
    wait: bool,
}

impl NotifyListener {
    /// Reads deployment records from `records`, notification secrets from `secrets`, and
    /// delivers with `notifier` (give it a [`crate::DeliveryLog`] to keep the last report,
    /// which `ferry describe` shows).
    pub fn new(records: DeploymentStore, secrets: Arc<dyn Secrets>, notifier: Notifier) -> Self {
        NotifyListener {
            records,
            secrets,
            notifier,
            wait: false,
        }
    }

    /// Deliver within [`ExecutionListener::on_event`] instead of on a task of its own: for a
    /// caller whose process may stop once it returns (a Lambda is frozen after its handler
    /// answers, and a spawned delivery would never finish). Give the caller's `Listeners` a
    /// timeout above the notifier's longest delivery (47 s with the default retry policy).
    pub fn waiting(mut self) -> Self {
        self.wait = true;
        self
    }

    /// The summary of the ended execution `e` of `record`; `None` while it runs.
    pub fn summary(e: &Execution, record: &DeploymentRecord) -> Option<RunSummary> {
        let status = match e.status {
            ExecutionStatus::Running => return None,
            ExecutionStatus::Succeeded => RunStatus::Succeeded,
            ExecutionStatus::Failed => RunStatus::Failed,
            ExecutionStatus::TimedOut => RunStatus::TimedOut,
            ExecutionStatus::Aborted => RunStatus::Aborted,
        };
        let failing_step = e
            .cause
            .as_deref()
            .and_then(crate::cause::failed_task)
            .and_then(|t| t.step)
            .or_else(|| e.failing_state.clone());
        Some(RunSummary {
            flow: record.flow.clone(),
            deployment: record.deployment.clone(),
            execution: e.name.to_string(),
            status,
            namespace: record.namespace.clone(),
            project: record.project.clone(),
            branch: record.branch.clone(),
            failing_step,
            error: e.error.clone(),
            cause: e.cause.clone(),
            started_at: Some(e.start_date),
            stopped_at: e.stop_date,
        })
    }
}

#[async_trait]
impl ExecutionListener for NotifyListener {
    fn name(&self) -> &str {
        "notifications"
    }

    /// On an end: nothing when the deployment is gone or has no notifications; else the
    /// targets are resolved now (a missing secret is this listener's error, logged by the
    /// hook) and delivered on a task of their own (or before returning: [`Self::waiting`]).
    async fn on_event(&self, event: &ExecutionEvent) -> Result<(), ListenerError> {
        if event.kind != ExecutionEventKind::Ended {
            return Ok(());
        }
        let e = &event.execution;
        let Some(record) = self.records.get(e.state_machine.as_str()).await? else {
            return Ok(());
        };
        let Some(settings) = &record.notifications else {
            return Ok(());
        };
        let Some(run) = Self::summary(e, &record) else {
            return Ok(());
        };
        let targets = Targets::resolve(settings, self.secrets.as_ref()).await?;
        let notifier = self.notifier.clone();
        let deliver = async move {
            if let Some(report) = notifier.notify(&run, &targets).await {
                tracing::info!(run = %run.pathspec(), "notifications: {}", report.summary());
            }
        };
        if self.wait {
            deliver.await;
        } else {
            tokio::spawn(deliver);
        }
        Ok(())
    }
}
