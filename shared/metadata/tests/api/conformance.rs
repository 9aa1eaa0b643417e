//! Contract §8 behaviours 1–22 (metaflow-service's own integration tests), observed over HTTP,
//! plus the wire quirks the client relies on (§1, §3, §5, §10).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, run_body, seg, server, task_body};

on_both_backends!(
    ping_and_admin,
    flows,
    runs_create_get_list,
    run_aliases,
    run_heartbeats,
    tag_mutation,
    steps,
    tasks,
    task_heartbeats,
    filtered_tasks,
    metadata,
    artifacts,
    run_status,
    server_sets_ts_epoch,
    api_key,
);

async fn ping_and_admin(b: Backend) {
    let s = server(b).await;
    let resp = s.http.get(format!("{}/ping", s.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["METADATA_SERVICE_VERSION"], "2.5.1");
    assert_eq!(resp.text().await.unwrap(), "pong");
    let (st, _, text) = s.call(Method::GET, "/version", None).await;
    assert_eq!((st, text.as_str()), (StatusCode::OK, "2.5.1"));
    let (st, v) = s.get("/healthcheck").await;
    assert_eq!(st, StatusCode::OK);
    let inner: Value = serde_json::from_str(v.as_str().expect("double-encoded")).unwrap();
    assert_eq!(inner["status"], "UP");
}

// §8.1, §8.2
async fn flows(b: Backend) {
    let s = server(b).await;
    let body = json!({"user_name": "alice", "tags": ["a"], "system_tags": ["user:alice"]});
    let (st, f) = s.post("/flows/F1", body.clone()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (f["flow_id"].clone(), f["user_name"].clone()),
        (json!("F1"), json!("alice"))
    );
    assert_eq!(
        (f["tags"].clone(), f["system_tags"].clone()),
        (json!(["a"]), json!(["user:alice"]))
    );
    assert!(
        f["ts_epoch"].as_i64().unwrap() > 1_600_000_000_000,
        "ms since the epoch"
    );
    assert_eq!(s.post("/flows/F1", body).await.0, StatusCode::CONFLICT);
    // The client's own body: no tags at all -> nulls.
    let (st, f2) = s
        .post("/flows/F2", json!({"flow_id": "F2", "ts_epoch": 5}))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (f2["tags"].clone(), f2["user_name"].clone()),
        (Value::Null, Value::Null)
    );
    let (st, got) = s.get("/flows/F1").await;
    assert_eq!((st, got), (StatusCode::OK, f));
    let (st, v, text) = s.call(Method::GET, "/flows/Nope", None).await;
    assert_eq!(
        (st, v, text.as_str()),
        (StatusCode::NOT_FOUND, json!({}), "{}")
    );
    let (_, all) = s.get("/flows").await;
    let mut ids: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flow_id"].clone())
        .collect();
    ids.sort_by_key(|v| v.to_string());
    assert_eq!(ids, vec![json!("F1"), json!("F2")]);
}

// §8.3, §8.4, §8.5, §8.7, §8.8
async fn runs_create_get_list(b: Backend) {
    let s = server(b).await;
    assert_eq!(
        s.post("/flows/Missing/run", run_body(None)).await.0,
        StatusCode::NOT_FOUND
    );
    s.post("/flows/F", json!({})).await;
    let (st, r1) = s.post("/flows/F/run", run_body(None)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(r1["user_name"], "alice");
    assert_eq!(r1["tags"], json!(["mytag"]));
    assert_eq!(r1["system_tags"], run_body(None)["system_tags"]);
    assert!(
        r1["last_heartbeat_ts"].is_i64(),
        "2.19.39 is heartbeat capable: {r1}"
    );
    assert!(r1.get("user").is_none(), "POST response has no user");
    let n1 = r1["run_number"].as_i64().expect("integer run number");
    assert!(n1 >= 1);
    let (st, got) = s.get(&format!("/flows/F/runs/{n1}")).await;
    assert_eq!(st, StatusCode::OK);
    for k in [
        "flow_id",
        "run_number",
        "user_name",
        "ts_epoch",
        "tags",
        "system_tags",
        "last_heartbeat_ts",
    ] {
        assert_eq!(got[k], r1[k], "{k}");
    }
    assert_eq!(got["user"], "alice");
    // No version tag, an old version -> no initial heartbeat; 2.2.12 -> one.
    for (tags, expect_hb) in [
        (json!([]), false),
        (json!(["metaflow_version:2.0.5"]), false),
        (json!(["metaflow_version:2.2.12"]), true),
    ] {
        let (st, r) = s
            .post(
                "/flows/F/run",
                json!({"user_name": "bob", "system_tags": tags}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(r["last_heartbeat_ts"].is_i64(), expect_hb, "{tags}");
        assert!(
            r["run_number"].as_i64().unwrap() > n1,
            "numbers grow and never repeat"
        );
    }
    let (st, runs) = s.get("/flows/F/runs").await;
    assert_eq!(st, StatusCode::OK);
    let mut nums: Vec<i64> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_number"].as_i64().unwrap())
        .collect();
    nums.sort();
    nums.dedup();
    assert_eq!(nums.len(), 4);
    assert_eq!(s.get("/flows/Nope/runs").await, (StatusCode::OK, json!([])));
    assert_eq!(
        s.get("/flows/F/runs/1234567").await,
        (StatusCode::NOT_FOUND, json!({}))
    );
    assert_eq!(
        s.get("/flows/Nope/runs/1").await,
        (StatusCode::NOT_FOUND, json!({}))
    );
}

// Alias rule (§1, §3.8): string ids exposed in place of numbers; both forms address the run.
async fn run_aliases(b: Backend) {
    let s = server(b).await;
    s.post("/flows/F", json!({})).await;
    let (st, r) = s.post("/flows/F/run", run_body(Some("argo-abc"))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(r["run_number"], "argo-abc");
    assert_eq!(
        s.post("/flows/F/run", run_body(Some("argo-abc"))).await.0,
        StatusCode::CONFLICT
    );
    let (st, got) = s.get("/flows/F/runs/argo-abc").await;
    assert_eq!(
        (st, got["run_number"].clone()),
        (StatusCode::OK, json!("argo-abc"))
    );
    // The internal number reaches the aliased run too.
    let (_, runs) = s.get("/flows/F/runs").await;
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let t = s
        .step_and_task("F", "argo-abc", "start", Some("t-start"))
        .await;
    assert_eq!(t, "t-start");
    let (st, task) = s
        .get("/flows/F/runs/argo-abc/steps/start/tasks/t-start")
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (task["run_number"].clone(), task["task_id"].clone()),
        (json!("argo-abc"), json!("t-start"))
    );
    let (_, again) = s
        .post(
            "/flows/F/runs/argo-abc/steps/start/task",
            json!({"task_id": "t-start"}),
        )
        .await;
    assert!(again.is_object());
    assert_eq!(
        s.post(
            "/flows/F/runs/argo-abc/steps/start/task",
            json!({"task_id": "t-start"})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    // Same task alias in another step is fine.
    assert_eq!(
        s.step_and_task("F", "argo-abc", "end", Some("t-start"))
            .await,
        "t-start"
    );
}

// §8.6, §5.1
async fn run_heartbeats(b: Backend) {
    let s = server(b).await;
    s.post("/flows/F", json!({})).await;
    let (_, r) = s.post("/flows/F/run", json!({"user_name": "u"})).await;
    assert_eq!(r["last_heartbeat_ts"], Value::Null);
    let n = seg(&r["run_number"]);
    // The client posts the raw text `{}` with no content type.
    let (st, v, text) = s
        .call(
            Method::POST,
            &format!("/flows/F/runs/{n}/heartbeat"),
            Some(json!("{}")),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(text, r#""{\"wait_time_in_seconds\": 10}""#);
    let inner: Value = serde_json::from_str(v.as_str().unwrap()).unwrap();
    assert_eq!(inner["wait_time_in_seconds"], 10);
    // A second beat right away is still a 200 (svc's 404 within 10 s is not kept).
    assert_eq!(
        s.post(&format!("/flows/F/runs/{n}/heartbeat"), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    let (_, got) = s.get(&format!("/flows/F/runs/{n}")).await;
    assert!(
        got["last_heartbeat_ts"].as_i64().unwrap() > 1_600_000_000,
        "seconds: {got}"
    );
    assert!(got["last_heartbeat_ts"].as_i64().unwrap() < 100_000_000_000);
    // Listings show it too (from the copy on the run item).
    let (_, runs) = s.get("/flows/F/runs").await;
    assert!(runs[0]["last_heartbeat_ts"].is_i64(), "{runs}");
    assert_eq!(
        s.post("/flows/Nope/runs/1/heartbeat", json!({})).await,
        (StatusCode::NOT_FOUND, json!({}))
    );
    assert_eq!(
        s.post("/flows/F/runs/1234/heartbeat", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
}

// §8.9, §6.3
async fn tag_mutation(b: Backend) {
    let s = server(b).await;
    let run = seg(&s.flow_and_run("F").await);
    let url = format!("/flows/F/runs/{run}/tag/mutate");
    let m = |add: Value, rm: Value| json!({"tags_to_add": add, "tags_to_remove": rm});
    for bad in [
        m(json!("x"), json!([])),
        m(json!([]), json!({"a": 1})),
        m(json!([1]), json!([])),
        m(json!([]), json!([null])),
    ] {
        let (st, v) = s.patch(&url, bad.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
        assert!(v["message"].as_str().unwrap().contains("tags_to_"), "{v}");
    }
    assert_eq!(
        s.patch(
            "/flows/F/runs/999999/tag/mutate",
            m(json!(["a"]), json!([]))
        )
        .await,
        (StatusCode::NOT_FOUND, json!({}))
    );
    let (st, v) = s.patch(&url, m(json!([]), json!(["user:alice"]))).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["message"].as_str().unwrap().contains("system tags"));
    let (_, r) = s.get(&format!("/flows/F/runs/{run}")).await;
    assert_eq!(r["tags"], json!(["mytag"]), "unchanged after 422");
    let (st, v) = s.patch(&url, m(json!(["runtime:dev"]), json!([]))).await;
    assert_eq!(
        (st, v),
        (StatusCode::OK, json!({"tags": ["mytag"]})),
        "adding a system tag is a no-op"
    );
    let (st, v) = s
        .patch(&url, m(json!(["extra", "刺身 means sashimi"]), json!([])))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["tags"], json!(["mytag", "extra", "刺身 means sashimi"]));
    // replace = remove then add
    let (_, v) = s.patch(&url, m(json!(["extra2"]), json!(["extra"]))).await;
    assert_eq!(v["tags"], json!(["mytag", "刺身 means sashimi", "extra2"]));
    // removal applies before addition: removing and adding the same tag keeps it
    let (_, v) = s.patch(&url, m(json!(["extra2"]), json!(["extra2"]))).await;
    assert!(v["tags"].as_array().unwrap().contains(&json!("extra2")));
    let (_, v) = s
        .patch(&url, m(json!([]), json!(["extra2", "刺身 means sashimi"])))
        .await;
    assert_eq!(v["tags"], json!(["mytag"]));
    // Children show the run's current tags.
    s.step_and_task("F", &run, "start", None).await;
    s.patch(&url, m(json!(["later"]), json!([]))).await;
    let (_, step) = s.get(&format!("/flows/F/runs/{run}/steps/start")).await;
    assert_eq!(step["tags"], json!(["mytag", "later"]));
    let (_, tasks) = s
        .get(&format!("/flows/F/runs/{run}/steps/start/tasks"))
        .await;
    assert_eq!(tasks[0]["tags"], json!(["mytag", "later"]));
}

// §8.11, §8.12
async fn steps(b: Backend) {
    let s = server(b).await;
    let run = seg(&s.flow_and_run("F").await);
    let url = format!("/flows/F/runs/{run}/steps/start/step");
    let body =
        json!({"user_name": "alice", "tags": ["payload-tag"], "system_tags": ["payload-sys"]});
    let (st, step) = s.post(&url, body.clone()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(step["step_name"], "start");
    assert_eq!(
        step["tags"],
        json!(["mytag"]),
        "the run's tags, not the payload's"
    );
    assert_eq!(step["system_tags"], run_body(None)["system_tags"]);
    assert_eq!(s.post(&url, body.clone()).await.0, StatusCode::CONFLICT);
    // svc answers 500 here; we answer 404 with a message.
    let (st, v) = s
        .post("/flows/F/runs/999999/steps/start/step", body.clone())
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(v["message"].as_str().unwrap().contains("does not exist"));
    assert_eq!(
        s.post("/flows/Nope/runs/1/steps/start/step", body).await.0,
        StatusCode::NOT_FOUND
    );
    let (st, got) = s.get(&format!("/flows/F/runs/{run}/steps/start")).await;
    assert_eq!((st, got), (StatusCode::OK, step.clone()));
    let (_, list) = s.get(&format!("/flows/F/runs/{run}/steps")).await;
    assert_eq!(list, json!([step]));
    assert_eq!(
        s.get("/flows/F/runs/999999/steps").await,
        (StatusCode::OK, json!([]))
    );
    assert_eq!(
        s.get(&format!("/flows/F/runs/{run}/steps/nope")).await,
        (StatusCode::NOT_FOUND, json!({}))
    );
}

// §8.13, §8.14, §8.16, §8.17
async fn tasks(b: Backend) {
    let s = server(b).await;
    s.post("/flows/F", json!({})).await;
    // A run created without a version tag: no heartbeat until a capable task arrives.
    let (_, r) = s
        .post(
            "/flows/F/run",
            json!({"user_name": "alice", "tags": ["rt"]}),
        )
        .await;
    let run = seg(&r["run_number"]);
    assert_eq!(
        s.get(&format!("/flows/F/runs/{run}")).await.1["last_heartbeat_ts"],
        Value::Null
    );
    let (st, _) = s
        .post(
            &format!("/flows/F/runs/{run}/steps/nostep/task"),
            task_body(),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "the step must exist");
    assert_eq!(
        s.post("/flows/F/runs/999999/steps/s/task", task_body())
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.post("/flows/Nope/runs/1/steps/s/task", task_body())
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    s.post(&format!("/flows/F/runs/{run}/steps/s/step"), json!({}))
        .await;
    let (st, t) = s
        .post(&format!("/flows/F/runs/{run}/steps/s/task"), task_body())
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(t["tags"], json!(["rt"]), "run's tags");
    assert!(t["last_heartbeat_ts"].is_i64());
    let id = t["task_id"].as_i64().expect("integer task id");
    assert!(
        s.get(&format!("/flows/F/runs/{run}")).await.1["last_heartbeat_ts"].is_i64(),
        "task refreshed its run"
    );
    let (_, t2) = s
        .post(
            &format!("/flows/F/runs/{run}/steps/s/task"),
            json!({"user_name": "x"}),
        )
        .await;
    assert_eq!(t2["last_heartbeat_ts"], Value::Null);
    assert_ne!(t2["task_id"], t["task_id"]);
    let (st, got) = s
        .get(&format!("/flows/F/runs/{run}/steps/s/tasks/{id}"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["task_id"], id);
    assert_eq!(got["step_name"], "s");
    let (_, list) = s.get(&format!("/flows/F/runs/{run}/steps/s/tasks")).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|t| t["tags"] == json!(["rt"]))
    );
    for p in [
        "/flows/Nope/runs/1/steps/s/tasks",
        "/flows/F/runs/999999/steps/s/tasks",
    ] {
        assert_eq!(s.get(p).await, (StatusCode::OK, json!([])), "{p}");
    }
    assert_eq!(
        s.get(&format!("/flows/F/runs/{run}/steps/zz/tasks")).await,
        (StatusCode::OK, json!([]))
    );
    assert_eq!(
        s.get(&format!("/flows/F/runs/{run}/steps/s/tasks/999999999"))
            .await,
        (StatusCode::NOT_FOUND, json!({}))
    );
    assert_eq!(
        s.get(&format!("/flows/F/runs/{run}/steps/s/tasks/nope"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

// §8.15
async fn task_heartbeats(b: Backend) {
    let s = server(b).await;
    let run = seg(&s.flow_and_run("F").await);
    let t = seg(&s.step_and_task("F", &run, "s", None).await);
    let (st, v) = s
        .post(
            &format!("/flows/F/runs/{run}/steps/s/tasks/{t}/heartbeat"),
            json!("{}"),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v, json!("{\"wait_time_in_seconds\": 10}"));
    for p in [
        "/flows/Nope/runs/1/steps/s/tasks/1/heartbeat".to_string(),
        format!("/flows/F/runs/999999/steps/s/tasks/{t}/heartbeat"),
        format!("/flows/F/runs/{run}/steps/zz/tasks/{t}/heartbeat"),
        format!("/flows/F/runs/{run}/steps/s/tasks/999999999/heartbeat"),
    ] {
        assert_eq!(s.post(&p, json!({})).await.0, StatusCode::NOT_FOUND, "{p}");
    }
}

fn md(field: &str, value: &str, attempt: u32) -> Value {
    json!({"flow_id": "F", "run_number": "1", "step_name": "s", "task_id": 7, "field_name": field,
           "type": field, "value": value, "tags": [format!("attempt_id:{attempt}")], "user_name": "alice", "ts_epoch": 1})
}

// §8.18
async fn filtered_tasks(b: Backend) {
    let s = server(b).await;
    let run = seg(&s.flow_and_run("F").await);
    let t1 = seg(&s.step_and_task("F", &run, "s", None).await);
    let t2 = seg(&s.step_and_task("F", &run, "s", Some("first-task-1")).await);
    let t3 = seg(&s.step_and_task("F", &run, "s", None).await);
    let mdurl = |t: &str| format!("/flows/F/runs/{run}/steps/s/tasks/{t}/metadata");
    s.post(
        &mdurl(&t1),
        json!([md("foreach-indices", "[0]", 0), md("attempt", "0", 0)]),
    )
    .await;
    s.post(&mdurl(&t2), json!([md("foreach-indices", "[1]", 0)]))
        .await;
    let url = format!("/flows/F/runs/{run}/steps/s/filtered_tasks");
    let p = |t: &str| format!("F/{run}/s/{t}");
    let (st, all) = s.get(&url).await;
    assert_eq!(st, StatusCode::OK);
    let mut all: Vec<String> = serde_json::from_value(all).unwrap();
    all.sort();
    let mut want = vec![p(&t1), p("first-task-1")];
    want.sort();
    assert_eq!(all, want, "every task with metadata, not {t3}");
    let (_, by_field) = s.get(&format!("{url}?metadata_field_name=attempt")).await;
    assert_eq!(by_field, json!([p(&t1)]));
    let (_, both) = s
        .get(&format!(
            "{url}?metadata_field_name=foreach-indices&pattern=%5E%28%3F%3A%5C%5B1%5C%5D%29%24"
        ))
        .await;
    assert_eq!(both, json!([p("first-task-1")]));
    let (_, by_pattern) = s.get(&format!("{url}?pattern=%5C%5B")).await;
    assert_eq!(by_pattern.as_array().unwrap().len(), 2);
    let (st, v) = s.get(&format!("{url}?pattern=%28")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(t2, "first-task-1");
}

// §8.19, §8.20
async fn metadata(b: Backend) {
    let s = server(b).await;
    let run = seg(&s.flow_and_run("F").await);
    let t = seg(&s.step_and_task("F", &run, "s", None).await);
    let url = format!("/flows/F/runs/{run}/steps/s/tasks/{t}/metadata");
    let rows = json!([md("attempt", "0", 0), md("code-package", "{\"a\": 1}", 0)]);
    assert_eq!(
        s.post(&url, rows.clone()).await,
        (StatusCode::OK, json!({"metadata_created": 2}))
    );
    assert_eq!(
        s.post(&url, rows.clone()).await,
        (StatusCode::OK, json!({"metadata_created": 2}))
    );
    s.post(&url, json!([md("attempt", "1", 1)])).await;
    let (st, list) = s.get(&url).await;
    assert_eq!(st, StatusCode::OK);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 5);
    // Newest first, each row with its own tags.
    assert_eq!(
        (list[0]["value"].clone(), list[0]["tags"].clone()),
        (json!("1"), json!(["attempt_id:1"]))
    );
    assert!(
        list.windows(2)
            .all(|w| (w[0]["ts_epoch"].as_i64(), w[0]["id"].as_i64())
                > (w[1]["ts_epoch"].as_i64(), w[1]["id"].as_i64()))
    );
    assert_eq!(list[0]["task_id"].to_string(), t);
    assert_eq!(list[0]["system_tags"], Value::Null);
    let (_, by_run) = s.get(&format!("/flows/F/runs/{run}/metadata")).await;
    assert_eq!(by_run.as_array().unwrap().len(), 5);
    let unregistered = json!({"message": "need to register run_id and task_id first"});
    for p in [
        format!("/flows/Nope/runs/{run}/steps/s/tasks/{t}/metadata"),
        format!("/flows/F/runs/999999/steps/s/tasks/{t}/metadata"),
        format!("/flows/F/runs/{run}/steps/zz/tasks/{t}/metadata"),
        format!("/flows/F/runs/{run}/steps/s/tasks/999999999/metadata"),
    ] {
        assert_eq!(
            s.post(&p, rows.clone()).await,
            (StatusCode::BAD_REQUEST, unregistered.clone()),
            "{p}"
        );
        assert_eq!(s.get(&p).await, (StatusCode::OK, json!([])), "{p}");
    }
    assert_eq!(
        s.get("/flows/F/runs/999999/metadata").await,
        (StatusCode::OK, json!([]))
    );
    // A value is always stored and read back as a string (svc's `value TEXT` column): the
    // client posts `foreach-stack` as a list of strings and `parallel-world-size` as a number,
    // which svc's Postgres stores as their text (a text array as `{…}`, quoted where needed).
    let posted = [
        (json!(["i=0", "j=1"]), "{i=0,j=1}"),
        (
            json!(["a b", "", "q\"x", "NULL", "c,d", "back\\slash", "é"]),
            r#"{"a b","","q\"x","NULL","c,d","back\\slash",é}"#,
        ),
        (json!([]), "{}"),
        (json!(4), "4"),
        (json!(-2.5), "-2.5"),
        (json!(true), "true"),
        (json!(false), "false"),
        (json!("True"), "True"),
    ];
    let rows: Vec<Value> = posted
        .iter()
        .enumerate()
        .map(|(i, (v, _))| json!({"field_name": format!("v{i}"), "type": "t", "value": v, "tags": []}))
        .collect();
    assert_eq!(
        s.post(&url, Value::Array(rows)).await.1,
        json!({"metadata_created": posted.len()})
    );
    let (_, list) = s.get(&url).await;
    for (i, (sent, stored)) in posted.iter().enumerate() {
        let row = list
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["field_name"] == format!("v{i}"))
            .unwrap_or_else(|| panic!("no row v{i} in {list}"));
        assert_eq!(row["value"], json!(stored), "{sent}");
    }
    // filtered_tasks matches the same text.
    let (st, found) = s
        .get(&format!(
            "/flows/F/runs/{run}/steps/s/filtered_tasks?metadata_field_name=v0&pattern=%5E%5C%7Bi%3D0%2C"
        ))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(found, json!([format!("F/{run}/s/{t}")]));
}

fn art(name: &str, attempt: u32) -> Value {
    json!({"flow_id": "F", "run_number": "1", "step_name": "s", "task_id": "7", "attempt_id": attempt,
           "name": name, "content_type": "pickle-v4", "type": "metaflow.artifact",
           "sha": format!("sha-{name}-{attempt}"), "ds_type": "local", "location": ":root:/tmp/ds",
           "user_name": "alice", "tags": ["x"], "system_tags": ["y"], "ts_epoch": 1})
}

// §8.21, §8.22, §3.7 attempt rules
async fn artifacts(b: Backend) {
    let s = server(b).await;
    let run = seg(&s.flow_and_run("F").await);
    let t = seg(&s.step_and_task("F", &run, "s", None).await);
    let base = format!("/flows/F/runs/{run}/steps/s/tasks/{t}");
    let url = format!("{base}/artifact");
    let two = json!([art("name", 0), art("x", 0)]);
    assert_eq!(
        s.post(&url, two.clone()).await,
        (StatusCode::OK, json!({"artifacts_created": 2}))
    );
    assert_eq!(
        s.post(&url, two).await,
        (StatusCode::OK, json!({"artifacts_created": 0}))
    );
    assert_eq!(
        s.post(&url, json!([art("name", 1)])).await,
        (StatusCode::OK, json!({"artifacts_created": 1}))
    );
    s.post(&url, json!([art("y", 1)])).await;
    // Latest attempt only in the list.
    let (_, list) = s.get(&format!("{base}/artifacts")).await;
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["name", "y"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|a| a["attempt_id"] == 1 && a["tags"] == json!(["mytag"]))
    );
    // By name: the attempt of the latest `name` artifact (1); `x` only exists at attempt 0.
    let (st, y) = s.get(&format!("{base}/artifacts/y")).await;
    assert_eq!((st, y["sha"].clone()), (StatusCode::OK, json!("sha-y-1")));
    assert_eq!(
        y["system_tags"],
        run_body(None)["system_tags"],
        "run's tags"
    );
    assert_eq!(y["ds_type"], "local");
    assert_eq!(y["content_type"], "pickle-v4");
    assert_eq!(
        s.get(&format!("{base}/artifacts/x")).await,
        (StatusCode::NOT_FOUND, json!({}))
    );
    let (st, x0) = s.get(&format!("{base}/artifacts/x/attempt/0")).await;
    assert_eq!((st, x0["sha"].clone()), (StatusCode::OK, json!("sha-x-0")));
    let (_, a0) = s.get(&format!("{base}/attempt/0/artifacts")).await;
    assert_eq!(a0.as_array().unwrap().len(), 2);
    assert_eq!(
        s.get(&format!("{base}/attempt/7/artifacts")).await,
        (StatusCode::OK, json!([]))
    );
    let (_, by_step) = s
        .get(&format!("/flows/F/runs/{run}/steps/s/artifacts"))
        .await;
    assert_eq!(by_step.as_array().unwrap().len(), 2);
    let (_, by_run) = s.get(&format!("/flows/F/runs/{run}/artifacts")).await;
    assert_eq!(by_run.as_array().unwrap().len(), 2);
    // Missing fields are stored as " ".
    s.post(&url, json!([{"name": "bare"}])).await;
    let (_, bare) = s.get(&format!("{base}/artifacts/bare/attempt/0")).await;
    assert_eq!(bare["sha"], " ");
    let unregistered = json!({"message": "need to register run_id and task_id first"});
    for p in [
        format!("/flows/Nope/runs/{run}/steps/s/tasks/{t}"),
        format!("/flows/F/runs/999999/steps/s/tasks/{t}"),
        format!("/flows/F/runs/{run}/steps/zz/tasks/{t}"),
        format!("/flows/F/runs/{run}/steps/s/tasks/999999999"),
    ] {
        assert_eq!(
            s.post(&format!("{p}/artifact"), json!([art("a", 0)])).await,
            (StatusCode::BAD_REQUEST, unregistered.clone())
        );
        assert_eq!(
            s.get(&format!("{p}/artifacts")).await,
            (StatusCode::OK, json!([]))
        );
        assert_eq!(
            s.get(&format!("{p}/artifacts/name")).await,
            (StatusCode::NOT_FOUND, json!({}))
        );
    }
    assert_eq!(
        s.get(&format!("{base}/artifacts/nope")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/flows/F/runs/999999/steps/s/artifacts").await,
        (StatusCode::OK, json!([]))
    );
    assert_eq!(
        s.get("/flows/F/runs/999999/artifacts").await,
        (StatusCode::OK, json!([]))
    );
}

// Derived status from the end step's attempt/attempt_ok, and the `status` filter.
async fn run_status(b: Backend) {
    let s = server(b).await;
    let run = seg(&s.flow_and_run("F").await);
    let (_, r) = s.get(&format!("/flows/F/runs/{run}")).await;
    assert_eq!(r["status"], "running");
    let t = seg(&s.step_and_task("F", &run, "end", None).await);
    let url = format!("/flows/F/runs/{run}/steps/end/tasks/{t}/metadata");
    let status = || async { s.get(&format!("/flows/F/runs/{run}")).await.1["status"].clone() };
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(5));
    s.post(&url, json!([md("attempt", "0", 0)])).await;
    assert_eq!(status().await, "running");
    pause().await;
    s.post(&url, json!([md("attempt_ok", "False", 0)])).await;
    assert_eq!(status().await, "failed", "the end step failed");
    pause().await;
    s.post(&url, json!([md("attempt", "1", 1)])).await;
    assert_eq!(status().await, "running", "the end step is being retried");
    pause().await;
    s.post(&url, json!([md("attempt_ok", "True", 1)])).await;
    assert_eq!(
        s.get(&format!("/flows/F/runs/{run}")).await.1["status"],
        "completed"
    );
    let other = seg(&s.flow_and_run("F").await);
    let (_, done) = s.get("/flows/F/runs?status=completed").await;
    assert_eq!(
        done.as_array()
            .unwrap()
            .iter()
            .map(|r| seg(&r["run_number"]))
            .collect::<Vec<_>>(),
        vec![run.clone()]
    );
    let (_, running) = s.get("/flows/F/runs?status:eq=running,failed").await;
    assert_eq!(
        running
            .as_array()
            .unwrap()
            .iter()
            .map(|r| seg(&r["run_number"]))
            .collect::<Vec<_>>(),
        vec![other]
    );
    let (_, not_done) = s.get("/flows/F/runs?status:ne=completed").await;
    assert_eq!(not_done.as_array().unwrap().len(), 1);
    assert_eq!(
        s.get("/flows/F/runs?status=bogus").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.get("/flows/F/runs?status:gt=running").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.get("/flows/F/runs?unknown_field=1")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

// ts_epoch comes from the server, in ms, whatever the client sends.
async fn server_sets_ts_epoch(b: Backend) {
    let s = server(b).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let run = seg(&s.flow_and_run("F").await);
    let (_, r) = s.get(&format!("/flows/F/runs/{run}")).await;
    let ts = r["ts_epoch"].as_i64().unwrap();
    assert!(
        ts >= before - 1000 && ts < before + 60_000,
        "{ts} vs {before}"
    );
}

// Optional API key: 401 without the header, 403 with a wrong one, the header named in the body.
async fn api_key(b: Backend) {
    let table = crate::support::table(b).await;
    let s = crate::support::server_with(table, Some("s3cret")).await;
    let (st, v) = s.get("/ping").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(v["message"].as_str().unwrap().contains("x-api-key"));
    let resp = s
        .http
        .get(format!("{}/flows", s.base))
        .header("x-api-key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("x-api-key"));
    let resp = s
        .http
        .post(format!("{}/flows/F", s.base))
        .header("x-api-key", "s3cret")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = s
        .http
        .get(format!("{}/ping", s.base))
        .header("x-api-key", "s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
