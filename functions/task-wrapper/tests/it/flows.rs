//! Real Metaflow flows run task by task through the real `task-wrapper` binary, driven the way
//! the executor would drive it (environment variables, attempts, state table), recording
//! metadata in the `metadata-api` service, then read back with the real Metaflow client over
//! HTTP: artifacts, `Task.stdout`/`Task.stderr`, namespaces and tags.

use crate::common;

use std::collections::BTreeMap;

use common::*;
use ferry_spec::task::{Fanout, Retries, StepInputs};
use ferry_store::Attr;
use serde_json::json;

const PARAM_FLOW: &str = r#"
import sys
from metaflow import FlowSpec, Parameter, step

class ParamFlow(FlowSpec):
    a = Parameter("a", default="da")
    b = Parameter("b", default="db")
    c = Parameter("c", default="dc")
    d = Parameter("d", default="dd")
    e = Parameter("e", default="de")
    num = Parameter("num", default=1, type=int)
    alpha = Parameter("alpha", default=0.5)

    @step
    def start(self):
        print("hello from start")
        self.seen = [self.a, self.b, self.c, self.d, self.e]
        self.num2 = self.num * 2
        self.next(self.end)

    @step
    def end(self):
        print("bye from end", file=sys.stderr)

if __name__ == "__main__":
    ParamFlow()
"#;

const CLIENT_PARAMS: &str = r#"
import sys, json
from metaflow import Run, namespace, get_metadata
namespace("production:testflow-0-abcd")
run = Run(sys.argv[1])
start = run["start"].task
end = run["end"].task
print(json.dumps({
    "seen": start["seen"].data,
    "num2": start["num2"].data,
    "alpha": start["alpha"].data,
    "stdout": start.stdout,
    "end_stderr": end.stderr,
    "successful": run.successful,
    "tags": sorted(run.tags),
    "system_tags": sorted(run.system_tags),
    "provider": get_metadata(),
}))
"#;

#[test]
fn parameters_arrive_byte_exact_and_the_client_reads_the_run() {
    let stack = Stack::with_service();
    let pkg = stack.flow_package("param_flow.py", PARAM_FLOW);
    let mut start = stack.describe(
        "ParamFlow",
        "start",
        "param_flow.py",
        &pkg,
        StepInputs::Start,
    );
    start.default_parameters = BTreeMap::from([
        ("num".to_string(), json!(3)),
        ("alpha".to_string(), json!(0.25)),
    ]);
    let end = stack.describe(
        "ParamFlow",
        "end",
        "param_flow.py",
        &pkg,
        StepInputs::Parent {
            step: "start".into(),
        },
    );

    let long: String = (0..1100)
        .map(|i| format!("{:09}\n", i))
        .collect::<String>()
        .replace("000000000", "é$`\"'\\");
    assert!(long.len() >= 10_000);
    let values = ["$HOME", "`echo hi`", "\"quoted\"", "café", long.as_str()];
    let trigger = json!({"a": values[0], "b": values[1], "c": values[2], "d": values[3], "e": values[4], "num": 21});

    let exec = "params1";
    let mut vars = task_vars(exec, "job-start", 1);
    vars.push(("FERRY_PARAMETERS", trigger.to_string()));
    let out = stack.run(&stack.publish(&start), &vars);
    expect_code(&out, 0, "start");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello from start"),
        "the step's stdout reaches the console"
    );

    let mut vars = task_vars(exec, "job-end", 1);
    vars.push(("FERRY_PARENT_TASK_ID", "job-start".into()));
    let out = stack.run(&stack.publish(&end), &vars);
    expect_code(&out, 0, "end");

    // A Batch retry of `start` (same job id, next attempt) finds the run's `_parameters` task
    // and does not run `init` again, even if it were given other values.
    let mut vars = task_vars(exec, "job-start", 2);
    vars.push((
        "FERRY_PARAMETERS",
        json!({"a": "changed", "num": 1}).to_string(),
    ));
    let out = stack.run(&stack.publish(&start), &vars);
    expect_code(&out, 0, "start, attempt 2");

    let got = stack.client(CLIENT_PARAMS, &["ParamFlow/sfn-params1"]);
    assert_eq!(
        got["seen"],
        json!(values),
        "parameter values arrive byte-exact"
    );
    assert_eq!(
        got["num2"],
        json!(42),
        "the trigger's value overrides the deploy-time default"
    );
    assert_eq!(
        got["alpha"],
        json!(0.25),
        "the deploy-time default overrides the flow's default"
    );
    assert!(
        got["stdout"].as_str().unwrap().contains("hello from start"),
        "Task.stdout: {}",
        got["stdout"]
    );
    assert!(
        got["end_stderr"].as_str().unwrap().contains("bye from end"),
        "Task.stderr: {}",
        got["end_stderr"]
    );
    assert_eq!(got["successful"], json!(true));
    let tags: Vec<String> = serde_json::from_value(got["tags"].clone()).unwrap();
    assert!(tags.contains(&"ferry-test".to_string()), "{tags:?}");
    let system: Vec<String> = serde_json::from_value(got["system_tags"].clone()).unwrap();
    assert!(
        system.contains(&"production:testflow-0-abcd".to_string()),
        "{system:?}"
    );
    assert!(
        system.contains(&"runtime:step-functions".to_string()),
        "{system:?}"
    );
    let provider = got["provider"].as_str().unwrap();
    assert!(
        provider.starts_with("service@http://127.0.0.1:"),
        "read over the metadata service: {provider}"
    );
}

const FOREACH_FLOW: &str = r#"
from metaflow import FlowSpec, step

class WideFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(20))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.v = self.input * 10
        print("body %d" % self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        got = [i.v for i in inputs]
        assert got == [i * 10 for i in range(20)], got
        self.total = sum(got)
        self.next(self.end)

    @step
    def end(self):
        print("total %d" % self.total)

if __name__ == "__main__":
    WideFlow()
"#;

/// The cardinality the state machine's `getItem` state would read.
fn cardinality(stack: &Stack, split_task: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let table = ferry_store::open_table(&ferry_spec::task::TableRef::Sqlite {
            path: stack.table.to_string_lossy().into_owned(),
        })
        .await
        .unwrap();
        let item = table
            .get(split_task, "foreach")
            .await
            .unwrap()
            .expect("foreach item");
        assert!(
            matches!(item.attrs.get("ttl"), Some(Attr::N(t)) if *t > 0),
            "{item:?}"
        );
        match item.attrs.get("for_each_cardinality") {
            Some(Attr::Ns(ns)) => ns.clone(),
            other => panic!("for_each_cardinality: {other:?}"),
        }
    })
}

#[test]
fn foreach_of_20_fans_out_and_joins_in_split_order() {
    let stack = Stack::with_service();
    let pkg = stack.flow_package("wide.py", FOREACH_FLOW);
    let mut start = stack.describe("WideFlow", "start", "wide.py", &pkg, StepInputs::Start);
    start.fanout = Fanout {
        foreach: true,
        items_object: true,
        join_parent: false,
    };
    let mut body = stack.describe(
        "WideFlow",
        "body",
        "wide.py",
        &pkg,
        StepInputs::Parent {
            step: "start".into(),
        },
    );
    body.fanout = Fanout {
        foreach: false,
        items_object: false,
        join_parent: true,
    };
    let join = stack.describe(
        "WideFlow",
        "join",
        "wide.py",
        &pkg,
        StepInputs::ForeachJoin {
            step: "body".into(),
        },
    );
    let end = stack.describe(
        "WideFlow",
        "end",
        "wide.py",
        &pkg,
        StepInputs::Parent {
            step: "join".into(),
        },
    );
    let exec = "wide1";

    let out = stack.run(&stack.publish(&start), &task_vars(exec, "s-1", 1));
    expect_code(&out, 0, "start");
    let splits = cardinality(&stack, "s-1");
    assert_eq!(splits, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());
    let items: Vec<String> =
        serde_json::from_slice(&std::fs::read(stack.blobs.join("foreach/s-1.json")).unwrap())
            .unwrap();
    assert_eq!(items, splits, "the distributed Map's item list");

    // Body tasks finish in reverse order, four at a time: the join must still see split order.
    let body_url = stack.publish(&body);
    let order: Vec<usize> = (0..20).rev().collect();
    for chunk in order.chunks(4) {
        let children: Vec<_> = chunk
            .iter()
            .map(|i| {
                let mut vars = task_vars(exec, &format!("b-{i}"), 1);
                vars.push(("FERRY_PARENT_TASK_ID", "s-1".into()));
                vars.push(("FERRY_SPLIT_INDEX", i.to_string()));
                vars.push(("FERRY_FOREACH_INDEX", i.to_string()));
                vars.push(("FERRY_TAIL_SPLIT_PARENT_TASK_ID", "s-1".into()));
                (i, stack.command(&body_url, &vars).spawn().unwrap())
            })
            .collect();
        for (i, child) in children {
            expect_code(&child.wait_with_output().unwrap(), 0, &format!("body {i}"));
        }
    }

    let mut vars = task_vars(exec, "j-1", 1);
    vars.push(("FERRY_SPLIT_PARENT_TASK_ID", "s-1".into()));
    expect_code(&stack.run(&stack.publish(&join), &vars), 0, "join");
    let mut vars = task_vars(exec, "e-1", 1);
    vars.push(("FERRY_PARENT_TASK_ID", "j-1".into()));
    expect_code(&stack.run(&stack.publish(&end), &vars), 0, "end");

    let got = stack.client(
        r#"
import sys, json
from metaflow import Run, namespace
namespace("production:testflow-0-abcd")
run = Run(sys.argv[1])
bodies = sorted((t["v"].data, t.stdout.strip()) for t in run["body"])
print(json.dumps({"total": run["join"].task["total"].data, "bodies": bodies,
                  "end": run["end"].task.stdout, "ok": run.successful}))
"#,
        &["WideFlow/sfn-wide1"],
    );
    assert_eq!(got["total"], json!(1900));
    let bodies: Vec<(i64, String)> = serde_json::from_value(got["bodies"].clone()).unwrap();
    assert_eq!(
        bodies,
        (0..20)
            .map(|i| (i * 10, format!("body {i}")))
            .collect::<Vec<_>>()
    );
    assert!(got["end"].as_str().unwrap().contains("total 1900"));
    assert_eq!(got["ok"], json!(true));
}

const RETRY_FLOW: &str = r#"
from metaflow import FlowSpec, step, retry, current

class FlakyFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.flaky)

    @retry(times=1)
    @step
    def flaky(self):
        print("attempt %d" % current.retry_count)
        if current.retry_count == 0:
            raise RuntimeError("first attempt fails")
        self.done = True
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    FlakyFlow()
"#;

#[test]
fn a_step_that_fails_on_attempt_0_passes_on_attempt_1() {
    let stack = Stack::with_service();
    let pkg = stack.flow_package("flaky.py", RETRY_FLOW);
    let start = stack.describe("FlakyFlow", "start", "flaky.py", &pkg, StepInputs::Start);
    let mut flaky = stack.describe(
        "FlakyFlow",
        "flaky",
        "flaky.py",
        &pkg,
        StepInputs::Parent {
            step: "start".into(),
        },
    );
    // Both attempts run as one Batch job ("f"); the retry waits its minute first (the test
    // clock, 30x, makes it 2 s).
    flaky.retries = Retries {
        max_user_code_retries: 1,
        total_attempts: 2,
        minutes_between_retries: 1,
    };
    let end = stack.describe(
        "FlakyFlow",
        "end",
        "flaky.py",
        &pkg,
        StepInputs::Parent {
            step: "flaky".into(),
        },
    );
    let exec = "flaky1";

    expect_code(
        &stack.run(&stack.publish(&start), &task_vars(exec, "s", 1)),
        0,
        "start",
    );
    let flaky_url = stack.publish(&flaky);
    for attempt in [1, 2] {
        let mut vars = task_vars(exec, "f", attempt);
        vars.push(("FERRY_PARENT_TASK_ID", "s".into()));
        vars.push(("FERRY_CLOCK_SPEEDUP", "30".into()));
        let began = std::time::Instant::now();
        let out = stack.run(&flaky_url, &vars);
        let waited = String::from_utf8_lossy(&out.stderr)
            .contains("waiting 1 minute before retry 1 (@retry(minutes_between_retries=1))");
        assert_eq!(waited, attempt == 2, "only the retry waits");
        if attempt == 2 {
            assert!(began.elapsed() >= std::time::Duration::from_secs(2));
        }
        if attempt == 1 {
            assert_ne!(out.status.code(), Some(0), "attempt 1 fails");
            assert_ne!(
                out.status.code(),
                Some(101),
                "the step's failure, not the wrapper's"
            );
            assert!(String::from_utf8_lossy(&out.stderr).contains("first attempt fails"));
        } else {
            expect_code(&out, 0, "attempt 2");
        }
    }
    let mut vars = task_vars(exec, "e", 1);
    vars.push(("FERRY_PARENT_TASK_ID", "f".into()));
    expect_code(&stack.run(&stack.publish(&end), &vars), 0, "end");

    let got = stack.client(
        r#"
import sys, json
from metaflow import Run, namespace
namespace("production:testflow-0-abcd")
run = Run(sys.argv[1])
t = run["flaky"].task
print(json.dumps({"done": t["done"].data, "stdout": t.stdout, "attempt": t.current_attempt,
                  "ok": run.successful, "id": t.id}))
"#,
        &["FlakyFlow/sfn-flaky1"],
    );
    assert_eq!(got["done"], json!(true));
    assert_eq!(got["attempt"], json!(1));
    assert_eq!(got["id"], json!("f"));
    assert!(
        got["stdout"].as_str().unwrap().contains("attempt 1"),
        "{}",
        got["stdout"]
    );
    assert_eq!(got["ok"], json!(true));
    assert!(
        stack
            .datastore
            .join(".metaflow/FlakyFlow/sfn-flaky1/flaky/f/0.task_stderr.log")
            .is_file(),
        "attempt 0's log is kept"
    );
    let retry_log = std::fs::read_to_string(
        stack
            .datastore
            .join(".metaflow/FlakyFlow/sfn-flaky1/flaky/f/1.task_stderr.log"),
    )
    .unwrap();
    assert!(
        retry_log.contains("waiting 1 minute before retry 1"),
        "the wait is in the retry's own stderr: {retry_log}"
    );
}

const SPLIT_FLOW: &str = r#"
from metaflow import FlowSpec, step

class SplitFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = "a"
        self.next(self.join)

    @step
    def b(self):
        self.x = "b"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.xs = [i.x for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    SplitFlow()
"#;

#[test]
fn a_static_join_gets_its_parents_from_the_environment() {
    let stack = Stack::with_service();
    let pkg = stack.flow_package("split.py", SPLIT_FLOW);
    let d = |step: &str, inputs| {
        stack.publish(&stack.describe("SplitFlow", step, "split.py", &pkg, inputs))
    };
    let exec = "split1";
    expect_code(
        &stack.run(&d("start", StepInputs::Start), &task_vars(exec, "s", 1)),
        0,
        "start",
    );
    for step in ["a", "b"] {
        let mut vars = task_vars(exec, &format!("t-{step}"), 1);
        vars.push(("FERRY_PARENT_TASK_ID", "s".into()));
        expect_code(
            &stack.run(
                &d(
                    step,
                    StepInputs::Parent {
                        step: "start".into(),
                    },
                ),
                &vars,
            ),
            0,
            step,
        );
    }
    let mut vars = task_vars(exec, "j", 1);
    vars.push(("FERRY_PARENT_0_TASK_ID", "t-a".into()));
    vars.push(("FERRY_PARENT_1_TASK_ID", "t-b".into()));
    let join = StepInputs::StaticJoin {
        steps: vec!["a".into(), "b".into()],
    };
    expect_code(&stack.run(&d("join", join), &vars), 0, "join");
    let got = stack.client(
        r#"
import sys, json
from metaflow import Task, namespace
namespace(None)
print(json.dumps(Task(sys.argv[1])["xs"].data))
"#,
        &["SplitFlow/sfn-split1/join/j"],
    );
    assert_eq!(got, json!(["a", "b"]));
}
