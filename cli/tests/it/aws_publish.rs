//! `ferry publish` against an AWS target on a moto server: the event goes on the stack's bus
//! (`PutEvents`, source `ferry.events`, detail-type the event name, detail the event), where a
//! rule delivers it (here to an SQS queue, to read it back); an event too large for EventBridge
//! or a name it cannot carry is refused before anything is sent, as on the embedded stack.

use std::process::{Command, Output};

use serde_json::{Value, json};

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

#[test]
fn publish_puts_the_event_on_the_stack_bus_and_refuses_what_aws_cannot_carry() {
    let url = ferry_testkit::moto_url();
    let bus = ferry_testkit::unique("ferry-bus");
    let queue = ferry_testkit::unique("ferry-events");
    // A bus, and a rule on it sending Ferry events to a queue we can read.
    let queue_url = ferry_testkit::boto3(
        &url,
        "ev = boto3.client('events', endpoint_url=url)\n\
         sqs = boto3.client('sqs', endpoint_url=url)\n\
         ev.create_event_bus(Name=args[0])\n\
         q = sqs.create_queue(QueueName=args[1])['QueueUrl']\n\
         arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=['QueueArn'])['Attributes']['QueueArn']\n\
         ev.put_rule(Name='ferry-test-all', EventBusName=args[0], EventPattern=json.dumps({'source': ['ferry.events']}))\n\
         ev.put_targets(Rule='ferry-test-all', EventBusName=args[0], Targets=[{'Id': 'q', 'Arn': arn}])\n\
         print(q)",
        &[&bus, &queue],
    );
    let queue_url = queue_url.trim();
    let home = tempfile::tempdir().unwrap();
    let mut config = json!({"target": "aws", "bucket": "unused", "prefix": "ferry/",
        "region": "us-east-1", "endpoint_url": url});
    std::fs::write(home.path().join("config.json"), config.to_string()).unwrap();

    // No bus recorded: a usage error saying what to run.
    let out = ferry(home.path(), &url, &["--json", "publish", "data_ready"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["kind"], "usage");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("FerryEventBus")
    );

    config["event_bus"] = json!(bus);
    std::fs::write(home.path().join("config.json"), config.to_string()).unwrap();
    let out = ferry(
        home.path(),
        &url,
        &[
            "--json",
            "publish",
            "data_ready",
            "--payload",
            r#"{"date": "2026-12-01"}"#,
            "--id",
            "batch-42",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["event_bus"], json!(bus));
    assert_eq!(answer["event"]["id"], "batch-42");
    assert!(!answer["entry_id"].as_str().unwrap().is_empty());

    // Too large for an EventBridge entry, and a name no trigger can wait for: refused.
    // Three fields of 95,000 characters (one argument may hold at most 128 KiB).
    let part = |k: &str| format!("{k}={}", "x".repeat(95_000));
    let (a, b, c) = (part("a"), part("b"), part("c"));
    let out = ferry(
        home.path(),
        &url,
        &[
            "--json",
            "publish",
            "data_ready",
            "--param",
            &a,
            "--param",
            &b,
            "--param",
            &c,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("262144-byte limit")
    );
    let out = ferry(home.path(), &url, &["--json", "publish", "data ready!"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    // Exactly the one event reached the bus, as the events Lambda reads it.
    let got = ferry_testkit::boto3(
        &url,
        "sqs = boto3.client('sqs', endpoint_url=url)\n\
         m = sqs.receive_message(QueueUrl=args[0], MaxNumberOfMessages=10, WaitTimeSeconds=1).get('Messages', [])\n\
         print(json.dumps([json.loads(x['Body']) for x in m]))",
        &[queue_url],
    );
    let got: Vec<Value> = serde_json::from_str(&got).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["source"], "ferry.events");
    assert_eq!(got[0]["detail-type"], "data_ready");
    let detail = &got[0]["detail"];
    assert_eq!(detail["id"], "batch-42");
    assert_eq!(detail["origin"], "published");
    assert_eq!(detail["payload"]["date"], "2026-12-01");
}

#[test]
fn publish_to_an_events_url_that_is_not_the_route_or_does_not_answer_says_so() {
    let home = tempfile::tempdir().unwrap();
    let write = |events_url: &str| {
        let config = json!({"target": "aws", "bucket": "unused", "prefix": "ferry/",
            "region": "us-east-1", "events_url": events_url, "api_key": "k"});
        std::fs::write(home.path().join("config.json"), config.to_string()).unwrap();
    };
    let publish = || {
        Command::new(FERRY)
            .args(["--json", "publish", "data_ready"])
            .env("FERRY_HOME", home.path())
            .output()
            .unwrap()
    };
    // Not the events route: a usage error naming the value and the route.
    for bad in [
        "http://127.0.0.1:9/",
        "127.0.0.1:9/ferry/v1/events",
        "http://h/ferry/v1/event",
    ] {
        write(bad);
        let out = publish();
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        let err: Value = serde_json::from_slice(&out.stdout).unwrap();
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(bad) && message.contains("/ferry/v1/events"),
            "{message}"
        );
    }
    // The route on a port nobody listens on: unavailable, about the API, not `ferry up`.
    write("http://127.0.0.1:9/ferry/v1/events");
    let out = publish();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["kind"], "unavailable", "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the Ferry API at http://127.0.0.1:9 does not answer")
            && !message.contains("ferry up"),
        "{message}"
    );
}
