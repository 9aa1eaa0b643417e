//! Test harness: a real metadata server on 127.0.0.1 over a chosen store, and a small client.

use std::sync::Arc;

use ferry_metadata::Config;
use ferry_store::Table;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Which store adapter a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Dynamo,
}

/// An SQLite table in a fresh temporary file (the directory lives as long as the process).
pub fn sqlite_table() -> Arc<dyn Table> {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    Arc::new(
        ferry_store::SqliteTable::open(dir.join("md.sqlite"), "metadata").expect("open sqlite"),
    )
}

/// A fresh DynamoDB table (keys `pk`, `sk`) on the shared moto server.
pub async fn dynamo_table() -> Arc<dyn Table> {
    let url = ferry_testkit::moto_url();
    let name = ferry_testkit::unique("md");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&url)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    ferry_store::DynamoTable::create_table_if_missing(&client, &name)
        .await
        .expect("create table on moto");
    Arc::new(ferry_store::DynamoTable::new(client, &name))
}

/// A table of the backend.
pub async fn table(b: Backend) -> Arc<dyn Table> {
    match b {
        Backend::Sqlite => sqlite_table(),
        Backend::Dynamo => dynamo_table().await,
    }
}

/// A running server and a client for it.
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Start a server over a fresh table of the backend.
pub async fn server(b: Backend) -> Server {
    server_with(table(b).await, None).await
}

/// Start a server over a table, with an optional API key.
pub async fn server_with(table: Arc<dyn Table>, api_key: Option<&str>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let config = Config {
        table,
        api_key: api_key.map(str::to_string),
    };
    tokio::spawn(async move {
        ferry_metadata::serve(listener, config, async move {
            let _ = rx.await;
        })
        .await
        .expect("serve");
    });
    Server {
        base,
        http: reqwest::Client::new(),
        _stop: tx,
    }
}

impl Server {
    /// Send a request; `body` is sent as raw text when a string, as JSON otherwise.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, String) {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(b) = body {
            req = match b {
                Value::String(s) => req.body(s),
                other => req
                    .header("content-type", "application/json")
                    .body(other.to_string()),
            };
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, json, text)
    }

    /// Send `method target` byte for byte over a fresh connection: reqwest (like every HTTP
    /// library) removes `.` and `..` segments from a URL, and a fuzzer or a proxy need not.
    /// Returns the status, the `content-type` and the body parsed as JSON (`Null` when not JSON).
    pub async fn raw(&self, method: &str, target: &str, body: &str) -> (u16, String, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).await.expect("read");
        let text = String::from_utf8_lossy(&answer);
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let content_type = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default();
        (
            status,
            content_type,
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::GET, path, None).await;
        (s, v)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::POST, path, Some(body)).await;
        (s, v)
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::PATCH, path, Some(body)).await;
        (s, v)
    }

    /// Create a flow, a run (with a heartbeat-capable version tag) and return the run number.
    pub async fn flow_and_run(&self, flow: &str) -> Value {
        let (s, _) = self
            .post(&format!("/flows/{flow}"), json!({"flow_id": flow}))
            .await;
        assert!(s == StatusCode::OK || s == StatusCode::CONFLICT, "{s}");
        let (s, run) = self
            .post(&format!("/flows/{flow}/run"), run_body(None))
            .await;
        assert_eq!(s, StatusCode::OK, "{run}");
        run["run_number"].clone()
    }

    /// Create a step and a task in a run; returns the exposed task id.
    pub async fn step_and_task(
        &self,
        flow: &str,
        run: &str,
        step: &str,
        alias: Option<&str>,
    ) -> Value {
        let (s, _) = self
            .post(
                &format!("/flows/{flow}/runs/{run}/steps/{step}/step"),
                json!({"user_name": "alice"}),
            )
            .await;
        assert!(s == StatusCode::OK || s == StatusCode::CONFLICT, "{s}");
        let mut body = task_body();
        if let Some(a) = alias {
            body["task_id"] = json!(a);
        }
        let (s, t) = self
            .post(&format!("/flows/{flow}/runs/{run}/steps/{step}/task"), body)
            .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        t["task_id"].clone()
    }
}

/// A run body as the 2.19.39 client sends it (alias optional).
pub fn run_body(alias: Option<&str>) -> Value {
    let mut b = json!({
        "flow_id": "ignored", "user_name": "alice", "tags": ["mytag"],
        "system_tags": ["runtime:dev", "user:alice", "metaflow_version:2.19.39", "python_version:3.11.7"],
        "ts_epoch": 1
    });
    if let Some(a) = alias {
        b["run_number"] = json!(a);
    }
    b
}

/// A task body as the client sends it.
pub fn task_body() -> Value {
    json!({"user_name": "alice", "tags": ["mytag"],
           "system_tags": ["runtime:dev", "user:alice", "metaflow_version:2.19.39"], "ts_epoch": 1})
}

/// Path segment text of an exposed id.
pub fn seg(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Generate one `#[tokio::test]` per backend for each listed async fn taking a [`Backend`].
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name($crate::support::Backend::Sqlite).await }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name($crate::support::Backend::Dynamo).await }
            )*
        }
    };
}
