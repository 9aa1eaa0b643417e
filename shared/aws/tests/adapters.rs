//! The adapters against moto in server mode: Step Functions state machines and executions
//! (start, list, describe, find, stop, wait),
//! EventBridge Scheduler schedules, Batch job definitions.

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_aws::{Adapters, AwsConfig};
use ferry_compile::Platform;

use ferry_control::{
    ControlError, DeploymentName, ExecutionName, ExecutionStatus, Executions, StateMachines,
};
use ferry_deploy::{JobDefinitionSpec, JobDefinitions, ScheduleSpec, Schedules};

const ACCOUNT: &str = "123456789012";

async fn adapters() -> (Adapters, AwsConfig) {
    let url = ferry_testkit::moto_url();
    // SAFETY: set before any client reads them; every test of this binary sets the same values.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &url);
        for (k, v) in ferry_testkit::aws_test_env() {
            std::env::set_var(k, v);
        }
    }
    let group = ferry_testkit::unique("ferry-group");
    let env = BTreeMap::from([
        ("FERRY_BUCKET", "ferry-unused".to_string()),
        ("FERRY_DEPLOYMENTS_TABLE", "unused".to_string()),
        (
            "FERRY_SFN_ROLE_ARN",
            format!("arn:aws:iam::{ACCOUNT}:role/sfn"),
        ),
        (
            "FERRY_SCHEDULER_ROLE_ARN",
            format!("arn:aws:iam::{ACCOUNT}:role/scheduler"),
        ),
        ("FERRY_SCHEDULE_GROUP", group),
        (
            "FERRY_API_KEY_SECRET_ARN",
            format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:k"),
        ),
        ("FERRY_BATCH_LOG_GROUP", "/ferry/batch".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ]);
    let config = AwsConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    let sdk = ferry_aws::sdk_config().await;
    let a = Adapters::new(&sdk, &config).unwrap();
    a.schedules.create_group_if_missing().await.unwrap();
    (a, config)
}

const PASS: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;
const WAIT: &str = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":300,"End":true}}}"#;

fn dn(name: &str) -> DeploymentName {
    DeploymentName::parse(name).unwrap()
}

fn en(name: &str) -> ExecutionName {
    ExecutionName::parse(name).unwrap()
}

#[tokio::test]
async fn state_machines_are_created_updated_described_and_deleted_by_name() {
    let (a, _) = adapters().await;
    let o = &a.step_functions;
    let name = dn(&ferry_testkit::unique("Flow"));
    assert!(o.get(&name).await.unwrap().is_none());
    let tags = BTreeMap::from([("ferry:owner".to_string(), "alice".to_string())]);
    let r = o.put(&name, PASS, &tags).await.unwrap();
    assert_eq!(
        r.id,
        format!("arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{name}")
    );
    // Again: an update, with a new definition and tag.
    let tags2 = BTreeMap::from([("ferry:owner".to_string(), "bob".to_string())]);
    let r2 = o.put(&name, WAIT, &tags2).await.unwrap();
    assert_eq!(r2, r);
    let sm = o.get(&name).await.unwrap().unwrap();
    assert_eq!(sm.definition, WAIT);
    assert_eq!(sm.tags["ferry:owner"], "bob");
    assert_eq!(sm.id, r.id);
    assert_eq!(sm.reference(), r);

    assert!(o.delete(&name).await.unwrap());
    assert!(!o.delete(&name).await.unwrap());
    assert!(o.get(&name).await.unwrap().is_none());
    // Recreated right after the delete.
    o.put(&name, PASS, &tags).await.unwrap();
    assert!(o.delete(&name).await.unwrap());
}

#[tokio::test]
async fn executions_start_list_describe_and_stop() {
    let (a, _) = adapters().await;
    let o = &a.step_functions;
    let name = dn(&ferry_testkit::unique("Flow"));
    o.put(&name, WAIT, &BTreeMap::new()).await.unwrap();
    let input = r#"{"Parameters": "{\"alpha\": 0.5}"}"#;
    let e = o.start(&name, Some(&en("run-1")), input).await.unwrap();
    assert_eq!(e.name, "run-1");
    assert_eq!(e.status, ExecutionStatus::Running);
    assert_eq!(
        e.id,
        format!("arn:aws:states:us-east-1:{ACCOUNT}:execution:{name}:run-1")
    );
    // Same name, other input (the same input is idempotent while running, as on AWS).
    assert!(matches!(
        o.start(&name, Some(&en("run-1")), "{}").await,
        Err(ControlError::AlreadyExists(_))
    ));
    let generated = o.start(&name, None, "{}").await.unwrap();
    assert_eq!(generated.name.len(), 36, "a UUID: {}", generated.name);

    let d = o.describe(&name, &en("run-1")).await.unwrap().unwrap();
    assert_eq!(d.input.as_deref(), Some(input));
    assert_eq!(d.state_machine, name);
    assert_eq!(d.id, e.id, "the execution ARN");
    assert!(o.describe(&name, &en("nope")).await.unwrap().is_none());
    // Found by name among candidate state machines (a run id names no state machine).
    let other = dn(&ferry_testkit::unique("Other"));
    let found = o
        .find(&en("run-1"), &[other.clone(), name.clone()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, e.id);
    assert!(o.find(&en("run-1"), &[other]).await.unwrap().is_none());

    let all = o.list(&name, None).await.unwrap();
    let mut names: Vec<_> = all.iter().map(|x| x.name.to_string()).collect();
    names.sort();
    let mut expected = vec!["run-1".to_string(), generated.name.to_string()];
    expected.sort();
    assert_eq!(names, expected);

    // Waiting on a running execution gives up at the timeout and returns it as it is.
    let waited = o
        .wait(&name, &en("run-1"), Duration::from_millis(600))
        .await
        .unwrap();
    assert_eq!(waited.status, ExecutionStatus::Running);

    let stopped = o
        .stop(
            &name,
            &en("run-1"),
            Some("Ferry.Terminated"),
            Some("by test"),
        )
        .await
        .unwrap();
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    assert!(stopped.stop_date.is_some());
    // Stopping a finished execution returns it unchanged.
    let again = o.stop(&name, &en("run-1"), None, None).await.unwrap();
    assert_eq!(again.status, ExecutionStatus::Aborted);
    let aborted = o.list(&name, Some(ExecutionStatus::Aborted)).await.unwrap();
    assert_eq!(
        aborted.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
        ["run-1"]
    );
    assert!(matches!(
        o.stop(&name, &en("nope"), None, None).await,
        Err(ControlError::NotFound(_))
    ));
    let missing = dn(&ferry_testkit::unique("Missing"));
    assert!(matches!(
        o.start(&missing, None, "{}").await,
        Err(ControlError::NotFound(_))
    ));
    o.delete(&name).await.unwrap();
}

#[tokio::test]
async fn waiting_for_an_execution_polls_until_it_ends() {
    let (a, _) = adapters().await;
    let o = &a.step_functions;
    let name = dn(&ferry_testkit::unique("Flow"));
    o.put(&name, PASS, &BTreeMap::new()).await.unwrap();
    let e = o.start(&name, None, r#"{"x": 1}"#).await.unwrap();
    let done = o
        .wait(&name, &e.name, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert!(done.stop_date.is_some());
    assert!(matches!(
        o.wait(&name, &en("nope"), Duration::from_secs(1)).await,
        Err(ControlError::NotFound(_))
    ));
    o.delete(&name).await.unwrap();
}

#[tokio::test]
async fn schedules_are_created_replaced_read_and_deleted() {
    let (a, _) = adapters().await;
    let name = ferry_testkit::unique("flow-schedule");
    let sm = a
        .step_functions
        .put(&dn(&ferry_testkit::unique("Flow")), PASS, &BTreeMap::new())
        .await
        .unwrap();
    let s = &a.schedules;
    assert!(s.get(&name).await.unwrap().is_none());
    let mut spec = ScheduleSpec {
        name: name.clone(),
        expression: "0 10 * * ? *".into(),
        timezone: Some("Europe/Paris".into()),
        target: sm.clone(),
        input: r#"{"Parameters": "{}"}"#.into(),
    };
    s.put(&spec).await.unwrap();
    assert_eq!(s.get(&name).await.unwrap().unwrap(), spec);
    spec.expression = "0 * * * ? *".into();
    spec.timezone = None;
    s.put(&spec).await.unwrap();
    let got = s.get(&name).await.unwrap().unwrap();
    assert_eq!(got.expression, "0 * * * ? *");
    assert_eq!(got.timezone.as_deref(), Some("UTC"));
    assert!(s.delete(&name).await.unwrap());
    assert!(!s.delete(&name).await.unwrap());
    assert!(s.get(&name).await.unwrap().is_none());
}

#[tokio::test]
async fn job_definitions_are_registered_once_and_reused() {
    let (a, _) = adapters().await;
    let spec = JobDefinitionSpec {
        name: ferry_testkit::unique("ferry-jd"),
        image: "python:3.11-slim".into(),
        job_role_arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/job")),
        execution_role_arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/exec")),
        platform: Platform::Fargate,
        shared_memory_mib: None,
        vcpus: "1".into(),
        memory_mib: 4096,
    };
    let arn = a.job_definitions.ensure(&spec).await.unwrap();
    assert!(
        arn.ends_with(&format!("job-definition/{}:1", spec.name)),
        "{arn}"
    );
    assert_eq!(a.job_definitions.ensure(&spec).await.unwrap(), arn);
    let props = a.job_definitions.container_properties(&spec);
    assert_eq!(
        props.secrets()[0].value_from(),
        Some(format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:k:apikey::").as_str())
    );
}

#[tokio::test]
async fn secrets_are_secure_strings_under_the_prefix() {
    use ferry_deploy::{SecretName, Secrets};
    let (_, _) = adapters().await;
    let prefix = format!("/ferry/{}/", ferry_testkit::unique("stack"));
    let s = ferry_aws::SsmSecrets::from_config(&ferry_aws::sdk_config().await, &prefix);
    let name = SecretName::new("notify/HelloFlow/0b8c8d1e-6a1f-4a53-9e52-1f3c2f4f7a10").unwrap();
    assert_eq!(s.location(&name), format!("ssm:{prefix}{name}"));
    assert_eq!(s.get(&name).await.unwrap(), None);
    assert!(!s.exists(&name).await.unwrap());
    assert!(!s.delete(&name).await.unwrap());
    s.put(&name, "{\"webhook_url\":\"https://example.com/s3cr3t\"}")
        .await
        .unwrap();
    assert!(s.exists(&name).await.unwrap());
    s.put(&name, "replaced").await.unwrap();
    assert_eq!(s.get(&name).await.unwrap().as_deref(), Some("replaced"));
    // A SecureString: without decryption the stored value is not the plain text.
    let raw = ferry_testkit::boto3(
        &ferry_testkit::moto_url(),
        "p = boto3.client('ssm', endpoint_url=url, region_name='us-east-1').get_parameter(Name=args[0])['Parameter']\n\
         print(json.dumps([p['Type'], p['Value']]))",
        &[&s.parameter_name(&name)],
    );
    let raw: Vec<String> = serde_json::from_str(raw.trim()).unwrap();
    assert_eq!(raw[0], "SecureString");
    assert_ne!(raw[1], "replaced");
    assert!(s.delete(&name).await.unwrap());
    assert!(!s.exists(&name).await.unwrap());
}

/// The value at a JSONPath of the shapes the compiler emits (`$.a.b`, `$.a['x.y']`).
fn at_path<'v>(input: &'v serde_json::Value, path: &str) -> &'v serde_json::Value {
    let mut v = input;
    let mut rest = path.strip_prefix('$').expect("a JSONPath");
    while !rest.is_empty() {
        let (key, tail) = if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']").expect("a closed bracket");
            (&r[..end], &r[end + 2..])
        } else {
            let r = rest.strip_prefix('.').expect("a dotted path");
            let end = r.find(['.', '[']).unwrap_or(r.len());
            (&r[..end], &r[end..])
        };
        v = &v[key];
        rest = tail;
    }
    v
}

/// Step Functions' evaluation of a `Parameters` block against `input`: every `"<key>.$":
/// <path>` becomes `"<key>": <value at path>`.
fn resolve(params: &serde_json::Value, input: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match params {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| match (k.strip_suffix(".$"), v) {
                    (Some(k), Value::String(p)) => (k.to_string(), at_path(input, p).clone()),
                    _ => (k.clone(), resolve(v, input)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| resolve(v, input)).collect()),
        other => other.clone(),
    }
}

/// The compiled array-form body (three steps, the middle one retried) made into the
/// `SubmitJob` requests Step Functions makes from it: moto accepts each, and records the array
/// size and the N_TO_N dependency on the previous step's array job.
#[tokio::test]
async fn array_form_submit_jobs_are_accepted_by_batch() {
    use aws_sdk_batch::types::{
        ArrayProperties, ContainerOverrides, JobDependency, KeyValuePair, RetryStrategy,
    };
    use ferry_compile::{CompileOptions, ForeachMode};
    use ferry_spec::model::*;
    use ferry_spec::task::{BlobStoreRef, PackageRef, TableRef};
    use serde_json::json;

    let (a, _) = adapters().await;
    let queue = ferry_testkit::unique("ferry-queue");
    let url = ferry_testkit::moto_url();
    ferry_testkit::boto3(
        &url,
        "iam = boto3.client('iam', endpoint_url=url)\n\
         role = iam.create_role(RoleName=args[0], AssumeRolePolicyDocument='{}')['Role']['Arn']\n\
         b = boto3.client('batch', endpoint_url=url)\n\
         ce = b.create_compute_environment(computeEnvironmentName=args[0], type='UNMANAGED', state='ENABLED', \
             serviceRole=role)['computeEnvironmentArn']\n\
         b.create_job_queue(jobQueueName=args[0], state='ENABLED', priority=1, \
             computeEnvironmentOrder=[{'order': 1, 'computeEnvironment': ce}])\n",
        &[&queue],
    );

    let step = |name: &str, ty: StepType, next: &[&str]| Step {
        name: name.into(),
        ty,
        next: next.iter().map(|s| s.to_string()).collect(),
        foreach: (ty == StepType::Foreach).then(|| "items".to_string()),
        num_parallel: None,
        decorators: StepDecorators::default(),
        command: None,
    };
    let mut spec = FlowSpec {
        spec_version: SPEC_VERSION,
        flow: "ArrayFlow".into(),
        file: "flow.py".into(),
        metaflow_version: None,
        parameters: vec![],
        decorators: FlowDecorators::default(),
        steps: vec![
            step("start", StepType::Start, &["fan"]),
            step("fan", StepType::Foreach, &["prep"]),
            step("prep", StepType::Linear, &["train"]),
            step("train", StepType::Linear, &["score"]),
            step("score", StepType::Linear, &["join"]),
            step("join", StepType::Join, &["end"]),
            step("end", StepType::End, &[]),
        ],
    };
    spec.steps[3].decorators.retry = Some(Retry {
        times: 2,
        minutes_between_retries: 0,
    });
    let options = CompileOptions {
        state_machine_name: "ArrayFlow".into(),
        blobs: BlobStoreRef::S3 {
            bucket: "b".into(),
            prefix: "p".into(),
        },
        state_table_name: "t".into(),
        state_table: TableRef::Dynamodb { table: "t".into() },
        job_queue: queue.clone(),
        default_image: "python:3.12".into(),
        code_package: PackageRef {
            key: "code/x.tgz".into(),
            sha256: "0".repeat(64),
        },
        owner: "alice".into(),
        production_token: "arrayflow-0-abcd".into(),
        foreach_mode: ForeachMode::Array,
        ..Default::default()
    };
    let graph = ferry_spec::FlowGraph::new(&spec).unwrap();
    let compiled = ferry_compile::compile(&spec, &graph, &options).unwrap();
    for jd in &compiled.job_definitions {
        a.job_definitions.ensure(jd).await.unwrap();
    }
    let body = &compiled.definition["States"]["fan-map"]["ItemProcessor"]["States"];
    let batch = aws_sdk_batch::Client::new(&ferry_aws::sdk_config().await);
    // The input of one chunk iteration of 3 items (what the chunk Map's ItemSelector makes).
    let mut input = json!({
        "JobId": "fe-1", "Parameters": {"metaflow.run_id": "r1"},
        "Offset": "0", "Size": 3, "Count": "3",
    });
    let mut previous: Option<String> = None;
    for name in ["prep", "train", "score"] {
        let p = resolve(&body[name]["Parameters"], &input);
        let o = &p["ContainerOverrides"];
        let mut overrides = ContainerOverrides::builder();
        for c in o["Command"].as_array().unwrap() {
            overrides = overrides.command(c.as_str().unwrap());
        }
        for e in o["Environment"].as_array().unwrap() {
            overrides = overrides.environment(
                KeyValuePair::builder()
                    .name(e["Name"].as_str().unwrap())
                    .value(e["Value"].as_str().expect("environment values are strings"))
                    .build(),
            );
        }
        let mut req = batch
            .submit_job()
            .job_name(p["JobName"].as_str().unwrap())
            .job_queue(p["JobQueue"].as_str().unwrap())
            .job_definition(p["JobDefinition"].as_str().unwrap())
            .container_overrides(overrides.build())
            .array_properties(
                ArrayProperties::builder()
                    .size(p["ArrayProperties"]["Size"].as_i64().unwrap() as i32)
                    .build(),
            )
            .retry_strategy(
                RetryStrategy::builder()
                    .attempts(p["RetryStrategy"]["Attempts"].as_i64().unwrap() as i32)
                    .build(),
            );
        for (k, v) in p["Parameters"].as_object().unwrap() {
            req = req.parameters(k, v.as_str().unwrap());
        }
        for d in p["DependsOn"].as_array().into_iter().flatten() {
            req = req.depends_on(
                JobDependency::builder()
                    .job_id(d["JobId"].as_str().unwrap())
                    .r#type(d["Type"].as_str().unwrap().into())
                    .build(),
            );
        }
        let id = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
            .job_id()
            .unwrap()
            .to_string();
        let described = batch.describe_jobs().jobs(&id).send().await.unwrap();
        let job = &described.jobs()[0];
        assert_eq!(
            job.array_properties().and_then(|a| a.size()),
            Some(3),
            "{name}"
        );
        let deps: Vec<(String, String)> = job
            .depends_on()
            .iter()
            .map(|d| {
                (
                    d.job_id().unwrap_or_default().to_string(),
                    d.r#type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        match &previous {
            None => assert!(deps.is_empty(), "{name}: {deps:?}"),
            Some(prev) => assert_eq!(deps, [(prev.clone(), "N_TO_N".to_string())], "{name}"),
        }
        // @retry(times=2) is per child: Batch retries each child up to 3 attempts (moto does
        // not echo the strategy back, so read what was sent).
        let attempts = p["RetryStrategy"]["Attempts"].as_i64();
        assert_eq!(
            attempts,
            Some(if name == "train" { 3 } else { 1 }),
            "{name}"
        );
        // The next body state reads this job's id at `$.Array.JobId` (its ResultPath).
        input["Array"] = json!({"JobId": id});
        previous = Some(id);
    }
}
