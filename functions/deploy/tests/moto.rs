//! The deploy Lambda on AWS adapters against moto (server mode, `ferry_testkit::moto_url()`):
//! requests are put in S3 and handed to the handler as the S3 event S3 would send; the state
//! machine, the schedule, the job definitions and the record are then read back from moto.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use chrono::Utc;
use ferry_deploy::keys::{code_package_key, request_key, result_key, sha256_hex, spec_key};
use ferry_deploy::{
    BlobRef, DeployContext, DeployOptions, DeployRequest, DeployResult, DeployStatus,
    DeploymentStore, RequestAction, RequestId,
};
use ferry_spec::task::BlobStoreRef;
use ferry_store::Blobs;
use serde_json::{Value, json};

fn boto(url: &str, script: &str, args: &[&str]) -> String {
    ferry_testkit::boto3(url, script, args)
}

struct Stack {
    url: String,
    /// The flow (= state machine) name, unique to the test: moto's state machines are shared.
    flow: String,
    /// The task image, unique to the test so job definitions (named by content) are too.
    image: String,
    bucket: String,
    env: HashMap<&'static str, String>,
    /// The whole bucket (keys with the `ferry/` prefix).
    raw: Arc<dyn Blobs>,
}

const ACCOUNT: &str = "123456789012";

/// A bucket, a deployments table and a schedule group in moto, and the Lambda's environment.
async fn stack() -> Stack {
    let url = ferry_testkit::moto_url();
    // SAFETY: set before any client reads them; every test of this binary sets the same values.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &url);
        for (k, v) in ferry_testkit::aws_test_env() {
            std::env::set_var(k, v);
        }
    }
    let bucket = ferry_testkit::unique("ferry-deploy").to_ascii_lowercase();
    let table = ferry_testkit::unique("ferry-deployments");
    let group = ferry_testkit::unique("ferry-schedules");
    let flow = format!("Score{}Flow", ferry_testkit::unique("").replace('-', ""));
    let image = format!(
        "registry.example.com/{}:1",
        ferry_testkit::unique("ferry-task")
    );
    boto(
        &url,
        "boto3.client('s3', endpoint_url=url).create_bucket(Bucket=args[0])\n\
         boto3.client('dynamodb', endpoint_url=url).create_table(TableName=args[1], BillingMode='PAY_PER_REQUEST',\n\
           KeySchema=[{'AttributeName':'pk','KeyType':'HASH'},{'AttributeName':'sk','KeyType':'RANGE'}],\n\
           AttributeDefinitions=[{'AttributeName':'pk','AttributeType':'S'},{'AttributeName':'sk','AttributeType':'S'}])\n\
         boto3.client('scheduler', endpoint_url=url).create_schedule_group(Name=args[2])",
        &[&bucket, &table, &group],
    );
    let env = HashMap::from([
        ("FERRY_BUCKET", bucket.clone()),
        ("FERRY_BLOB_PREFIX", "ferry/".to_string()),
        ("FERRY_DATASTORE_ROOT", format!("s3://{bucket}/metaflow")),
        ("FERRY_DEPLOYMENTS_TABLE", table),
        ("FERRY_STATE_TABLE", "ferry-state".to_string()),
        (
            "FERRY_METADATA_URL",
            "https://example.execute-api.us-east-1.amazonaws.com/api".to_string(),
        ),
        (
            "FERRY_SFN_ROLE_ARN",
            format!("arn:aws:iam::{ACCOUNT}:role/ferry-sfn"),
        ),
        (
            "FERRY_SCHEDULER_ROLE_ARN",
            format!("arn:aws:iam::{ACCOUNT}:role/ferry-scheduler"),
        ),
        ("FERRY_SCHEDULE_GROUP", group),
        (
            "FERRY_JOB_QUEUE_ARN",
            format!("arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/ferry"),
        ),
        (
            "FERRY_JOB_ROLE_ARN",
            format!("arn:aws:iam::{ACCOUNT}:role/ferry-job"),
        ),
        (
            "FERRY_EXECUTION_ROLE_ARN",
            format!("arn:aws:iam::{ACCOUNT}:role/ferry-exec"),
        ),
        ("FERRY_TASK_IMAGE", image.clone()),
        (
            "FERRY_API_KEY_SECRET_ARN",
            format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:ferry-apikey-AbCdEf"),
        ),
        ("FERRY_BATCH_LOG_GROUP", "/ferry/batch".to_string()),
        (
            "FERRY_SECRETS_PREFIX",
            format!("/ferry/{}/", ferry_testkit::unique("stack")),
        ),
        ("AWS_REGION", "us-east-1".to_string()),
    ]);
    let raw = ferry_store::open_blobs(&BlobStoreRef::S3 {
        bucket: bucket.clone(),
        prefix: String::new(),
    })
    .await
    .unwrap();
    Stack {
        url,
        flow,
        image,
        bucket,
        env,
        raw,
    }
}

impl Stack {
    async fn context(&self) -> DeployContext {
        let env = self.env.clone();
        deploy::wiring::context_from(move |k| env.get(k).cloned())
            .await
            .unwrap()
    }

    /// Put package, spec and request as the CLI does (request last); the request's full key.
    async fn put_request(
        &self,
        user: &str,
        spec: Option<&Value>,
        action: RequestAction,
    ) -> (RequestId, String) {
        let id = RequestId::new();
        let key = self
            .put_request_with(&id, user, spec, action, DeployOptions::default())
            .await;
        (id, key)
    }

    /// [`Stack::put_request`] with the request id and options given; the request's full key.
    async fn put_request_with(
        &self,
        id: &RequestId,
        user: &str,
        spec: Option<&Value>,
        action: RequestAction,
        options: DeployOptions,
    ) -> String {
        let id = id.clone();
        let flow = self.flow.as_str();
        let (spec_ref, pkg_ref) = match spec {
            Some(spec) => {
                let spec_bytes = serde_json::to_vec(spec).unwrap();
                let pkg = b"code package bytes".to_vec();
                let pkg_ref = BlobRef {
                    key: code_package_key(&sha256_hex(&pkg)),
                    sha256: sha256_hex(&pkg),
                };
                self.raw
                    .put(&format!("ferry/{}", pkg_ref.key), pkg)
                    .await
                    .unwrap();
                let spec_ref = BlobRef {
                    key: spec_key(flow, &id),
                    sha256: sha256_hex(&spec_bytes),
                };
                self.raw
                    .put(&format!("ferry/{}", spec_ref.key), spec_bytes)
                    .await
                    .unwrap();
                (Some(spec_ref), Some(pkg_ref))
            }
            None => (None, None),
        };
        let request = DeployRequest {
            version: 1,
            request_id: id.clone(),
            action,
            deployment: flow.into(),
            flow: flow.into(),
            spec: spec_ref,
            package: pkg_ref,
            user: user.into(),
            requested_at: Utc::now(),
            options,
        };
        let key = format!("ferry/{}", request_key(flow, &id));
        self.raw.put(&key, request.to_json()).await.unwrap();
        key
    }

    /// The `ObjectCreated:Put` notification S3 sends for `key`.
    fn event(&self, key: &str, size: usize) -> S3Event {
        serde_json::from_value(json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": Utc::now().to_rfc3339(), "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "ferry-deploy-requests",
                   "bucket": {"name": self.bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                              "arn": format!("arn:aws:s3:::{}", self.bucket)},
                   "object": {"key": key, "size": size, "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                              "sequencer": "0055AED6DCD90281E5"}}
        }]}))
        .unwrap()
    }

    /// Put a request, deliver its event to the handler, return the result document.
    async fn deploy(
        &self,
        user: &str,
        spec: Option<&Value>,
        action: RequestAction,
    ) -> DeployResult {
        let (id, key) = self.put_request(user, spec, action).await;
        let event = self.event(&key, 100);
        let ctx = self.context().await;
        let summary = deploy::handler::handle_event(&ctx, "ferry/", &event)
            .await
            .unwrap();
        assert_eq!(
            summary["handled"].as_array().map(Vec::len),
            Some(1),
            "{summary}"
        );
        let bytes = self
            .raw
            .get(&format!("ferry/{}", result_key(&self.flow, &id)))
            .await
            .unwrap()
            .expect("result.json");
        DeployResult::from_json(&bytes).unwrap()
    }

    fn aws(&self, script: &str, args: &[&str]) -> Value {
        let out = boto(&self.url, script, args);
        serde_json::from_str(out.trim()).unwrap_or(Value::Null)
    }

    fn state_machine(&self) -> Value {
        self.aws(
            "sfn = boto3.client('stepfunctions', endpoint_url=url)\n\
             arns = [m['stateMachineArn'] for m in sfn.list_state_machines()['stateMachines'] if m['name'] == args[0]]\n\
             d = sfn.describe_state_machine(stateMachineArn=arns[0]) if arns else None\n\
             print(json.dumps(d and {'definition': json.loads(d['definition']), 'roleArn': d['roleArn'], 'arn': arns[0],\n\
               'tags': {t['key']: t['value'] for t in sfn.list_tags_for_resource(resourceArn=arns[0])['tags']}}))",
            &[&self.flow],
        )
    }

    fn schedule(&self, name: &str) -> Value {
        self.aws(
            "s = boto3.client('scheduler', endpoint_url=url)\n\
             try:\n    d = s.get_schedule(Name=args[0], GroupName=args[1])\n\
             except s.exceptions.ResourceNotFoundException:\n    d = None\n\
             print(json.dumps(d and {k: d[k] for k in ('ScheduleExpression', 'ScheduleExpressionTimezone', 'Target', 'State')}))",
            &[name, &self.env["FERRY_SCHEDULE_GROUP"]],
        )
    }

    fn job_definitions(&self, names: &[String]) -> Value {
        let mut args: Vec<&str> = vec![];
        args.extend(names.iter().map(String::as_str));
        self.aws(
            "b = boto3.client('batch', endpoint_url=url)\n\
             print(json.dumps({n: b.describe_job_definitions(jobDefinitionName=n)['jobDefinitions'] for n in args}, default=str))",
            &args,
        )
    }
}

fn spec(flow: &str, schedule: bool) -> Value {
    let mut s = json!({
        "spec_version": 1, "flow": flow, "file": "score.py",
        "steps": [
            {"name": "start", "type": "start", "next": ["end"]},
            {"name": "end", "type": "end", "next": []}
        ]
    });
    if schedule {
        s["decorators"] = json!({"schedule": {"kind": "cron", "cron": "0 10 * * ? *", "timezone": "Europe/Paris"}});
    }
    s
}

/// Job definition names the compiled definition references.
fn referenced_job_definitions(definition: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(jd)) = m.get("JobDefinition")
                    && !out.contains(jd)
                {
                    out.push(jd.clone());
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(definition, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_schedules_reuses_job_definitions_refuses_and_deletes() {
    let stack = stack().await;

    // First deploy by alice, with @schedule.
    let first = stack
        .deploy(
            "alice",
            Some(&spec(&stack.flow, true)),
            RequestAction::Deploy,
        )
        .await;
    assert_eq!(first.status, DeployStatus::Ok, "{:?}", first.messages);
    let sm = stack.state_machine();
    assert_eq!(
        sm["roleArn"],
        format!("arn:aws:iam::{ACCOUNT}:role/ferry-sfn")
    );
    assert_eq!(sm["tags"]["ferry:owner"], "alice");
    assert_eq!(
        sm["arn"],
        format!(
            "arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{}",
            stack.flow
        )
    );
    let definition = sm["definition"].clone();
    assert!(
        definition["States"]["start"]["Resource"]
            .as_str()
            .unwrap()
            .contains("batch:submitJob.sync")
    );
    let command = &definition["States"]["start"]["Parameters"]["ContainerOverrides"]["Command"];
    assert_eq!(command[0], "task-wrapper", "{command}");

    // The deployment record, with the schedule.
    let ctx = stack.context().await;
    let record = DeploymentStore::new(ctx.table.clone())
        .get(&stack.flow)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.owner, "alice");
    assert_eq!(record.version, 1);
    assert_eq!(record.state_machine.id, sm["arn"].as_str().unwrap());
    let schedule_name = record
        .schedule
        .as_ref()
        .expect("a schedule in the record")
        .name
        .clone();

    // The schedule: cron in its time zone, targeting the machine with the Scheduler role.
    let sched = stack.schedule(&schedule_name);
    assert_eq!(sched["ScheduleExpression"], "cron(0 10 * * ? *)");
    assert_eq!(sched["ScheduleExpressionTimezone"], "Europe/Paris");
    assert_eq!(sched["State"], "ENABLED");
    assert_eq!(sched["Target"]["Arn"], sm["arn"]);
    assert_eq!(
        sched["Target"]["RoleArn"],
        format!("arn:aws:iam::{ACCOUNT}:role/ferry-scheduler")
    );
    assert_eq!(sched["Target"]["Input"], r#"{"Parameters": "{}"}"#);

    // Job definitions: registered once each, Fargate, roles, the API-key secret, awslogs.
    let names = referenced_job_definitions(&definition);
    assert!(!names.is_empty());
    let jds = stack.job_definitions(&names);
    for n in &names {
        let revs = jds[n].as_array().unwrap();
        assert_eq!(revs.len(), 1, "{n}: {revs:?}");
        let jd = &revs[0];
        assert_eq!(jd["platformCapabilities"], json!(["FARGATE"]));
        let c = &jd["containerProperties"];
        assert_eq!(c["image"], stack.image.as_str());
        assert_eq!(
            c["jobRoleArn"],
            format!("arn:aws:iam::{ACCOUNT}:role/ferry-job")
        );
        assert_eq!(
            c["executionRoleArn"],
            format!("arn:aws:iam::{ACCOUNT}:role/ferry-exec")
        );
        assert_eq!(
            c["secrets"],
            json!([{"name": "METAFLOW_SERVICE_AUTH_KEY",
                    "valueFrom": format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:ferry-apikey-AbCdEf:apikey::")}])
        );
        assert_eq!(c["logConfiguration"]["logDriver"], "awslogs");
        assert_eq!(
            c["logConfiguration"]["options"]["awslogs-group"],
            "/ferry/batch"
        );
    }

    // Redeploy by alice without @schedule: same job definitions (no new revision), schedule gone.
    let second = stack
        .deploy(
            "alice",
            Some(&spec(&stack.flow, false)),
            RequestAction::Deploy,
        )
        .await;
    assert_eq!(second.status, DeployStatus::Ok, "{:?}", second.messages);
    let jds = stack.job_definitions(&names);
    for n in &names {
        assert_eq!(jds[n].as_array().unwrap().len(), 1, "{n} registered again");
    }
    assert_eq!(stack.schedule(&schedule_name), Value::Null);
    let record = DeploymentStore::new(ctx.table.clone())
        .get(&stack.flow)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.version, 2);
    assert!(record.schedule.is_none());

    // Bob, without alice's token: refused, nothing changes.
    let before = stack.state_machine();
    let refused = stack
        .deploy("bob", Some(&spec(&stack.flow, true)), RequestAction::Deploy)
        .await;
    assert_eq!(
        refused.status,
        DeployStatus::Refused,
        "{:?}",
        refused.messages
    );
    assert_eq!(stack.state_machine(), before);
    assert_eq!(stack.schedule(&schedule_name), Value::Null);
    let record = DeploymentStore::new(ctx.table.clone())
        .get(&stack.flow)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((record.version, record.owner.as_str()), (2, "alice"));

    // Alice puts the schedule back, then deletes: state machine, schedule and record go.
    let third = stack
        .deploy(
            "alice",
            Some(&spec(&stack.flow, true)),
            RequestAction::Deploy,
        )
        .await;
    assert_eq!(third.status, DeployStatus::Ok, "{:?}", third.messages);
    assert_eq!(stack.schedule(&schedule_name)["State"], "ENABLED");
    let deleted = stack.deploy("alice", None, RequestAction::Delete).await;
    assert_eq!(deleted.status, DeployStatus::Ok, "{:?}", deleted.messages);
    assert_eq!(stack.state_machine(), Value::Null);
    assert_eq!(stack.schedule(&schedule_name), Value::Null);
    assert!(
        DeploymentStore::new(ctx.table.clone())
            .get(&stack.flow)
            .await
            .unwrap()
            .is_none()
    );

    // A deploy right after the delete succeeds.
    let again = stack
        .deploy(
            "alice",
            Some(&spec(&stack.flow, false)),
            RequestAction::Deploy,
        )
        .await;
    assert_eq!(again.status, DeployStatus::Ok, "{:?}", again.messages);
    assert!(stack.state_machine()["arn"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_wrapper_hashes_make_tasks_bootstrap_the_wrapper() {
    let stack = stack().await;
    let sha = sha256_hex(b"wrapper stand-in");
    stack
        .raw
        .put(
            "ferry/bin/task-wrapper-x86_64.sha256",
            format!("{sha}  task-wrapper-x86_64\n").into_bytes(),
        )
        .await
        .unwrap();
    let result = stack
        .deploy(
            "alice",
            Some(&spec(&stack.flow, false)),
            RequestAction::Deploy,
        )
        .await;
    assert_eq!(result.status, DeployStatus::Ok, "{:?}", result.messages);
    let sm = stack.state_machine();
    let command =
        sm["definition"]["States"]["start"]["Parameters"]["ContainerOverrides"]["Command"]
            .as_array()
            .unwrap()
            .clone();
    assert_eq!(command[0], "python3");
    assert_eq!(command[1], "-c");
    assert_eq!(command[2], ferry_compile::bootstrap::BOOTSTRAP_SCRIPT);
    assert_eq!(command[3], stack.bucket.as_str());
    assert_eq!(command[4], "ferry/bin/task-wrapper-");
    assert_eq!(command[5], format!("x86_64={sha}"));
    assert_eq!(command[6], "--");
    assert_eq!(command[7], "run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_secrets_live_in_ssm_and_leave_with_the_deployment() {
    use ferry_deploy::SecretName;
    use ferry_deploy::notifications::{NotifyFlags, plan};
    const SLACK: &str = "https://hooks.slack.com/services/T000/B000/s3cr3tSlackT0kenValue";
    const PD: &str = "R0UT1NGKEYs3cr3t0123456789abcdef";
    let stack = stack().await;
    let ctx = stack.context().await;

    // As the CLI does: the values go to the secret store first, the request names them.
    let id = RequestId::new();
    let name = SecretName::for_notifications(&stack.flow, &id).unwrap();
    let p = plan(&NotifyFlags {
        on_error: true,
        slack_webhook_url: Some(SLACK.into()),
        pager_duty_integration_key: Some(PD.into()),
        ..NotifyFlags::default()
    })
    .unwrap();
    ctx.secrets.put(&name, &p.secrets.to_json()).await.unwrap();
    let mut n = p.notifications.unwrap();
    n.secret = Some(name.clone());
    let options = DeployOptions {
        notifications: Some(n),
        ..DeployOptions::default()
    };
    let key = stack
        .put_request_with(
            &id,
            "alice",
            Some(&spec(&stack.flow, true)),
            RequestAction::Deploy,
            options,
        )
        .await;
    deploy::handler::handle_event(&ctx, "ferry/", &stack.event(&key, 100))
        .await
        .unwrap();
    let result = DeployResult::from_json(
        &stack
            .raw
            .get(&format!("ferry/{}", result_key(&stack.flow, &id)))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(result.status, DeployStatus::Ok, "{:?}", result.messages);

    // A SecureString under the stack's prefix holds the values.
    let parameter = format!("{}{}", stack.env["FERRY_SECRETS_PREFIX"], name);
    let p = stack.aws(
        "p = boto3.client('ssm', endpoint_url=url).get_parameter(Name=args[0], WithDecryption=True)['Parameter']\n\
         print(json.dumps({'type': p['Type'], 'value': p['Value']}))",
        &[&parameter],
    );
    assert_eq!(p["type"], "SecureString");
    let values =
        ferry_deploy::NotificationSecrets::from_json(p["value"].as_str().unwrap()).unwrap();
    assert_eq!(values.slack_webhook_url.as_deref(), Some(SLACK));
    assert_eq!(values.pager_duty_integration_key.as_deref(), Some(PD));

    // Nowhere else: the definition, the schedule, the record and every object of the bucket.
    let mut everything = stack.state_machine().to_string();
    everything.push_str(
        &stack
            .schedule(&result.schedule.clone().unwrap().name)
            .to_string(),
    );
    everything.push_str(&stack.aws(
        "print(json.dumps(boto3.client('dynamodb', endpoint_url=url).scan(TableName=args[0])['Items']))",
        &[&stack.env["FERRY_DEPLOYMENTS_TABLE"]],
    ).to_string());
    for k in stack.raw.list("").await.unwrap() {
        everything.push_str(&String::from_utf8_lossy(
            &stack.raw.get(&k).await.unwrap().unwrap(),
        ));
    }
    assert!(
        everything.contains("hooks.slack.com/…alue"),
        "the masked form is recorded"
    );
    for value in ["s3cr3tSlackT0kenValue", PD] {
        assert!(!everything.contains(value), "{value} leaked");
    }

    // Deleting the deployment deletes the parameter.
    let gone = stack.deploy("alice", None, RequestAction::Delete).await;
    assert_eq!(gone.status, DeployStatus::Ok, "{:?}", gone.messages);
    assert!(!ctx.secrets.exists(&name).await.unwrap());
}

/// A spec of `flow` with a `str` parameter `day` and the flow decorators `decorators`.
fn triggered_spec(flow: &str, decorators: Value) -> Value {
    json!({
        "spec_version": 2, "flow": flow, "file": "score.py",
        "parameters": [{"name": "day", "type": "str", "default": "today"}],
        "decorators": decorators,
        "steps": [
            {"name": "start", "type": "start", "next": ["end"]},
            {"name": "end", "type": "end", "next": []}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_rules_follow_the_deployment_and_a_bad_mapping_is_refused() {
    let mut stack = stack().await;
    let bus = ferry_testkit::unique("ferry-bus");
    let prefix = format!("{}-", ferry_testkit::unique("fr"));
    let function = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:ferry-events");
    boto(
        &stack.url,
        "boto3.client('events', endpoint_url=url).create_event_bus(Name=args[0])",
        &[&bus],
    );
    stack
        .env
        .insert("FERRY_EVENTS_FUNCTION_ARN", function.clone());
    stack.env.insert("FERRY_EVENT_BUS", bus.clone());
    stack.env.insert("FERRY_RULE_PREFIX", prefix.clone());
    // Every rule of the prefix on both buses, with its pattern and targets.
    let rules = || -> Value {
        let out = boto(
            &stack.url,
            "ev = boto3.client('events', endpoint_url=url)\n\
             out = {}\n\
             for bus in [args[0], 'default']:\n\
             \x20   for r in ev.list_rules(NamePrefix=args[1], EventBusName=bus)['Rules']:\n\
             \x20       t = ev.list_targets_by_rule(Rule=r['Name'], EventBusName=bus)['Targets']\n\
             \x20       out[bus + '/' + r['Name']] = {'pattern': json.loads(r['EventPattern']), 'targets': t}\n\
             print(json.dumps(out))",
            &[&bus, &prefix],
        );
        serde_json::from_str(&out).unwrap()
    };
    let flow = stack.flow.clone();
    let trigger_rule = format!("{bus}/{prefix}trigger-{flow}");
    let status_rule = format!("default/{prefix}status-{flow}");

    // @trigger: its rule on the Ferry bus, addressed to the deployment; the status rule.
    let decorators =
        json!({"trigger": {"events": [{"name": "data_ready", "parameters": {"day": "date"}}]}});
    let first = stack
        .deploy(
            "alice",
            Some(&triggered_spec(&flow, decorators)),
            RequestAction::Deploy,
        )
        .await;
    assert_eq!(first.status, DeployStatus::Ok, "{:?}", first.messages);
    let r = rules();
    assert_eq!(r.as_object().unwrap().len(), 2, "{r}");
    assert_eq!(
        r[&trigger_rule]["pattern"],
        json!({"source": ["ferry.events"], "detail-type": ["data_ready"]})
    );
    let target = &r[&trigger_rule]["targets"][0];
    assert_eq!(target["Arn"], json!(function));
    assert_eq!(
        target["InputTransformer"]["InputTemplate"],
        json!(format!(
            "{{\"deployment\": \"{flow}\", \"event\": <aws.events.event.json>}}"
        ))
    );
    assert_eq!(
        r[&status_rule]["pattern"],
        json!({"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
               "detail": {"stateMachineArn": [format!("arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{flow}")]}})
    );
    assert_eq!(r[&status_rule]["targets"][0]["Arn"], json!(function));
    assert!(
        r[&status_rule]["targets"][0]
            .get("InputTransformer")
            .is_none()
    );

    // A mapping naming a parameter the flow lacks: refused, the rules stay as they were.
    let bad =
        json!({"trigger": {"events": [{"name": "data_ready", "parameters": {"dya": "date"}}]}});
    let refused = stack
        .deploy(
            "alice",
            Some(&triggered_spec(&flow, bad)),
            RequestAction::Deploy,
        )
        .await;
    assert_eq!(refused.status, DeployStatus::Failed);
    let text = refused.messages.join("\n");
    assert!(text.contains("dya"), "{text}");
    assert_eq!(rules().as_object().unwrap().len(), 2);

    // Redeployed without the trigger: its rule goes, the status rule stays.
    let plain = stack
        .deploy(
            "alice",
            Some(&triggered_spec(&flow, json!({}))),
            RequestAction::Deploy,
        )
        .await;
    assert_eq!(plain.status, DeployStatus::Ok, "{:?}", plain.messages);
    let r = rules();
    assert_eq!(
        r.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec![&status_rule]
    );

    // Deleted: no rule is left.
    let deleted = stack.deploy("alice", None, RequestAction::Delete).await;
    assert_eq!(deleted.status, DeployStatus::Ok, "{:?}", deleted.messages);
    assert_eq!(rules(), json!({}));
}
