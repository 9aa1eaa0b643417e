//! Bad input never yields a 500 or a partial write: a table of bad requests, each with its
//! status and message, then a check that the store reads back exactly as before.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, Server, seg, server};

on_both_backends!(
    bad_requests_are_rejected_without_writes,
    dot_names_and_undecodable_paths_get_json_400s_without_writes,
);

/// Everything the API can read back for flow F.
async fn snapshot(s: &Server, run: &str, task: &str) -> Value {
    let mut out = serde_json::Map::new();
    let t = format!("/flows/F/runs/{run}/steps/s/tasks/{task}");
    for p in [
        "/flows".to_string(),
        "/flows/F/runs".to_string(),
        format!("/flows/F/runs/{run}/steps"),
        format!("/flows/F/runs/{run}/steps/s/tasks"),
        format!("{t}/metadata"),
        format!("{t}/attempt/0/artifacts"),
    ] {
        let (st, mut v) = s.get(&p).await;
        assert_eq!(st, StatusCode::OK, "{p}");
        strip_volatile(&mut v);
        out.insert(p, v);
    }
    Value::Object(out)
}

/// Heartbeat times move on their own; everything else must not.
fn strip_volatile(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("last_heartbeat_ts");
            m.remove("status");
            m.values_mut().for_each(strip_volatile);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

async fn bad_requests_are_rejected_without_writes(b: Backend) {
    let s = server(b).await;
    let run = seg(&s.flow_and_run("F").await);
    let task = seg(&s.step_and_task("F", &run, "s", None).await);
    let r = format!("/flows/F/runs/{run}");
    let t = format!("{r}/steps/s/tasks/{task}");
    let long = "x".repeat(256);
    let good_md = json!({"field_name": "f", "value": "v", "type": "t", "tags": []});
    let huge = format!(
        "[{{\"field_name\":\"f\",\"value\":\"{}\"}}]",
        "a".repeat(6 * 1024 * 1024 + 10)
    );
    let raw = |s: &str| Value::String(s.to_string());

    #[rustfmt::skip]
    let cases: Vec<(Method, String, Option<Value>, StatusCode, &str)> = vec![
        (Method::POST, "/flows/F2".into(), Some(raw("{not json")), StatusCode::BAD_REQUEST, "not valid JSON"),
        (Method::POST, "/flows/F2".into(), Some(json!([1])), StatusCode::BAD_REQUEST, "must be a JSON object"),
        (Method::POST, "/flows/F2".into(), Some(json!({"tags": "x"})), StatusCode::BAD_REQUEST, "tags must be a list"),
        (Method::POST, "/flows/F2".into(), Some(json!({"tags": [1]})), StatusCode::BAD_REQUEST, "tags must be a list of strings"),
        (Method::POST, "/flows/F2".into(), Some(json!({"user_name": 5})), StatusCode::BAD_REQUEST, "user_name must be a string"),
        (Method::POST, format!("/flows/{long}"), Some(json!({})), StatusCode::BAD_REQUEST, "the limit is 255"),
        (Method::POST, "/flows/a%2Fb".into(), Some(json!({})), StatusCode::BAD_REQUEST, "must not contain '/'"),
        (Method::POST, "/flows/F/run".into(), Some(json!({"run_number": "123"})), StatusCode::BAD_REQUEST, "may not be a numeric"),
        (Method::POST, "/flows/F/run".into(), Some(json!({"run_number": 1.5})), StatusCode::BAD_REQUEST, "run_number must be a string"),
        (Method::POST, "/flows/F/run".into(), Some(json!({"system_tags": {"a": 1}})), StatusCode::BAD_REQUEST, "system_tags must be a list"),
        (Method::POST, "/flows/F/run".into(), Some(json!({"run_number": "a/b"})), StatusCode::BAD_REQUEST, "must not contain '/'"),
        (Method::POST, "/flows/F/run".into(), Some(json!({"run_number": long.clone()})), StatusCode::BAD_REQUEST, "the limit is 255"),
        (Method::POST, format!("{r}/steps/s2/step"), Some(json!({"tags": "x"})), StatusCode::BAD_REQUEST, "tags must be a list"),
        (Method::POST, format!("{r}/steps/{long}/step"), Some(json!({})), StatusCode::BAD_REQUEST, "the limit is 255"),
        (Method::POST, format!("{r}/steps/s/task"), Some(json!({"task_id": "42"})), StatusCode::BAD_REQUEST, "may not be a numeric"),
        (Method::POST, format!("{r}/steps/s/task"), Some(json!({"task_id": true})), StatusCode::BAD_REQUEST, "task_id must be a string"),
        (Method::POST, format!("{t}/metadata"), Some(json!({})), StatusCode::BAD_REQUEST, "must be a JSON array"),
        (Method::POST, format!("{t}/metadata"), Some(json!([1])), StatusCode::BAD_REQUEST, "metadata[0] must be a JSON object"),
        (Method::POST, format!("{t}/metadata"), Some(json!([{"value": "x"}])), StatusCode::BAD_REQUEST, "field_name is required"),
        (Method::POST, format!("{t}/metadata"), Some(json!([good_md.clone(), {"field_name": 3, "value": "v"}])), StatusCode::BAD_REQUEST, "metadata[1]: field_name must be a string"),
        (Method::POST, format!("{t}/metadata"), Some(json!([good_md.clone(), {"field_name": "f", "value": "v", "tags": "x"}])), StatusCode::BAD_REQUEST, "metadata[1]: tags must be a list"),
        (Method::POST, format!("{t}/metadata"), Some(Value::String(huge)), StatusCode::PAYLOAD_TOO_LARGE, "larger than the limit"),
        (Method::POST, format!("{t}/artifact"), Some(json!([{"name": "a", "attempt_id": "x"}])), StatusCode::BAD_REQUEST, "attempt_id must be an integer"),
        (Method::POST, format!("{t}/artifact"), Some(json!([{"name": "a/b"}])), StatusCode::BAD_REQUEST, "must not contain '/'"),
        (Method::POST, format!("{t}/artifact"), Some(json!([{"name": "ok"}, {"sha": "x"}])), StatusCode::BAD_REQUEST, "artifacts[1]: name is required"),
        (Method::POST, format!("{t}/artifact"), Some(json!([{"name": "ok", "sha": 5}])), StatusCode::BAD_REQUEST, "sha must be a string"),
        (Method::PATCH, format!("{r}/tag/mutate"), Some(raw("nope")), StatusCode::BAD_REQUEST, "not valid JSON"),
        (Method::PATCH, format!("{r}/tag/mutate"), Some(json!({"tags_to_add": "x", "tags_to_remove": []})), StatusCode::BAD_REQUEST, "tags_to_add must be a list"),
        (Method::PATCH, format!("{r}/tag/mutate"), Some(json!({"tags_to_add": ["ok"], "tags_to_remove": [3]})), StatusCode::BAD_REQUEST, "tags_to_remove must be a list of strings"),
        (Method::GET, "/nope".into(), None, StatusCode::NOT_FOUND, "no such route: /nope"),
        (Method::DELETE, "/flows/F".into(), None, StatusCode::METHOD_NOT_ALLOWED, "method DELETE is not allowed"),
        (Method::GET, format!("{t}/attempt/abc/artifacts"), None, StatusCode::BAD_REQUEST, "attempt_id \"abc\" must be an integer"),
        (Method::GET, format!("{r}/steps/s/filtered_tasks?pattern=%28"), None, StatusCode::BAD_REQUEST, "not a valid regular expression"),
        (Method::GET, "/flows/F/runs?status=bogus".into(), None, StatusCode::BAD_REQUEST, "is not one of running, completed, failed"),
        // Names the client could never address: HTTP libraries drop `.` and `..` from URLs.
        (Method::POST, "/flows/F/run".into(), Some(json!({"run_number": ".."})), StatusCode::BAD_REQUEST, "HTTP clients drop"),
        (Method::POST, "/flows/F/run".into(), Some(json!({"run_number": "."})), StatusCode::BAD_REQUEST, "HTTP clients drop"),
        (Method::POST, format!("{r}/steps/s/task"), Some(json!({"task_id": ".."})), StatusCode::BAD_REQUEST, "HTTP clients drop"),
        (Method::POST, format!("{t}/artifact"), Some(json!([{"name": "."}])), StatusCode::BAD_REQUEST, "HTTP clients drop"),
        (Method::POST, format!("{t}/metadata"), Some(json!([{"field_name": "..", "value": "v"}])), StatusCode::BAD_REQUEST, "HTTP clients drop"),
        // A path that is not UTF-8 once percent-decoded: JSON like every other error.
        (Method::GET, "/flows/%FF".into(), None, StatusCode::BAD_REQUEST, "UTF-8"),
        (Method::POST, "/flows/%C3%28".into(), Some(json!({})), StatusCode::BAD_REQUEST, "UTF-8"),
        (Method::GET, format!("{r}/steps/%FF/tasks"), None, StatusCode::BAD_REQUEST, "UTF-8"),
        (Method::POST, format!("{r}/steps/s/tasks/{task}%FF/metadata"), Some(json!([good_md.clone()])), StatusCode::BAD_REQUEST, "UTF-8"),
        // Metadata values are strings (svc's `value TEXT NOT NULL`): no null, object or nested list.
        (Method::POST, format!("{t}/metadata"), Some(json!([good_md.clone(), {"field_name": "f", "value": null}])), StatusCode::BAD_REQUEST, "metadata[1]: value must be a string"),
        (Method::POST, format!("{t}/metadata"), Some(json!([{"field_name": "f", "value": {"a": 1}}])), StatusCode::BAD_REQUEST, "metadata[0]: value must be a string"),
        (Method::POST, format!("{t}/metadata"), Some(json!([{"field_name": "f", "value": ["a", 1]}])), StatusCode::BAD_REQUEST, "metadata[0]: value must be a string"),
        (Method::POST, format!("{t}/metadata"), Some(json!([{"field_name": "f", "value": [["a"]]}])), StatusCode::BAD_REQUEST, "metadata[0]: value must be a string"),
    ];
    assert!(cases.len() >= 20);

    let before = snapshot(&s, &run, &task).await;
    for (method, path, body, want, msg) in cases {
        let (st, v, text) = s.call(method.clone(), &path, body).await;
        let shown = &path[..path.len().min(80)];
        assert_eq!(st, want, "{method} {shown}: {text}");
        let message = v["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {shown}: no message in {text}"));
        assert!(
            message.contains(msg),
            "{method} {shown}: {message:?} lacks {msg:?}"
        );
    }
    assert_eq!(
        snapshot(&s, &run, &task).await,
        before,
        "a bad request wrote something"
    );
}

async fn dot_names_and_undecodable_paths_get_json_400s_without_writes(b: Backend) {
    let s = server(b).await;
    let run = seg(&s.flow_and_run("F").await);
    let task = seg(&s.step_and_task("F", &run, "s", None).await);
    let r = format!("/flows/F/runs/{run}");
    let md = r#"[{"field_name": "f", "value": "v", "type": "t", "tags": []}]"#;
    let cases = [
        ("POST", "/flows/.".to_string(), "{}"),
        ("POST", "/flows/..".to_string(), "{}"),
        ("GET", "/flows/..".to_string(), ""),
        ("POST", "/flows/../run".to_string(), "{}"),
        ("GET", "/flows/F/runs/.".to_string(), ""),
        ("POST", "/flows/F/runs/../steps/s/step".to_string(), "{}"),
        ("POST", format!("{r}/steps/./step"), "{}"),
        ("POST", format!("{r}/steps/../task"), "{}"),
        ("GET", format!("{r}/steps/s/tasks/.."), ""),
        ("POST", format!("{r}/steps/s/tasks/./metadata"), md),
        ("POST", format!("{r}/steps/s/tasks/../heartbeat"), "{}"),
    ];
    let before = snapshot(&s, &run, &task).await;
    for (method, target, body) in cases {
        let (status, content_type, v) = s.raw(method, &target, body).await;
        assert_eq!(status, 400, "{method} {target}: {v}");
        assert_eq!(content_type, "application/json", "{method} {target}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("HTTP clients drop"),
            "{method} {target}: {message:?}"
        );
    }
    for target in [
        "/flows/%FF",
        "/flows/F/runs/%C3%28",
        "/flows/F/runs?status=%FF",
    ] {
        let (status, content_type, v) = s.raw("GET", target, "").await;
        assert_eq!(content_type, "application/json", "{target}");
        assert!(v["message"].is_string(), "{target}: {v}");
        assert_eq!(status, 400, "{target}: {v}");
    }
    assert_eq!(
        snapshot(&s, &run, &task).await,
        before,
        "a bad request wrote something"
    );
}
