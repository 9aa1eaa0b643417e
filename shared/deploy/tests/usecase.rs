//! The deploy use case on the embedded stack's real adapters: an SQLite table, a blob
//! directory, the local orchestrator (with the real executor; one execution is started
//! here) and the local schedules. Requests are written to the blob store and handled through
//! `handle_request_key`, as `ferry up` and the Lambda do.

use std::sync::Arc;

use chrono::Utc;
use ferry_control::{DeploymentName, ExecutionName, Executions};
use ferry_deploy::SecretName;
use ferry_deploy::keys::{code_package_key, request_key, result_key, sha256_hex, spec_key};
use ferry_deploy::notifications::{NotificationSecrets, Notifications, NotifyFlags};
use ferry_deploy::record::{RECORDS_PK, request_pk};
use ferry_deploy::{
    BlobRef, DeployContext, DeployOptions, DeployRequest, DeployResult, DeploySettings,
    DeployStatus, DeploymentStore, NoJobDefinitions, RequestAction, RequestId, Schedules,
    handle_request_key,
};
use ferry_local::executor::{Executor, Resources};
use ferry_local::orchestrator::LocalOrchestrator;
use ferry_local::schedules::LocalSchedules;
use ferry_store::{Blobs, DirBlobs, SqliteTable, Table};
use serde_json::json;

struct Stack {
    _home: tempfile::TempDir,
    ctx: DeployContext,
    orchestrator: LocalOrchestrator,
    schedules: LocalSchedules,
}

async fn stack() -> Stack {
    let home = tempfile::tempdir().unwrap();
    let table: Arc<dyn Table> =
        Arc::new(SqliteTable::open(home.path().join("ferry.db"), "default").unwrap());
    let blobs: Arc<dyn Blobs> = Arc::new(DirBlobs::open(home.path().join("blobs")).unwrap());
    let orchestrator = LocalOrchestrator::new(
        table.clone(),
        Executor::new(Arc::new(Resources::new())),
        None,
    );
    let schedules = LocalSchedules::new(table.clone());
    let ctx = DeployContext {
        table: table.clone(),
        blobs,
        state_machines: Arc::new(orchestrator.clone()),
        schedules: Arc::new(schedules.clone()),
        job_definitions: Arc::new(NoJobDefinitions),
        secrets: Arc::new(ferry_local::secrets::DirSecrets::for_home(home.path())),
        event_rules: Arc::new(ferry_deploy::NoEventRules),
        settings: DeploySettings {
            event_rules: None,
            platform: ferry_deploy::PLATFORM_LOCAL.to_string(),
            state_machine_prefix: None,
            claim_stale_after_secs: 120,
            compile: ferry_local::stack::compile_environment(
                home.path(),
                "http://127.0.0.1:1",
                "python3",
            ),
        },
    };
    Stack {
        _home: home,
        ctx,
        orchestrator,
        schedules,
    }
}

/// A linear flow `start -> end` with one parameter, optionally `@schedule` and `@project`.
fn spec(
    flow: &str,
    schedule: Option<serde_json::Value>,
    project: Option<&str>,
) -> serde_json::Value {
    let mut decorators = json!({});
    if let Some(s) = schedule {
        decorators["schedule"] = s;
    }
    if let Some(p) = project {
        decorators["project"] = json!({ "name": p });
    }
    json!({
        "spec_version": 1,
        "flow": flow,
        "file": "flow.py",
        "parameters": [{"name": "alpha", "type": "float", "default": 0.5}],
        "decorators": decorators,
        "steps": [
            {"name": "start", "type": "start", "next": ["end"]},
            {"name": "end", "type": "end", "next": []}
        ]
    })
}

struct Req {
    deployment: String,
    flow: String,
    spec: serde_json::Value,
    user: String,
    action: RequestAction,
    options: DeployOptions,
    /// Notification settings whose secret values `submit` stores first, as the CLI does.
    notify: Option<(Notifications, NotificationSecrets)>,
}

impl Req {
    fn deploy(deployment: &str, spec: serde_json::Value, user: &str) -> Self {
        Req {
            deployment: deployment.into(),
            flow: spec["flow"].as_str().unwrap().into(),
            spec,
            user: user.into(),
            action: RequestAction::Deploy,
            options: DeployOptions::default(),
            notify: None,
        }
    }
    fn delete(deployment: &str, flow: &str, user: &str) -> Self {
        Req {
            deployment: deployment.into(),
            flow: flow.into(),
            spec: json!(null),
            user: user.into(),
            action: RequestAction::Delete,
            options: DeployOptions::default(),
            notify: None,
        }
    }
    fn with(mut self, f: impl FnOnce(&mut DeployOptions)) -> Self {
        f(&mut self.options);
        self
    }
    fn notify(mut self, flags: NotifyFlags) -> Self {
        let plan = ferry_deploy::notifications::plan(&flags).unwrap();
        self.notify = Some((plan.notifications.unwrap(), plan.secrets));
        self
    }
}

/// Upload a request like the CLI does (package, spec, request.json last) and return its key.
async fn submit(s: &Stack, r: Req) -> (String, DeployRequest) {
    let blobs = &s.ctx.blobs;
    let id = RequestId::new();
    let mut request = DeployRequest {
        version: 1,
        request_id: id.clone(),
        action: r.action,
        deployment: r.deployment.clone(),
        flow: r.flow.clone(),
        spec: None,
        package: None,
        user: r.user,
        requested_at: Utc::now(),
        options: r.options,
    };
    if let Some((mut n, values)) = r.notify {
        let name = SecretName::for_notifications(&r.deployment, &id).unwrap();
        s.ctx.secrets.put(&name, &values.to_json()).await.unwrap();
        n.secret = Some(name);
        request.options.notifications = Some(n);
    }
    if r.action == RequestAction::Deploy {
        let pkg = b"not really a tgz, the deploy only checks that it exists".to_vec();
        let sha = sha256_hex(&pkg);
        blobs.put(&code_package_key(&sha), pkg).await.unwrap();
        request.package = Some(BlobRef {
            key: code_package_key(&sha),
            sha256: sha,
        });
        let bytes = serde_json::to_vec(&r.spec).unwrap();
        let key = spec_key(&r.deployment, &id);
        request.spec = Some(BlobRef {
            key: key.clone(),
            sha256: sha256_hex(&bytes),
        });
        blobs.put(&key, bytes).await.unwrap();
    }
    let key = request_key(&r.deployment, &id);
    blobs.put(&key, request.to_json()).await.unwrap();
    (key, request)
}

async fn run(s: &Stack, r: Req) -> DeployResult {
    let (key, _) = submit(s, r).await;
    let result = handle_request_key(&s.ctx, &key)
        .await
        .unwrap()
        .expect("handled");
    // result.json is written next to the request, and says the same.
    let parsed: ferry_deploy::keys::RequestKey = ferry_deploy::parse_request_key(&key).unwrap();
    let stored = s
        .ctx
        .blobs
        .get(&result_key(&parsed.deployment, &parsed.request_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(DeployResult::from_json(&stored).unwrap(), result);
    result
}

async fn definition(s: &Stack, name: &str) -> Option<String> {
    s.ctx
        .state_machines
        .get(&DeploymentName::parse(name).unwrap())
        .await
        .unwrap()
        .map(|m| m.definition)
}

fn text(r: &DeployResult) -> String {
    r.messages.join("\n")
}

#[tokio::test]
async fn first_deploy_creates_everything_and_redeploy_keeps_the_token() {
    let s = stack().await;
    let sched = json!({"kind": "cron", "cron": "0 10 * * ? *", "timezone": "Europe/Paris"});
    let r = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", Some(sched), None), "alice"),
    )
    .await;
    assert_eq!(r.status, DeployStatus::Ok, "{}", text(&r));
    // Contract metaflow-sfn §4 vector: the first token of prefix `helloflow`.
    assert_eq!(r.token.as_deref(), Some("helloflow-0-apnt"));
    assert_eq!(r.namespace.as_deref(), Some("production:helloflow-0-apnt"));
    assert!(r.first_deploy && r.new_token);
    let t = text(&r);
    assert!(t.contains("It seems this is the first time you are deploying HelloFlow to the Ferry embedded stack."), "{t}");
    assert!(t.contains("A new production token generated."));
    assert!(t.contains("    production:helloflow-0-apnt"));
    assert!(t.contains("    ferry deploy --authorize helloflow-0-apnt"));
    assert!(t.contains("State Machine HelloFlow for flow HelloFlow pushed to the Ferry embedded stack successfully."));
    assert!(t.contains("What will trigger execution of the workflow:"));
    assert!(
        t.contains("cron schedule HelloFlow (0 10 * * ? *, Europe/Paris)"),
        "{t}"
    );

    // The state machine carries owner and token where Metaflow puts them.
    let def = definition(&s, "HelloFlow").await.expect("state machine");
    let holder = ferry_deploy::tokens::holder_from_definition(&def).unwrap();
    assert_eq!(
        (holder.owner.as_str(), holder.token.as_str()),
        ("alice", "helloflow-0-apnt")
    );
    // The schedule targets it with the empty parameter map.
    let sch = s
        .schedules
        .get("HelloFlow")
        .await
        .unwrap()
        .expect("schedule");
    assert_eq!(sch.expression, "0 10 * * ? *");
    assert_eq!(sch.timezone.as_deref(), Some("Europe/Paris"));
    assert_eq!(sch.target.name, "HelloFlow");
    assert_eq!(sch.input, r#"{"Parameters": "{}"}"#);
    // Every task description the definition points at is in the blob store.
    let tasks = s.ctx.blobs.list("tasks/").await.unwrap();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    for key in &tasks {
        assert!(def.contains(key.as_str()), "{key} not referenced");
    }
    // The record.
    let rec = DeploymentStore::new(s.ctx.table.clone())
        .get("HelloFlow")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.version, 1);
    assert_eq!(rec.owner, "alice");
    assert_eq!(rec.parameters[0].name, "alpha");
    assert_eq!(rec.parameters[0].default, Some(json!(0.5)));
    assert_eq!(rec.schedule.as_ref().unwrap().expression, "0 10 * * ? *");
    assert_eq!(r.record.as_ref(), Some(&rec));

    // Same user again, without any token, and without the schedule now.
    let r2 = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice"),
    )
    .await;
    assert_eq!(r2.status, DeployStatus::Ok, "{}", text(&r2));
    assert_eq!(r2.token.as_deref(), Some("helloflow-0-apnt"));
    assert!(!r2.first_deploy && !r2.new_token);
    assert!(!text(&r2).contains("It seems this is the first time"));
    assert!(text(&r2).contains("No triggers defined. You need to launch this workflow manually."));
    assert!(
        s.schedules.get("HelloFlow").await.unwrap().is_none(),
        "the schedule is removed"
    );
    let rec2 = DeploymentStore::new(s.ctx.table.clone())
        .get("HelloFlow")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec2.version, 2);
    assert_eq!(rec2.created_at, rec.created_at);
    assert!(rec2.schedule.is_none());
}

#[tokio::test]
async fn another_user_is_refused_without_the_token_and_nothing_changes() {
    let s = stack().await;
    let first = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice"),
    )
    .await;
    assert_eq!(first.status, DeployStatus::Ok);
    let def_before = definition(&s, "HelloFlow").await.unwrap();
    let rec_before = DeploymentStore::new(s.ctx.table.clone())
        .get("HelloFlow")
        .await
        .unwrap()
        .unwrap();
    let tasks_before = s.ctx.blobs.list("tasks/").await.unwrap();

    let mut other = spec("HelloFlow", None, None);
    other["parameters"][0]["default"] = json!(0.9);
    for wrong in [None, Some("helloflow-1-rnyg"), Some("production:nope")] {
        let r = run(
            &s,
            Req::deploy("HelloFlow", other.clone(), "bob")
                .with(|o| o.authorize = wrong.map(str::to_string)),
        )
        .await;
        assert_eq!(r.status, DeployStatus::Refused);
        assert_eq!(r.status.exit_code(), 1);
        let why = if wrong.is_some() {
            "Incorrect production token: the token sent (given with --authorize, or stored on this machine by an earlier deploy of this flow) is not the token of this deployment."
        } else {
            "Missing production token: you gave no --authorize, and no token for this flow is stored on this machine."
        };
        assert_eq!(
            r.messages,
            vec![
                "There is an existing version of HelloFlow on the Ferry embedded stack which was deployed by the user alice.",
                "To deploy a new version of this flow, you need to use the same production token that they used.",
                "Please reach out to them to get the token. Once you have it, call this command:",
                "    ferry deploy --authorize MY_TOKEN",
                "See \"Organizing Results\" at docs.metaflow.org for more information about production tokens.",
                why,
                "The token was printed to alice when they deployed, after \"The namespace of this production flow is\" (production:TOKEN); `ferry describe` shows it to them. Pass it with or without the production: prefix.",
                "With the token you may also start a new production namespace: ferry deploy --authorize MY_TOKEN --generate-new-token",
            ]
        );
        // Every line says something, and none gives the token away.
        assert!(
            r.messages.iter().all(|l| !l.trim_end().ends_with("token:")),
            "{r:?}"
        );
        assert!(!text(&r).contains("helloflow-0-apnt"), "{}", text(&r));
        assert!(r.token.is_none() && r.record.is_none());
    }
    assert_eq!(definition(&s, "HelloFlow").await.unwrap(), def_before);
    let rec_after = DeploymentStore::new(s.ctx.table.clone())
        .get("HelloFlow")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec_after, rec_before);
    assert_eq!(s.ctx.blobs.list("tasks/").await.unwrap(), tasks_before);

    // With the token (prefix and all), bob deploys; the token stays, bob owns it now.
    let ok = run(
        &s,
        Req::deploy("HelloFlow", other, "bob")
            .with(|o| o.authorize = Some("production:helloflow-0-apnt".into())),
    )
    .await;
    assert_eq!(ok.status, DeployStatus::Ok, "{}", text(&ok));
    assert_eq!(ok.token.as_deref(), Some("helloflow-0-apnt"));
    let rec = DeploymentStore::new(s.ctx.table.clone())
        .get("HelloFlow")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((rec.owner.as_str(), rec.version), ("bob", 2));
    assert_eq!(rec.parameters[0].default, Some(json!(0.9)));
    // Now alice is the one who needs the token.
    let r = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice"),
    )
    .await;
    assert_eq!(r.status, DeployStatus::Refused);
    assert!(text(&r).contains("deployed by the user bob."));
}

#[tokio::test]
async fn generate_new_token_moves_to_the_next_namespace() {
    let s = stack().await;
    let a = run(
        &s,
        Req::deploy("GraphFlow", spec("GraphFlow", None, None), "alice"),
    )
    .await;
    assert_eq!(a.token.as_deref(), Some("graphflow-0-jfvc"));
    let b = run(
        &s,
        Req::deploy("GraphFlow", spec("GraphFlow", None, None), "alice")
            .with(|o| o.generate_new_token = true),
    )
    .await;
    assert_eq!(b.status, DeployStatus::Ok, "{}", text(&b));
    assert_eq!(b.token.as_deref(), Some("graphflow-1-odrs"));
    assert_eq!(b.namespace.as_deref(), Some("production:graphflow-1-odrs"));
    assert!(b.new_token && !b.first_deploy);
    assert!(text(&b).contains("A new production token generated."));
    let def = definition(&s, "GraphFlow").await.unwrap();
    assert_eq!(
        ferry_deploy::tokens::holder_from_definition(&def)
            .unwrap()
            .token,
        "graphflow-1-odrs"
    );
    // The old token no longer authorises others.
    let r = run(
        &s,
        Req::deploy("GraphFlow", spec("GraphFlow", None, None), "bob")
            .with(|o| o.authorize = Some("graphflow-0-jfvc".into())),
    )
    .await;
    assert_eq!(r.status, DeployStatus::Refused);
}

#[tokio::test]
async fn project_branches_are_separate_deployments() {
    let s = stack().await;
    let sp = spec("ScoreFlow", None, Some("fraud_model"));
    let test = run(
        &s,
        Req::deploy("fraud_model.test.b.ScoreFlow", sp.clone(), "alice")
            .with(|o| o.branch = Some("b".into())),
    )
    .await;
    assert_eq!(test.status, DeployStatus::Ok, "{}", text(&test));
    let prod = run(
        &s,
        Req::deploy("fraud_model.prod.ScoreFlow", sp.clone(), "alice")
            .with(|o| o.production = true),
    )
    .await;
    assert_eq!(prod.status, DeployStatus::Ok, "{}", text(&prod));
    let user = run(
        &s,
        Req::deploy("fraud_model.user.alice.ScoreFlow", sp.clone(), "alice"),
    )
    .await;
    assert_eq!(user.status, DeployStatus::Ok, "{}", text(&user));
    // Contract §6 vector: the user branch's prefix.
    assert!(
        user.token
            .as_deref()
            .unwrap()
            .starts_with("mfprj-xpeo6bwux6q4e6rd-0-"),
        "{:?}",
        user.token
    );
    assert_eq!(user.token.as_deref(), Some("mfprj-xpeo6bwux6q4e6rd-0-jklr"));
    assert_ne!(test.token, prod.token);
    for name in [
        "fraud_model.test.b.ScoreFlow",
        "fraud_model.prod.ScoreFlow",
        "fraud_model.user.alice.ScoreFlow",
    ] {
        assert!(definition(&s, name).await.is_some(), "{name}");
    }
    let all = DeploymentStore::new(s.ctx.table.clone())
        .list()
        .await
        .unwrap();
    let rows: Vec<(String, Option<String>, Option<String>)> = all
        .iter()
        .map(|r| (r.deployment.clone(), r.project.clone(), r.branch.clone()))
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "fraud_model.prod.ScoreFlow".into(),
                Some("fraud_model".into()),
                Some("prod".into())
            ),
            (
                "fraud_model.test.b.ScoreFlow".into(),
                Some("fraud_model".into()),
                Some("test.b".into())
            ),
            (
                "fraud_model.user.alice.ScoreFlow".into(),
                Some("fraud_model".into()),
                Some("user.alice".into())
            ),
        ]
    );
    // A request whose key names another deployment than its flow and options give is refused.
    let wrong = run(
        &s,
        Req::deploy("fraud_model.prod.ScoreFlow", sp, "alice")
            .with(|o| o.branch = Some("b".into())),
    )
    .await;
    assert_eq!(wrong.status, DeployStatus::Failed);
    assert!(
        text(&wrong).contains("the flow deploys to fraud_model.test.b.ScoreFlow"),
        "{}",
        text(&wrong)
    );
}

#[tokio::test]
async fn the_same_request_delivered_twice_deploys_once() {
    let s = stack().await;
    let (key, request) = submit(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice"),
    )
    .await;
    let first = handle_request_key(&s.ctx, &key).await.unwrap().unwrap();
    assert_eq!(first.status, DeployStatus::Ok);
    // Another deploy happens in between (version 2).
    let second_deploy = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice"),
    )
    .await;
    assert_eq!(second_deploy.record.as_ref().unwrap().version, 2);
    // The first request arrives again: the stored result, no new version.
    let again = handle_request_key(&s.ctx, &key).await.unwrap().unwrap();
    assert_eq!(again, first);
    let rec = DeploymentStore::new(s.ctx.table.clone())
        .get("HelloFlow")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.version, 2);
    // Even with result.json gone, the table remembers it.
    s.ctx
        .blobs
        .delete(&result_key(&request.deployment, &request.request_id))
        .await
        .unwrap();
    let third = handle_request_key(&s.ctx, &key).await.unwrap().unwrap();
    assert_eq!(third.status, first.status);
    assert_eq!(third.record.as_ref().unwrap().version, 1);
    assert_eq!(
        DeploymentStore::new(s.ctx.table.clone())
            .get("HelloFlow")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert!(
        s.ctx
            .blobs
            .exists(&result_key(&request.deployment, &request.request_id))
            .await
            .unwrap()
    );
    // While a delivery holds the claim, another one backs off.
    let (key2, req2) = submit(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice"),
    )
    .await;
    let store = DeploymentStore::new(s.ctx.table.clone());
    assert!(matches!(
        store
            .claim(&req2.request_id, "HelloFlow", Utc::now(), 120)
            .await
            .unwrap(),
        ferry_deploy::record::Claim::Claimed
    ));
    assert!(handle_request_key(&s.ctx, &key2).await.unwrap().is_none());
    assert!(
        s.ctx
            .table
            .get(&request_pk(&req2.request_id), "request")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_deploy_that_fails_to_compile_leaves_the_previous_version() {
    let s = stack().await;
    let ok = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice"),
    )
    .await;
    assert_eq!(ok.status, DeployStatus::Ok);
    let def = definition(&s, "HelloFlow").await.unwrap();
    let rec = DeploymentStore::new(s.ctx.table.clone())
        .get("HelloFlow")
        .await
        .unwrap()
        .unwrap();

    // A step setting the compiler refuses (a reserved environment name): nothing is touched.
    let mut bad = spec("HelloFlow", None, None);
    bad["steps"][0]["decorators"] = json!({"environment": {"vars": {"FERRY_RUN_ID": "mine"}}});
    let r = run(&s, Req::deploy("HelloFlow", bad, "alice")).await;
    assert_eq!(r.status, DeployStatus::Failed);
    assert!(text(&r).contains("cannot be compiled"), "{}", text(&r));
    assert_eq!(definition(&s, "HelloFlow").await.unwrap(), def);
    assert_eq!(
        DeploymentStore::new(s.ctx.table.clone())
            .get("HelloFlow")
            .await
            .unwrap()
            .unwrap(),
        rec
    );

    // An invalid cron is refused by validation: nothing is touched either.
    let bad = spec(
        "HelloFlow",
        Some(json!({"kind": "cron", "cron": "0 10 * * * *"})),
        None,
    );
    let r = run(&s, Req::deploy("HelloFlow", bad, "alice")).await;
    assert_eq!(r.status, DeployStatus::Failed);
    assert!(
        text(&r).contains("exactly one of day-of-month"),
        "{}",
        text(&r)
    );
    assert_eq!(definition(&s, "HelloFlow").await.unwrap(), def);
    assert_eq!(
        DeploymentStore::new(s.ctx.table.clone())
            .get("HelloFlow")
            .await
            .unwrap()
            .unwrap(),
        rec
    );
    assert!(s.schedules.get("HelloFlow").await.unwrap().is_none());

    // So does a graph that does not validate.
    let mut broken = spec("HelloFlow", None, None);
    broken["steps"][0]["next"] = json!(["nowhere"]);
    let r = run(&s, Req::deploy("HelloFlow", broken, "alice")).await;
    assert_eq!(r.status, DeployStatus::Failed);
    assert!(text(&r).contains("cannot be deployed"), "{}", text(&r));
    assert_eq!(definition(&s, "HelloFlow").await.unwrap(), def);

    // The previous version still starts.
    let hello = DeploymentName::parse("HelloFlow").unwrap();
    let still_runs = ExecutionName::parse("still-runs").unwrap();
    let exec = s
        .orchestrator
        .start(&hello, Some(&still_runs), r#"{"Parameters": "{}"}"#)
        .await
        .unwrap();
    assert_eq!(exec.state_machine, "HelloFlow");
    s.orchestrator
        .stop(&hello, &still_runs, Some("test"), Some("done"))
        .await
        .unwrap();
}

#[tokio::test]
async fn only_json_compiles_without_deploying() {
    let s = stack().await;
    let r = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice")
            .with(|o| o.only_json = true),
    )
    .await;
    assert_eq!(r.status, DeployStatus::Ok, "{}", text(&r));
    let def = r.definition.as_ref().expect("definition");
    assert_eq!(def["StartAt"], "start");
    assert!(text(&r).contains("production:helloflow-0-apnt"));
    assert!(definition(&s, "HelloFlow").await.is_none());
    assert!(
        DeploymentStore::new(s.ctx.table.clone())
            .get("HelloFlow")
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.ctx.blobs.list("tasks/").await.unwrap().is_empty());
}

#[tokio::test]
async fn delete_follows_the_token_rules_and_a_deploy_after_it_works() {
    let s = stack().await;
    let sched = json!({"kind": "daily"});
    run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", Some(sched), None), "alice"),
    )
    .await;
    assert!(s.schedules.get("HelloFlow").await.unwrap().is_some());

    let refused = run(&s, Req::delete("HelloFlow", "HelloFlow", "bob")).await;
    assert_eq!(refused.status, DeployStatus::Refused);
    assert!(
        text(&refused).contains("To delete this flow, you need to use the same production token")
    );
    assert!(text(&refused).contains("    ferry delete --authorize MY_TOKEN"));
    assert!(text(&refused).contains("Missing production token: you gave no --authorize"));
    assert!(text(&refused).contains("The token was printed to alice when they deployed"));
    assert!(!text(&refused).contains("--generate-new-token"));
    assert!(definition(&s, "HelloFlow").await.is_some());

    let deleted = run(
        &s,
        Req::delete("HelloFlow", "HelloFlow", "bob")
            .with(|o| o.authorize = Some("helloflow-0-apnt".into())),
    )
    .await;
    assert_eq!(deleted.status, DeployStatus::Ok, "{}", text(&deleted));
    let t = text(&deleted);
    assert!(
        t.contains("Deleting the Ferry embedded stack state machine HelloFlow..."),
        "{t}"
    );
    assert!(t.contains("Deleting schedule HelloFlow as well..."), "{t}");
    assert!(definition(&s, "HelloFlow").await.is_none());
    assert!(s.schedules.get("HelloFlow").await.unwrap().is_none());
    assert!(
        s.ctx
            .table
            .get(RECORDS_PK, "HelloFlow")
            .await
            .unwrap()
            .is_none()
    );

    let missing = run(&s, Req::delete("HelloFlow", "HelloFlow", "alice")).await;
    assert_eq!(missing.status, DeployStatus::Failed);
    assert_eq!(
        missing.messages,
        vec!["The workflow HelloFlow doesn't exist on the Ferry embedded stack."]
    );

    // Deploying again starts over: a first deploy, the first token, version 1, by carol.
    let again = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "carol"),
    )
    .await;
    assert_eq!(again.status, DeployStatus::Ok, "{}", text(&again));
    assert!(again.first_deploy);
    assert_eq!(again.token.as_deref(), Some("helloflow-0-apnt"));
    assert_eq!(again.record.as_ref().unwrap().version, 1);
}

#[tokio::test]
async fn malformed_requests_get_a_failed_result() {
    let s = stack().await;
    let id = RequestId::new();
    let key = request_key("HelloFlow", &id);
    s.ctx.blobs.put(&key, b"{ not json".to_vec()).await.unwrap();
    let r = handle_request_key(&s.ctx, &key).await.unwrap().unwrap();
    assert_eq!(r.status, DeployStatus::Failed);
    assert!(text(&r).contains("could not be read"));
    assert!(
        s.ctx
            .blobs
            .exists(&result_key("HelloFlow", &id))
            .await
            .unwrap()
    );

    // A spec that does not match its hash.
    let (key, request) = submit(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice"),
    )
    .await;
    s.ctx
        .blobs
        .put(&request.spec.as_ref().unwrap().key, b"{}".to_vec())
        .await
        .unwrap();
    let r = handle_request_key(&s.ctx, &key).await.unwrap().unwrap();
    assert_eq!(r.status, DeployStatus::Failed);
    assert!(
        text(&r).contains("does not match its sha256"),
        "{}",
        text(&r)
    );

    // Keys that are not requests are refused before anything is read.
    assert!(
        handle_request_key(&s.ctx, "deploy/HelloFlow/x/request.json")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_custom_namespace_is_recorded_and_reaches_the_tasks() {
    let s = stack().await;
    let r = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice").with(|o| {
            o.namespace = Some("team_x".into());
            o.tags = vec!["v2".into()];
            o.max_workers = Some(3);
            o.workflow_timeout = Some(3600);
        }),
    )
    .await;
    assert_eq!(r.status, DeployStatus::Ok, "{}", text(&r));
    assert_eq!(r.namespace.as_deref(), Some("team_x"));
    assert!(text(&r).contains("recorded in the namespace team_x"));
    let rec = r.record.unwrap();
    assert_eq!(
        (
            rec.namespace.as_str(),
            rec.max_workers,
            rec.workflow_timeout
        ),
        ("team_x", 3, Some(3600))
    );
    assert_eq!(rec.tags, vec!["v2"]);
    for key in s.ctx.blobs.list("tasks/").await.unwrap() {
        let d: ferry_spec::task::TaskDescription =
            serde_json::from_slice(&s.ctx.blobs.get(&key).await.unwrap().unwrap()).unwrap();
        assert_eq!(d.namespace.as_deref(), Some("team_x"));
        assert_eq!(d.tags, vec!["v2"]);
        assert_eq!(
            (d.owner.as_str(), d.production_token.as_str()),
            ("alice", "helloflow-0-apnt")
        );
    }
    let def: serde_json::Value =
        serde_json::from_str(&definition(&s, "HelloFlow").await.unwrap()).unwrap();
    assert_eq!(def["TimeoutSeconds"], 3600);
}

#[tokio::test]
async fn concurrent_deploys_of_one_deployment_run_one_after_the_other() {
    let s = stack().await;
    let (alice_key, _) = submit(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice"),
    )
    .await;
    let mut other = spec("HelloFlow", None, None);
    other["parameters"][0]["default"] = json!(0.9);
    let (bob_key, _) = submit(&s, Req::deploy("HelloFlow", other, "bob")).await;
    let (a, b) = tokio::join!(
        handle_request_key(&s.ctx, &alice_key),
        handle_request_key(&s.ctx, &bob_key)
    );
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    // Whichever ran first deployed; the other saw its record and was refused for the token,
    // instead of racing it to the state machine.
    let (winner, loser, default) = match (a.status, b.status) {
        (DeployStatus::Ok, DeployStatus::Refused) => (&a, &b, 0.5),
        (DeployStatus::Refused, DeployStatus::Ok) => (&b, &a, 0.9),
        other => panic!("{other:?}: {} / {}", text(&a), text(&b)),
    };
    assert!(text(loser).contains("production token"), "{}", text(loser));
    let rec = DeploymentStore::new(s.ctx.table.clone())
        .get("HelloFlow")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.request_id, winner.request_id);
    assert_eq!(rec.parameters[0].default, Some(json!(default)));
    // The lock is released: a later deploy by the owner goes through at once.
    let lock = s
        .ctx
        .table
        .get(
            &ferry_deploy::record::lock_pk("HelloFlow"),
            ferry_deploy::record::LOCK_SK,
        )
        .await
        .unwrap();
    assert!(lock.is_none());
    let again = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), &rec.owner),
    )
    .await;
    assert_eq!(again.status, DeployStatus::Ok, "{}", text(&again));
}

#[tokio::test]
async fn a_deployment_lock_is_held_by_one_request_and_a_stale_one_is_taken_over() {
    let s = stack().await;
    let store = DeploymentStore::new(s.ctx.table.clone());
    let (a, b) = (RequestId::new(), RequestId::new());
    let t0 = Utc::now();
    assert!(store.lock("F", &a, t0, 100).await.unwrap());
    assert!(!store.lock("F", &b, t0, 100).await.unwrap(), "held by a");
    assert!(
        store.lock("F", &a, t0, 100).await.unwrap(),
        "a redelivery of a"
    );
    assert!(
        store.lock("G", &b, t0, 100).await.unwrap(),
        "another deployment"
    );
    store.unlock("F", &b).await.unwrap(); // not b's: no effect
    assert!(!store.lock("F", &b, t0, 100).await.unwrap());
    // A lock older than the stale limit belongs to a handler that died.
    let later = t0 + chrono::Duration::seconds(100);
    assert!(store.lock("F", &b, later, 100).await.unwrap());
    assert!(!store.lock("F", &a, later, 100).await.unwrap());
    store.unlock("F", &b).await.unwrap();
    assert!(store.lock("F", &a, later, 100).await.unwrap());
}

/// `spec` with `@trigger`/`@trigger_on_finish` decorators added (a version 2 spec).
fn triggered(
    mut spec: serde_json::Value,
    key: &str,
    trigger: serde_json::Value,
) -> serde_json::Value {
    spec["spec_version"] = json!(2);
    spec["decorators"][key] = trigger;
    spec
}

#[tokio::test]
async fn the_record_keeps_the_trigger_and_the_deploy_says_what_starts_runs() {
    let s = stack().await;
    let sp = triggered(
        spec("DataReadyFlow", None, None),
        "trigger",
        json!({"events": [{"name": "data_ready", "parameters": {"alpha": "score"}}]}),
    );
    let r = run(&s, Req::deploy("DataReadyFlow", sp, "alice")).await;
    assert_eq!(r.status, DeployStatus::Ok, "{}", text(&r));
    assert!(
        text(&r).contains(
            "What will trigger execution of the workflow:\n    This workflow triggers automatically when the event data_ready is published.\n    The event data_ready sets the parameter alpha from its field score."
        ),
        "{}",
        text(&r)
    );
    let record = DeploymentStore::new(s.ctx.table.clone())
        .get("DataReadyFlow")
        .await
        .unwrap()
        .unwrap();
    let trigger = record.triggers.expect("the record keeps the trigger");
    assert_eq!(trigger.events[0].name, "data_ready");
    assert_eq!(trigger.events[0].parameters[0].parameter, "alpha");
    assert_eq!(
        trigger.events[0].parameters[0].ty,
        ferry_spec::ParamType::Float
    );

    // A redeploy without the trigger drops it from the record.
    let r = run(
        &s,
        Req::deploy("DataReadyFlow", spec("DataReadyFlow", None, None), "alice"),
    )
    .await;
    assert!(text(&r).contains("No triggers defined."), "{}", text(&r));
    let record = DeploymentStore::new(s.ctx.table.clone())
        .get("DataReadyFlow")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.triggers, None);
}

#[tokio::test]
async fn trigger_on_finish_resolves_the_upstream_of_the_same_branch() {
    let s = stack().await;
    let sp = triggered(
        spec("ReportFlow", None, Some("lake")),
        "trigger_on_finish",
        json!({"flows": [{"flow": "IngestFlow"}]}),
    );
    let r = run(
        &s,
        Req::deploy("lake.test.b.ReportFlow", sp, "alice").with(|o| o.branch = Some("b".into())),
    )
    .await;
    assert_eq!(r.status, DeployStatus::Ok, "{}", text(&r));
    assert!(
        text(&r).contains(
            "    This workflow triggers automatically when lake.test.b.IngestFlow succeeds."
        ),
        "{}",
        text(&r)
    );
    let trigger = r.record.unwrap().triggers.unwrap();
    assert_eq!(
        trigger.events[0].name,
        "metaflow.lake.test.b.IngestFlow.end"
    );
    assert_eq!(
        trigger.events[0].upstream.as_ref().unwrap().deployment,
        "lake.test.b.IngestFlow"
    );
}

#[tokio::test]
async fn bad_triggers_are_refused_with_the_names_and_change_nothing() {
    let s = stack().await;
    let sp = triggered(
        spec("BadFlow", None, None),
        "trigger",
        json!({"events": [{"name": "data ready", "parameters": {"beta": "b"}}]}),
    );
    let r = run(&s, Req::deploy("BadFlow", sp, "alice")).await;
    assert_eq!(r.status, DeployStatus::Failed, "{}", text(&r));
    let t = text(&r);
    assert!(
        t.contains("Parameter *beta* defined in the event mappings for *@trigger* decorator not found in the flow. The flow's parameters are: alpha."),
        "{t}"
    );
    assert!(
        t.contains("The @trigger event name \"data ready\" cannot be used"),
        "{t}"
    );
    assert!(definition(&s, "BadFlow").await.is_none());
}

const SLACK_URL: &str = "https://hooks.slack.com/services/T000/B000/s3cr3tSlackT0kenValue";
const PD_KEY: &str = "R0UT1NGKEYs3cr3t0123456789abcdef";

fn slack_and_pager_duty() -> NotifyFlags {
    NotifyFlags {
        on_error: true,
        slack_webhook_url: Some(SLACK_URL.into()),
        pager_duty_integration_key: Some(PD_KEY.into()),
        ..NotifyFlags::default()
    }
}

/// Every stored trace of a deploy: the record item, the result, the definition and every blob.
async fn stored_text(s: &Stack, deployment: &str) -> String {
    let mut out = String::new();
    for item in s.ctx.table.query_all(RECORDS_PK, "").await.unwrap() {
        out.push_str(&format!("{item:?}"));
    }
    out.push_str(&definition(s, deployment).await.unwrap_or_default());
    let root = match &s.ctx.settings.compile.blobs {
        ferry_spec::task::BlobStoreRef::Dir { path } => std::path::PathBuf::from(path),
        other => panic!("{other:?}"),
    };
    for entry in walk(&root) {
        out.push_str(&String::from_utf8_lossy(&std::fs::read(entry).unwrap()));
    }
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn notification_secrets_stay_in_the_secret_store() {
    let s = stack().await;
    let r = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice")
            .notify(slack_and_pager_duty()),
    )
    .await;
    assert_eq!(r.status, DeployStatus::Ok, "{}", text(&r));
    let t = text(&r);
    assert!(
        t.contains("Notifications go on error (FAILED, TIMED_OUT, ABORTED) to Slack https://hooks.slack.com/…alue, PagerDuty key …cdef."),
        "{t}"
    );
    let n = r.record.as_ref().unwrap().notifications.clone().unwrap();
    assert_eq!(
        n.slack.as_ref().unwrap().webhook_url,
        "https://hooks.slack.com/…alue"
    );
    let secret = n.secret.clone().unwrap();
    let stored = s.ctx.secrets.get(&secret).await.unwrap().unwrap();
    let values = NotificationSecrets::from_json(&stored).unwrap();
    assert_eq!(values.slack_webhook_url.as_deref(), Some(SLACK_URL));
    assert_eq!(values.pager_duty_integration_key.as_deref(), Some(PD_KEY));
    // Nowhere else: not in the record, the result, the definition or any blob.
    let everything = stored_text(&s, "HelloFlow").await;
    assert!(everything.contains("hooks.slack.com/…alue"));
    for secret in ["s3cr3tSlackT0kenValue", PD_KEY] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }

    // A redeploy with other settings replaces the secret; the old one is deleted.
    let webhook = NotifyFlags {
        on_success: true,
        webhook_url: Some("https://ops.example.com/hooks/s3cr3t-path-0123".into()),
        ..NotifyFlags::default()
    };
    let r2 = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice").notify(webhook),
    )
    .await;
    assert_eq!(r2.status, DeployStatus::Ok, "{}", text(&r2));
    let secret2 = r2.record.unwrap().notifications.unwrap().secret.unwrap();
    assert_ne!(secret, secret2);
    assert!(!s.ctx.secrets.exists(&secret).await.unwrap());
    assert!(s.ctx.secrets.exists(&secret2).await.unwrap());

    // Someone without the token is refused, and the secret they stored goes away.
    let bob = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "bob")
            .notify(slack_and_pager_duty()),
    )
    .await;
    assert_eq!(bob.status, DeployStatus::Refused, "{}", text(&bob));
    assert!(s.ctx.secrets.exists(&secret2).await.unwrap());
    let root = ferry_local::secrets::secrets_dir(s._home.path());
    assert_eq!(walk(&root).len(), 1, "{:?}", walk(&root));

    // A redeploy without notifications drops them and their secret.
    let r3 = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice"),
    )
    .await;
    assert_eq!(r3.status, DeployStatus::Ok, "{}", text(&r3));
    assert!(r3.record.unwrap().notifications.is_none());
    assert!(!s.ctx.secrets.exists(&secret2).await.unwrap());
    assert!(walk(&root).is_empty());
}

#[tokio::test]
async fn a_deploy_with_notifications_is_checked_and_delete_removes_the_secret() {
    let s = stack().await;
    // Settings that break Argo's rules are refused by the handler too.
    let mut bad = Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice")
        .notify(slack_and_pager_duty());
    bad.notify.as_mut().unwrap().0.slack = None;
    bad.notify.as_mut().unwrap().0.pager_duty = None;
    let r = run(&s, bad).await;
    assert_eq!(r.status, DeployStatus::Failed, "{}", text(&r));
    assert!(
        text(&r).contains("need somewhere to send to"),
        "{}",
        text(&r)
    );
    assert!(walk(&ferry_local::secrets::secrets_dir(s._home.path())).is_empty());

    // A secret that is not there.
    let missing = Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice").with(|o| {
        let mut n = ferry_deploy::notifications::plan(&slack_and_pager_duty())
            .unwrap()
            .notifications
            .unwrap();
        n.secret = Some(SecretName::new("notify/HelloFlow/elsewhere").unwrap());
        o.notifications = Some(n);
    });
    let r = run(&s, missing).await;
    assert_eq!(r.status, DeployStatus::Failed);
    assert!(
        text(&r).contains("does not belong to this request"),
        "{}",
        text(&r)
    );

    let ok = run(
        &s,
        Req::deploy("HelloFlow", spec("HelloFlow", None, None), "alice")
            .notify(slack_and_pager_duty()),
    )
    .await;
    assert_eq!(ok.status, DeployStatus::Ok, "{}", text(&ok));
    let secret = ok.record.unwrap().notifications.unwrap().secret.unwrap();
    let d = run(&s, Req::delete("HelloFlow", "HelloFlow", "alice")).await;
    assert_eq!(d.status, DeployStatus::Ok, "{}", text(&d));
    assert!(!s.ctx.secrets.exists(&secret).await.unwrap());
}
