//! Amazon SNS: `Publish` to the deployment's topic with a subject and the plain-text message
//! ([`RunSummary::text`]). E-mail, SMS and chat subscriptions of the topic get them as they are.

use aws_sdk_sns::Client;
use aws_sdk_sns::error::{DisplayErrorContext, SdkError};

use crate::cause::shorten;
use crate::summary::RunSummary;

/// SNS subjects: at most 100 characters, printable ASCII, no line breaks.
pub const MAX_SUBJECT: usize = 100;

/// The subject of `run`'s message: `[Ferry] HelloFlow/sfn-… FAILED`, made printable ASCII.
pub fn subject(run: &RunSummary) -> String {
    let s: String = format!("[Ferry] {} {}", run.pathspec(), run.status)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    shorten(&s, MAX_SUBJECT).replace('…', "~")
}

/// What one `Publish` call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The message id SNS gave.
    Sent(String),
    /// It failed.
    Failed {
        /// Why, as the SDK says it.
        error: String,
        /// Whether a retry may help (timeouts, connection failures, 5xx).
        transient: bool,
    },
}

/// Publish `run`'s message to `topic_arn` (a FIFO topic, `….fifo`, gets the deployment as
/// message group and `<run id>-<status>` as deduplication id).
pub async fn publish(client: &Client, topic_arn: &str, run: &RunSummary) -> Published {
    let mut call = client
        .publish()
        .topic_arn(topic_arn)
        .subject(subject(run))
        .message(run.text());
    if topic_arn.ends_with(".fifo") {
        call = call
            .message_group_id(shorten(&run.deployment, 128))
            .message_deduplication_id(shorten(&format!("{}-{}", run.run_id(), run.status), 128));
    }
    match call.send().await {
        Ok(out) => Published::Sent(out.message_id.unwrap_or_default()),
        Err(e) => {
            let transient = match &e {
                SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
                SdkError::ResponseError(_) => true,
                SdkError::ServiceError(s) => s.raw().status().is_server_error(),
                _ => false,
            };
            Published::Failed {
                error: DisplayErrorContext(&e).to_string(),
                transient,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::failed;

    #[test]
    fn subjects_are_short_printable_ascii() {
        assert_eq!(
            subject(&failed()),
            "[Ferry] EmbeddedFailFlow/sfn-0b8c8d1e FAILED"
        );
        let long = RunSummary {
            flow: "F\u{e9}".repeat(80),
            ..failed()
        };
        let s = subject(&long);
        assert!(s.chars().count() <= MAX_SUBJECT, "{s}");
        assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{s}");
    }
}
