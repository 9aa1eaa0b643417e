//! Resumed runs, task by task through the real `task-wrapper` binary with the real Metaflow:
//! a run fails (at `train`, or in one foreach split), a second run of the same tasks gets the
//! resume section in its trigger parameters, and each task clones its origin counterpart
//! (Metaflow's `step --clone-only`) or runs. The real client reads the resumed run back.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use ferry_spec::resume::{
    CLONE_PLAN_VERSION, ClonePlan, PARAMETERS_RESUME, PlanRef, ResumeSection,
};
use ferry_spec::task::{
    BlobStoreRef, DatastoreSettings, Fanout, StepInputs, TableRef, TaskDescription,
};
use serde_json::{Value, json};

/// start (a foreach over `width` items) → body → join → train → end. Every step appends its
/// name to `$RESUME_TEST_DIR/ran.log`; a step fails while `$RESUME_TEST_DIR/fail-<what>` exists
/// (`train`, or `body-<index>`).
pub const FLOW: &str = r#"
import os
from metaflow import FlowSpec, Parameter, step

def mark(what):
    with open(os.path.join(os.environ["RESUME_TEST_DIR"], "ran.log"), "a") as f:
        f.write(what + "\n")
    if os.path.exists(os.path.join(os.environ["RESUME_TEST_DIR"], "fail-" + what)):
        raise Exception("failing " + what + " on purpose")

class ResumeFlow(FlowSpec):
    width = Parameter("width", default=3, type=int)

    @step
    def start(self):
        mark("start")
        self.items = list(range(self.width))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        mark("body-%d" % self.input)
        self.sq = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        mark("join")
        self.squares = [i.sq for i in inputs]
        self.next(self.train)

    @step
    def train(self):
        mark("train")
        self.model = sum(self.squares)
        self.next(self.end)

    @step
    def end(self):
        mark("end")

if __name__ == "__main__":
    ResumeFlow()
"#;

/// The five task descriptions of [`FLOW`], published; `adapt` changes each before publishing
/// (stores of another backend).
pub struct Urls {
    start: String,
    body: String,
    join: String,
    train: String,
    end: String,
}

pub fn publish_flow(
    stack: &Stack,
    test_dir: &Path,
    adapt: &dyn Fn(TaskDescription) -> TaskDescription,
    publish: &dyn Fn(&TaskDescription) -> String,
) -> Urls {
    let pkg = stack.flow_package("resume_flow.py", FLOW);
    let describe = |step: &str, inputs: StepInputs, fanout: Fanout| {
        let mut d = stack.describe("ResumeFlow", step, "resume_flow.py", &pkg, inputs);
        d.fanout = fanout;
        d.environment.insert(
            "RESUME_TEST_DIR".into(),
            test_dir.to_string_lossy().into_owned(),
        );
        publish(&adapt(d))
    };
    let parent = |s: &str| StepInputs::Parent { step: s.into() };
    Urls {
        start: describe(
            "start",
            StepInputs::Start,
            Fanout {
                foreach: true,
                items_object: false,
                join_parent: false,
            },
        ),
        body: describe(
            "body",
            parent("start"),
            Fanout {
                join_parent: true,
                ..Fanout::default()
            },
        ),
        join: describe(
            "join",
            StepInputs::ForeachJoin {
                step: "body".into(),
            },
            Fanout::default(),
        ),
        train: describe("train", parent("join"), Fanout::default()),
        end: describe("end", parent("train"), Fanout::default()),
    }
}

/// Run the flow's tasks the way the state machine would, job ids `<exec>-<step>[-<i>]`, until a
/// step fails; returns the failed step, if any. `vars` adds the backend's variables.
pub fn run_flow(
    stack: &Stack,
    urls: &Urls,
    exec: &str,
    width: usize,
    parameters: &str,
    vars: &EnvEdit<'_>,
) -> Option<String> {
    let job = |s: &str| format!("{exec}-{s}");
    let ok = |out: std::process::Output, what: &str| {
        if out.status.code() == Some(0) {
            return true;
        }
        eprintln!(
            "{what} failed ({:?}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        false
    };
    let mut v = task_vars(exec, &job("start"), 1);
    v.push(("FERRY_PARAMETERS", parameters.to_string()));
    if !ok(stack.run(&urls.start, &vars(v)), "start") {
        return Some("start".into());
    }
    let mut failed = None;
    for i in 0..width {
        let mut v = task_vars(exec, &job(&format!("body-{i}")), 1);
        v.extend([
            ("FERRY_PARENT_TASK_ID", job("start")),
            ("FERRY_SPLIT_INDEX", i.to_string()),
            ("FERRY_FOREACH_INDEX", i.to_string()),
            ("FERRY_TAIL_SPLIT_PARENT_TASK_ID", job("start")),
            ("FERRY_SPLIT_PARENT_TASK_ID", job("start")),
        ]);
        if !ok(stack.run(&urls.body, &vars(v)), "body") {
            failed = Some("body".to_string());
        }
    }
    if failed.is_some() {
        return failed;
    }
    let mut v = task_vars(exec, &job("join"), 1);
    v.push(("FERRY_SPLIT_PARENT_TASK_ID", job("start")));
    if !ok(stack.run(&urls.join, &vars(v)), "join") {
        return Some("join".into());
    }
    for (step, url, parent) in [("train", &urls.train, "join"), ("end", &urls.end, "train")] {
        let mut v = task_vars(exec, &job(step), 1);
        v.push(("FERRY_PARENT_TASK_ID", job(parent)));
        if !ok(stack.run(url, &vars(v)), step) {
            return Some(step.into());
        }
    }
    None
}

/// The plan `ferry resume` would build for origin execution `origin` of [`run_flow`]: every
/// successful task of the steps in `clone`, by step and index path.
pub fn plan(origin: &str, width: usize, clone: &[&str], failed_bodies: &[usize]) -> ClonePlan {
    let mut tasks: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for step in clone {
        let entries = match *step {
            "body" => (0..width)
                .filter(|i| !failed_bodies.contains(i))
                .map(|i| (i.to_string(), format!("{origin}-body-{i}")))
                .collect(),
            s => BTreeMap::from([(String::new(), format!("{origin}-{s}"))]),
        };
        tasks.insert(step.to_string(), entries);
    }
    ClonePlan {
        version: CLONE_PLAN_VERSION,
        flow: "ResumeFlow".into(),
        origin_run_id: format!("sfn-{origin}"),
        rerun_steps: vec![],
        tasks,
    }
}

/// The trigger parameters of a resumed run: `params` plus the resume section pointing at the
/// plan stored by `store` (which returns its blob key).
pub fn resume_parameters(params: Value, plan: &ClonePlan, store: &dyn Fn(&str, &[u8])) -> String {
    let bytes = serde_json::to_vec(plan).unwrap();
    let sha = sha256_hex(&bytes);
    let key = format!("resume/{sha}.json");
    store(&key, &bytes);
    let section = ResumeSection {
        origin_run_id: plan.origin_run_id.clone(),
        resume_step: Some("train".into()),
        plan: PlanRef { key, sha256: sha },
    };
    let mut params = params;
    params[PARAMETERS_RESUME] = serde_json::to_value(section).unwrap();
    params.to_string()
}

/// What ran, in order, since the log was last cleared; clears it.
pub fn take_ran(test_dir: &Path) -> Vec<String> {
    let path = test_dir.join("ran.log");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    text.lines().map(str::to_string).collect()
}

/// The client's view of a resumed run, checked the same way on every backend.
pub const CLIENT: &str = r#"
import sys, json
from metaflow import Run, namespace
namespace("production:testflow-0-abcd")
run = Run(sys.argv[1])
def task_view(t):
    md = t.metadata_dict
    return {"id": t.id, "origin_run": md.get("origin-run-id"), "origin_task": md.get("origin-task-id"),
            "origin_pathspec": t.origin_pathspec}
print(json.dumps({
    "ok": run.successful,
    "origin": run.origin_pathspec,
    "items": run["start"].task["items"].data,
    "squares": run["join"].task["squares"].data,
    "bodies": sorted([t["sq"].data, t.index] for t in run["body"]),
    "model": run["train"].task["model"].data,
    "start": task_view(run["start"].task),
    "body": sorted((task_view(t) for t in run["body"]), key=lambda v: v["id"]),
    "join": task_view(run["join"].task),
    "train": task_view(run["train"].task),
    "end": task_view(run["end"].task),
}))
"#;

#[test]
fn a_run_failed_at_train_resumes_there_cloning_everything_before() {
    let stack = Stack::with_service();
    let test_dir = stack.dir.path().join("flowdir");
    std::fs::create_dir_all(&test_dir).unwrap();
    let urls = publish_flow(&stack, &test_dir, &|d| d, &|d| stack.publish(d));
    let same = |v| v;

    write_all(&test_dir.join("fail-train"), b"");
    let failed = run_flow(&stack, &urls, "orig", 3, r#"{"width": 3}"#, &same);
    assert_eq!(failed.as_deref(), Some("train"));
    assert_eq!(
        take_ran(&test_dir),
        ["start", "body-0", "body-1", "body-2", "join", "train"]
    );

    std::fs::remove_file(test_dir.join("fail-train")).unwrap();
    let plan = plan("orig", 3, &["start", "body", "join"], &[]);
    let params = resume_parameters(json!({"width": 3}), &plan, &|key, bytes| {
        let path = stack.blobs.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    });
    let failed = run_flow(&stack, &urls, "again", 3, &params, &same);
    assert_eq!(failed, None, "the resumed run succeeds");
    assert_eq!(
        take_ran(&test_dir),
        ["train", "end"],
        "only train and end ran user code"
    );

    let got = stack.client(CLIENT, &["ResumeFlow/sfn-again"]);
    check_resumed_view(&got, "orig", "again", &[0, 1, 2]);
}

#[test]
fn a_failed_foreach_split_reruns_alone_and_the_join_sees_split_order() {
    let stack = Stack::with_service();
    let test_dir = stack.dir.path().join("flowdir");
    std::fs::create_dir_all(&test_dir).unwrap();
    let urls = publish_flow(&stack, &test_dir, &|d| d, &|d| stack.publish(d));
    let same = |v| v;

    write_all(&test_dir.join("fail-body-1"), b"");
    let failed = run_flow(&stack, &urls, "o2", 4, r#"{"width": 4}"#, &same);
    assert_eq!(failed.as_deref(), Some("body"));
    take_ran(&test_dir);

    std::fs::remove_file(test_dir.join("fail-body-1")).unwrap();
    let plan = plan("o2", 4, &["start", "body"], &[1]);
    let params = resume_parameters(json!({"width": 4}), &plan, &|key, bytes| {
        let path = stack.blobs.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    });
    assert_eq!(run_flow(&stack, &urls, "r2", 4, &params, &same), None);
    assert_eq!(take_ran(&test_dir), ["body-1", "join", "train", "end"]);

    let got = stack.client(CLIENT, &["ResumeFlow/sfn-r2"]);
    assert_eq!(
        got["squares"],
        json!([0, 1, 4, 9]),
        "the join sees split order"
    );
    assert_eq!(got["start"]["origin_task"], json!("o2-start"));
    let bodies = got["body"].as_array().unwrap();
    let cloned: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["origin_task"].is_string())
        .collect();
    assert_eq!(cloned.len(), 3, "splits 0, 2 and 3 are clones: {bodies:?}");
    let rerun = bodies
        .iter()
        .find(|b| b["id"] == json!("r2-body-1"))
        .unwrap();
    assert_eq!(rerun["origin_task"], Value::Null, "split 1 ran again");
    assert_eq!(rerun["origin_run"], json!("sfn-o2"));
    assert_eq!(got["join"]["origin_task"], Value::Null, "the join ran");
}

/// What every backend's resumed run must show: the run succeeded, every artifact reads back,
/// cloned tasks name their origin task, tasks that ran name the origin run.
pub fn check_resumed_view(got: &Value, origin: &str, exec: &str, cloned_bodies: &[usize]) {
    assert_eq!(got["ok"], json!(true), "{got}");
    assert_eq!(
        got["origin"],
        json!(format!("ResumeFlow/sfn-{origin}")),
        "Run.origin_pathspec"
    );
    assert_eq!(got["items"], json!([0, 1, 2]));
    assert_eq!(got["squares"], json!([0, 1, 4]));
    assert_eq!(got["bodies"], json!([[0, 0], [1, 1], [4, 2]]));
    assert_eq!(got["model"], json!(5));
    for step in ["start", "join"] {
        assert_eq!(got[step]["id"], json!(format!("{exec}-{step}")));
        assert_eq!(got[step]["origin_run"], json!(format!("sfn-{origin}")));
        assert_eq!(
            got[step]["origin_task"],
            json!(format!("{origin}-{step}")),
            "{step} is a clone"
        );
        assert_eq!(
            got[step]["origin_pathspec"],
            json!(format!("ResumeFlow/sfn-{origin}/{step}/{origin}-{step}"))
        );
    }
    for (i, b) in got["body"].as_array().unwrap().iter().enumerate() {
        assert!(cloned_bodies.contains(&i));
        assert_eq!(b["origin_task"], json!(format!("{origin}-body-{i}")));
    }
    for step in ["train", "end"] {
        assert_eq!(got[step]["origin_run"], json!(format!("sfn-{origin}")));
        assert_eq!(got[step]["origin_task"], Value::Null, "{step} ran");
    }
}

#[test]
fn the_clone_path_runs_on_s3_and_dynamodb() {
    let moto = Moto::new();
    let bucket = ferry_testkit::unique("ferry-resume").to_lowercase();
    let table = ferry_testkit::unique("ferry-resume-state");
    moto.call("setup", json!({"bucket": bucket, "table": table}));
    let stack = Stack::with_service();
    let test_dir = stack.dir.path().join("flowdir");
    std::fs::create_dir_all(&test_dir).unwrap();

    let put = |key: &str, bytes: &[u8]| {
        let file = stack.dir.path().join(sha256_hex(bytes));
        std::fs::write(&file, bytes).unwrap();
        moto.call(
            "put",
            json!({"bucket": bucket, "key": format!("ferry/{key}"), "file": file}),
        );
    };
    let adapt = |mut d: TaskDescription| {
        put(
            &d.code_package.key,
            &std::fs::read(stack.blobs.join(&d.code_package.key)).unwrap(),
        );
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
        d
    };
    let publish = |d: &TaskDescription| {
        let bytes = serde_json::to_vec(d).unwrap();
        let key = format!("tasks/{}.json", sha256_hex(&bytes));
        put(&key, &bytes);
        format!("s3://{bucket}/ferry/{key}")
    };
    let urls = publish_flow(&stack, &test_dir, &adapt, &publish);
    let aws = |mut v: Vec<(&'static str, String)>| {
        v.push(("AWS_ENDPOINT_URL", moto.url.clone()));
        for (k, val) in ferry_testkit::aws_test_env() {
            v.push((k, val.to_string()));
        }
        v
    };

    write_all(&test_dir.join("fail-train"), b"");
    assert_eq!(
        run_flow(&stack, &urls, "mo", 3, r#"{"width": 3}"#, &aws).as_deref(),
        Some("train")
    );
    take_ran(&test_dir);
    std::fs::remove_file(test_dir.join("fail-train")).unwrap();
    let plan = plan("mo", 3, &["start", "body", "join"], &[]);
    let params = resume_parameters(json!({"width": 3}), &plan, &put);
    assert_eq!(run_flow(&stack, &urls, "mr", 3, &params, &aws), None);
    assert_eq!(take_ran(&test_dir), ["train", "end"]);

    // The state table on DynamoDB: the run's resume item, a clone's lineage, and the cloned
    // foreach's cardinality (the getItem state reads it) equal to the origin's.
    let run_item = moto.call(
        "item",
        json!({"table": table, "pk": "run#mr", "sk": "resume"}),
    );
    let section: Value = serde_json::from_str(run_item["section"]["S"].as_str().unwrap()).unwrap();
    assert_eq!(section["origin_run_id"], json!("sfn-mo"));
    let lineage = moto.call(
        "item",
        json!({"table": table, "pk": "mr-body-2", "sk": "resume"}),
    );
    assert_eq!(lineage["path"]["S"], json!("2"), "{lineage}");
    assert_eq!(lineage["origin_task_id"]["S"], json!("mo-body-2"));
    let cardinality = |pk: &str| {
        let item = moto.call("item", json!({"table": table, "pk": pk}));
        let mut ns: Vec<String> =
            serde_json::from_value(item["for_each_cardinality"]["NS"].clone()).unwrap();
        ns.sort();
        ns
    };
    assert_eq!(cardinality("mr-start"), cardinality("mo-start"));
    assert_eq!(cardinality("mr-start"), ["0", "1", "2"]);

    let mut env: Vec<(String, String)> = ferry_testkit::aws_test_env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.extend([
        ("METAFLOW_DEFAULT_METADATA".into(), "service".into()),
        (
            "METAFLOW_SERVICE_URL".into(),
            stack.metadata_url.clone().unwrap(),
        ),
        ("METAFLOW_DEFAULT_DATASTORE".into(), "s3".into()),
        (
            "METAFLOW_DATASTORE_SYSROOT_S3".into(),
            format!("s3://{bucket}/metaflow"),
        ),
        ("METAFLOW_S3_ENDPOINT_URL".into(), moto.url.clone()),
    ]);
    let got = stack.client_with(&env, CLIENT, &["ResumeFlow/sfn-mr"]);
    check_resumed_view(&got, "mo", "mr", &[0, 1, 2]);
}
/// Edits a task's environment variables.
type EnvEdit<'a> = dyn Fn(Vec<(&'static str, String)>) -> Vec<(&'static str, String)> + 'a;
