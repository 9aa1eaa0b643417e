//! Delivery with retries and backoff ([`RetryPolicy`]): each message is tried up to
//! `attempts` times; a connection failure, a timeout, HTTP 408, 429 or 5xx is tried again after
//! `first_backoff`, doubling up to `max_backoff` (or the receiver's `Retry-After`, within the
//! same cap); any other answer ends it. Every try is bounded by `connect_timeout` and
//! `request_timeout`, so one delivery never takes longer than [`RetryPolicy::worst_case`].
//! Error texts never carry the URL (it may be the secret).

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::NotifyError;

/// How hard a delivery tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all (at least 1).
    pub attempts: u32,
    /// The pause after the first failed try; doubled after each next one.
    pub first_backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
    /// The longest one try may take (connect, send, answer).
    pub request_timeout: Duration,
    /// The longest a connection may take to open.
    pub connect_timeout: Duration,
}

impl Default for RetryPolicy {
    /// 4 tries, 1 s then 2 s then 4 s apart (8 s at most), 10 s per try (5 s to connect):
    /// at most 47 s per message.
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed try number `n` (1-based).
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// The longest a delivery can take: every try timing out, with every pause.
    pub fn worst_case(&self) -> Duration {
        let n = self.attempts.max(1);
        let pauses: Duration = (1..n).map(|i| self.backoff(i)).sum();
        self.request_timeout.saturating_mul(n) + pauses
    }
}

/// How one message's delivery went.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Attempted {
    /// The receiver accepted it.
    pub delivered: bool,
    /// Tries made.
    pub attempts: u32,
    /// The last HTTP status received, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why the last try failed (`None` once delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome of one try.
pub(crate) enum Try {
    /// Accepted.
    Done { status: Option<u16> },
    /// Failed; another try may work (after `after`, when the receiver said so).
    Again {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
    /// Failed for good.
    GiveUp { status: Option<u16>, error: String },
}

/// Run `once` until it is done, fails for good, or `policy.attempts` tries were made.
pub(crate) async fn with_retries<F, Fut>(policy: &RetryPolicy, mut once: F) -> Attempted
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Try>,
{
    let total = policy.attempts.max(1);
    let mut out = Attempted::default();
    for n in 1..=total {
        out.attempts = n;
        match once().await {
            Try::Done { status } => {
                out.delivered = true;
                out.status_code = status;
                out.error = None;
                return out;
            }
            Try::GiveUp { status, error } => {
                out.status_code = status;
                out.error = Some(error);
                return out;
            }
            Try::Again {
                status,
                error,
                after,
            } => {
                out.status_code = status;
                out.error = Some(error);
                if n < total {
                    let pause = after.unwrap_or_else(|| policy.backoff(n));
                    tokio::time::sleep(pause.min(policy.max_backoff)).await;
                }
            }
        }
    }
    out
}

/// Posts JSON bodies with [`RetryPolicy`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    policy: RetryPolicy,
}

impl HttpSender {
    /// A sender with its own HTTP client (no redirects followed: a notification is posted where
    /// it was configured to go, or not at all).
    pub fn new(policy: RetryPolicy) -> Result<Self, NotifyError> {
        let client = reqwest::Client::builder()
            .timeout(policy.request_timeout)
            .connect_timeout(policy.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ferry-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Http(e.without_url().to_string()))?;
        Ok(HttpSender { client, policy })
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// `POST url` with `body` as JSON and extra `headers`; a 2xx answer delivers it.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &Value,
    ) -> Attempted {
        let bytes = body.to_string();
        with_retries(&self.policy, || {
            let mut req = self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone());
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            async move {
                match req.send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        let code = Some(status.as_u16());
                        if status.is_success() {
                            Try::Done { status: code }
                        } else if status.is_server_error()
                            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                            || status == reqwest::StatusCode::REQUEST_TIMEOUT
                        {
                            Try::Again {
                                status: code,
                                error: format!("HTTP {}", status.as_u16()),
                                after: retry_after(&resp),
                            }
                        } else {
                            Try::GiveUp {
                                status: code,
                                error: format!(
                                    "HTTP {}: the receiver refused the message",
                                    status.as_u16()
                                ),
                            }
                        }
                    }
                    Err(e) => {
                        let kind = if e.is_timeout() {
                            "timed out"
                        } else if e.is_connect() {
                            "could not connect"
                        } else {
                            "request failed"
                        };
                        Try::Again {
                            status: None,
                            error: format!("{kind}: {}", e.without_url()),
                            after: None,
                        }
                    }
                }
            }
        })
        .await
    }
}

/// A `Retry-After: <seconds>` header's pause.
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(3), Duration::from_secs(4));
        assert_eq!(p.backoff(9), Duration::from_secs(8));
        assert_eq!(p.worst_case(), Duration::from_secs(47));
    }
}
