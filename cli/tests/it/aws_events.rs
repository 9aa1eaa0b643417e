//! `ferry events` against an AWS target on a moto server: the recent-events log is read from
//! the stack's state table (where the events Lambda's engine writes it), newest first; without
//! a state table in the configuration it says which `ferry configure` flag records one.

use std::process::{Command, Output};

use chrono::{Duration, Utc};
use ferry_events::{Engine, Event};
use serde_json::{Map, Value, json};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn ferry(home: &std::path::Path, url: &str, args: &[&str]) -> Output {
    Command::new(FERRY)
        .args(args)
        .env("FERRY_HOME", home)
        .env("AWS_ENDPOINT_URL", url)
        .envs(ferry_testkit::aws_test_env())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn events_lists_the_state_table_log_newest_first() {
    let url = ferry_testkit::moto_url();
    let table = ferry_testkit::unique("ferry-state");
    ferry_testkit::boto3(
        &url,
        "ddb.create_table(TableName=args[0], BillingMode='PAY_PER_REQUEST',\n\
         \x20 KeySchema=[{'AttributeName':'pk','KeyType':'HASH'},{'AttributeName':'sk','KeyType':'RANGE'}],\n\
         \x20 AttributeDefinitions=[{'AttributeName':'pk','AttributeType':'S'},{'AttributeName':'sk','AttributeType':'S'}])",
        &[&table],
    );
    // SAFETY: set before any client reads them; this test binary sets nothing else.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &url);
        for (k, v) in ferry_testkit::aws_test_env() {
            std::env::set_var(k, v);
        }
    }
    // Two deliveries the events Lambda's engine logs: one nobody waits for, then one
    // addressed to a deployment deleted since.
    let state =
        ferry_store::open_dynamodb_table(&table, &ferry_store::AwsClientSettings::default()).await;
    let engine = Engine::new(state);
    let now = Utc::now();
    let first = Event::published("nobody_waits", Map::new(), now - Duration::seconds(5)).unwrap();
    engine
        .receive(&first, &[], now - Duration::seconds(5))
        .await
        .unwrap();
    let second = Event::published("data_ready", Map::new(), now).unwrap();
    engine
        .receive_for(&second, "GoneFlow", None, now)
        .await
        .unwrap();

    let home = tempfile::tempdir().unwrap();
    let mut config = json!({"target": "aws", "bucket": "unused", "prefix": "ferry/",
        "region": "us-east-1", "endpoint_url": url});
    std::fs::write(home.path().join("config.json"), config.to_string()).unwrap();

    // No state table recorded: a usage error saying what to run.
    let out = ferry(home.path(), &url, &["--json", "events"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["kind"], "usage");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--state-table"),
        "{err}"
    );

    config["state_table"] = json!(table);
    std::fs::write(home.path().join("config.json"), config.to_string()).unwrap();
    let out = ferry(home.path(), &url, &["--json", "events"]);
    assert!(out.status.success(), "{out:?}");
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = log.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    assert_eq!(entries[0]["event"]["id"], json!(second.id));
    assert_eq!(entries[0]["deployments"][0]["deployment"], "GoneFlow");
    assert_eq!(entries[0]["deployments"][0]["outcome"], "no_deployment");
    assert_eq!(entries[1]["event"]["name"], "nobody_waits");
    assert_eq!(entries[1]["deployments"], json!([]));

    // --limit, and the text form.
    let out = ferry(home.path(), &url, &["events", "--limit", "1"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("data_ready") && text.contains("GoneFlow: no_deployment"),
        "{text}"
    );
    assert!(!text.contains("nobody_waits"), "{text}");
    let out = ferry(home.path(), &url, &["events", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
