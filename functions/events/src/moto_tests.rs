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

/// API Gateway's proxy request (fixture `apigw-publish.json`) of `method` on `resource` with
/// `body` (`None`: no body) and `query`.
fn api_request(method: &str, resource: &str, body: Option<&str>, query: Value) -> Value {
    let mut v: Value = serde_json::from_str(&fixture("apigw-publish.json")).unwrap();
    v["httpMethod"] = json!(method);
    v["requestContext"]["httpMethod"] = json!(method);
    v["resource"] = json!(resource);
    v["path"] = json!(resource);
    v["body"] = body.map(|b| json!(b)).unwrap_or(Value::Null);
    v["queryStringParameters"] = query;
    v
}

/// The status and the JSON body of an API Gateway response the handler answered.
fn api_answer(answer: &Value) -> (i64, Value) {
    assert_eq!(
        answer["headers"]["content-type"], "application/json",
        "{answer}"
    );
    let body = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    (answer["statusCode"].as_i64().unwrap(), body)
}

/// The body `ArgoEvent("data_ready").publish({"date": ..., "n": ...})` sends
/// (`metaflow/plugins/argo/argo_events.py`), with the event id `id`.
fn argo_body(id: &str, n: &str) -> String {
    json!({"name": "data_ready", "payload": {
        "name": "data_ready", "id": id, "timestamp": 1796504400, "utc_date": "20261206",
        "generated-by-metaflow": true, "date": "2026-12-06", "n": n}})
    .to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn the_api_route_publishes_like_the_embedded_stack_and_lists_recent_events() {
    let s = stack().await;
    let id = ferry_testkit::unique("argo");

    // ArgoEvent's body through API Gateway: the mapped run starts, answered 202 with the
    // Delivery the embedded route answers.
    let body = argo_body(&id, "7");
    let post = api_request("POST", "/ferry/v1/events", Some(&body), Value::Null);
    let (status, delivery) = api_answer(&handle(&s.ctx, &post).await.unwrap());
    assert_eq!(status, 202, "{delivery}");
    assert_eq!(delivery["event"]["id"], json!(id));
    assert_eq!(delivery["event"]["origin"], "published");
    let deployments = delivery["deployments"].as_array().unwrap();
    assert_eq!(
        deployments.len(),
        1,
        "only the @trigger deployment waits: {delivery}"
    );
    let d = &deployments[0];
    assert_eq!(
        (d["flow"].clone(), d["outcome"].clone()),
        (json!(s.report), json!("started"))
    );
    assert_eq!(d["started"], true);
    let runs = s.executions(&s.report);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["name"], d["execution_name"]);
    let input: Value = serde_json::from_str(runs[0]["input"].as_str().unwrap()).unwrap();
    let params: Value = serde_json::from_str(input["Parameters"].as_str().unwrap()).unwrap();
    assert_eq!(
        (params["day"].clone(), params["n"].clone()),
        (json!("2026-12-06"), json!(7))
    );
    assert_eq!(params["ferry.triggers"][0]["id"], json!(id));

    // The publisher's retry (the same id): 200, a duplicate, no second run.
    let (status, again) = api_answer(&handle(&s.ctx, &post).await.unwrap());
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["deployments"][0]["outcome"], "duplicate");
    assert_eq!(s.executions(&s.report).len(), 1);

    // A body API Gateway base64-encoded (binary media types) reads the same.
    let id2 = ferry_testkit::unique("argo");
    let mut encoded = api_request("POST", "/ferry/v1/events", None, Value::Null);
    encoded["body"] = json!(data_encoding::BASE64.encode(argo_body(&id2, "8").as_bytes()));
    encoded["isBase64Encoded"] = json!(true);
    let (status, b64) = api_answer(&handle(&s.ctx, &encoded).await.unwrap());
    assert_eq!(status, 202, "{b64}");
    assert_eq!(s.executions(&s.report).len(), 2);

    // A wrong-typed value: 200, refused with the reason, no run.
    let wrong = argo_body(&ferry_testkit::unique("argo"), "many");
    let (status, refused) = api_answer(
        &handle(
            &s.ctx,
            &api_request("POST", "/ferry/v1/events", Some(&wrong), Value::Null),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused["deployments"][0]["outcome"], "refused");
    assert_eq!(s.executions(&s.report).len(), 2);

    // A body that is no event, a name AWS cannot carry: 400, what is wrong.
    for bad in [
        "not json".to_string(),
        json!({"name": "data ready!", "payload": {}}).to_string(),
    ] {
        let (status, e) = api_answer(
            &handle(
                &s.ctx,
                &api_request("POST", "/ferry/v1/events", Some(&bad), Value::Null),
            )
            .await
            .unwrap(),
        );
        assert_eq!((status, e["kind"].clone()), (400, json!("invalid")), "{e}");
        assert!(!e["error"].as_str().unwrap().is_empty(), "{e}");
    }

    // The recent-events log, newest first, from the state table.
    let (status, log) = api_answer(
        &handle(
            &s.ctx,
            &api_request("GET", "/ferry/v1/events", None, json!({"limit": "2"})),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 200, "{log}");
    let entries = log.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    assert_eq!(entries[0]["deployments"][0]["outcome"], "refused", "{log}");
    assert_eq!(entries[1]["event"]["id"], json!(id2), "{log}");
    let (status, all) = api_answer(
        &handle(
            &s.ctx,
            &api_request("GET", "/ferry/v1/events", None, Value::Null),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 200);
    assert_eq!(all.as_array().unwrap().len(), 4, "{all}");

    // What is no route: a limit that is no number, another method, another resource.
    let cases = [
        (
            api_request("GET", "/ferry/v1/events", None, json!({"limit": "many"})),
            400,
        ),
        (
            api_request("DELETE", "/ferry/v1/events", None, Value::Null),
            405,
        ),
        (api_request("GET", "/flows", None, Value::Null), 404),
    ];
    for (request, want) in cases {
        let (status, e) = api_answer(&handle(&s.ctx, &request).await.unwrap());
        assert_eq!(status, want, "{e}");
        assert!(e["error"].is_string(), "{e}");
    }
}
