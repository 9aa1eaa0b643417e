//! The events Lambda's handler on AWS adapters against moto (server mode,
//! `ferry_testkit::moto_url()`), driven with the EventBridge deliveries its rules make
//! (`tests/data/*.json`): state machines, tables, the bucket and the notification secret live
//! in moto; executions are read back from moto's Step Functions; notifications reach a
//! receiver on 127.0.0.1 started here.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::routing::post;
use ferry_deploy::{RequestId, SecretName, Secrets};
use ferry_store::{Condition, Table};
use serde_json::{Value, json};

use crate::handler::handle;
use crate::wiring::{EventsContext, context_from};

const ACCOUNT: &str = "123456789012";

fn boto(url: &str, script: &str, args: &[&str]) -> String {
    ferry_testkit::boto3(url, script, args)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The `@trigger` rule's delivery of a `data_ready` event with id `id` and field `n`.
fn ferry_event(deployment: &str, id: &str, n: Value) -> Value {
    let mut v: Value = serde_json::from_str(
        &fixture("trigger-ferry-event.json")
            .replace("__DEPLOYMENT__", deployment)
            .replace("__ID__", id),
    )
    .unwrap();
    v["event"]["detail"]["payload"]["n"] = n;
    v
}

/// A Step Functions status change of an execution of `state_machine` (fixture `file`).
fn status_change(file: &str, state_machine: &str) -> Value {
    serde_json::from_str(
        &fixture(file)
            .replace("hello.prod.HelloFlow", state_machine)
            .replace("eu-west-1:210987654321", &format!("us-east-1:{ACCOUNT}")),
    )
    .unwrap()
}

/// A deployment record of `flow` (deployment = state machine = `flow`).
fn record(flow: &str, triggers: Value, notifications: Value) -> ferry_deploy::DeploymentRecord {
    let mut r = json!({
        "schema_version": 1, "deployment": flow, "flow": flow, "owner": "o", "token": "t",
        "token_prefix": "d", "namespace": "production:t",
        "state_machine": {"name": flow, "id": format!("arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{flow}")},
        "spec_sha256": "", "spec_key": "",
        "package": {"key": "k", "sha256": "s"}, "max_workers": 1, "version": 1,
        "ferry_version": "0", "request_id": "00000000-0000-4000-8000-000000000000",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
    });
    if !triggers.is_null() {
        r["triggers"] = triggers;
    }
    if !notifications.is_null() {
        r["notifications"] = notifications;
    }
    serde_json::from_value(r).unwrap()
}

/// Everything a test needs: the handler's context, the names, a webhook receiver.
struct Stack {
    url: String,
    ctx: EventsContext,
    report: String,
    after: String,
    secret_url: String,
    received: Arc<Mutex<Vec<Value>>>,
    records: Arc<dyn Table>,
    /// The metadata service's table (each run's execution status).
    metadata: Arc<dyn Table>,
}

impl Stack {
    /// Executions of `state_machine` on moto: `[{"name", "input"}]`.
    fn executions(&self, state_machine: &str) -> Vec<Value> {
        let out = boto(
            &self.url,
            "sf = boto3.client('stepfunctions', endpoint_url=url)\n\
             arn = 'arn:aws:states:us-east-1:123456789012:stateMachine:' + args[0]\n\
             ex = sf.list_executions(stateMachineArn=arn)['executions']\n\
             print(json.dumps([{'name': e['name'], 'input': sf.describe_execution(executionArn=e['executionArn'])['input']} for e in ex]))",
            &[state_machine],
        );
        serde_json::from_str(&out).unwrap()
    }
}

async fn stack() -> Stack {
    let url = ferry_testkit::moto_url();
    // SAFETY: set before any client reads them; every test of this binary sets the same values.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &url);
        for (k, v) in ferry_testkit::aws_test_env() {
            std::env::set_var(k, v);
        }
    }
    let u = ferry_testkit::unique("").replace('-', "");
    let bucket = format!("ferry-events{u}");
    let deployments = format!("ferry-deployments{u}");
    let state = format!("ferry-state{u}");
    let metadata = format!("ferry-metadata{u}");
    let report = format!("Report{u}Flow");
    let after = format!("After{u}Flow");
    let prefix = format!("/ferry/stack{u}/");
    let pass = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;
    boto(
        &url,
        "s3.create_bucket(Bucket=args[0])\n\
         for t in args[1:4]:\n\
         \x20   ddb.create_table(TableName=t, BillingMode='PAY_PER_REQUEST',\n\
         \x20     KeySchema=[{'AttributeName':'pk','KeyType':'HASH'},{'AttributeName':'sk','KeyType':'RANGE'}],\n\
         \x20     AttributeDefinitions=[{'AttributeName':'pk','AttributeType':'S'},{'AttributeName':'sk','AttributeType':'S'}])\n\
         sf = boto3.client('stepfunctions', endpoint_url=url)\n\
         for name in args[4:6]:\n\
         \x20   sf.create_state_machine(name=name, definition=args[6], roleArn='arn:aws:iam::123456789012:role/ferry-sfn')",
        &[
            &bucket,
            &deployments,
            &state,
            &metadata,
            &report,
            &after,
            pass,
        ],
    );

    // The webhook receiver.
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook/{token}",
        post(move |Json(body): Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let secret_url = format!("http://127.0.0.1:{port}/hook/s3cr3t{u}");

    let env: HashMap<&str, String> = HashMap::from([
        ("FERRY_BUCKET", bucket),
        ("FERRY_DEPLOYMENTS_TABLE", deployments.clone()),
        ("FERRY_STATE_TABLE", state),
        ("FERRY_METADATA_TABLE", metadata.clone()),
        (
            "FERRY_SFN_ROLE_ARN",
            format!("arn:aws:iam::{ACCOUNT}:role/ferry-sfn"),
        ),
        (
            "FERRY_SCHEDULER_ROLE_ARN",
            format!("arn:aws:iam::{ACCOUNT}:role/ferry-scheduler"),
        ),
        ("FERRY_SECRETS_PREFIX", prefix.clone()),
        ("AWS_REGION", "us-east-1".to_string()),
    ]);
    let ctx = context_from(move |k| env.get(k).cloned()).await.unwrap();

    // The notification secret, as `ferry deploy --notify-webhook-url` stores it.
    let secret = SecretName::for_notifications(&report, &RequestId::new()).unwrap();
    let sdk = ferry_aws::sdk_config().await;
    let secrets = ferry_aws::SsmSecrets::from_config(&sdk, &prefix);
    let values = ferry_deploy::NotificationSecrets {
        webhook_url: Some(secret_url.clone()),
        ..Default::default()
    };
    secrets.put(&secret, &values.to_json()).await.unwrap();

    let records =
        ferry_store::open_dynamodb_table(&deployments, &ferry_store::AwsClientSettings::default())
            .await;
    let metadata_table =
        ferry_store::open_dynamodb_table(&metadata, &ferry_store::AwsClientSettings::default())
            .await;
    let report_record = record(
        &report,
        json!({"kind": "event", "events": [{"name": "data_ready", "parameters": [
            {"parameter": "day", "field": "date", "type": "str", "required": true},
            {"parameter": "n", "field": "n", "type": "int"}]}]}),
        json!({"on_error": true, "on_success": false,
               "webhook": {"url": "http://127.0.0.1/…hook"}, "secret": secret}),
    );
    let after_record = record(
        &after,
        json!({"kind": "run", "events": [{"name": format!("metaflow.{report}.end"),
            "upstream": {"flow": report, "deployment": report}}]}),
        Value::Null,
    );
    for r in [&report_record, &after_record] {
        records
            .put(ferry_deploy::record::encode_record(r), Condition::None)
            .await
            .unwrap();
    }
    Stack {
        url,
        ctx,
        report,
        after,
        secret_url,
        received,
        records,
        metadata: metadata_table,
    }
}

/// A `tracing` writer into a shared buffer (the test reads what the handler logged).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn deliveries_start_the_right_runs_once_and_notify_without_leaking_the_secret() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO) // RUST_LOG=info, as in template.yaml
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = stack().await;

    // A Ferry event: the mapped run starts, with `day` from `date` and `n` typed.
    let id = ferry_testkit::unique("evt");
    let delivery = ferry_event(&s.report, &id, json!("7"));
    let answer = handle(&s.ctx, &delivery).await.unwrap();
    let d = &answer["delivery"]["deployments"][0];
    assert_eq!(d["outcome"], "started", "{answer}");
    assert_eq!(d["started"], true, "{answer}");
    let runs = s.executions(&s.report);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["name"], d["execution_name"]);
    let input: Value = serde_json::from_str(runs[0]["input"].as_str().unwrap()).unwrap();
    let params: Value = serde_json::from_str(input["Parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["day"], "2026-12-01");
    assert_eq!(params["n"], 7);
    assert_eq!(params["ferry.triggers"][0]["id"], json!(id));
    assert_eq!(params["ferry.triggers"][0]["type"], "event");

    // The same event id delivered again (EventBridge delivers at least once): no second run.
    let again = handle(&s.ctx, &delivery).await.unwrap();
    assert_eq!(again["delivery"]["deployments"][0]["outcome"], "duplicate");
    assert_eq!(again["delivery"]["deployments"][0]["started"], false);
    assert_eq!(s.executions(&s.report).len(), 1);

    // A wrong-typed value: refused with the reason, no run.
    let wrong = handle(
        &s.ctx,
        &ferry_event(&s.report, &ferry_testkit::unique("evt"), json!("many")),
    )
    .await
    .unwrap();
    let w = &wrong["delivery"]["deployments"][0];
    assert_eq!(w["outcome"], "refused", "{wrong}");
    assert!(
        w["reason"].as_str().unwrap().contains("int parameter n"),
        "{wrong}"
    );
    assert_eq!(s.executions(&s.report).len(), 1);

    // An event name AWS cannot carry, and a payload above EventBridge's entry size: ignored
    // (a retry cannot fix them), no run.
    let mut bad_name = ferry_event(&s.report, &ferry_testkit::unique("evt"), json!(1));
    bad_name["event"]["detail"]["name"] = json!("data ready!");
    bad_name["event"]["detail"]["payload"]["name"] = json!("data ready!");
    let a = handle(&s.ctx, &bad_name).await.unwrap();
    assert_eq!(a["kind"], "ignored", "{a}");
    assert!(a["reason"].as_str().unwrap().contains("data ready!"), "{a}");
    let mut large = ferry_event(&s.report, &ferry_testkit::unique("evt"), json!(1));
    large["event"]["detail"]["payload"]["blob"] = json!("x".repeat(300_000));
    let a = handle(&s.ctx, &large).await.unwrap();
    assert_eq!(a["kind"], "ignored", "{a}");
    assert!(a["reason"].as_str().unwrap().contains("262144"), "{a}");
    assert_eq!(s.executions(&s.report).len(), 1);

    // A rule that outlived its deployment: nothing starts, the log says why.
    let gone = format!("Gone{}", s.report);
    let a = handle(
        &s.ctx,
        &ferry_event(&gone, &ferry_testkit::unique("evt"), json!(1)),
    )
    .await
    .unwrap();
    assert_eq!(
        a["delivery"]["deployments"][0]["outcome"], "no_deployment",
        "{a}"
    );
    assert_eq!(a["delivery"]["deployments"][0]["started"], false);

    // The upstream's success, through the downstream's @trigger_on_finish rule: the downstream
    // starts once, with the upstream run as its trigger; a failure starts nothing.
    let failed = status_change("sfn-status-change-failed.json", &s.report);
    let a = handle(
        &s.ctx,
        &json!({"deployment": s.after, "event": failed.clone()}),
    )
    .await
    .unwrap();
    assert_eq!(a["kind"], "ignored", "{a}");
    assert!(s.executions(&s.after).is_empty());
    let succeeded = status_change("sfn-status-change-succeeded.json", &s.report);
    let addressed = json!({"deployment": s.after, "event": succeeded});
    let a = handle(&s.ctx, &addressed).await.unwrap();
    assert_eq!(a["delivery"]["deployments"][0]["started"], true, "{a}");
    handle(&s.ctx, &addressed).await.unwrap();
    let runs = s.executions(&s.after);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let input: Value = serde_json::from_str(runs[0]["input"].as_str().unwrap()).unwrap();
    let params: Value = serde_json::from_str(input["Parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["ferry.triggers"][0]["type"], "run");
    assert_eq!(
        params["ferry.triggers"][0]["id"],
        json!(format!(
            "{}/sfn-3f0c9a52-6f1e-4b8e-9d2a-5c7e1b4a8d60/end",
            s.report
        ))
    );

    // The status-change rule's delivery of a failure: one webhook body, field by field.
    let a = handle(&s.ctx, &failed).await.unwrap();
    assert_eq!(a["kind"], "status_change", "{a}");
    assert_eq!(a["status"], "FAILED");
    let bodies = s.received.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let b = &bodies[0];
    assert_eq!(b["event"], "run_finished");
    assert_eq!(b["flow"], json!(s.report));
    assert_eq!(b["deployment"], json!(s.report));
    assert_eq!(b["status"], "FAILED");
    assert_eq!(b["run_id"], "sfn-9b2e4d6f-8a1c-4e3b-b5d7-0f2a4c6e8b1d");
    assert_eq!(b["failing_step"], "start");
    assert_eq!(b["exit_code"], 1);
    assert_eq!(b["namespace"], "production:t");

    // The same status change set the run's status in the metadata service: failed at once.
    let recorded = ferry_metadata::repo::Repo::new(s.metadata.clone())
        .run_execution_status(&s.report, "sfn-9b2e4d6f-8a1c-4e3b-b5d7-0f2a4c6e8b1d")
        .await
        .unwrap();
    assert_eq!(recorded, Some(ferry_control::ExecutionStatus::Failed));

    // The secret is nowhere but in SSM: not in the records, not in the logs.
    let token = s.secret_url.rsplit('/').next().unwrap().to_string();
    let items = s
        .records
        .query(ferry_deploy::record::RECORDS_PK, Default::default())
        .await
        .unwrap();
    let stored = format!("{:?}", items.items);
    assert!(stored.contains(&s.report));
    assert!(!stored.contains(&token), "the records hold the secret");
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("notifications"), "{logged}");
    assert!(
        !logged.contains(&token),
        "the logs hold the secret: {logged}"
    );
}
