//! API Gateway fixture events (REST API v1 and HTTP API v2, with a stage prefix) through the
//! Lambda handler in-process: the event is deserialised as `lambda_http` does, driven through
//! the same adapter `lambda_http::run` uses, and the Lambda response JSON is checked.

use std::path::Path;
use std::sync::Arc;

use ferry_metadata::Config;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service};
use serde_json::{Value, json};

/// Read a fixture from `tests/data`.
fn fixture(name: &str) -> LambdaRequest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The Lambda response JSON for one event.
async fn invoke(router: &axum::Router, name: &str) -> Value {
    let mut adapter = Adapter::from(metadata_api::lambda_service(router.clone()));
    let event = LambdaEvent::new(fixture(name), Context::default());
    let resp = adapter.call(event).await.expect("infallible router");
    serde_json::to_value(&resp).expect("serialisable response")
}

/// A response header: v2 responses carry `headers`, v1 responses `multiValueHeaders`.
fn header<'a>(resp: &'a Value, name: &str) -> Option<&'a str> {
    let find = |key: &str| {
        resp[key]
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    match find("headers") {
        Some(v) => v.as_str(),
        None => find("multiValueHeaders")?.get(0)?.as_str(),
    }
}

fn body(resp: &Value) -> Value {
    serde_json::from_str(resp["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

#[tokio::test]
async fn fixture_events_round_trip_through_the_lambda_handler() {
    let dir = tempfile::tempdir().unwrap();
    let table = ferry_store::SqliteTable::open(dir.path().join("md.sqlite"), "metadata").unwrap();
    let router = ferry_metadata::router(Config {
        table: Arc::new(table),
        api_key: Some("fixture-key".into()),
    });

    let ping = invoke(&router, "apigw-v1-ping.json").await;
    assert_eq!(ping["statusCode"], 200, "{ping}");
    assert_eq!(ping["body"], "pong");
    assert_eq!(
        header(&ping, "metadata_service_version"),
        Some("2.5.1"),
        "{ping}"
    );

    let flow = invoke(&router, "apigw-v1-post-flow.json").await;
    assert_eq!(flow["statusCode"], 200, "{flow}");
    assert_eq!(body(&flow)["flow_id"], "HelloFlow");

    let run = invoke(&router, "apigw-v2-post-run.json").await;
    assert_eq!(run["statusCode"], 200, "{run}");
    let created = body(&run);
    assert_eq!(created["run_number"], 1);
    assert_eq!(created["tags"], json!(["mytag"]));

    let got = invoke(&router, "apigw-v2-get-run.json").await;
    assert_eq!(got["statusCode"], 200, "{got}");
    let got = body(&got);
    assert_eq!(
        (got["run_number"].clone(), got["user"].clone()),
        (json!(1), json!("alice"))
    );
    assert_eq!(got["ts_epoch"], created["ts_epoch"]);

    let listed = invoke(&router, "apigw-v1-get-runs-filtered.json").await;
    assert_eq!(listed["statusCode"], 200, "{listed}");
    assert_eq!(body(&listed).as_array().map(Vec::len), Some(1), "{listed}");

    let beat = invoke(&router, "apigw-v2-run-heartbeat.json").await;
    assert_eq!(beat["statusCode"], 200, "{beat}");
    assert_eq!(
        header(&beat, "metadata_service_version"),
        Some("2.5.1"),
        "{beat}"
    );
    assert_eq!(body(&beat), json!("{\"wait_time_in_seconds\": 10}"));

    let f = invoke(&router, "apigw-v2-default-stage-get-flow.json").await;
    assert_eq!(f["statusCode"], 200, "{f}");
    assert_eq!(body(&f)["flow_id"], "HelloFlow");

    let unknown = invoke(&router, "apigw-v1-unknown-route.json").await;
    assert_eq!(unknown["statusCode"], 404, "{unknown}");
    assert_eq!(
        body(&unknown)["message"],
        "no such route: /flows/HelloFlow/nothing/here"
    );

    let nokey = invoke(&router, "apigw-v2-missing-api-key.json").await;
    assert_eq!(nokey["statusCode"], 401, "{nokey}");
    assert!(
        body(&nokey)["message"]
            .as_str()
            .unwrap()
            .contains("x-api-key")
    );

    let bad = invoke(&router, "apigw-v1-bad-json.json").await;
    assert_eq!(bad["statusCode"], 400, "{bad}");
    assert!(
        body(&bad)["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
}

/// The service as the binary builds it, with the web UI over the same SQLite table and no other
/// store (a fresh stack: nothing deployed yet).
fn app_with_ui(table: Arc<dyn ferry_store::Table>) -> axum::Router {
    let key = Some("fixture-key".to_string());
    let ui = ferry_ui::UiConfig {
        metadata: table.clone(),
        deployments: Some(table.clone()),
        blobs: None,
        executions: None,
        logs: ferry_store::task_logs::TaskLogs::new(None, None),
        api_key: key.clone(),
    };
    metadata_api::app(
        Config {
            table,
            api_key: key,
        },
        ui,
    )
}

#[tokio::test]
async fn the_ui_shell_is_public_and_its_data_needs_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let table: Arc<dyn ferry_store::Table> =
        Arc::new(ferry_store::SqliteTable::open(dir.path().join("md.sqlite"), "metadata").unwrap());
    let app = app_with_ui(table);
    // A run the metadata API has (created through the same handler).
    assert_eq!(
        invoke(&app, "apigw-v1-post-flow.json").await["statusCode"],
        200
    );
    assert_eq!(
        invoke(&app, "apigw-v2-post-run.json").await["statusCode"],
        200
    );

    let shell = invoke(&app, "apigw-v1-ui-shell-no-key.json").await;
    assert_eq!(shell["statusCode"], 200, "{shell}");
    let html = shell["body"].as_str().unwrap();
    assert!(html.contains(r#"<base href="../../">"#), "{html}");
    assert!(
        header(&shell, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = header(&shell, "content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");

    let asset = invoke(&app, "apigw-v2-ui-asset-no-key.json").await;
    assert_eq!(asset["statusCode"], 200, "{asset}");
    assert!(
        header(&asset, "content-type")
            .unwrap()
            .starts_with("text/javascript")
    );

    let refused = invoke(&app, "apigw-v2-ui-api-no-key.json").await;
    assert_eq!(refused["statusCode"], 401, "{refused}");
    assert_eq!(body(&refused)["error"]["kind"], "unauthorized");
    assert!(!refused["body"].as_str().unwrap().contains("deployments\":"));

    let runs = invoke(&app, "apigw-v1-ui-api-runs-with-key.json").await;
    assert_eq!(runs["statusCode"], 200, "{runs}");
    assert_eq!(body(&runs)["total"], 0, "no deployment yet");

    let run = invoke(&app, "apigw-v2-ui-api-run-with-key.json").await;
    assert_eq!(run["statusCode"], 200, "{run}");
    let run = body(&run);
    assert_eq!(run["flow"], "HelloFlow");
    assert_eq!(run["tags"], json!(["mytag"]));
    assert_eq!(run["execution"], Value::Null);
}

#[test]
fn stage_prefix_is_removed_once() {
    let mut req =
        lambda_http::request::from_str(include_str!("data/apigw-v2-get-run.json")).unwrap();
    assert_eq!(req.uri().path(), "/prod/flows/HelloFlow/runs/1");
    req = metadata_api::strip_stage(req);
    assert_eq!(req.uri().path(), "/flows/HelloFlow/runs/1");
    // A path that does not start with the stage is left alone.
    let req = metadata_api::strip_stage(req);
    assert_eq!(req.uri().path(), "/flows/HelloFlow/runs/1");
}
