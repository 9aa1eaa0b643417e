//! A real HTTP receiver on 127.0.0.1 for delivery tests: it records every request (path,
//! headers, JSON body) and answers with a scripted sequence of statuses, or never answers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use ferry_deploy::notifications::{
    IncidentIoTarget, NotificationSecrets, Notifications, PagerDutyTarget, SlackTarget,
    WebhookTarget, mask_key, mask_url,
};
use ferry_notify::{RetryPolicy, RunStatus, RunSummary, Targets};
use serde_json::Value;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

/// How the receiver answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// These statuses in turn; the last one for every later request.
    Statuses(Vec<u16>),
    /// Accept the request, never answer.
    Never,
}

#[derive(Clone)]
struct Shared {
    got: Arc<Mutex<Vec<Received>>>,
    answer: Answer,
}

/// A running receiver.
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(answer: Answer) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            got: got.clone(),
            answer,
        };
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, got, task }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// The requests to `path`.
    pub fn at(&self, path: &str) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Wait up to `secs` for at least `n` requests.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let got = self.requests();
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(s): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = {
        let mut got = s.got.lock().unwrap();
        got.push(Received {
            path: uri.path().to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
        });
        got.len()
    };
    match &s.answer {
        Answer::Never => std::future::pending().await,
        Answer::Statuses(list) => {
            let code = list.get(n - 1).or(list.last()).copied().unwrap_or(200);
            StatusCode::from_u16(code).unwrap()
        }
    }
}

/// A policy with short pauses, for tests.
pub fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        first_backoff: std::time::Duration::from_millis(20),
        max_backoff: std::time::Duration::from_millis(100),
        request_timeout: std::time::Duration::from_secs(5),
        connect_timeout: std::time::Duration::from_secs(2),
    }
}

pub const SLACK_SECRET: &str = "T0000000/B0000000/s3cr3tSlackT0kenValue";
pub const PAGERDUTY_KEY: &str = "R0UT1NGKEYs3cr3t0123456789abcdef";
pub const INCIDENT_KEY: &str = "inc_s3cr3t_api_key_0123456789";
pub const WEBHOOK_SECRET: &str = "hook-s3cr3t-0123456789";

/// A failed run of `EmbeddedFailFlow` whose task failed in step `explode`.
pub fn failed_run() -> RunSummary {
    RunSummary {
        flow: "EmbeddedFailFlow".into(),
        deployment: "EmbeddedFailFlow".into(),
        execution: "0b8c8d1e-6a1f".into(),
        status: RunStatus::Failed,
        namespace: "production:embeddedfailflow-0-abcd".into(),
        project: None,
        branch: None,
        failing_step: Some("explode".into()),
        error: Some("States.TaskFailed".into()),
        cause: Some(
            r#"{"JobId":"j-42","Status":"FAILED","StatusReason":"Essential container in task exited","Parameters":{"step_name":"explode"},"Attempts":[{}],"Container":{"ExitCode":1}}"#
                .into(),
        ),
        started_at: Some("2026-01-02T03:00:00Z".parse().unwrap()),
        stopped_at: Some("2026-01-02T03:00:42Z".parse().unwrap()),
    }
}

/// Which destinations a test wants.
#[derive(Default, Clone, Copy)]
pub struct Want {
    pub slack: bool,
    pub pager_duty: bool,
    pub incident_io: bool,
    pub webhook: bool,
    pub on_success: bool,
}

/// Targets whose destinations all post to `base` (Slack at `/slack/<secret>`, the webhook at
/// `/hook/<secret>`; PagerDuty and incident.io through [`ferry_notify::Endpoints`]).
pub fn targets(base: &str, want: Want) -> Targets {
    let slack_url = format!("{base}/slack/{SLACK_SECRET}");
    let hook_url = format!("{base}/hook/{WEBHOOK_SECRET}");
    let settings = Notifications {
        on_error: true,
        on_success: want.on_success,
        slack: want.slack.then(|| SlackTarget {
            webhook_url: mask_url(&slack_url),
        }),
        pager_duty: want.pager_duty.then(|| PagerDutyTarget {
            integration_key: mask_key(PAGERDUTY_KEY),
        }),
        incident_io: want.incident_io.then(|| IncidentIoTarget {
            api_key: mask_key(INCIDENT_KEY),
            alert_source_config_id: Some("01GW2G3V0S59R238FAHPDS1R66".into()),
            metadata: BTreeMap::from([("team".to_string(), "fraud".to_string())]),
        }),
        sns: None,
        webhook: want.webhook.then(|| WebhookTarget {
            url: mask_url(&hook_url),
        }),
        secret: None,
    };
    let secrets = NotificationSecrets {
        slack_webhook_url: want.slack.then_some(slack_url),
        pager_duty_integration_key: want.pager_duty.then(|| PAGERDUTY_KEY.to_string()),
        incident_io_api_key: want.incident_io.then(|| INCIDENT_KEY.to_string()),
        webhook_url: want.webhook.then_some(hook_url),
    };
    Targets::new(settings, secrets)
}
