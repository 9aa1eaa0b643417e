//! `ferry deploy --notify-*`: the flags (Argo Workflows' names and rules, plus SNS and a
//! generic webhook), and storing their secret values before the request is uploaded
//! (`docs/notifications.md`): the request and the record carry only the secret's name and
//! masked values.

use std::sync::Arc;

use anyhow::Context as _;
use ferry_deploy::DeployRequest;
use ferry_deploy::notifications::{NotifyFlags, Plan, plan};
use ferry_deploy::secrets::{SecretName, Secrets};

use crate::UsageError;
use crate::context::{Context, Target};

/// The notification flags of `ferry deploy`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Notifications")]
pub struct NotifyArgs {
    /// Notify when a run ends FAILED, TIMED_OUT or ABORTED (needs a destination below).
    /// Example: `--notify-on-error --notify-slack-webhook-url https://hooks.slack.com/services/…`.
    #[arg(long)]
    pub notify_on_error: bool,

    /// Notify when a run ends SUCCEEDED (needs a destination below). Example:
    /// `--notify-on-success --notify-sns-topic arn:aws:sns:eu-west-1:123456789012:flow-runs`.
    #[arg(long)]
    pub notify_on_success: bool,

    /// A Slack incoming webhook URL (https://api.slack.com/messaging/webhooks): a Block Kit
    /// message per run. Kept as a secret. Example:
    /// `--notify-slack-webhook-url https://hooks.slack.com/services/T0/B0/XXXX`.
    #[arg(long, value_name = "URL")]
    pub notify_slack_webhook_url: Option<String>,

    /// A PagerDuty Events API v2 integration key: an incident per failed run (resolved when a
    /// later run succeeds). Kept as a secret. Example:
    /// `--notify-pager-duty-integration-key 0123456789abcdef0123456789abcdef`.
    #[arg(long, value_name = "KEY")]
    pub notify_pager_duty_integration_key: Option<String>,

    /// An incident.io API key (with --incident-io-alert-source-config-id). Kept as a secret.
    /// Example: `--notify-incident-io-api-key inc_live_…`.
    #[arg(long, value_name = "KEY")]
    pub notify_incident_io_api_key: Option<String>,

    /// The incident.io HTTP alert source that receives the alerts. Example:
    /// `--incident-io-alert-source-config-id 01GW2G3V0S59R238FAHPDS1R66`.
    #[arg(long, value_name = "ID")]
    pub incident_io_alert_source_config_id: Option<String>,

    /// Metadata for every incident.io alert, KEY=VALUE (repeatable). Example:
    /// `--incident-io-metadata team=fraud --incident-io-metadata tier=1`.
    #[arg(long, value_name = "KEY=VALUE")]
    pub incident_io_metadata: Vec<String>,

    /// An Amazon SNS topic: a subject and a plain-text message per run, for its e-mail, SMS or
    /// chat subscriptions. Example: `--notify-sns-topic arn:aws:sns:eu-west-1:123456789012:flow-runs`.
    #[arg(long, value_name = "ARN")]
    pub notify_sns_topic: Option<String>,

    /// Any HTTP endpoint: Ferry's versioned JSON body per run (docs/notifications.md). Kept as
    /// a secret. Example: `--notify-webhook-url https://ops.example.com/hooks/ferry`.
    #[arg(long, value_name = "URL")]
    pub notify_webhook_url: Option<String>,
}

impl NotifyArgs {
    /// The flags as the deploy crate takes them.
    pub fn flags(&self) -> NotifyFlags {
        NotifyFlags {
            on_error: self.notify_on_error,
            on_success: self.notify_on_success,
            slack_webhook_url: self.notify_slack_webhook_url.clone(),
            pager_duty_integration_key: self.notify_pager_duty_integration_key.clone(),
            incident_io_api_key: self.notify_incident_io_api_key.clone(),
            incident_io_alert_source_config_id: self.incident_io_alert_source_config_id.clone(),
            incident_io_metadata: self.incident_io_metadata.clone(),
            sns_topic: self.notify_sns_topic.clone(),
            webhook_url: self.notify_webhook_url.clone(),
        }
    }

    /// Check the flags (a usage error, exit 2, listing every problem); warnings are printed.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        let p = plan(&self.flags()).map_err(|lines| {
            anyhow::Error::new(UsageError(anyhow::anyhow!(
                "the notification flags cannot be used as given:\n  - {}",
                lines.join("\n  - ")
            )))
        })?;
        for w in &p.warnings {
            eprintln!("{w}");
        }
        Ok(p)
    }
}

/// The installation's secret store: `<home>/secrets` on the embedded stack, SSM Parameter
/// Store under the stack's prefix on AWS (`secrets_prefix` in the config, written by
/// `ferry configure`; else `/ferry/<stack name>/`).
pub async fn secrets(ctx: &Context) -> anyhow::Result<Arc<dyn Secrets>> {
    match &ctx.target {
        Target::Local => Ok(Arc::new(ferry_local::secrets::DirSecrets::for_home(
            &ctx.home,
        ))),
        #[cfg(feature = "aws")]
        Target::Aws(aws) => {
            let extra = |k: &str| {
                aws.extra
                    .get(k)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let prefix = extra("secrets_prefix")
                .or_else(|| extra("stack_name").map(|s| format!("/ferry/{s}/")))
                .unwrap_or_else(|| ferry_aws::secrets::DEFAULT_PREFIX.to_string());
            let sdk = ferry_store::sdk_config_with(&aws.client_settings()).await;
            Ok(Arc::new(ferry_aws::SsmSecrets::from_config(&sdk, &prefix)))
        }
        #[cfg(not(feature = "aws"))]
        Target::Aws(_) => anyhow::bail!("this ferry was built without AWS support (feature `aws`)"),
    }
}

/// Put `plan`'s secret values in the store (one secret for this request) and its settings in
/// `request`. Nothing is stored for a plan without notifications or without secret values.
pub async fn attach(ctx: &Context, request: &mut DeployRequest, plan: Plan) -> anyhow::Result<()> {
    let Some(mut n) = plan.notifications else {
        return Ok(());
    };
    if !plan.secrets.is_empty() {
        let name = SecretName::for_notifications(&request.deployment, &request.request_id)?;
        let store = secrets(ctx).await?;
        store
            .put(&name, &plan.secrets.to_json())
            .await
            .with_context(|| {
                format!("storing the notification secret {}", store.location(&name))
            })?;
        n.secret = Some(name);
    }
    request.options.notifications = Some(n);
    Ok(())
}
