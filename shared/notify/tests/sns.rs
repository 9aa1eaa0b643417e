//! SNS publishing through aws-sdk-sns on a moto server: the topic's HTTP subscriber (a real
//! receiver on 127.0.0.1) gets the subject and the text, field by field.

mod common;

use aws_sdk_sns::config::{Credentials, Region};
use common::*;
use ferry_deploy::notifications::{NotificationSecrets, Notifications, SnsTarget};
use ferry_notify::{Endpoints, HttpSender, Notifier, Sink, Targets};

async fn sns_client(url: &str) -> aws_sdk_sns::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "ferry-tests"))
        .load()
        .await;
    aws_sdk_sns::Client::new(&config)
}

#[tokio::test]
async fn a_failed_run_is_published_with_subject_and_text() {
    let moto = ferry_testkit::moto_url();
    let client = sns_client(&moto).await;
    let rx = Receiver::start(Answer::Statuses(vec![200])).await;
    let topic = client
        .create_topic()
        .name(ferry_testkit::unique("ferry-alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    client
        .subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(format!("{}/sns", rx.url))
        .send()
        .await
        .unwrap();
    let before = rx.requests().len();

    let targets = Targets::new(
        Notifications {
            on_error: true,
            sns: Some(SnsTarget {
                topic_arn: topic.clone(),
            }),
            ..Notifications::default()
        },
        NotificationSecrets::default(),
    );
    let notifier = Notifier::new(
        HttpSender::new(fast_policy()).unwrap(),
        Endpoints::default(),
    )
    .with_sns(client);
    let report = notifier.notify(&failed_run(), &targets).await.unwrap();
    let o = &report.outcomes[0];
    assert_eq!(o.sink, Sink::Sns);
    assert_eq!(o.destination, topic);
    assert!(o.attempted.delivered, "{o:?}");

    let got = rx.wait_for(before + 1, 10).await;
    let notes: Vec<_> = got
        .iter()
        .filter(|r| r.body["Type"] == "Notification")
        .collect();
    assert_eq!(notes.len(), 1, "{got:?}");
    let n = &notes[0].body;
    assert_eq!(n["TopicArn"], topic.as_str());
    assert_eq!(
        n["Subject"],
        "[Ferry] EmbeddedFailFlow/sfn-0b8c8d1e-6a1f FAILED"
    );
    let text = n["Message"].as_str().unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "EmbeddedFailFlow/sfn-0b8c8d1e-6a1f failed (FAILED)",
            "",
            "Flow:         EmbeddedFailFlow",
            "Run:          sfn-0b8c8d1e-6a1f",
            "Status:       FAILED",
            "Deployment:   EmbeddedFailFlow",
            "Namespace:    production:embeddedfailflow-0-abcd",
            "Failing step: explode",
            "Error:        States.TaskFailed",
            "Reason:       task j-42 of step explode: Essential container in task exited, exit code 1",
            "Duration:     42 s",
            "",
            "Look further:",
            "  ferry status sfn-0b8c8d1e-6a1f",
            "  ferry logs EmbeddedFailFlow/sfn-0b8c8d1e-6a1f/explode --stderr",
        ]
    );
}

#[tokio::test]
async fn a_missing_topic_is_a_failed_outcome_not_an_error() {
    let moto = ferry_testkit::moto_url();
    let client = sns_client(&moto).await;
    let topic = format!(
        "arn:aws:sns:us-east-1:123456789012:{}",
        ferry_testkit::unique("absent")
    );
    let targets = Targets::new(
        Notifications {
            on_error: true,
            sns: Some(SnsTarget { topic_arn: topic }),
            ..Notifications::default()
        },
        NotificationSecrets::default(),
    );
    let notifier = Notifier::new(
        HttpSender::new(fast_policy()).unwrap(),
        Endpoints::default(),
    )
    .with_sns(client);
    let report = notifier.notify(&failed_run(), &targets).await.unwrap();
    let o = &report.outcomes[0].attempted;
    assert!(!o.delivered);
    assert_eq!(o.attempts, 1, "a missing topic is not retried: {o:?}");
    assert!(o.error.as_deref().unwrap().contains("NotFound"), "{o:?}");
}
