//! The CLI against an AWS target (`config.json` with `"target": "aws"`), on a moto server:
//! uploads go to S3 under the stack's prefix with `request.json` last, records are read from
//! DynamoDB, and a missing deploy handler ends in a clear timeout.

use std::process::{Command, Output};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

const HELLO: &str = r#"
from metaflow import FlowSpec, step


class HelloFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    HelloFlow()
"#;

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

#[test]
fn deploy_uploads_to_s3_and_records_come_from_dynamodb() {
    let url = ferry_testkit::moto_url();
    let bucket = ferry_testkit::unique("ferry-cli");
    let table = ferry_testkit::unique("ferry-deployments");
    boto(
        &url,
        "s3.create_bucket(Bucket=sys.argv[2])\n\
         ddb.create_table(TableName=sys.argv[3], BillingMode='PAY_PER_REQUEST',\n\
           KeySchema=[{'AttributeName':'pk','KeyType':'HASH'},{'AttributeName':'sk','KeyType':'RANGE'}],\n\
           AttributeDefinitions=[{'AttributeName':'pk','AttributeType':'S'},{'AttributeName':'sk','AttributeType':'S'}])",
        &[&bucket, &table],
    );
    let home = tempfile::tempdir().unwrap();
    let config =
        serde_json::json!({"target": "aws", "bucket": bucket, "prefix": "ferry/", "table": table});
    std::fs::write(home.path().join("config.json"), config.to_string()).unwrap();
    let flows = tempfile::tempdir().unwrap();
    let flow = flows.path().join("hello.py");
    std::fs::write(&flow, HELLO).unwrap();
    std::fs::write(flows.path().join("notes.txt"), "not packaged").unwrap();

    let ferry = |args: &[&str]| {
        Command::new(FERRY)
            .args(args)
            .env("FERRY_HOME", home.path())
            .env("FERRY_PYTHON", ferry_testkit::python())
            .env("METAFLOW_USER", "alice")
            .env("METAFLOW_TOKEN_HOME", home.path().join("tokens"))
            .env("AWS_ENDPOINT_URL", &url)
            .envs(ferry_testkit::aws_test_env())
            .output()
            .unwrap()
    };

    let out = ferry(&["deployments"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "No deployments on AWS Step Functions. Deploy a flow with `ferry deploy FLOW.py`."
    );
    let out = ferry(&["describe", "HelloFlow"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("The workflow HelloFlow doesn't exist on AWS Step Functions."));

    // No deploy function answers here: the upload happens, then a clear timeout.
    let out = ferry(&["deploy", flow.to_str().unwrap(), "--timeout", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("Deploying HelloFlow to AWS Step Functions..."),
        "{t}"
    );
    assert!(
        t.contains("no answer from the deploy handler after 2 s"),
        "{t}"
    );
    assert!(t.contains("CloudWatch"), "{t}");

    // What landed in S3 under the prefix: the package, the spec and the request.
    let listing = boto(
        &url,
        "objs = s3.list_objects_v2(Bucket=sys.argv[2])['Contents']\n\
         print(json.dumps([o['Key'] for o in objs]))\n\
         req = [o['Key'] for o in objs if o['Key'].endswith('/request.json')][0]\n\
         print(s3.get_object(Bucket=sys.argv[2], Key=req)['Body'].read().decode())",
        &[&bucket],
    );
    let (keys_line, request_text) = listing.split_once('\n').unwrap();
    let keys: Vec<String> = serde_json::from_str(keys_line).unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let request: ferry_deploy::DeployRequest =
        ferry_deploy::DeployRequest::from_json(request_text.as_bytes()).unwrap();
    let id = request.request_id.as_str();
    let package = request.package.as_ref().unwrap();
    let mut want = vec![
        format!("ferry/{}", package.key),
        format!("ferry/deploy/HelloFlow/{id}/request.json"),
        format!("ferry/deploy/HelloFlow/{id}/spec.json"),
    ];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(request.deployment, "HelloFlow");
    assert_eq!(request.user, "alice");
    assert_eq!(request.action, ferry_deploy::RequestAction::Deploy);
    assert_eq!(request.options.max_workers, Some(100));
    // The package is the flow's .py files and, on an AWS stack by default, the deployer's
    // metaflow under .mf_code/metaflow/; it matches its hash.
    let members = boto(
        &url,
        "import io, tarfile, hashlib\n\
         body = s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])['Body'].read()\n\
         print(hashlib.sha256(body).hexdigest())\n\
         print(json.dumps(tarfile.open(fileobj=io.BytesIO(body), mode='r:gz').getnames()))",
        &[&bucket, &format!("ferry/{}", package.key)],
    );
    let mut lines = members.lines();
    assert_eq!(lines.next().unwrap(), package.sha256);
    let names: Vec<String> = serde_json::from_str(lines.next().unwrap()).unwrap();
    let (shipped, user): (Vec<&String>, Vec<&String>) = names
        .iter()
        .partition(|n| n.starts_with(".mf_code/metaflow/"));
    assert_eq!(user, ["hello.py"]);
    assert!(
        shipped
            .iter()
            .any(|n| *n == ".mf_code/metaflow/flowspec.py"),
        "{shipped:?}"
    );

    // --no-package-metaflow: the flow's files only.
    let out = ferry(&[
        "deploy",
        flow.to_str().unwrap(),
        "--timeout",
        "1",
        "--no-package-metaflow",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let members = boto(
        &url,
        "import io, tarfile\n\
         for o in s3.list_objects_v2(Bucket=sys.argv[2], Prefix='ferry/code/')['Contents']:\n\
         \x20   body = s3.get_object(Bucket=sys.argv[2], Key=o['Key'])['Body'].read()\n\
         \x20   print(json.dumps(tarfile.open(fileobj=io.BytesIO(body), mode='r:gz').getnames()))",
        &[&bucket],
    );
    assert!(members.lines().any(|l| l == r#"["hello.py"]"#), "{members}");
}
