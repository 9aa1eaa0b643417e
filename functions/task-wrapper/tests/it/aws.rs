//! The AWS paths, against the moto server: the task description and the code package in S3, the
//! state table in DynamoDB, the Metaflow datastore (artifacts and logs) in S3, metadata in the
//! `metadata-api` service. A foreach flow runs task by task; the real client reads it back.

use crate::common;

use std::process::Command;

use common::*;
use ferry_spec::task::{
    BlobStoreRef, DatastoreSettings, Fanout, StepInputs, TableRef, TaskDescription,
};
use serde_json::{Value, json};

const FLOW: &str = r#"
from metaflow import FlowSpec, step

class CloudFlow(FlowSpec):
    @step
    def start(self):
        self.items = ["x", "y", "z"]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.v = self.input * 2
        print("body says", self.v)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.vs = [i.v for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    CloudFlow()
"#;

#[test]
fn a_foreach_flow_runs_on_s3_and_dynamodb() {
    let moto = Moto::new();
    let bucket = ferry_testkit::unique("ferry-tw").to_lowercase();
    let table = ferry_testkit::unique("ferry-tw-state");
    moto.call("setup", json!({"bucket": bucket, "table": table}));

    let stack = Stack::with_service();
    let pkg_bytes = tgz(&[("cloud.py", FLOW.as_bytes())]);
    let pkg = stack.put_package(&pkg_bytes);
    moto.call(
        "put",
        json!({"bucket": bucket, "key": format!("ferry/{}", pkg.key), "file": stack.blobs.join(&pkg.key)}),
    );
    let publish = |desc: &TaskDescription| -> String {
        let bytes = serde_json::to_vec(desc).unwrap();
        let sha = sha256_hex(&bytes);
        let file = stack.dir.path().join(format!("{sha}.json"));
        std::fs::write(&file, bytes).unwrap();
        let key = format!("ferry/tasks/{sha}.json");
        moto.call("put", json!({"bucket": bucket, "key": key, "file": file}));
        format!("s3://{bucket}/{key}")
    };
    let describe = |step: &str, inputs: StepInputs, fanout: Fanout| {
        let mut d = stack.describe("CloudFlow", step, "cloud.py", &pkg, inputs);
        d.blobs = BlobStoreRef::S3 {
            bucket: bucket.clone(),
            prefix: "ferry".into(),
        };
        d.state_table = TableRef::Dynamodb {
            table: table.clone(),
        };
        d.datastore = DatastoreSettings {
            kind: "s3".into(),
            root: format!("s3://{bucket}/metaflow"),
        };
        d.environment
            .insert("METAFLOW_S3_ENDPOINT_URL".into(), moto.url.clone());
        d.fanout = fanout;
        d
    };
    let aws_vars = |mut v: Vec<(&'static str, String)>| {
        v.push(("AWS_ENDPOINT_URL", moto.url.clone()));
        for (k, val) in ferry_testkit::aws_test_env() {
            v.push((k, val.to_string()));
        }
        v
    };
    let exec = "cloud1";

    let start = describe(
        "start",
        StepInputs::Start,
        Fanout {
            foreach: true,
            items_object: true,
            join_parent: false,
        },
    );
    expect_code(
        &stack.run(&publish(&start), &aws_vars(task_vars(exec, "s", 1))),
        0,
        "start",
    );
    let item = moto.call("item", json!({"table": table, "pk": "s"}));
    let mut ns: Vec<String> =
        serde_json::from_value(item["for_each_cardinality"]["NS"].clone()).unwrap();
    ns.sort();
    assert_eq!(
        ns,
        ["0", "1", "2"],
        "the getItem state reads the cardinality: {item}"
    );
    assert!(item["ttl"]["N"].as_str().is_some());
    let items: Value = serde_json::from_str(
        moto.call(
            "get",
            json!({"bucket": bucket, "key": "ferry/foreach/s.json"}),
        )
        .as_str()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(items, json!(["0", "1", "2"]));

    let body = publish(&describe(
        "body",
        StepInputs::Parent {
            step: "start".into(),
        },
        Fanout {
            join_parent: true,
            ..Fanout::default()
        },
    ));
    for i in [2, 0, 1] {
        let mut vars = task_vars(exec, &format!("b{i}"), 1);
        vars.extend([
            ("FERRY_PARENT_TASK_ID", "s".to_string()),
            ("FERRY_SPLIT_INDEX", i.to_string()),
            ("FERRY_FOREACH_INDEX", i.to_string()),
            ("FERRY_TAIL_SPLIT_PARENT_TASK_ID", "s".to_string()),
        ]);
        expect_code(&stack.run(&body, &aws_vars(vars)), 0, "body");
    }
    let mut vars = task_vars(exec, "j", 1);
    vars.push(("FERRY_SPLIT_PARENT_TASK_ID", "s".into()));
    let join = describe(
        "join",
        StepInputs::ForeachJoin {
            step: "body".into(),
        },
        Fanout::default(),
    );
    expect_code(&stack.run(&publish(&join), &aws_vars(vars)), 0, "join");
    let mut vars = task_vars(exec, "e", 1);
    vars.push(("FERRY_PARENT_TASK_ID", "j".into()));
    let end = describe(
        "end",
        StepInputs::Parent {
            step: "join".into(),
        },
        Fanout::default(),
    );
    expect_code(&stack.run(&publish(&end), &aws_vars(vars)), 0, "end");

    let log = moto.call(
        "get",
        json!({"bucket": bucket, "key": "metaflow/CloudFlow/sfn-cloud1/body/b1/0.task_stdout.log"}),
    );
    assert!(log.as_str().unwrap().contains("]body says yy"), "{log}");

    let mut client = Command::new(ferry_testkit::python());
    client
        .arg("-c")
        .arg(
            r#"
import sys, json
from metaflow import Run, namespace
namespace("production:testflow-0-abcd")
run = Run(sys.argv[1])
print(json.dumps({"vs": run["join"].task["vs"].data, "out": run["body"].task.stdout, "ok": run.successful}))
"#,
        )
        .arg("CloudFlow/sfn-cloud1")
        .envs(ferry_testkit::aws_test_env())
        .env("METAFLOW_DEFAULT_METADATA", "service")
        .env("METAFLOW_SERVICE_URL", stack.metadata_url.clone().unwrap())
        .env("METAFLOW_DEFAULT_DATASTORE", "s3")
        .env("METAFLOW_DATASTORE_SYSROOT_S3", format!("s3://{bucket}/metaflow"))
        .env("METAFLOW_S3_ENDPOINT_URL", &moto.url);
    let out = client.output().unwrap();
    assert!(
        out.status.success(),
        "client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(
        got["vs"],
        json!(["xx", "yy", "zz"]),
        "split order through DynamoDB"
    );
    assert!(got["out"].as_str().unwrap().contains("body says"), "{got}");
    assert_eq!(got["ok"], json!(true));
}
