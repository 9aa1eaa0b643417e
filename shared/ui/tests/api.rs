//! The UI's JSON API and shell through the router (axum `oneshot`), over the embedded stack's real
//! adapters: one SQLite table for metadata, deployment records and executions (as `ferry up`
//! keeps them), a blob directory for the deployed spec, a datastore directory for logs and
//! artifact infos, and the local orchestrator running real (trivial) state machines. The
//! metadata is written through the metadata API's own router, as the Metaflow client writes it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use ferry_control::{DeploymentName, ExecutionStatus, Executions, StateMachines};
use ferry_local::executor::{Executor, Resources};
use ferry_local::orchestrator::LocalOrchestrator;
use ferry_store::task_logs::TaskLogs;
use ferry_store::{
    Attr, Blobs, Condition, DirBlobs, Item, Page, Query, SqliteTable, Table, TableError, WriteOp,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const FLOW: &str = "UiTestFlow";
const DEPLOYMENT: &str = "uitestflow";

struct Env {
    _dir: tempfile::TempDir,
    app: Router,
    table: Arc<dyn Table>,
    orchestrator: LocalOrchestrator,
    datastore: Arc<dyn Blobs>,
    reads: Arc<Counting>,
}

/// One query as the store saw it: its partition, whether it was projected to named attributes,
/// and how many items it returned.
#[derive(Debug, Clone)]
struct QueryRead {
    pk: String,
    projected: bool,
    items: usize,
}

/// A [`Table`] that passes every call to the SQLite table and records its queries, so a test
/// can tell how many task items an answer read from the store.
struct Counting {
    inner: SqliteTable,
    queries: std::sync::Mutex<Vec<QueryRead>>,
}

impl Counting {
    /// The queries since the last call, on task partitions (`S#<flow>#<run>#<step>`) only.
    fn task_reads(&self) -> Vec<QueryRead> {
        std::mem::take(&mut *self.queries.lock().unwrap())
            .into_iter()
            .filter(|q| q.pk.starts_with("S#"))
            .collect()
    }
}

#[async_trait::async_trait]
impl Table for Counting {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        self.inner.get(pk, sk).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        self.inner.put(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError> {
        self.inner.delete(pk, sk, condition).await
    }
    async fn add(&self, pk: &str, sk: &str, attr: &str, delta: i64) -> Result<i64, TableError> {
        self.inner.add(pk, sk, attr, delta).await
    }
    async fn add_to_set(
        &self,
        pk: &str,
        sk: &str,
        attr: &str,
        values: &[String],
    ) -> Result<(), TableError> {
        self.inner.add_to_set(pk, sk, attr, values).await
    }
    async fn set(
        &self,
        pk: &str,
        sk: &str,
        attrs: std::collections::BTreeMap<String, Attr>,
        condition: Condition,
    ) -> Result<(), TableError> {
        self.inner.set(pk, sk, attrs, condition).await
    }
    async fn query(&self, pk: &str, query: Query) -> Result<Page, TableError> {
        let projected = query.attributes.is_some();
        let page = self.inner.query(pk, query).await?;
        self.queries.lock().unwrap().push(QueryRead {
            pk: pk.to_string(),
            projected,
            items: page.items.len(),
        });
        Ok(page)
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        self.inner.transact(ops).await
    }
}

fn spec() -> Value {
    json!({
        "spec_version": 1, "flow": FLOW, "file": "ui_test.py",
        "parameters": [
            {"name": "greeting", "type": "str", "default": "hi"},
            {"name": "width", "type": "int", "default": 3}
        ],
        "decorators": {"schedule": {"kind": "cron", "cron": "0 10 * * ? *", "timezone": "Europe/Paris"}},
        "steps": [
            {"name": "start", "type": "foreach", "foreach": "items", "next": ["body"]},
            {"name": "body", "type": "linear", "next": ["join"]},
            {"name": "join", "type": "join", "next": ["end"]},
            {"name": "end", "type": "end"}
        ]
    })
}

fn record(spec_key: &str) -> Value {
    json!({
        "schema_version": 1, "deployment": DEPLOYMENT, "flow": FLOW, "owner": "alice",
        "token": "tok", "token_prefix": DEPLOYMENT, "namespace": "production:tok",
        "state_machine": {"name": DEPLOYMENT, "id": format!("local:stateMachine:{DEPLOYMENT}")},
        "spec_sha256": "0".repeat(64), "spec_key": spec_key,
        "package": {"key": "code/x.tgz", "sha256": "1".repeat(64)},
        "schedule": {"name": "uitestflow-schedule", "expression": "0 10 * * ? *", "timezone": "Europe/Paris"},
        "parameters": [
            {"name": "greeting", "type": "str", "default": "hi"},
            {"name": "width", "type": "int", "default": 3}
        ],
        "triggers": {"kind": "event", "events": [{"name": "data_ready"}]},
        "tags": [], "max_workers": 100, "version": 1, "ferry_version": "0.1.0",
        "request_id": "0b1c2d3e-0000-4000-8000-000000000001",
        "created_at": "2026-11-30T00:00:00Z", "updated_at": "2026-11-30T00:00:00Z"
    })
}

/// A task failure cause as Batch gives it (the job record).
fn batch_cause(task: &str) -> String {
    json!({"JobId": task, "StatusReason": "Essential container in task exited",
           "Parameters": {"step_name": "body"}, "Container": {"ExitCode": 3}})
    .to_string()
}

async fn env(api_key: Option<&str>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let reads = Arc::new(Counting {
        inner: SqliteTable::open(dir.path().join("ferry.db"), "default").unwrap(),
        queries: Default::default(),
    });
    let table: Arc<dyn Table> = reads.clone();
    let blobs: Arc<dyn Blobs> = Arc::new(DirBlobs::open(dir.path().join("blobs")).unwrap());
    let datastore: Arc<dyn Blobs> = Arc::new(DirBlobs::open(dir.path().join("ds")).unwrap());
    let orchestrator = LocalOrchestrator::new(
        table.clone(),
        Executor::new(Arc::new(Resources::new())),
        None,
    );
    let spec_key = "deploy/uitestflow/0b1c2d3e-0000-4000-8000-000000000001/spec.json";
    blobs
        .put(spec_key, serde_json::to_vec(&spec()).unwrap())
        .await
        .unwrap();
    let rec: ferry_deploy::DeploymentRecord = serde_json::from_value(record(spec_key)).unwrap();
    let item = ferry_deploy::record::encode_record(&rec);
    table.put(item, ferry_store::Condition::None).await.unwrap();
    let ui = ferry_ui::router(ferry_ui::UiConfig {
        metadata: table.clone(),
        deployments: Some(table.clone()),
        blobs: Some(blobs),
        executions: Some(Arc::new(orchestrator.clone()) as Arc<dyn Executions>),
        logs: TaskLogs::new(Some(datastore.clone()), None),
        api_key: api_key.map(str::to_string),
    });
    // As `ferry up` and the Lambda serve it: merged with the metadata API.
    let app = ferry_metadata::router(ferry_metadata::Config {
        table: table.clone(),
        api_key: None,
    })
    .merge(ui);
    Env {
        _dir: dir,
        app,
        table,
        orchestrator,
        datastore,
        reads,
    }
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, Vec<(String, String)>, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, bytes)
}

async fn get_json(app: &Router, path: &str) -> (StatusCode, Value) {
    let (s, _, b) = call(app, "GET", path, None, None).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

async fn post(app: &Router, path: &str, body: Value) -> Value {
    let (s, _, b) = call(app, "POST", path, Some(body), None).await;
    assert_eq!(s, StatusCode::OK, "{path}: {}", String::from_utf8_lossy(&b));
    serde_json::from_slice(&b).unwrap_or(Value::Null)
}

fn md(field: &str, value: &str, attempt: u32) -> Value {
    json!({"field_name": field, "type": field, "value": value, "tags": [format!("attempt_id:{attempt}")], "user_name": "alice"})
}

/// Start an execution of a state machine with `definition` and wait for its end.
async fn execution(e: &Env, definition: &Value, input: Value) -> ferry_control::Execution {
    let sm = DeploymentName::parse(DEPLOYMENT).unwrap();
    e.orchestrator
        .put(&sm, &definition.to_string(), &Default::default())
        .await
        .unwrap();
    let started = e
        .orchestrator
        .start(&sm, None, &input.to_string())
        .await
        .unwrap();
    for _ in 0..200 {
        let x = e
            .orchestrator
            .describe(&sm, &started.name)
            .await
            .unwrap()
            .unwrap();
        if x.status != ExecutionStatus::Running {
            return x;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("execution {} did not end", started.name);
}

/// A step's tasks: per task, `(attempts, what the last one reported)`.
type StepTasks<'a> = (&'a str, Vec<(u32, Option<bool>)>);

/// A run as the metaflow client records it: the run, its steps and tasks, their attempts.
/// `tasks`: per step, per task, `(attempts, last ok)`.
async fn metadata_run(
    e: &Env,
    run_id: &str,
    tags: &[&str],
    tasks: &[StepTasks<'_>],
) -> Vec<(String, String)> {
    let app = &e.app;
    let (s, _) = get_json(app, &format!("/flows/{FLOW}")).await;
    if s != StatusCode::OK {
        post(
            app,
            &format!("/flows/{FLOW}"),
            json!({"user_name": "alice"}),
        )
        .await;
    }
    post(
        app,
        &format!("/flows/{FLOW}/run"),
        json!({"run_number": run_id, "user_name": "alice", "tags": tags,
               "system_tags": ["user:alice", "metaflow_version:2.19.39"]}),
    )
    .await;
    let mut ids = Vec::new();
    for (step, list) in tasks {
        post(
            app,
            &format!("/flows/{FLOW}/runs/{run_id}/steps/{step}/step"),
            json!({"user_name": "alice"}),
        )
        .await;
        for (i, (attempts, ok)) in list.iter().enumerate() {
            let name = format!("{step}-t{i}");
            let base = format!("/flows/{FLOW}/runs/{run_id}/steps/{step}");
            post(
                app,
                &format!("{base}/task"),
                json!({"task_id": name, "user_name": "alice"}),
            )
            .await;
            let task = format!("{base}/tasks/{name}");
            for a in 0..*attempts {
                post(
                    app,
                    &format!("{task}/metadata"),
                    json!([md("attempt", &a.to_string(), a)]),
                )
                .await;
                let last = a + 1 == *attempts;
                match (last, ok) {
                    (false, _) => {
                        post(
                            app,
                            &format!("{task}/metadata"),
                            json!([md("attempt_ok", "False", a)]),
                        )
                        .await;
                    }
                    (true, Some(v)) => {
                        let v = if *v { "True" } else { "False" };
                        post(
                            app,
                            &format!("{task}/metadata"),
                            json!([md("attempt_ok", v, a)]),
                        )
                        .await;
                    }
                    (true, None) => {}
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            ids.push((step.to_string(), name));
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_assets_and_security_headers() {
    let e = env(None).await;
    let (s, h, b) = call(&e.app, "GET", "/ui", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let html = String::from_utf8(b).unwrap();
    assert!(html.contains(r#"<base href="ui/">"#), "{html}");
    let header = |name: &str| h.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let csp = header("content-security-policy").expect("a CSP header");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("require-trusted-types-for 'script'"),
        "{csp}"
    );
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    let (_, _, b) = call(
        &e.app,
        "GET",
        "/ui/runs/UiTestFlow/sfn-abc/body/t-1",
        None,
        None,
    )
    .await;
    assert!(
        String::from_utf8(b)
            .unwrap()
            .contains(r#"<base href="../../../../">"#)
    );
    let (s, h, b) = call(&e.app, "GET", "/ui/static/app.js", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h.iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/javascript"))
    );
    assert!(String::from_utf8(b).unwrap().contains("route()"));
    let (s, _, _) = call(&e.app, "GET", "/ui/static/nope.js", None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = get_json(&e.app, "/ui/api/nothing/here").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["kind"], "not_found");
    // The metadata API still answers on the same router.
    let (s, _) = get_json(&e.app, "/ping").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_runs_and_a_run_with_per_step_states() {
    let e = env(None).await;
    let ok_def = json!({"StartAt": "start", "States": {"start": {"Type": "Pass", "Next": "done"}, "done": {"Type": "Succeed"}}});
    let ok = execution(&e, &ok_def, json!({"Parameters": "{\"greeting\": \"<script>alert(1)</script>\", \"ferry.tags\": [\"x\"]}"})).await;
    let fail_def = json!({"StartAt": "body", "States": {"body": {"Type": "Fail", "Error": "States.TaskFailed", "Cause": batch_cause("body-t1")}}});
    let failed = execution(&e, &fail_def, json!({"Parameters": "{}"})).await;
    assert_eq!(
        (ok.status, failed.status),
        (ExecutionStatus::Succeeded, ExecutionStatus::Failed)
    );
    let ok_run = format!("sfn-{}", ok.name);
    let failed_run = format!("sfn-{}", failed.name);
    metadata_run(
        &e,
        &ok_run,
        &["<b>nightly</b>"],
        &[
            ("start", vec![(1, Some(true))]),
            (
                "body",
                vec![(1, Some(true)), (2, Some(true)), (1, Some(true))],
            ),
            ("join", vec![(1, Some(true))]),
            ("end", vec![(1, Some(true))]),
        ],
    )
    .await;
    let ids = metadata_run(
        &e,
        &failed_run,
        &[],
        &[
            ("start", vec![(1, Some(true))]),
            ("body", vec![(1, Some(true)), (2, Some(false))]),
        ],
    )
    .await;
    assert_eq!(ids[2], ("body".to_string(), "body-t1".to_string()));
    e.datastore
        .put(
            &format!("{FLOW}/{failed_run}/body/body-t1/1.task_stderr.log"),
            b"[MFLOG|0|2026-11-30T04:00:00.000000Z|task|1]Traceback: <script>x()</script>\n[MFLOG|0|2026-11-30T04:00:00.000001Z|task|2]ValueError: boom\n".to_vec(),
        )
        .await
        .unwrap();
    e.datastore
        .put(
            &format!("{FLOW}/{ok_run}/body/body-t1/1.data.json"),
            json!({"objects": {"x": "abc"}, "info": {"x": {"size": 1234, "type": "<class 'dict'>", "encoding": "pickle-v4"}}}).to_string().into_bytes(),
        )
        .await
        .unwrap();

    // Deployments: schedule with its next fire times in Paris time, triggers, recent runs.
    let (s, d) = get_json(&e.app, "/ui/api/deployments").await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let dep = &d["deployments"][0];
    assert_eq!(dep["deployment"], DEPLOYMENT);
    assert_eq!(dep["schedule"]["timezone"], "Europe/Paris");
    let next = dep["schedule"]["next"][0]["local"].as_str().unwrap();
    assert!(next.contains("T10:00:00+0"), "10:00 local time: {next}");
    assert_eq!(dep["triggers"][0]["name"], "data_ready");
    assert_eq!(dep["runs"], 2);
    assert_eq!(
        dep["recent"][0]["run_id"],
        json!(failed_run),
        "newest first"
    );
    assert_eq!(dep["recent"][0]["status"], "failed");

    // Runs: filters, search, paging.
    let (_, all) = get_json(&e.app, "/ui/api/runs").await;
    assert_eq!(all["total"], 2);
    let (_, f) = get_json(&e.app, "/ui/api/runs?status=failed").await;
    assert_eq!(
        (f["total"].clone(), f["runs"][0]["run_id"].clone()),
        (json!(1), json!(failed_run))
    );
    assert_eq!(f["runs"][0]["failing_step"], "body");
    let (_, t) = get_json(&e.app, "/ui/api/runs?tag=%3Cb%3Enightly%3C%2Fb%3E").await;
    assert_eq!(
        (t["total"].clone(), t["runs"][0]["tags"][0].clone()),
        (json!(1), json!("<b>nightly</b>"))
    );
    let (_, q) = get_json(&e.app, &format!("/ui/api/runs?q={}", &ok.name[..8])).await;
    assert_eq!(q["runs"][0]["run_id"], json!(ok_run));
    let (_, r) = get_json(&e.app, &format!("/ui/api/runs?q={FLOW}/{ok_run}/body")).await;
    assert_eq!(r["redirect"], json!(format!("runs/{FLOW}/{ok_run}/body")));
    let (_, p) = get_json(&e.app, "/ui/api/runs?limit=1&offset=1").await;
    assert_eq!(
        (p["total"].clone(), p["runs"].as_array().unwrap().len()),
        (json!(2), 1)
    );
    assert_eq!(
        p["runs"][0]["run_id"],
        json!(ok_run),
        "the older one on page 2"
    );
    let (_, none) = get_json(&e.app, "/ui/api/runs?since=2999-01-01").await;
    assert_eq!(none["total"], 0);
    let (s, bad) = get_json(&e.app, "/ui/api/runs?status=sleeping").await;
    assert_eq!(
        (s, bad["error"]["kind"].clone()),
        (StatusCode::BAD_REQUEST, json!("usage"))
    );
    // A malformed number answers the same JSON error, naming the parameter.
    for path in [
        "/ui/api/runs?limit=abc",
        "/ui/api/runs?offset=-1",
        &format!("/ui/api/runs/{FLOW}/{ok_run}/steps/body/tasks?limit=ten"),
    ] {
        let (s, bad) = get_json(&e.app, path).await;
        assert_eq!(
            (s, bad["error"]["kind"].clone()),
            (StatusCode::BAD_REQUEST, json!("usage")),
            "{path}: {bad}"
        );
        let message = bad["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("limit") || message.contains("offset"),
            "{path}: {message}"
        );
    }

    // A succeeded run: the graph, per-step states and counts, parameters, tags, trigger.
    let (s, run) = get_json(&e.app, &format!("/ui/api/runs/{FLOW}/{ok_run}")).await;
    assert_eq!(s, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["failure"], Value::Null);
    let names: Vec<&str> = run["dag"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["start", "body", "join", "end"]);
    assert_eq!(run["dag"]["nodes"][1]["inside_foreach"], true);
    let body = &run["steps"]["body"];
    assert_eq!(
        (
            body["tasks"].clone(),
            body["succeeded"].clone(),
            body["retried"].clone()
        ),
        (json!(3), json!(3), json!(1))
    );
    assert_eq!(body["status"], "retried");
    assert_eq!(run["steps"]["join"]["status"], "succeeded");
    let params = run["parameters"].as_array().unwrap();
    assert_eq!(
        params[0],
        json!({"name": "greeting", "value": "<script>alert(1)</script>", "source": "given"})
    );
    assert_eq!(
        params[1],
        json!({"name": "width", "value": 3, "source": "default"})
    );
    assert_eq!(params.len(), 2, "ferry.tags is not a parameter");
    assert_eq!(run["tags"], json!(["<b>nightly</b>"]));
    assert_eq!(run["trigger"]["kind"], "manual");

    // A failed run: failing step, task, error and the log's end first.
    let (_, run) = get_json(&e.app, &format!("/ui/api/runs/{FLOW}/{failed_run}")).await;
    assert_eq!(run["status"], "failed");
    let f = &run["failure"];
    assert_eq!(
        (f["step"].clone(), f["task"].clone(), f["exit_code"].clone()),
        (json!("body"), json!("body-t1"), json!(3))
    );
    assert_eq!(f["error"], "States.TaskFailed");
    assert_eq!(f["log"]["stream"], "stderr");
    assert_eq!(f["log"]["attempt"], 1);
    assert_eq!(
        f["log"]["text"],
        "Traceback: <script>x()</script>\nValueError: boom\n"
    );
    assert_eq!(run["steps"]["body"]["status"], "failed");
    assert_eq!(
        (
            run["steps"]["body"]["failed"].clone(),
            run["steps"]["join"]["status"].clone()
        ),
        (json!(1), json!("pending"))
    );

    // A step's tasks, paged and by state; one task; its log from an offset.
    let base = format!("/ui/api/runs/{FLOW}/{ok_run}/steps/body/tasks");
    let (_, tasks) = get_json(&e.app, &format!("{base}?limit=2")).await;
    assert_eq!(
        (
            tasks["total"].clone(),
            tasks["tasks"].as_array().unwrap().len()
        ),
        (json!(3), 2)
    );
    assert_eq!(tasks["tasks"][0]["state"], "succeeded");
    let (_, failed_tasks) = get_json(
        &e.app,
        &format!("/ui/api/runs/{FLOW}/{failed_run}/steps/body/tasks?state=failed"),
    )
    .await;
    assert_eq!(failed_tasks["tasks"][0]["task_id"], "body-t1");
    let (s, task) = get_json(&e.app, &format!("{base}/body-t1")).await;
    assert_eq!(s, StatusCode::OK, "{task}");
    assert_eq!(task["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(task["attempts"][0]["ok"], false);
    assert_eq!(task["attempts"][1]["ok"], true);
    let (_, ftask) = get_json(
        &e.app,
        &format!("/ui/api/runs/{FLOW}/{failed_run}/steps/body/tasks/body-t1"),
    )
    .await;
    assert_eq!(ftask["logs"]["stderr"], json!([1]));
    let (_, log) = get_json(
        &e.app,
        &format!(
            "/ui/api/runs/{FLOW}/{failed_run}/steps/body/tasks/body-t1/logs?stream=stderr&after=11"
        ),
    )
    .await;
    assert_eq!(
        (log["offset"].clone(), log["size"].clone()),
        (json!(11), json!(49))
    );
    assert_eq!(log["text"], "<script>x()</script>\nValueError: boom\n");
    let (s, missing) = get_json(&e.app, &format!("{base}/nope")).await;
    assert_eq!(
        (s, missing["error"]["kind"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let (s, _) = get_json(&e.app, &format!("/ui/api/runs/{FLOW}/sfn-unknown")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A run with neither metadata nor an execution: 404, for its tasks too.
    let (s, none) = get_json(
        &e.app,
        &format!("/ui/api/runs/{FLOW}/sfn-unknown/steps/body/tasks"),
    )
    .await;
    assert_eq!(
        (s, none["error"]["kind"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found")),
        "{none}"
    );
    // A run whose execution started but whose start step has not registered it: no task yet.
    let early = execution(&e, &ok_def, json!({"Parameters": "{}"})).await;
    let (s, tasks) = get_json(
        &e.app,
        &format!("/ui/api/runs/{FLOW}/sfn-{}/steps/body/tasks", early.name),
    )
    .await;
    assert_eq!(
        (s, tasks["total"].clone()),
        (StatusCode::OK, json!(0)),
        "{tasks}"
    );
    // An attempt the task has not made: 404 naming the attempts it has.
    let (s, no_attempt) = get_json(
        &e.app,
        &format!("/ui/api/runs/{FLOW}/{failed_run}/steps/body/tasks/body-t1/logs?attempt=7"),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{no_attempt}");
    assert!(
        no_attempt["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no attempt 7"),
        "{no_attempt}"
    );
    // Another method than GET: 405 with the JSON error.
    let (s, _, body) = call(&e.app, "DELETE", "/ui/api/deployments", None, None).await;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(
        (s, body["error"]["kind"].clone()),
        (StatusCode::METHOD_NOT_ALLOWED, json!("method_not_allowed")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_show_types_and_sizes_from_the_datastore() {
    let e = env(None).await;
    let run = "sfn-manual";
    metadata_run(&e, run, &[], &[("start", vec![(1, Some(true))])]).await;
    let art = json!([{"name": "x", "attempt_id": 0, "location": ":root:/ds", "ds_type": "local",
                      "sha": "abc", "type": "metaflow.artifact", "content_type": "gzip+pickle-v4"}]);
    post(
        &e.app,
        &format!("/flows/{FLOW}/runs/{run}/steps/start/tasks/start-t0/artifact"),
        art,
    )
    .await;
    e.datastore
        .put(
            &format!("{FLOW}/{run}/start/start-t0/0.data.json"),
            json!({"info": {"x": {"size": 1234, "type": "<class 'dict'>", "encoding": "gzip+pickle-v4"}}}).to_string().into_bytes(),
        )
        .await
        .unwrap();
    let (s, task) = get_json(
        &e.app,
        &format!("/ui/api/runs/{FLOW}/{run}/steps/start/tasks/start-t0"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{task}");
    assert_eq!(
        task["artifacts"][0],
        json!({"attempt": 0, "name": "x", "type": "<class 'dict'>", "size": 1234, "encoding": "gzip+pickle-v4", "sha": "abc"})
    );
    // A run no deployment started: found in the metadata alone, steps without a spec.
    let (s, r) = get_json(&e.app, &format!("/ui/api/runs/{FLOW}/{run}")).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["execution"].clone(), r["trigger"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(r["dag"]["nodes"][0]["name"], "start");
    assert_eq!(r["steps"]["start"]["succeeded"], 1);
    drop(e.table);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_api_key_the_data_needs_it_and_the_shell_does_not() {
    let e = env(Some("s3cret")).await;
    let (s, _, _) = call(&e.app, "GET", "/ui/runs/F/sfn-1", None, None).await;
    assert_eq!(s, StatusCode::OK, "the shell is public");
    let (s, _, _) = call(&e.app, "GET", "/ui/static/app.js", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, h, b) = call(&e.app, "GET", "/ui/api/deployments", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.iter().any(|(k, _)| k == "content-security-policy"));
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["error"]["kind"], "unauthorized");
    let (s, _, _) = call(&e.app, "GET", "/ui/api/deployments", None, Some("wrong")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, b) = call(&e.app, "GET", "/ui/api/deployments", None, Some("s3cret")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!String::from_utf8_lossy(&b).contains("s3cret"));
}

/// Make an ended execution's end `ago` in the past (as if it had ended then), in the record the
/// embedded stack keeps.
async fn ended_ago(e: &Env, name: &str, ago: chrono::Duration) {
    let pk = ferry_local::orchestrator::EXECUTIONS_PK;
    let mut item = e.table.get(pk, name).await.unwrap().unwrap();
    let mut record: Value = item.json("record").unwrap();
    record["stop_date"] = json!(chrono::Utc::now() - ago);
    item.attrs
        .insert("record".into(), Attr::S(record.to_string()));
    e.table.put(item, Condition::None).await.unwrap();
}

/// The mechanism behind "a 10,000-task run renders fast", counted in store reads rather than
/// timed: the per-step counts decode only the task items' attempt attributes (projected
/// queries), a settled run's counts are read once and then kept, and a page of a step's tasks
/// reads that page from the store (`limit + 1` items), not the whole step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_reads_are_projected_kept_and_bounded_in_the_store() {
    const WIDE: usize = 40;
    let e = env(None).await;
    let def = json!({"StartAt": "start", "States": {"start": {"Type": "Succeed"}}});
    let ex = execution(&e, &def, json!({"Parameters": "{}"})).await;
    let run_id = format!("sfn-{}", ex.name);
    metadata_run(
        &e,
        &run_id,
        &[],
        &[
            ("start", vec![(1, Some(true))]),
            ("body", vec![(1, Some(true)); WIDE]),
            ("join", vec![(1, Some(true))]),
            ("end", vec![(1, Some(true))]),
        ],
    )
    .await;
    let run_path = format!("/ui/api/runs/{FLOW}/{run_id}");
    let total = |reads: &[QueryRead]| reads.iter().map(|q| q.items).sum::<usize>();

    // Just ended: every step's tasks are read, projected, on every request.
    e.reads.task_reads();
    for _ in 0..2 {
        let (s, v) = get_json(&e.app, &run_path).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["steps"]["body"]["tasks"], WIDE);
        let reads = e.reads.task_reads();
        assert!(reads.iter().all(|q| q.projected), "{reads:?}");
        assert_eq!(total(&reads), WIDE + 3, "{reads:?}");
    }

    // Settled (ended over a minute ago): read once, then kept.
    ended_ago(&e, ex.name.as_ref(), chrono::Duration::minutes(2)).await;
    let (_, first) = get_json(&e.app, &run_path).await;
    assert_eq!(total(&e.reads.task_reads()), WIDE + 3);
    let (_, again) = get_json(&e.app, &run_path).await;
    assert_eq!(
        e.reads.task_reads().len(),
        0,
        "a settled run's counts come from memory"
    );
    assert_eq!(first["steps"], again["steps"]);
    assert_eq!(again["steps"]["body"]["succeeded"], WIDE);
    assert_eq!(again["steps"]["body"]["status"], "succeeded");

    // A page of a settled step: limit + 1 task items, forward and back, with the kept counts.
    let tasks = format!("{run_path}/steps/body/tasks");
    let (_, p1) = get_json(&e.app, &format!("{tasks}?limit=10")).await;
    let reads = e.reads.task_reads();
    assert!(
        total(&reads) <= 11 && reads.iter().all(|q| q.projected),
        "{reads:?}"
    );
    assert_eq!(
        (p1["total"].clone(), p1["tasks"].as_array().unwrap().len()),
        (json!(WIDE), 10)
    );
    assert_eq!(p1["tasks"][0]["task_id"], "body-t0");
    assert_eq!(p1["prev"], Value::Null);
    assert_eq!(p1["summary"]["succeeded"], WIDE);
    let next = p1["next"].as_i64().expect("a next cursor");
    let (_, p2) = get_json(&e.app, &format!("{tasks}?limit=10&after={next}")).await;
    assert!(total(&e.reads.task_reads()) <= 11);
    assert_eq!(p2["tasks"][0]["task_id"], "body-t10");
    let prev = p2["prev"].as_i64().expect("a prev cursor");
    let (_, back) = get_json(&e.app, &format!("{tasks}?limit=10&before={prev}")).await;
    assert!(total(&e.reads.task_reads()) <= 11);
    assert_eq!(back["tasks"], p1["tasks"]);
    assert_eq!(back["prev"], Value::Null);
    let (_, last) = get_json(&e.app, &format!("{tasks}?limit=10&offset=35")).await;
    assert!(total(&e.reads.task_reads()) <= 35 + 11);
    assert_eq!(last["tasks"].as_array().unwrap().len(), WIDE - 35);
    assert_eq!(last["next"], Value::Null);
    // A state filter needs every task's state: one projected read of the step.
    let (_, ok) = get_json(&e.app, &format!("{tasks}?limit=10&state=succeeded")).await;
    let reads = e.reads.task_reads();
    assert!(reads.iter().all(|q| q.projected), "{reads:?}");
    assert_eq!(ok["total"], WIDE);
    let (s, _) = get_json(&e.app, &format!("{tasks}?after=1&before=2")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
