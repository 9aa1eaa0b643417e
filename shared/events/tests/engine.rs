//! The engine's rules, each once, run on every table adapter: SQLite always, DynamoDB on the
//! moto server. Each case uses deployment names of its own, so cases can share a table.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ferry_compile::triggers::TriggerSpec;
use ferry_events::{
    Engine, EngineSettings, Event, Outcome, Receipt, RunSucceeded, StartDecision, Subscription,
};
use ferry_store::{SqliteTable, Table};
use serde_json::{Value, json};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap()
}

fn unique(prefix: &str) -> String {
    ferry_testkit::unique(prefix).replace('-', "_")
}

fn sub(deployment: &str, trigger: Value) -> Subscription {
    Subscription {
        deployment: deployment.to_string(),
        trigger: serde_json::from_value::<TriggerSpec>(trigger).expect("a trigger spec"),
    }
}

/// `@trigger(event={'name': 'data_ready', 'parameters': {'day': 'date'}})` with `day` required
/// and an optional int `count`.
fn data_ready(deployment: &str) -> Subscription {
    sub(
        deployment,
        json!({"kind": "event", "events": [{"name": "data_ready", "parameters": [
            {"parameter": "day", "field": "date", "type": "str", "required": true},
            {"parameter": "count", "field": "count", "type": "int"}
        ]}]}),
    )
}

/// `@trigger(events=['table_loaded', {'name': 'model_ready', 'parameters': {'version': ...}}])`.
fn two_events(deployment: &str, reset_at: Option<&str>) -> Subscription {
    let mut t = json!({"kind": "event", "events": [
        {"name": "table_loaded", "parameters": [
            {"parameter": "table", "field": "table", "type": "str"}
        ]},
        {"name": "model_ready", "parameters": [
            {"parameter": "version", "field": "model_version", "type": "int"}
        ]}
    ]});
    if let Some(cron) = reset_at {
        t["reset_at"] = json!({"cron": cron});
    }
    sub(deployment, t)
}

fn publish(name: &str, id: &str, fields: Value) -> Event {
    let mut payload = fields;
    payload["id"] = json!(id);
    payload["timestamp"] = json!(1_764_547_200);
    let body = json!({"name": name, "payload": payload});
    Event::from_publish_body(body.to_string().as_bytes(), t0()).unwrap()
}

fn only(receipt: &Receipt) -> &Outcome {
    assert_eq!(receipt.deployments.len(), 1, "{receipt:#?}");
    &receipt.deployments[0].outcome
}

fn started(receipt: &Receipt) -> &StartDecision {
    match only(receipt) {
        Outcome::Start { start } => start,
        other => panic!("expected a start, got {other:#?}"),
    }
}

/// The `Parameters` object of a start's input.
fn parameters_of(start: &StartDecision) -> Value {
    let input: Value = serde_json::from_str(&start.input).unwrap();
    serde_json::from_str(input["Parameters"].as_str().unwrap()).unwrap()
}

// ---- the suite -------------------------------------------------------------------------------

async fn suite(table: Arc<dyn Table>) {
    one_event_starts_a_run_with_the_mapped_parameter(&table).await;
    the_same_event_id_twice_starts_one_run(&table).await;
    concurrent_redeliveries_start_one_run(&table).await;
    wrong_types_and_missing_required_fields_start_nothing(&table).await;
    an_event_nothing_waits_for_is_logged(&table).await;
    one_event_starts_every_deployment_waiting_for_it(&table).await;
    two_events_start_a_run_only_after_both_and_are_consumed(&table).await;
    the_latest_event_of_a_name_is_the_one_used(&table).await;
    concurrent_events_of_a_pair_start_one_run(&table).await;
    reset_at_forgets_waiting_events(&table).await;
    waiting_events_expire_and_a_changed_trigger_drops_them(&table).await;
    upstream_success_starts_the_downstream_of_the_same_branch(&table).await;
    a_deleted_deployment_starts_nothing(&table).await;
    an_expired_delivery_record_is_a_new_delivery_of_the_same_run(&table).await;
    the_log_lists_recent_events_newest_first(&table).await;
}

async fn one_event_starts_a_run_with_the_mapped_parameter(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let dep = unique("DataReadyFlow");
    let event = publish("data_ready", "e-1", json!({"date": "2026-12-01"}));
    let receipt = engine
        .receive(&event, &[data_ready(&dep)], t0())
        .await
        .unwrap();
    let start = started(&receipt);
    assert_eq!(start.deployment, dep);
    assert_eq!(
        parameters_of(start),
        json!({
            "day": "2026-12-01",
            "ferry.triggers": [{"timestamp": 1_764_547_200, "id": "e-1", "name": "data_ready", "type": "event"}]
        }),
        "count keeps its default: the payload has no count"
    );
    assert_eq!(receipt.starts(), [start]);
}

async fn the_same_event_id_twice_starts_one_run(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let dep = unique("DataReadyFlow");
    let s = [data_ready(&dep)];
    let event = publish("data_ready", "e-dup", json!({"date": "d"}));
    let first = engine.receive(&event, &s, t0()).await.unwrap();
    let name = started(&first).execution_name.clone();
    let again = engine
        .receive(&event, &s, t0() + Duration::seconds(5))
        .await
        .unwrap();
    match only(&again) {
        Outcome::Duplicate { first, start } => {
            assert_eq!(first, "started");
            // The replayed start names the same execution: starting it again starts nothing new.
            assert_eq!(start.as_ref().unwrap().execution_name, name);
        }
        other => panic!("{other:#?}"),
    }
    // A different id is a different event.
    let other = engine
        .receive(
            &publish("data_ready", "e-dup-2", json!({"date": "d"})),
            &s,
            t0(),
        )
        .await
        .unwrap();
    assert_ne!(started(&other).execution_name, name);
}

async fn concurrent_redeliveries_start_one_run(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let dep = unique("DataReadyFlow");
    let s = vec![data_ready(&dep)];
    let event = publish("data_ready", "e-race", json!({"date": "d"}));
    let receipts =
        futures::future::join_all((0..8).map(|_| engine.receive(&event, &s, t0()))).await;
    let kinds: Vec<&str> = receipts
        .iter()
        .map(|r| only(r.as_ref().unwrap()).kind())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "started").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "duplicate").count(),
        7,
        "{kinds:?}"
    );
}

async fn wrong_types_and_missing_required_fields_start_nothing(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let dep = unique("DataReadyFlow");
    let s = [data_ready(&dep)];
    let wrong = publish(
        "data_ready",
        "e-wrong",
        json!({"date": "d", "count": "many"}),
    );
    let r = engine.receive(&wrong, &s, t0()).await.unwrap();
    assert_eq!(
        only(&r),
        &Outcome::Refused {
            reason: "the payload field \"count\" cannot set the int parameter count: \"many\" is not an integer".into()
        }
    );
    assert!(r.starts().is_empty());
    // A refusal uses nothing up: its redelivery is refused again, for the same reason...
    let again = engine.receive(&wrong, &s, t0()).await.unwrap();
    assert!(
        matches!(only(&again), Outcome::Refused { reason } if reason.contains("\"many\" is not an integer")),
        "{again:#?}"
    );
    // ...and the publisher's corrected payload under the same id starts the run, once.
    let fixed = publish("data_ready", "e-wrong", json!({"date": "d", "count": 4}));
    let r = engine.receive(&fixed, &s, t0()).await.unwrap();
    assert_eq!(parameters_of(started(&r))["count"], json!(4));
    let r = engine.receive(&fixed, &s, t0()).await.unwrap();
    assert!(
        matches!(only(&r), Outcome::Duplicate { first, start: Some(_) } if first == "started"),
        "{r:#?}"
    );
    let missing = publish("data_ready", "e-missing", json!({"count": 3}));
    let r = engine.receive(&missing, &s, t0()).await.unwrap();
    assert!(
        matches!(only(&r), Outcome::Refused { reason } if reason.contains("no field \"date\" for the required parameter day")),
        "{r:#?}"
    );
    // A string holding an integer is an integer, as it is for a Metaflow flow on Argo.
    let fine = publish("data_ready", "e-fine", json!({"date": "d", "count": "3"}));
    let r = engine.receive(&fine, &s, t0()).await.unwrap();
    assert_eq!(parameters_of(started(&r))["count"], json!(3));
}

async fn an_event_nothing_waits_for_is_logged(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let dep = unique("DataReadyFlow");
    let r = engine
        .receive(
            &publish("unheard_of", "e-x", json!({})),
            &[data_ready(&dep)],
            t0(),
        )
        .await
        .unwrap();
    assert!(r.deployments.is_empty());
}

async fn one_event_starts_every_deployment_waiting_for_it(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let (a, b) = (unique("FirstFlow"), unique("SecondFlow"));
    let event = publish("data_ready", "e-both", json!({"date": "d"}));
    let r = engine
        .receive(&event, &[data_ready(&a), data_ready(&b)], t0())
        .await
        .unwrap();
    let starts = r.starts();
    assert_eq!(starts.len(), 2);
    assert_eq!(
        (starts[0].deployment.as_str(), starts[1].deployment.as_str()),
        (a.as_str(), b.as_str())
    );
    assert_ne!(starts[0].execution_name, starts[1].execution_name);
}

async fn two_events_start_a_run_only_after_both_and_are_consumed(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let dep = unique("JoinFlow");
    let s = [two_events(&dep, None)];
    let table_loaded = publish("table_loaded", "t-1", json!({"table": "sales"}));
    let r = engine.receive(&table_loaded, &s, t0()).await.unwrap();
    assert_eq!(
        only(&r),
        &Outcome::Waiting {
            missing: vec!["model_ready".into()]
        }
    );
    let model = publish("model_ready", "m-1", json!({"model_version": 7}));
    let r = engine
        .receive(&model, &s, t0() + Duration::minutes(3))
        .await
        .unwrap();
    let start = started(&r);
    let params = parameters_of(start);
    assert_eq!(
        (params["table"].clone(), params["version"].clone()),
        (json!("sales"), json!(7))
    );
    let ids: Vec<&str> = start.triggers.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t-1", "m-1"]);
    // Consumed: the next run needs both again.
    let r = engine
        .receive(
            &publish("model_ready", "m-2", json!({})),
            &s,
            t0() + Duration::minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(
        only(&r),
        &Outcome::Waiting {
            missing: vec!["table_loaded".into()]
        }
    );
    // A redelivery of the consumed event adds nothing.
    let r = engine
        .receive(&table_loaded, &s, t0() + Duration::minutes(6))
        .await
        .unwrap();
    assert!(matches!(only(&r), Outcome::Duplicate { first, start: None } if first == "waiting"));
    let r = engine
        .receive(
            &publish("table_loaded", "t-2", json!({})),
            &s,
            t0() + Duration::minutes(7),
        )
        .await
        .unwrap();
    assert_eq!(started(&r).triggers[1].id, "m-2");
}

async fn the_latest_event_of_a_name_is_the_one_used(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let dep = unique("JoinFlow");
    let s = [two_events(&dep, None)];
    for (id, t) in [("t-a", "first"), ("t-b", "second")] {
        engine
            .receive(&publish("table_loaded", id, json!({"table": t})), &s, t0())
            .await
            .unwrap();
    }
    let r = engine
        .receive(&publish("model_ready", "m", json!({})), &s, t0())
        .await
        .unwrap();
    let start = started(&r);
    assert_eq!(parameters_of(start)["table"], "second");
    assert_eq!(start.triggers[0].id, "t-b");
}

async fn concurrent_events_of_a_pair_start_one_run(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let dep = unique("JoinFlow");
    let s = vec![two_events(&dep, None)];
    for round in 0..4 {
        let a = publish("table_loaded", &format!("t-{round}"), json!({}));
        let b = publish("model_ready", &format!("m-{round}"), json!({}));
        let (ra, rb) = futures::join!(engine.receive(&a, &s, t0()), engine.receive(&b, &s, t0()));
        let kinds = [only(&ra.unwrap()).kind(), only(&rb.unwrap()).kind()];
        let mut sorted = kinds;
        sorted.sort();
        assert_eq!(sorted, ["started", "waiting"], "round {round}: {kinds:?}");
    }
}

async fn reset_at_forgets_waiting_events(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let dep = unique("JoinFlow");
    // Reset every day at midnight UTC.
    let s = [two_events(&dep, Some("0 0 * * *"))];
    engine
        .receive(&publish("table_loaded", "t", json!({})), &s, t0())
        .await
        .unwrap();
    // The next day, after midnight: the table_loaded of yesterday is forgotten.
    let r = engine
        .receive(
            &publish("model_ready", "m", json!({})),
            &s,
            t0() + Duration::hours(20),
        )
        .await
        .unwrap();
    assert_eq!(
        only(&r),
        &Outcome::Waiting {
            missing: vec!["table_loaded".into()]
        }
    );
    // Both on the same day: it runs.
    let r = engine
        .receive(
            &publish("table_loaded", "t2", json!({})),
            &s,
            t0() + Duration::hours(21),
        )
        .await
        .unwrap();
    assert_eq!(only(&r).kind(), "started");
}

async fn waiting_events_expire_and_a_changed_trigger_drops_them(table: &Arc<dyn Table>) {
    let settings = EngineSettings {
        pending_ttl_secs: 3600,
        ..EngineSettings::default()
    };
    let engine = Engine::with_settings(table.clone(), settings);
    let dep = unique("JoinFlow");
    let s = [two_events(&dep, None)];
    engine
        .receive(&publish("table_loaded", "t", json!({})), &s, t0())
        .await
        .unwrap();
    let r = engine
        .receive(
            &publish("model_ready", "m", json!({})),
            &s,
            t0() + Duration::hours(2),
        )
        .await
        .unwrap();
    assert_eq!(
        only(&r).kind(),
        "waiting",
        "table_loaded waited more than an hour"
    );
    // A redeploy that changes the trigger (a new mapping) forgets what the old one kept.
    let mut changed = two_events(&dep, None);
    changed.trigger.events[0].parameters.clear();
    let r = engine
        .receive(
            &publish("table_loaded", "t2", json!({})),
            &[changed],
            t0() + Duration::hours(2),
        )
        .await
        .unwrap();
    assert_eq!(
        only(&r),
        &Outcome::Waiting {
            missing: vec!["model_ready".into()]
        }
    );
}

async fn upstream_success_starts_the_downstream_of_the_same_branch(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let prod = unique("ReportFlow");
    let test = unique("ReportFlow");
    let downstream = |dep: &str, branch: &str| {
        sub(
            dep,
            json!({"kind": "run", "events": [{
                "name": format!("metaflow.lake.{branch}.IngestFlow.end"),
                "upstream": {"flow": "IngestFlow", "project": "lake", "branch": branch,
                             "deployment": format!("lake.{branch}.IngestFlow")}
            }]}),
        )
    };
    let subs = [downstream(&prod, "prod"), downstream(&test, "test.exp")];
    let run = RunSucceeded {
        flow: "IngestFlow".into(),
        run_id: "sfn-up-1".into(),
        end_task_id: Some("t-42".into()),
        project: Some("lake".into()),
        branch: Some("prod".into()),
        finished_at: t0(),
    };
    let r = engine
        .receive(&Event::run_succeeded(&run), &subs, t0())
        .await
        .unwrap();
    // Only the deployment of the same branch starts.
    let start = started(&r);
    assert_eq!(start.deployment, prod);
    assert_eq!(
        parameters_of(start)["ferry.triggers"],
        json!([{
            "timestamp": t0().timestamp(),
            "id": "IngestFlow/sfn-up-1/end/t-42",
            "name": "metaflow.lake.prod.IngestFlow.end",
            "type": "run"
        }])
    );
    // A publisher cannot pose as the upstream.
    let forged = publish(
        "metaflow.lake.prod.IngestFlow.end",
        "forged",
        json!({"project_name": "lake", "branch_name": "prod", "flow_name": "IngestFlow"}),
    );
    assert!(
        engine
            .receive(&forged, &subs, t0())
            .await
            .unwrap()
            .deployments
            .is_empty()
    );
}

async fn a_deleted_deployment_starts_nothing(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let gone = unique("GoneFlow");
    let r = engine
        .receive_for(
            &publish("data_ready", "e", json!({"date": "d"})),
            &gone,
            None,
            t0(),
        )
        .await
        .unwrap();
    assert!(
        matches!(only(&r), Outcome::NoDeployment { reason } if reason.contains("does not exist any more")),
        "{r:#?}"
    );
    assert!(r.starts().is_empty());
    // The same call with its subscription starts it.
    let r = engine
        .receive_for(
            &publish("data_ready", "e", json!({"date": "d"})),
            &gone,
            Some(&data_ready(&gone)),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(only(&r).kind(), "started");
}

async fn an_expired_delivery_record_is_a_new_delivery_of_the_same_run(table: &Arc<dyn Table>) {
    let settings = EngineSettings {
        delivery_ttl_secs: 60,
        ..EngineSettings::default()
    };
    let engine = Engine::with_settings(table.clone(), settings);
    let dep = unique("DataReadyFlow");
    let s = [data_ready(&dep)];
    let event = publish("data_ready", "e-old", json!({"date": "d"}));
    let first = engine.receive(&event, &s, t0()).await.unwrap();
    let later = engine
        .receive(&event, &s, t0() + Duration::minutes(5))
        .await
        .unwrap();
    // Past the dedupe window the decision is made again, and names the same execution.
    assert_eq!(
        started(&later).execution_name,
        started(&first).execution_name
    );
}

async fn the_log_lists_recent_events_newest_first(table: &Arc<dyn Table>) {
    let engine = Engine::new(table.clone());
    let dep = unique("DataReadyFlow");
    let s = [data_ready(&dep)];
    // A day of its own (the table is this suite's), so other cases' entries do not interleave.
    let day = t0() + Duration::days(1000);
    engine
        .receive(&publish("data_ready", "l-1", json!({"date": "d"})), &s, day)
        .await
        .unwrap();
    engine
        .receive(
            &publish("data_ready", "l-2", json!({"count": "x"})),
            &s,
            day + Duration::seconds(1),
        )
        .await
        .unwrap();
    engine
        .receive(
            &publish("nobody_listens", "l-3", json!({})),
            &s,
            day + Duration::seconds(2),
        )
        .await
        .unwrap();
    let recent = engine.recent(3, day + Duration::seconds(3)).await.unwrap();
    let ids: Vec<&str> = recent.iter().map(|e| e.event.id.as_str()).collect();
    assert_eq!(ids, ["l-3", "l-2", "l-1"]);
    assert!(recent[0].deployments.is_empty());
    assert_eq!(recent[1].deployments[0].outcome, "refused");
    assert!(
        recent[1].deployments[0]
            .reason
            .as_ref()
            .unwrap()
            .contains("\"x\" is not an integer")
    );
    assert_eq!(recent[2].deployments[0].outcome, "started");
    assert!(
        recent[2].deployments[0]
            .run_id
            .as_ref()
            .unwrap()
            .starts_with("sfn-ev-")
    );
}

// ---- adapters --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let table = SqliteTable::open(dir.path().join("ferry.db"), "ferry").unwrap();
    suite(Arc::new(table)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_on_dynamodb() {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(ferry_testkit::moto_url())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let name = ferry_testkit::unique("ferry-events");
    ferry_store::DynamoTable::create_table_if_missing(&client, &name)
        .await
        .expect("a table on moto");
    suite(Arc::new(ferry_store::DynamoTable::new(client, &name))).await;
}
