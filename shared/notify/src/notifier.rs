//! The notifier: for one finished run and its deployment's [`Targets`], which messages go
//! where, sent concurrently with retries, and the [`DeliveryReport`] (kept in the
//! [`DeliveryLog`] when one is set).
//!
//! | run ended | `--notify-on-error` | `--notify-on-success` |
//! |---|---|---|
//! | `FAILED`, `TIMED_OUT`, `ABORTED` | Slack, PagerDuty `trigger`, incident.io, SNS, webhook | — |
//! | `SUCCEEDED` | PagerDuty `resolve` of the deployment's open incidents | Slack, PagerDuty change event, incident.io, SNS, webhook |
//!
//! [`Notifier::notify`] never fails and never panics on what it is given: a destination that
//! cannot be reached is an outcome in the report. Callers run it off the execution's path
//! (a spawned task, the notify Lambda), so a slow receiver delays nothing but the report.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::delivery::{Attempted, HttpSender, Try, with_retries};
use crate::log::DeliveryLog;
use crate::summary::{RunStatus, RunSummary};
use crate::targets::{Endpoints, Targets};
use crate::{incident_io, pager_duty, slack, sns, webhook};

/// The version of [`DeliveryReport`] this crate writes.
pub const REPORT_VERSION: u32 = 1;

/// A kind of destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sink {
    /// A Slack incoming webhook.
    Slack,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// An incident.io HTTP alert source.
    IncidentIo,
    /// An SNS topic.
    Sns,
    /// A generic webhook.
    Webhook,
}

impl Sink {
    /// The name messages use: `Slack`, `PagerDuty`, `incident.io`, `SNS`, `webhook`.
    pub fn label(self) -> &'static str {
        match self {
            Sink::Slack => "Slack",
            Sink::PagerDuty => "PagerDuty",
            Sink::IncidentIo => "incident.io",
            Sink::Sns => "SNS",
            Sink::Webhook => "webhook",
        }
    }
}

/// One message's delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkOutcome {
    /// Where it went.
    pub sink: Sink,
    /// What it was: `message`, or PagerDuty's `trigger`, `resolve` or `change`.
    pub action: String,
    /// The destination, masked (`https://hooks.slack.com/…c3Rk`, a topic ARN).
    pub destination: String,
    /// How the delivery went.
    #[serde(flatten)]
    pub attempted: Attempted,
}

/// What was sent for one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The deployment.
    pub deployment: String,
    /// The run, `sfn-<execution>`.
    pub run_id: String,
    /// How the run ended.
    pub status: RunStatus,
    /// When the deliveries finished.
    pub sent_at: DateTime<Utc>,
    /// One entry per message.
    pub outcomes: Vec<SinkOutcome>,
}

impl DeliveryReport {
    /// Whether every message was delivered.
    pub fn delivered(&self) -> bool {
        self.outcomes.iter().all(|o| o.attempted.delivered)
    }

    /// One line for people: `sfn-12 FAILED at 2026-…: Slack delivered (1 try); PagerDuty
    /// trigger failed after 4 tries: HTTP 500`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .outcomes
            .iter()
            .map(|o| {
                let what = if o.action == "message" {
                    o.sink.label().to_string()
                } else {
                    format!("{} {}", o.sink.label(), o.action)
                };
                let tries = |n: u32| format!("{n} {}", if n == 1 { "try" } else { "tries" });
                match (&o.attempted.delivered, &o.attempted.error) {
                    (true, _) => format!("{what} delivered ({})", tries(o.attempted.attempts)),
                    (false, e) => format!(
                        "{what} failed after {}: {}",
                        tries(o.attempted.attempts),
                        e.as_deref().unwrap_or("unknown error")
                    ),
                }
            })
            .collect();
        format!(
            "{} {} at {}: {}",
            self.run_id,
            self.status,
            self.sent_at.format("%Y-%m-%d %H:%M:%S UTC"),
            parts.join("; ")
        )
    }
}

/// Sends notifications. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    http: HttpSender,
    endpoints: Endpoints,
    sns: Option<aws_sdk_sns::Client>,
    log: Option<DeliveryLog>,
}

type Pending<'a> = (Sink, String, String, BoxFuture<'a, Attempted>);

impl Notifier {
    /// A notifier posting with `http` to `endpoints`, without SNS or a delivery log.
    pub fn new(http: HttpSender, endpoints: Endpoints) -> Self {
        Notifier {
            http,
            endpoints,
            sns: None,
            log: None,
        }
    }

    /// Publish to SNS topics with `client`.
    pub fn with_sns(mut self, client: aws_sdk_sns::Client) -> Self {
        self.sns = Some(client);
        self
    }

    /// Keep reports and open PagerDuty incidents in `log`.
    pub fn with_log(mut self, log: DeliveryLog) -> Self {
        self.log = Some(log);
        self
    }

    /// Send what `targets` ask for about `run` (see the module table) and return the report,
    /// or `None` when nothing was due. The report is recorded in the delivery log, when set.
    pub async fn notify(&self, run: &RunSummary, targets: &Targets) -> Option<DeliveryReport> {
        let s = &targets.settings;
        let wanted = if run.status.is_error() {
            s.on_error
        } else {
            s.on_success
        };
        let open = match (&self.log, run.status, targets.pager_duty()) {
            (Some(log), RunStatus::Succeeded, Some(_)) => {
                log.open_incidents(&run.deployment).await.unwrap_or_else(|e| {
                    tracing::warn!(deployment = %run.deployment, error = %e, "cannot read open incidents");
                    Vec::new()
                })
            }
            _ => Vec::new(),
        };
        let mut pending: Vec<Pending<'_>> = Vec::new();
        if let Some(key) = targets.pager_duty() {
            let dest = s
                .pager_duty
                .as_ref()
                .map(|p| p.integration_key.clone())
                .unwrap_or_default();
            for dedup in &open {
                let body = pager_duty::resolve(key, dedup);
                pending.push(self.post(
                    Sink::PagerDuty,
                    "resolve",
                    dest.clone(),
                    self.endpoints.pager_duty_events(),
                    Vec::new(),
                    body,
                ));
            }
        }
        if wanted {
            self.messages(run, targets, &mut pending);
        }
        if pending.is_empty() {
            return None;
        }
        let labels: Vec<(Sink, String, String)> = pending
            .iter()
            .map(|(s, a, d, _)| (*s, a.clone(), d.clone()))
            .collect();
        let results = futures::future::join_all(pending.into_iter().map(|(_, _, _, f)| f)).await;
        let outcomes: Vec<SinkOutcome> = labels
            .into_iter()
            .zip(results)
            .map(|((sink, action, destination), mut attempted)| {
                attempted.error = attempted.error.map(|e| targets.scrub(&e));
                SinkOutcome {
                    sink,
                    action,
                    destination,
                    attempted,
                }
            })
            .collect();
        let report = DeliveryReport {
            version: REPORT_VERSION,
            deployment: run.deployment.clone(),
            run_id: run.run_id(),
            status: run.status,
            sent_at: Utc::now(),
            outcomes,
        };
        for o in &report.outcomes {
            tracing::info!(
                deployment = %report.deployment,
                run = %report.run_id,
                sink = o.sink.label(),
                action = %o.action,
                delivered = o.attempted.delivered,
                attempts = o.attempted.attempts,
                error = o.attempted.error.as_deref().unwrap_or(""),
                "notification"
            );
        }
        if let Some(log) = &self.log {
            self.remember(log, run, &report, &open).await;
        }
        Some(report)
    }

    /// The messages of `run` to every destination of `targets`.
    fn messages<'a>(&'a self, run: &'a RunSummary, t: &'a Targets, out: &mut Vec<Pending<'a>>) {
        let s = &t.settings;
        if let (Some(url), Some(m)) = (t.slack(), &s.slack) {
            out.push(self.post(
                Sink::Slack,
                "message",
                m.webhook_url.clone(),
                url.to_string(),
                Vec::new(),
                slack::message(run),
            ));
        }
        if let (Some(key), Some(m)) = (t.pager_duty(), &s.pager_duty) {
            let (action, url, body) = if run.status.is_error() {
                (
                    "trigger",
                    self.endpoints.pager_duty_events(),
                    pager_duty::trigger(run, key),
                )
            } else {
                (
                    "change",
                    self.endpoints.pager_duty_changes(),
                    pager_duty::change(run, key),
                )
            };
            out.push(self.post(
                Sink::PagerDuty,
                action,
                m.integration_key.clone(),
                url,
                Vec::new(),
                body,
            ));
        }
        if let (Some((key, source, metadata)), Some(m)) = (t.incident_io(), &s.incident_io) {
            out.push(self.post(
                Sink::IncidentIo,
                "message",
                format!("alert source {source} key {}", m.api_key),
                self.endpoints.incident_io_alerts(source),
                vec![("authorization", format!("Bearer {key}"))],
                incident_io::alert(run, metadata),
            ));
        }
        if let Some(topic) = t.sns_topic() {
            let policy = *self.http.policy();
            let client = self.sns.clone();
            let topic = topic.to_string();
            let fut: BoxFuture<'a, Attempted> = Box::pin(async move {
                let Some(client) = client else {
                    return Attempted {
                        attempts: 0,
                        error: Some(
                            "no SNS client: this notifier was built without AWS access".into(),
                        ),
                        ..Attempted::default()
                    };
                };
                with_retries(&policy, || async {
                    match sns::publish(&client, &topic, run).await {
                        sns::Published::Sent(_) => Try::Done { status: None },
                        sns::Published::Failed {
                            error,
                            transient: true,
                        } => Try::Again {
                            status: None,
                            error,
                            after: None,
                        },
                        sns::Published::Failed { error, .. } => Try::GiveUp {
                            status: None,
                            error,
                        },
                    }
                })
                .await
            });
            out.push((
                Sink::Sns,
                "message".into(),
                t.sns_topic().unwrap_or_default().to_string(),
                fut,
            ));
        }
        if let (Some(url), Some(m)) = (t.webhook(), &s.webhook) {
            out.push(self.post(
                Sink::Webhook,
                "message",
                m.url.clone(),
                url.to_string(),
                vec![("x-ferry-event", "run_finished".to_string())],
                webhook::body(run, Utc::now()),
            ));
        }
    }

    fn post<'a>(
        &'a self,
        sink: Sink,
        action: &str,
        destination: String,
        url: String,
        headers: Vec<(&'static str, String)>,
        body: Value,
    ) -> Pending<'a> {
        let fut: BoxFuture<'a, Attempted> =
            Box::pin(async move { self.http.post_json(&url, &headers, &body).await });
        (sink, action.to_string(), destination, fut)
    }

    /// Record the report and the PagerDuty incidents opened or resolved.
    async fn remember(
        &self,
        log: &DeliveryLog,
        run: &RunSummary,
        report: &DeliveryReport,
        open: &[String],
    ) {
        let delivered = |sink: Sink, action: &str| {
            report
                .outcomes
                .iter()
                .any(|o| o.sink == sink && o.action == action && o.attempted.delivered)
        };
        let mut errors = Vec::new();
        if delivered(Sink::PagerDuty, "trigger")
            && let Err(e) = log
                .open_incident(&run.deployment, &pager_duty::dedup_key(run))
                .await
        {
            errors.push(e);
        }
        // Resolves were sent in `open` order; keep the keys of those that failed.
        let resolved: Vec<String> = open
            .iter()
            .zip(
                report
                    .outcomes
                    .iter()
                    .filter(|o| o.sink == Sink::PagerDuty && o.action == "resolve"),
            )
            .filter(|(_, o)| o.attempted.delivered)
            .map(|(k, _)| k.clone())
            .collect();
        if let Err(e) = log.close_incidents(&run.deployment, &resolved).await {
            errors.push(e);
        }
        if let Err(e) = log.record(report).await {
            errors.push(e);
        }
        for e in errors {
            tracing::warn!(deployment = %run.deployment, error = %e, "cannot record a notification delivery");
        }
    }
}
