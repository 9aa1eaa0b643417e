//! A deployment's notification settings: the `ferry deploy --notify-*` flags (Argo Workflows'
//! names and rules, `metaflow/plugins/argo/argo_workflows_cli.py`, plus an SNS topic and a
//! generic webhook), how they travel in the deploy request and the record, and what the deploy
//! handler does with their secret (`docs/notifications.md`).
//!
//! Secret values (the Slack and webhook URLs, the PagerDuty and incident.io keys) never travel in
//! the request: the CLI stores them first, as one [`NotificationSecrets`] JSON document, in the
//! installation's [`Secrets`] store under [`SecretName::for_notifications`] (one secret per
//! request), and the request and the record carry only that name and masked forms
//! ([`mask_url`], [`mask_key`]). The handler checks the secret is there, keeps it when the
//! deploy is recorded and deletes the one it replaces, deletes it when the request is refused
//! or fails, and deletes the deployment's secret with the deployment ([`settle_secrets`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::DeploymentRecord;
use crate::request::{DeployRequest, DeployResult, DeployStatus, RequestAction};
use crate::secrets::{SecretName, Secrets};

/// Where and when a deployment's runs send notifications. Every secret field holds a **masked**
/// form for display (`https://hooks.slack.com/…c3Rk`, `…9f2a`); the values are in the secret
/// named by [`Notifications::secret`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Notifications {
    /// `--notify-on-error`: notify when a run ends `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub on_error: bool,
    /// `--notify-on-success`: notify when a run ends `SUCCEEDED`.
    pub on_success: bool,
    /// `--notify-slack-webhook-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackTarget>,
    /// `--notify-pager-duty-integration-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pager_duty: Option<PagerDutyTarget>,
    /// `--notify-incident-io-api-key` with its alert source and metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_io: Option<IncidentIoTarget>,
    /// `--notify-sns-topic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sns: Option<SnsTarget>,
    /// `--notify-webhook-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTarget>,
    /// The secret holding the [`NotificationSecrets`] of these settings (`None` when no
    /// destination has a secret, e.g. SNS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretName>,
}

/// A Slack incoming webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackTarget {
    /// The webhook URL, masked.
    pub webhook_url: String,
}

/// A PagerDuty Events API v2 integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagerDutyTarget {
    /// The integration (routing) key, masked.
    pub integration_key: String,
}

/// An incident.io HTTP alert source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentIoTarget {
    /// The API key, masked.
    pub api_key: String,
    /// `--incident-io-alert-source-config-id` (not a secret: it is part of the alert URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_source_config_id: Option<String>,
    /// `--incident-io-metadata KEY=VALUE` pairs, sent in every alert's `metadata`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// An Amazon SNS topic (not a secret: who may publish is decided by IAM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnsTarget {
    /// `arn:<partition>:sns:<region>:<account>:<topic>`.
    pub topic_arn: String,
}

/// A generic HTTP webhook receiving Ferry's versioned JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTarget {
    /// The URL, masked.
    pub url: String,
}

/// The secret values of a deployment's notifications: the JSON document stored in its secret.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationSecrets {
    /// The Slack incoming webhook URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_webhook_url: Option<String>,
    /// The PagerDuty Events API v2 integration key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pager_duty_integration_key: Option<String>,
    /// The incident.io API key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_io_api_key: Option<String>,
    /// The generic webhook URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

impl NotificationSecrets {
    /// Whether no value is set.
    pub fn is_empty(&self) -> bool {
        self.slack_webhook_url.is_none()
            && self.pager_duty_integration_key.is_none()
            && self.incident_io_api_key.is_none()
            && self.webhook_url.is_none()
    }

    /// The JSON text stored in the secret.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("notification secrets serialise")
    }

    /// Parse the JSON text of a secret.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text)
            .map_err(|e| format!("the notification secret is not the expected JSON: {e}"))
    }
}

/// The `ferry deploy --notify-*` flags as given (see `ferry deploy --help`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyFlags {
    /// `--notify-on-error`.
    pub on_error: bool,
    /// `--notify-on-success`.
    pub on_success: bool,
    /// `--notify-slack-webhook-url URL`.
    pub slack_webhook_url: Option<String>,
    /// `--notify-pager-duty-integration-key KEY`.
    pub pager_duty_integration_key: Option<String>,
    /// `--notify-incident-io-api-key KEY`.
    pub incident_io_api_key: Option<String>,
    /// `--incident-io-alert-source-config-id ID`.
    pub incident_io_alert_source_config_id: Option<String>,
    /// `--incident-io-metadata KEY=VALUE`, repeatable.
    pub incident_io_metadata: Vec<String>,
    /// `--notify-sns-topic ARN`.
    pub sns_topic: Option<String>,
    /// `--notify-webhook-url URL`.
    pub webhook_url: Option<String>,
}

/// What the flags ask for: the settings for the request (secret name not yet set), the values
/// to store, and warnings to print.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// `None`: no notifications (no flag, or destinations without `--notify-on-*`).
    pub notifications: Option<Notifications>,
    /// The values to store in the secret (empty: store none).
    pub secrets: NotificationSecrets,
    /// Flags that have no effect, and why.
    pub warnings: Vec<String>,
}

/// Turn the flags into a [`Plan`], with Argo Workflows' rules: `--notify-on-error`/
/// `--notify-on-success` need a destination; incident.io needs
/// `--incident-io-alert-source-config-id`; `--incident-io-metadata` is `KEY=VALUE` with each key
/// once. Destinations without `--notify-on-*` send nothing (as on Argo): a warning says so.
/// Errors: one message per problem, each saying what to give instead.
pub fn plan(flags: &NotifyFlags) -> Result<Plan, Vec<String>> {
    let mut errors = Vec::new();
    let mut metadata = BTreeMap::new();
    for kv in &flags.incident_io_metadata {
        match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                if metadata.insert(k.to_string(), v.to_string()).is_some() {
                    errors.push(format!(
                        "--incident-io-metadata gives the key {k:?} more than once; give each key once."
                    ));
                }
            }
            _ => errors.push(format!(
                "--incident-io-metadata {kv:?} is not KEY=VALUE. Example: --incident-io-metadata team=fraud"
            )),
        }
    }
    let notifications = Notifications {
        on_error: flags.on_error,
        on_success: flags.on_success,
        slack: flags.slack_webhook_url.as_deref().map(|u| SlackTarget {
            webhook_url: mask_url(u),
        }),
        pager_duty: flags
            .pager_duty_integration_key
            .as_deref()
            .map(|k| PagerDutyTarget {
                integration_key: mask_key(k),
            }),
        incident_io: flags
            .incident_io_api_key
            .as_deref()
            .map(|k| IncidentIoTarget {
                api_key: mask_key(k),
                alert_source_config_id: flags.incident_io_alert_source_config_id.clone(),
                metadata: metadata.clone(),
            }),
        sns: flags.sns_topic.as_ref().map(|t| SnsTarget {
            topic_arn: t.clone(),
        }),
        webhook: flags
            .webhook_url
            .as_deref()
            .map(|u| WebhookTarget { url: mask_url(u) }),
        secret: None,
    };
    for (flag, url) in [
        ("--notify-slack-webhook-url", &flags.slack_webhook_url),
        ("--notify-webhook-url", &flags.webhook_url),
    ] {
        if let Some(u) = url
            && let Some(why) = url_problem(u)
        {
            errors.push(format!("{flag}: {why}"));
        }
    }
    for (flag, key) in [
        (
            "--notify-pager-duty-integration-key",
            &flags.pager_duty_integration_key,
        ),
        ("--notify-incident-io-api-key", &flags.incident_io_api_key),
    ] {
        if let Some(k) = key
            && (k.trim().is_empty() || k.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            errors.push(format!(
                "{flag}: the key is empty or has spaces; paste the key exactly as the service shows it."
            ));
        }
    }
    if flags.incident_io_api_key.is_none()
        && (flags.incident_io_alert_source_config_id.is_some()
            || !flags.incident_io_metadata.is_empty())
    {
        errors.push(
            "--incident-io-alert-source-config-id and --incident-io-metadata go with --notify-incident-io-api-key; give the key too, or leave them out."
                .to_string(),
        );
    }
    errors.extend(notifications.problems());
    if !errors.is_empty() {
        return Err(errors);
    }
    let secrets = NotificationSecrets {
        slack_webhook_url: flags.slack_webhook_url.clone(),
        pager_duty_integration_key: flags.pager_duty_integration_key.clone(),
        incident_io_api_key: flags.incident_io_api_key.clone(),
        webhook_url: flags.webhook_url.clone(),
    };
    if !notifications.on_error && !notifications.on_success {
        let mut warnings = Vec::new();
        if notifications.has_destination() {
            warnings.push(
                "ferry: warning: the --notify-* destinations are ignored without --notify-on-error or --notify-on-success (as on Argo Workflows); nothing will be sent."
                    .to_string(),
            );
        }
        return Ok(Plan {
            notifications: None,
            secrets: NotificationSecrets::default(),
            warnings,
        });
    }
    Ok(Plan {
        notifications: Some(notifications),
        secrets,
        warnings: Vec::new(),
    })
}

impl Notifications {
    /// Whether any destination is set.
    pub fn has_destination(&self) -> bool {
        self.slack.is_some()
            || self.pager_duty.is_some()
            || self.incident_io.is_some()
            || self.sns.is_some()
            || self.webhook.is_some()
    }

    /// Whether any destination needs a secret value (all but SNS).
    pub fn needs_secret(&self) -> bool {
        self.slack.is_some()
            || self.pager_duty.is_some()
            || self.incident_io.is_some()
            || self.webhook.is_some()
    }

    /// What is wrong with the settings (empty: nothing): Argo Workflows' rules and well-formed
    /// destinations. Checked by the CLI and again by the deploy handler.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if (self.on_error || self.on_success) && !self.has_destination() {
            out.push(
                "--notify-on-error and --notify-on-success need somewhere to send to: give \
                 --notify-slack-webhook-url (a Slack incoming webhook, https://api.slack.com/messaging/webhooks), \
                 --notify-pager-duty-integration-key (a PagerDuty Events API v2 integration key), \
                 --notify-incident-io-api-key (with --incident-io-alert-source-config-id), \
                 --notify-sns-topic or --notify-webhook-url."
                    .to_string(),
            );
        }
        if let Some(i) = &self.incident_io
            && (self.on_error || self.on_success)
        {
            match i.alert_source_config_id.as_deref() {
                None => out.push(
                    "incident.io alerts go to an HTTP alert source: give its id with \
                     --incident-io-alert-source-config-id (e.g. 01GW2G3V0S59R238FAHPDS1R66)."
                        .to_string(),
                ),
                Some(id)
                    if id.is_empty()
                        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
                {
                    out.push(format!(
                        "--incident-io-alert-source-config-id {id:?} is not an alert source id: \
                         letters and digits, as incident.io shows it (e.g. 01GW2G3V0S59R238FAHPDS1R66)."
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(s) = &self.sns
            && let Some(why) = sns_topic_problem(&s.topic_arn)
        {
            out.push(format!("--notify-sns-topic: {why}"));
        }
        out
    }

    /// Where notifications go, masked, as `ferry deploy` and `ferry describe` print it:
    /// `on error (FAILED, TIMED_OUT, ABORTED) to Slack https://hooks.slack.com/…c3Rk, SNS arn:…`.
    pub fn summary(&self) -> String {
        let mut when = Vec::new();
        if self.on_error {
            when.push("on error (FAILED, TIMED_OUT, ABORTED)");
        }
        if self.on_success {
            when.push("on success (SUCCEEDED)");
        }
        let mut to = Vec::new();
        if let Some(s) = &self.slack {
            to.push(format!("Slack {}", s.webhook_url));
        }
        if let Some(p) = &self.pager_duty {
            to.push(format!("PagerDuty key {}", p.integration_key));
        }
        if let Some(i) = &self.incident_io {
            to.push(format!(
                "incident.io alert source {} key {}",
                i.alert_source_config_id.as_deref().unwrap_or("?"),
                i.api_key
            ));
        }
        if let Some(s) = &self.sns {
            to.push(format!("SNS {}", s.topic_arn));
        }
        if let Some(w) = &self.webhook {
            to.push(format!("webhook {}", w.url));
        }
        format!("{} to {}", when.join(" and "), to.join(", "))
    }
}

/// Why `url` cannot be a webhook URL, if it cannot: it must be `http://` or `https://` with a
/// host, without spaces or control characters.
fn url_problem(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        None => Some("the URL must start with https:// (or http://)".to_string()),
        Some(r) if r.split(['/', '?', '#']).next().unwrap_or("").is_empty() => {
            Some("the URL has no host".to_string())
        }
        Some(_) if url.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Some("the URL has spaces or control characters".to_string())
        }
        Some(_) => None,
    }
}

/// Why `arn` is not an SNS topic ARN, if it is not.
fn sns_topic_problem(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty()
        && parts[5].len() <= 256
        && parts[5]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    (!ok).then(|| {
        format!(
            "{arn:?} is not an SNS topic ARN. Example: arn:aws:sns:eu-west-1:123456789012:flow-alerts"
        )
    })
}

/// The masked form of a secret URL: scheme, host and the last 4 characters
/// (`https://hooks.slack.com/…c3Rk`); user info in the authority is dropped.
pub fn mask_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let tail = last_chars(url, 4);
    let shown = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://{host}/")
    };
    if url.chars().count() >= shown.chars().count() + 12 {
        format!("{shown}…{tail}")
    } else {
        format!("{shown}…")
    }
}

/// The masked form of a key: its last 4 characters (`…9f2a`), or `…` alone for a key shorter
/// than 12 characters.
pub fn mask_key(key: &str) -> String {
    if key.chars().count() >= 12 {
        format!("…{}", last_chars(key, 4))
    } else {
        "…".to_string()
    }
}

fn last_chars(s: &str, n: usize) -> String {
    let count = s.chars().count();
    s.chars().skip(count.saturating_sub(n)).collect()
}

/// The deploy handler's check of a request's notification settings: the rules of
/// [`Notifications::problems`], a secret exactly when a destination needs one, named for this
/// request ([`SecretName::for_notifications`]) and present in the store. `Err(lines)` to fail
/// the request with.
pub async fn check_request(
    secrets: &dyn Secrets,
    request: &DeployRequest,
) -> Result<(), Vec<String>> {
    let Some(n) = &request.options.notifications else {
        return Ok(());
    };
    let mut lines = n.problems();
    match (&n.secret, n.needs_secret()) {
        (None, true) => lines.push(
            "The notification settings have no secret: deploy with this version of ferry."
                .to_string(),
        ),
        (Some(_), false) => lines.push(
            "The notification settings name a secret but no destination needs one.".to_string(),
        ),
        (Some(name), true) => {
            let want = SecretName::for_notifications(&request.deployment, &request.request_id)
                .map_err(|e| vec![e.to_string()])?;
            if *name != want {
                lines.push(format!(
                    "The notification secret {name} does not belong to this request ({want} expected)."
                ));
            } else {
                match secrets.exists(name).await {
                    Ok(true) => {}
                    Ok(false) => lines.push(format!(
                        "The notification secret {} is missing: deploy again.",
                        secrets.location(name)
                    )),
                    Err(e) => lines.push(format!("Reading the notification secret failed: {e}")),
                }
            }
        }
        (None, false) => {}
    }
    if lines.is_empty() { Ok(()) } else { Err(lines) }
}

/// After a request is stored: delete the notification secrets nothing refers to any more —
/// the one the deployment had (`previous`) when the request replaced or deleted the deployment,
/// and the request's own when it was not recorded (refused, failed, `--only-json`). Failures
/// are logged, never fatal: the deploy itself is done.
pub async fn settle_secrets(
    secrets: &dyn Secrets,
    request: &DeployRequest,
    previous: Option<&DeploymentRecord>,
    result: &DeployResult,
) {
    let previous_secret = previous
        .and_then(|r| r.notifications.as_ref())
        .and_then(|n| n.secret.clone());
    let requested = request
        .options
        .notifications
        .as_ref()
        .and_then(|n| n.secret.clone());
    let in_force = match (request.action, result.status, &result.record) {
        (RequestAction::Deploy, DeployStatus::Ok, Some(record)) => {
            record.notifications.as_ref().and_then(|n| n.secret.clone())
        }
        (RequestAction::Delete, DeployStatus::Ok, _) => None,
        _ => previous_secret.clone(),
    };
    for name in [previous_secret, requested].into_iter().flatten() {
        if Some(&name) == in_force.as_ref() {
            continue;
        }
        if let Err(e) = secrets.delete(&name).await {
            tracing::warn!(secret = %name, error = %e, "cannot delete a notification secret");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> NotifyFlags {
        NotifyFlags {
            on_error: true,
            slack_webhook_url: Some(
                "https://hooks.slack.com/services/T000/B000/abcdefghijklmnopqrstuvwx".into(),
            ),
            ..NotifyFlags::default()
        }
    }

    #[test]
    fn masks_keep_the_host_and_four_characters() {
        assert_eq!(
            mask_url("https://hooks.slack.com/services/T000/B000/abcdefghijklmnopqrstuvwx"),
            "https://hooks.slack.com/…uvwx"
        );
        assert_eq!(
            mask_url("https://user:pw@example.com/hook?token=12345678abcd"),
            "https://example.com/…abcd"
        );
        assert_eq!(mask_url("https://a.io/x"), "https://a.io/…");
        assert_eq!(mask_key("0123456789abcdef"), "…cdef");
        assert_eq!(mask_key("short"), "…");
    }

    #[test]
    fn the_plan_masks_and_keeps_values_apart() {
        let p = plan(&flags()).unwrap();
        let n = p.notifications.unwrap();
        assert_eq!(
            n.slack.as_ref().unwrap().webhook_url,
            "https://hooks.slack.com/…uvwx"
        );
        assert_eq!(
            p.secrets.slack_webhook_url.as_deref(),
            Some("https://hooks.slack.com/services/T000/B000/abcdefghijklmnopqrstuvwx")
        );
        let json = serde_json::to_string(&n).unwrap();
        assert!(!json.contains("abcdefghijkl"), "{json}");
        assert!(n.summary().contains(
            "on error (FAILED, TIMED_OUT, ABORTED) to Slack https://hooks.slack.com/…uvwx"
        ));
    }

    #[test]
    fn argo_rules_are_enforced() {
        let no_destination = NotifyFlags {
            on_error: true,
            ..NotifyFlags::default()
        };
        let e = plan(&no_destination).unwrap_err();
        assert!(e[0].contains("need somewhere to send to"), "{e:?}");

        let incident = NotifyFlags {
            on_success: true,
            incident_io_api_key: Some("inc_0123456789abcdef".into()),
            ..NotifyFlags::default()
        };
        let e = plan(&incident).unwrap_err();
        assert!(
            e[0].contains("--incident-io-alert-source-config-id"),
            "{e:?}"
        );

        let metadata = NotifyFlags {
            incident_io_alert_source_config_id: Some("01GW2G3V0S59R238FAHPDS1R66".into()),
            incident_io_metadata: vec!["team=a".into(), "team=b".into(), "oops".into()],
            ..incident.clone()
        };
        let e = plan(&metadata).unwrap_err();
        assert!(
            e.iter().any(|l| l.contains("\"team\" more than once")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|l| l.contains("\"oops\" is not KEY=VALUE")),
            "{e:?}"
        );

        let ok = NotifyFlags {
            incident_io_metadata: vec!["team=fraud".into(), "url=a=b".into()],
            ..metadata
        };
        let n = plan(&ok).unwrap().notifications.unwrap();
        let i = n.incident_io.unwrap();
        assert_eq!(i.metadata["url"], "a=b");
        assert_eq!(i.api_key, "…cdef");
    }

    #[test]
    fn destinations_without_on_flags_warn_and_store_nothing() {
        let f = NotifyFlags {
            on_error: false,
            ..flags()
        };
        let p = plan(&f).unwrap();
        assert!(p.notifications.is_none());
        assert!(p.secrets.is_empty());
        assert!(p.warnings[0].contains("ignored"), "{:?}", p.warnings);
        assert_eq!(plan(&NotifyFlags::default()).unwrap(), Plan::default());
    }

    #[test]
    fn bad_destinations_are_refused_with_what_to_give() {
        let f = NotifyFlags {
            on_error: true,
            slack_webhook_url: Some("hooks.slack.com/x".into()),
            webhook_url: Some("https:///path".into()),
            sns_topic: Some("arn:aws:sqs:eu-west-1:123456789012:q".into()),
            pager_duty_integration_key: Some("has space".into()),
            ..NotifyFlags::default()
        };
        let e = plan(&f).unwrap_err();
        assert!(
            e.iter()
                .any(|l| l
                    .starts_with("--notify-slack-webhook-url: the URL must start with https://")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|l| l.starts_with("--notify-webhook-url: the URL has no host")),
            "{e:?}"
        );
        assert!(
            e.iter().any(
                |l| l.starts_with("--notify-sns-topic:") && l.contains("Example: arn:aws:sns:")
            ),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|l| l.starts_with("--notify-pager-duty-integration-key:")),
            "{e:?}"
        );
        let sns = NotifyFlags {
            on_error: true,
            sns_topic: Some("arn:aws:sns:eu-west-1:123456789012:flow-alerts".into()),
            ..NotifyFlags::default()
        };
        let p = plan(&sns).unwrap();
        assert!(!p.notifications.unwrap().needs_secret());
        assert!(p.secrets.is_empty());
    }
}
