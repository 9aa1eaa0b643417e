//! Where one deployment's notifications go, with the secret values read back
//! ([`Targets`]), and the service endpoints they are posted to ([`Endpoints`]).

use std::collections::BTreeMap;

use ferry_deploy::notifications::{NotificationSecrets, Notifications};
use ferry_deploy::secrets::Secrets;

use crate::NotifyError;

/// A deployment's notification settings with their secret values. Its `Debug` prints masked
/// values only.
#[derive(Clone, PartialEq, Eq)]
pub struct Targets {
    /// The settings as recorded (masked values, for reports).
    pub settings: Notifications,
    /// The secret values.
    pub secrets: NotificationSecrets,
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Targets")
            .field("settings", &self.settings)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

impl Targets {
    /// Settings and values given by the caller.
    pub fn new(settings: Notifications, secrets: NotificationSecrets) -> Self {
        Targets { settings, secrets }
    }

    /// The settings with their values read from `store` (the secret the settings name).
    /// Errors: the secret is missing, unreadable or not the expected JSON.
    pub async fn resolve(
        settings: &Notifications,
        store: &dyn Secrets,
    ) -> Result<Self, NotifyError> {
        let secrets = match &settings.secret {
            None => NotificationSecrets::default(),
            Some(name) => {
                let text = store
                    .get(name)
                    .await
                    .map_err(|e| NotifyError::Secret(e.to_string()))?
                    .ok_or_else(|| {
                        NotifyError::Secret(format!(
                            "the notification secret {} does not exist",
                            store.location(name)
                        ))
                    })?;
                NotificationSecrets::from_json(&text).map_err(NotifyError::Secret)?
            }
        };
        Ok(Targets::new(settings.clone(), secrets))
    }

    /// The Slack webhook URL, when Slack is a destination.
    pub fn slack(&self) -> Option<&str> {
        self.settings.slack.as_ref()?;
        self.secrets.slack_webhook_url.as_deref()
    }

    /// The PagerDuty integration key, when PagerDuty is a destination.
    pub fn pager_duty(&self) -> Option<&str> {
        self.settings.pager_duty.as_ref()?;
        self.secrets.pager_duty_integration_key.as_deref()
    }

    /// incident.io's key, alert source and metadata, when it is a destination.
    pub fn incident_io(&self) -> Option<(&str, &str, &BTreeMap<String, String>)> {
        let i = self.settings.incident_io.as_ref()?;
        Some((
            self.secrets.incident_io_api_key.as_deref()?,
            i.alert_source_config_id.as_deref()?,
            &i.metadata,
        ))
    }

    /// The SNS topic ARN, when SNS is a destination.
    pub fn sns_topic(&self) -> Option<&str> {
        self.settings.sns.as_ref().map(|s| s.topic_arn.as_str())
    }

    /// The generic webhook URL, when it is a destination.
    pub fn webhook(&self) -> Option<&str> {
        self.settings.webhook.as_ref()?;
        self.secrets.webhook_url.as_deref()
    }

    /// Replace every secret value in `text` with its masked form (for error texts that might
    /// quote a URL or a body).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        let s = &self.secrets;
        for (value, masked) in [
            (
                &s.slack_webhook_url,
                self.settings.slack.as_ref().map(|x| x.webhook_url.clone()),
            ),
            (
                &s.webhook_url,
                self.settings.webhook.as_ref().map(|x| x.url.clone()),
            ),
            (
                &s.pager_duty_integration_key,
                self.settings
                    .pager_duty
                    .as_ref()
                    .map(|x| x.integration_key.clone()),
            ),
            (
                &s.incident_io_api_key,
                self.settings
                    .incident_io
                    .as_ref()
                    .map(|x| x.api_key.clone()),
            ),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                out = out.replace(v, &masked.unwrap_or_else(|| "…".to_string()));
            }
        }
        out
    }
}

/// The base URLs of the services Ferry posts to (overridable for tests and proxies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// PagerDuty Events API v2 (`<base>/v2/enqueue`, `<base>/v2/change/enqueue`).
    pub pager_duty: String,
    /// incident.io's API (`<base>/v2/alert_events/http/<alert source config id>`).
    pub incident_io: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            pager_duty: "https://events.pagerduty.com".to_string(),
            incident_io: "https://api.incident.io".to_string(),
        }
    }
}

impl Endpoints {
    /// The defaults, with `FERRY_PAGERDUTY_URL` and `FERRY_INCIDENT_IO_URL` (base URLs) over
    /// them when `get` returns them.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let d = Endpoints::default();
        let base = |name: &str, default: String| {
            get(name)
                .map(|v| v.trim().trim_end_matches('/').to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or(default)
        };
        Endpoints {
            pager_duty: base("FERRY_PAGERDUTY_URL", d.pager_duty),
            incident_io: base("FERRY_INCIDENT_IO_URL", d.incident_io),
        }
    }

    /// [`Endpoints::from_lookup`] on the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// `POST` here for PagerDuty alert events (`trigger`, `resolve`).
    pub fn pager_duty_events(&self) -> String {
        format!("{}/v2/enqueue", self.pager_duty)
    }

    /// `POST` here for PagerDuty change events.
    pub fn pager_duty_changes(&self) -> String {
        format!("{}/v2/change/enqueue", self.pager_duty)
    }

    /// `POST` here for incident.io alert events of `alert_source_config_id`.
    pub fn incident_io_alerts(&self, alert_source_config_id: &str) -> String {
        format!(
            "{}/v2/alert_events/http/{alert_source_config_id}",
            self.incident_io
        )
    }
}
