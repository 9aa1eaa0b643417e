//! The CLI against a Ferry stack on AWS, emulated by moto: `ferry configure` with flags, then
//! `deploy` (a test harness plays the deploy Lambda: it handles each uploaded request with the
//! real use case on the `ferry-aws` adapters), `trigger`, `list-runs`, `status`, `terminate` and
//! `delete`, checked against Step Functions through boto3.

use std::collections::HashSet;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ferry_compile::{CompileOptions, Platform};
use ferry_deploy::{DeployContext, DeploySettings};
use ferry_spec::task::{BlobStoreRef, DatastoreSettings, MetadataSettings, TableRef};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const ACCOUNT: &str = "123456789012";

fn flow_source(name: &str) -> String {
    format!(
        "from metaflow import FlowSpec, Parameter, step\n\n\nclass {name}(FlowSpec):\n    alpha = Parameter('alpha', default=0.5)\n\n    @step\n    def start(self):\n        self.next(self.end)\n\n    @step\n    def end(self):\n        pass\n\n\nif __name__ == '__main__':\n    {name}()\n"
    )
}

fn boto(url: &str, script: &str, args: &[&str]) -> String {
    ferry_testkit::boto3(url, script, args)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The deploy Lambda's stand-in: every new `request.json` under `ferry/deploy/` goes to the use
/// case, as the S3 notification would deliver it.
async fn harness(ctx: DeployContext, stop: Arc<AtomicBool>) {
    let mut done = HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        for key in ctx.blobs.list("deploy/").await.unwrap() {
            if key.ends_with("/request.json") && done.insert(key.clone()) {
                ferry_deploy::handle_request_key(&ctx, &key).await.unwrap();
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[test]
fn deploy_trigger_list_status_terminate_delete_on_aws() {
    let url = ferry_testkit::moto_url();
    // SAFETY: set before any client exists; this test binary has one test.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &url);
        for (k, v) in ferry_testkit::aws_test_env() {
            std::env::set_var(k, v);
        }
    }
    let bucket = ferry_testkit::unique("ferry-cli-runs").to_ascii_lowercase();
    let table = ferry_testkit::unique("ferry-deployments");
    boto(
        &url,
        "boto3.client('s3', endpoint_url=url).create_bucket(Bucket=args[0])\n\
         boto3.client('dynamodb', endpoint_url=url).create_table(TableName=args[1], BillingMode='PAY_PER_REQUEST',\n\
           KeySchema=[{'AttributeName':'pk','KeyType':'HASH'},{'AttributeName':'sk','KeyType':'RANGE'}],\n\
           AttributeDefinitions=[{'AttributeName':'pk','AttributeType':'S'},{'AttributeName':'sk','AttributeType':'S'}])",
        &[&bucket, &table],
    );
    let sfn_role = format!("arn:aws:iam::{ACCOUNT}:role/ferry-sfn");
    let home = tempfile::tempdir().unwrap();
    // The stack's metadata service (`ferry resume` reads the origin run's tasks there).
    let metadata = ferry_testkit::MetadataService::start(&home.path().join("metadata.sqlite"));
    let mf = tempfile::tempdir().unwrap();
    let flows = tempfile::tempdir().unwrap();
    let flow = format!("Runs{}Flow", ferry_testkit::unique("").replace('-', ""));
    let file = flows.path().join("runs.py");
    std::fs::write(&file, flow_source(&flow)).unwrap();
    let file = file.to_str().unwrap().to_string();

    let ferry = |args: &[&str]| {
        Command::new(FERRY)
            .args(args)
            .env("FERRY_HOME", home.path())
            .env("METAFLOW_HOME", mf.path())
            .env("FERRY_PYTHON", ferry_testkit::python())
            .env("METAFLOW_USER", "alice")
            .env("METAFLOW_TOKEN_HOME", home.path().join("tokens"))
            .envs(ferry_testkit::aws_test_env())
            // The endpoint comes from `ferry configure --endpoint-url` alone.
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .unwrap()
    };
    let out = ferry(&[
        "configure",
        "--bucket",
        &bucket,
        "--table",
        &table,
        "--region",
        "us-east-1",
        "--endpoint-url",
        &url,
        "--service-url",
        &metadata.url,
        "--sfn-role",
        &sfn_role,
        "--api-key",
        "test-key-0123456789",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    // The harness with the use case on the AWS adapters.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ctx = rt.block_on(async {
        let blobs = ferry_store::open_blobs(&BlobStoreRef::S3 {
            bucket: bucket.clone(),
            prefix: "ferry/".into(),
        })
        .await
        .unwrap();
        let table = ferry_store::open_table(&TableRef::Dynamodb {
            table: table.clone(),
        })
        .await
        .unwrap();
        let env = std::collections::HashMap::from([
            ("FERRY_BUCKET", bucket.clone()),
            ("FERRY_DEPLOYMENTS_TABLE", "unused".to_string()),
            ("FERRY_SFN_ROLE_ARN", sfn_role.clone()),
            (
                "FERRY_SCHEDULER_ROLE_ARN",
                format!("arn:aws:iam::{ACCOUNT}:role/ferry-scheduler"),
            ),
            ("AWS_REGION", "us-east-1".to_string()),
        ]);
        let config = ferry_aws::AwsConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
        let adapters = ferry_aws::Adapters::new(&ferry_aws::sdk_config().await, &config).unwrap();
        DeployContext {
            table,
            blobs,
            state_machines: Arc::new(adapters.step_functions),
            schedules: Arc::new(adapters.schedules),
            job_definitions: Arc::new(adapters.job_definitions),
            secrets: Arc::new(adapters.secrets),
            event_rules: Arc::new(ferry_deploy::NoEventRules),
            settings: DeploySettings {
                event_rules: None,
                platform: ferry_deploy::PLATFORM_AWS.to_string(),
                state_machine_prefix: None,
                claim_stale_after_secs: 150,
                compile: CompileOptions {
                    blobs: BlobStoreRef::S3 {
                        bucket: bucket.clone(),
                        prefix: "ferry/".into(),
                    },
                    state_table_name: "ferry-state".into(),
                    state_table: TableRef::Dynamodb {
                        table: "ferry-state".into(),
                    },
                    job_queue: format!("arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/ferry"),
                    default_image: format!(
                        "registry.example.com/{}:1",
                        ferry_testkit::unique("task")
                    ),
                    job_role_arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/ferry-job")),
                    execution_role_arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/ferry-exec")),
                    platform: Platform::Fargate,
                    metadata: MetadataSettings {
                        kind: "service".into(),
                        url: Some("https://meta.example.com/api".into()),
                    },
                    datastore: DatastoreSettings {
                        kind: "s3".into(),
                        root: format!("s3://{bucket}/metaflow"),
                    },
                    ..CompileOptions::default()
                },
            },
        }
    });
    let handler = rt.spawn(harness(ctx, stop.clone()));

    // deploy: uploaded, handled, answered.
    let out = ferry(&["deploy", &file, "--timeout", "60"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("pushed to AWS Step Functions successfully"),
        "{}",
        text(&out)
    );
    let sm_arn = format!("arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{flow}");
    let described = boto(
        &url,
        "print(boto3.client('stepfunctions', endpoint_url=url).describe_state_machine(stateMachineArn=args[0])['roleArn'])",
        &[&sm_arn],
    );
    assert_eq!(described.trim(), sfn_role);

    // trigger: an execution with Metaflow's input.
    let run_file = flows.path().join("run-id");
    let out = ferry(&[
        "trigger",
        &file,
        "--alpha",
        "0.9",
        "--run-id-file",
        run_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let run_id = std::fs::read_to_string(&run_file).unwrap();
    let name = run_id.strip_prefix("sfn-").unwrap().to_string();
    let exec_arn = format!("arn:aws:states:us-east-1:{ACCOUNT}:execution:{flow}:{name}");
    let input = boto(
        &url,
        "print(boto3.client('stepfunctions', endpoint_url=url).describe_execution(executionArn=args[0])['input'])",
        &[&exec_arn],
    );
    let input: serde_json::Value = serde_json::from_str(input.trim()).unwrap();
    let params: serde_json::Value =
        serde_json::from_str(input["Parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["alpha"], 0.9);

    // list-runs and status name that execution with the status Step Functions reports.
    let sfn_status = || {
        boto(&url, "print(boto3.client('stepfunctions', endpoint_url=url).describe_execution(executionArn=args[0])['status'])", &[&exec_arn])
            .trim()
            .to_string()
    };
    let out = ferry(&["list-runs", &file]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&run_id),
        "{}",
        text(&out)
    );
    let out = ferry(&["--json", "status", &run_id]);
    let t = text(&out);
    assert!(t.contains(&name), "{t}");

    // terminate: a running execution ends ABORTED; a finished one is reported as such.
    let before = sfn_status();
    let out = ferry(&["terminate", &run_id]);
    if before == "RUNNING" {
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(sfn_status(), "ABORTED");
    } else {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("is not running"), "{}", text(&out));
    }

    // resume: the ended run starts again on its state machine, with the resume input; its
    // start task succeeded (as the metadata service has it), so the plan clones it.
    let http = reqwest::Client::new();
    let post = |path: String, body: serde_json::Value| {
        let req = http.post(format!("{}{path}", metadata.url)).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            assert!(resp.status().is_success(), "{path}: {}", resp.status());
        }
    };
    let user = serde_json::json!({"user_name": "alice", "tags": [], "system_tags": []});
    rt.block_on(async {
        post(format!("/flows/{flow}"), user.clone()).await;
        let mut run = user.clone();
        run["run_number"] = serde_json::json!(run_id);
        post(format!("/flows/{flow}/run"), run).await;
        post(
            format!("/flows/{flow}/runs/{run_id}/steps/start/step"),
            user.clone(),
        )
        .await;
        let mut task = user.clone();
        task["task_id"] = serde_json::json!("t-start");
        post(
            format!("/flows/{flow}/runs/{run_id}/steps/start/task"),
            task,
        )
        .await;
        post(
            format!("/flows/{flow}/runs/{run_id}/steps/start/tasks/t-start/metadata"),
            serde_json::json!([{"field_name": "attempt_ok", "value": "True",
                "type": "internal_attempt_status", "user_name": "alice",
                "tags": ["attempt_id:0"], "system_tags": []}]),
        )
        .await;
    });
    let resumed_file = flows.path().join("resumed-id");
    let out = ferry(&[
        "resume",
        &run_id,
        "--run-id-file",
        resumed_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let resumed = std::fs::read_to_string(&resumed_file).unwrap();
    assert!(
        text(&out).contains(&format!(
            "triggered on AWS Step Functions (run-id {resumed})"
        )),
        "{}",
        text(&out)
    );
    let resumed_arn = format!(
        "arn:aws:states:us-east-1:{ACCOUNT}:execution:{flow}:{}",
        resumed.strip_prefix("sfn-").unwrap()
    );
    let described: serde_json::Value = serde_json::from_str(
        boto(
            &url,
            "d = boto3.client('stepfunctions', endpoint_url=url).describe_execution(executionArn=args[0])\n\
             print(json.dumps({'sm': d['stateMachineArn'], 'input': d['input']}))",
            &[&resumed_arn],
        )
        .trim(),
    )
    .unwrap();
    assert!(
        described["sm"].as_str().unwrap().starts_with(&sm_arn),
        "{described}"
    );
    let input: serde_json::Value =
        serde_json::from_str(described["input"].as_str().unwrap()).unwrap();
    let params: serde_json::Value =
        serde_json::from_str(input["Parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["alpha"], 0.9, "the origin's parameters");
    let section = &params["ferry.resume"];
    assert_eq!(section["origin_run_id"], serde_json::json!(run_id));
    let plan_key = format!("ferry/{}", section["plan"]["key"].as_str().unwrap());
    let plan: serde_json::Value = serde_json::from_str(
        boto(
            &url,
            "print(boto3.client('s3', endpoint_url=url).get_object(Bucket=args[0], Key=args[1])['Body'].read().decode())",
            &[&bucket, &plan_key],
        )
        .trim(),
    )
    .unwrap();
    assert_eq!(plan["tasks"], serde_json::json!({"start": {"": "t-start"}}));
    // Deploys publish state machine versions: the one the run started on is kept.
    let version = boto(
        &url,
        "print(boto3.client('stepfunctions', endpoint_url=url).describe_state_machine(stateMachineArn=args[0] + ':1')['stateMachineArn'])",
        &[&sm_arn],
    );
    assert_eq!(version.trim(), format!("{sm_arn}:1"));
    let out = ferry(&["status", &resumed]);
    assert!(
        text(&out).contains(&format!("Resumed from: {run_id} (at step end)")),
        "{}",
        text(&out)
    );

    // delete: the state machine goes.
    let out = ferry(&["delete", &file, "--timeout", "60"]);
    assert!(out.status.success(), "{}", text(&out));
    let left = boto(
        &url,
        "print(json.dumps([m['name'] for m in boto3.client('stepfunctions', endpoint_url=url).list_state_machines()['stateMachines']]))",
        &[],
    );
    assert!(!left.contains(&flow), "{left}");
    let out = ferry(&["list-runs", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    stop.store(true, Ordering::Relaxed);
    rt.block_on(handler).unwrap();
}
