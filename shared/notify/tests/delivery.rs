//! Deliveries to a real HTTP receiver on 127.0.0.1: bodies field by field, retries with
//! backoff, timeouts, PagerDuty's trigger/resolve cycle through the delivery log, and no secret
//! in reports.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ferry_notify::{
    DeliveryLog, Endpoints, HttpSender, Notifier, RetryPolicy, RunStatus, RunSummary, Sink,
};
use ferry_store::{SqliteTable, Table};
use serde_json::json;

fn notifier(base: &str, policy: RetryPolicy) -> Notifier {
    let endpoints = Endpoints::from_lookup(|k| match k {
        "FERRY_PAGERDUTY_URL" => Some(format!("{base}/pagerduty/")),
        "FERRY_INCIDENT_IO_URL" => Some(format!("{base}/incident")),
        _ => None,
    });
    Notifier::new(HttpSender::new(policy).unwrap(), endpoints)
}

#[tokio::test]
async fn a_failed_run_posts_slack_and_pagerduty_bodies() {
    let rx = Receiver::start(Answer::Statuses(vec![200])).await;
    let t = targets(
        &rx.url,
        Want {
            slack: true,
            pager_duty: true,
            ..Want::default()
        },
    );
    let report = notifier(&rx.url, fast_policy())
        .notify(&failed_run(), &t)
        .await
        .expect("a failed run with --notify-on-error sends");
    assert!(report.delivered(), "{report:?}");
    assert_eq!(report.outcomes.len(), 2);
    assert_eq!(rx.requests().len(), 2);

    let slack = rx.at(&format!("/slack/{SLACK_SECRET}"));
    assert_eq!(slack.len(), 1);
    let s = &slack[0].body;
    assert_eq!(
        s["text"],
        ":rotating_light: _EmbeddedFailFlow/sfn-0b8c8d1e-6a1f_ failed!"
    );
    assert_eq!(s["blocks"][0]["type"], "header");
    assert_eq!(s["blocks"][0]["text"]["type"], "plain_text");
    assert_eq!(
        s["blocks"][0]["text"]["text"],
        "EmbeddedFailFlow/sfn-0b8c8d1e-6a1f failed"
    );
    let fields: Vec<String> = s["blocks"][1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "mrkdwn");
            f["text"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        fields,
        [
            "*Flow*\n`EmbeddedFailFlow`",
            "*Run*\n`sfn-0b8c8d1e-6a1f`",
            "*Status*\n`FAILED`",
            "*Deployment*\n`EmbeddedFailFlow`",
            "*Namespace*\n`production:embeddedfailflow-0-abcd`",
            "*Failing step*\n`explode`",
            "*Error*\n`States.TaskFailed`",
            "*Duration*\n`42 s`",
        ]
    );
    assert_eq!(
        s["blocks"][2]["text"]["text"],
        "*Reason*\n```task j-42 of step explode: Essential container in task exited, exit code 1```"
    );
    assert_eq!(
        s["blocks"][4]["elements"][0]["text"],
        "Look further: `ferry status sfn-0b8c8d1e-6a1f`  `ferry logs EmbeddedFailFlow/sfn-0b8c8d1e-6a1f/explode --stderr`"
    );
    assert_eq!(slack[0].headers["content-type"], "application/json");

    let pd = rx.at("/pagerduty/v2/enqueue");
    assert_eq!(pd.len(), 1);
    let p = &pd[0].body;
    assert_eq!(p["routing_key"], PAGERDUTY_KEY);
    assert_eq!(p["event_action"], "trigger");
    assert_eq!(p["dedup_key"], "ferry/EmbeddedFailFlow/sfn-0b8c8d1e-6a1f");
    assert_eq!(p["client"], "Ferry");
    assert_eq!(
        p["payload"]["summary"],
        "Metaflow run EmbeddedFailFlow/sfn-0b8c8d1e-6a1f failed (FAILED)"
    );
    assert_eq!(p["payload"]["source"], "EmbeddedFailFlow");
    assert_eq!(p["payload"]["severity"], "error");
    assert_eq!(p["payload"]["component"], "explode");
    assert_eq!(p["payload"]["group"], "EmbeddedFailFlow");
    assert_eq!(p["payload"]["class"], "States.TaskFailed");
    assert_eq!(p["payload"]["timestamp"], "2026-01-02T03:00:42+00:00");
    let d = &p["payload"]["custom_details"];
    assert_eq!(d["Flow"], "EmbeddedFailFlow");
    assert_eq!(d["Run"], "sfn-0b8c8d1e-6a1f");
    assert_eq!(d["Status"], "FAILED");
    assert_eq!(d["Namespace"], "production:embeddedfailflow-0-abcd");
    assert_eq!(d["Failing step"], "explode");
    assert_eq!(
        d["Look further"],
        json!([
            "ferry status sfn-0b8c8d1e-6a1f",
            "ferry logs EmbeddedFailFlow/sfn-0b8c8d1e-6a1f/explode --stderr"
        ])
    );

    // The report names destinations masked only.
    let text = serde_json::to_string(&report).unwrap();
    for secret in [SLACK_SECRET, PAGERDUTY_KEY] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains("…"), "{text}");
}

#[tokio::test]
async fn incident_io_and_webhook_bodies() {
    let rx = Receiver::start(Answer::Statuses(vec![202])).await;
    let t = targets(
        &rx.url,
        Want {
            incident_io: true,
            webhook: true,
            ..Want::default()
        },
    );
    let report = notifier(&rx.url, fast_policy())
        .notify(&failed_run(), &t)
        .await
        .unwrap();
    assert!(report.delivered(), "{report:?}");

    let inc = rx.at("/incident/v2/alert_events/http/01GW2G3V0S59R238FAHPDS1R66");
    assert_eq!(inc.len(), 1);
    assert_eq!(
        inc[0].headers["authorization"],
        format!("Bearer {INCIDENT_KEY}")
    );
    let i = &inc[0].body;
    assert_eq!(i["idempotency_key"], "sfn-0b8c8d1e-6a1f");
    assert_eq!(i["status"], "firing");
    assert_eq!(i["title"], "Flow EmbeddedFailFlow has failed.");
    assert_eq!(i["source_url"], serde_json::Value::Null);
    assert_eq!(i["metadata"]["team"], "fraud");
    assert_eq!(i["metadata"]["run_status"], "failed");
    assert_eq!(i["metadata"]["flow_name"], "EmbeddedFailFlow");
    assert_eq!(i["metadata"]["run_id"], "sfn-0b8c8d1e-6a1f");

    let hook = rx.at(&format!("/hook/{WEBHOOK_SECRET}"));
    assert_eq!(hook.len(), 1);
    assert_eq!(hook[0].headers["x-ferry-event"], "run_finished");
    let w = &hook[0].body;
    assert_eq!(w["version"], 1);
    assert_eq!(w["event"], "run_finished");
    assert_eq!(w["flow"], "EmbeddedFailFlow");
    assert_eq!(w["run_id"], "sfn-0b8c8d1e-6a1f");
    assert_eq!(w["pathspec"], "EmbeddedFailFlow/sfn-0b8c8d1e-6a1f");
    assert_eq!(w["execution"], "0b8c8d1e-6a1f");
    assert_eq!(w["deployment"], "EmbeddedFailFlow");
    assert_eq!(w["namespace"], "production:embeddedfailflow-0-abcd");
    assert_eq!(w["status"], "FAILED");
    assert_eq!(w["succeeded"], false);
    assert_eq!(w["failing_step"], "explode");
    assert_eq!(w["failed_task_id"], "j-42");
    assert_eq!(w["exit_code"], 1);
    assert_eq!(w["error"], "States.TaskFailed");
    assert_eq!(w["started_at"], "2026-01-02T03:00:00+00:00");
    assert_eq!(w["stopped_at"], "2026-01-02T03:00:42+00:00");
    assert_eq!(w["commands"]["status"], "ferry status sfn-0b8c8d1e-6a1f");
}

#[tokio::test]
async fn a_receiver_answering_500_twice_gets_it_on_the_third_try() {
    let rx = Receiver::start(Answer::Statuses(vec![500, 500, 200])).await;
    let t = targets(
        &rx.url,
        Want {
            slack: true,
            ..Want::default()
        },
    );
    let report = notifier(&rx.url, fast_policy())
        .notify(&failed_run(), &t)
        .await
        .unwrap();
    let o = &report.outcomes[0];
    assert_eq!(o.sink, Sink::Slack);
    assert!(o.attempted.delivered, "{o:?}");
    assert_eq!(o.attempted.attempts, 3);
    assert_eq!(o.attempted.status_code, Some(200));
    let got = rx.requests();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.body == got[0].body));
    assert!(
        report.summary().contains("Slack delivered (3 tries)"),
        "{}",
        report.summary()
    );
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_an_outage_gives_up_after_the_policy() {
    let rx = Receiver::start(Answer::Statuses(vec![400])).await;
    let t = targets(
        &rx.url,
        Want {
            webhook: true,
            ..Want::default()
        },
    );
    let report = notifier(&rx.url, fast_policy())
        .notify(&failed_run(), &t)
        .await
        .unwrap();
    let o = &report.outcomes[0].attempted;
    assert!(!o.delivered);
    assert_eq!(o.attempts, 1);
    assert_eq!(
        o.error.as_deref(),
        Some("HTTP 400: the receiver refused the message")
    );

    let rx = Receiver::start(Answer::Statuses(vec![503])).await;
    let t = targets(
        &rx.url,
        Want {
            webhook: true,
            ..Want::default()
        },
    );
    let report = notifier(&rx.url, fast_policy())
        .notify(&failed_run(), &t)
        .await
        .unwrap();
    let o = &report.outcomes[0].attempted;
    assert!(!o.delivered);
    assert_eq!(o.attempts, 4);
    assert_eq!(rx.requests().len(), 4);
    assert!(
        report
            .summary()
            .contains("webhook failed after 4 tries: HTTP 503"),
        "{}",
        report.summary()
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_is_bounded_by_the_timeouts() {
    let rx = Receiver::start(Answer::Never).await;
    let t = targets(
        &rx.url,
        Want {
            slack: true,
            ..Want::default()
        },
    );
    let policy = RetryPolicy {
        attempts: 2,
        request_timeout: Duration::from_millis(300),
        ..fast_policy()
    };
    let started = Instant::now();
    let report = notifier(&rx.url, policy)
        .notify(&failed_run(), &t)
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < policy.worst_case() + Duration::from_millis(700),
        "{took:?}"
    );
    let o = &report.outcomes[0].attempted;
    assert!(!o.delivered);
    assert_eq!(o.attempts, 2);
    let err = o.error.as_deref().unwrap();
    assert!(err.starts_with("timed out"), "{err}");
    assert!(
        !err.contains(SLACK_SECRET) && !err.contains("127.0.0.1"),
        "{err}"
    );
    assert_eq!(rx.wait_for(2, 5).await.len(), 2);
}

#[tokio::test]
async fn a_success_sends_only_when_asked_and_resolves_the_open_incidents() {
    let home = tempfile::tempdir().unwrap();
    let table: Arc<dyn Table> =
        Arc::new(SqliteTable::open(home.path().join("ferry.db"), "default").unwrap());
    let log = DeliveryLog::new(table);
    let rx = Receiver::start(Answer::Statuses(vec![202])).await;
    let n = notifier(&rx.url, fast_policy()).with_log(log.clone());
    let want = Want {
        slack: true,
        pager_duty: true,
        ..Want::default()
    };
    let t = targets(&rx.url, want);

    // Two failed runs: two incidents, one per run.
    let first = failed_run();
    let second = RunSummary {
        execution: "second".into(),
        status: RunStatus::TimedOut,
        failing_step: None,
        error: Some("States.Timeout".into()),
        cause: None,
        ..failed_run()
    };
    n.notify(&first, &t).await.unwrap();
    n.notify(&second, &t).await.unwrap();
    assert_eq!(
        log.open_incidents("EmbeddedFailFlow").await.unwrap(),
        [
            "ferry/EmbeddedFailFlow/sfn-0b8c8d1e-6a1f",
            "ferry/EmbeddedFailFlow/sfn-second"
        ]
    );
    let before = rx.requests().len();

    // A success without --notify-on-success: only the resolves, no Slack message.
    let ok = RunSummary {
        execution: "third".into(),
        status: RunStatus::Succeeded,
        failing_step: None,
        error: None,
        cause: None,
        ..failed_run()
    };
    let report = n.notify(&ok, &t).await.unwrap();
    assert_eq!(report.outcomes.len(), 2);
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| o.sink == Sink::PagerDuty && o.action == "resolve")
    );
    let resolves: Vec<_> = rx.requests()[before..].to_vec();
    assert_eq!(resolves.len(), 2);
    for r in &resolves {
        assert_eq!(r.path, "/pagerduty/v2/enqueue");
        assert_eq!(r.body["event_action"], "resolve");
        assert_eq!(r.body["routing_key"], PAGERDUTY_KEY);
    }
    let mut keys: Vec<String> = resolves
        .iter()
        .map(|r| r.body["dedup_key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "ferry/EmbeddedFailFlow/sfn-0b8c8d1e-6a1f",
            "ferry/EmbeddedFailFlow/sfn-second"
        ]
    );
    assert!(
        log.open_incidents("EmbeddedFailFlow")
            .await
            .unwrap()
            .is_empty()
    );
    let last = log.last("EmbeddedFailFlow").await.unwrap().unwrap();
    assert_eq!(last, report);

    // Nothing open, no --notify-on-success: nothing is due.
    assert!(n.notify(&ok, &t).await.is_none());
    assert_eq!(rx.requests().len(), before + 2);

    // With --notify-on-success: Slack and PagerDuty's change event.
    let t = targets(
        &rx.url,
        Want {
            on_success: true,
            ..want
        },
    );
    let report = n.notify(&ok, &t).await.unwrap();
    assert!(report.delivered());
    let slack = rx.at(&format!("/slack/{SLACK_SECRET}"));
    assert_eq!(
        slack.last().unwrap().body["text"],
        ":white_check_mark: _EmbeddedFailFlow/sfn-third_ succeeded!"
    );
    let change = rx.at("/pagerduty/v2/change/enqueue");
    assert_eq!(change.len(), 1);
    assert_eq!(
        change[0].body["payload"]["summary"],
        "Metaflow run EmbeddedFailFlow/sfn-third succeeded"
    );
    assert_eq!(change[0].body["routing_key"], PAGERDUTY_KEY);
}
