//! Real Metaflow flows run task by task through the real `task-wrapper` binary, driven the way
//! the executor would drive it (environment variables, attempts, state table), then read back
//! with the real Metaflow client: artifacts, `Task.stdout`/`Task.stderr`, namespaces and tags.

mod common;

use std::collections::BTreeMap;

use common::*;
use ferry_spec::task::{Fanout, Retries, StepInputs};
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
from metaflow import Run, namespace
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
}))
"#;

#[test]
fn parameters_arrive_byte_exact_and_the_client_reads_the_run() {
    let stack = Stack::new();
    let pkg = stack.flow_package("param_flow.py", PARAM_FLOW);
    let mut start = stack.describe("ParamFlow", "start", "param_flow.py", &pkg, StepInputs::Start);
    start.default_parameters = BTreeMap::from([("num".to_string(), json!(3)), ("alpha".to_string(), json!(0.25))]);
    let end = stack.describe("ParamFlow", "end", "param_flow.py", &pkg, StepInputs::Parent { step: "start".into() });

    let long: String = (0..1100).map(|i| format!("{:09}\n", i)).collect::<String>().replace("000000000", "é$`\"'\\");
    assert!(long.len() >= 10_000);
    let values = ["$HOME", "`echo hi`", "\"quoted\"", "café", long.as_str()];
    let trigger = json!({"a": values[0], "b": values[1], "c": values[2], "d": values[3], "e": values[4], "num": 21});

    let exec = "params1";
    let mut vars = task_vars(exec, "job-start", 1);
    vars.push(("FERRY_PARAMETERS", trigger.to_string()));
    let out = stack.run(&stack.publish(&start), &vars);
    expect_code(&out, 0, "start");
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello from start"), "the step's stdout reaches the console");

    let mut vars = task_vars(exec, "job-end", 1);
    vars.push(("FERRY_PARENT_TASK_ID", "job-start".into()));
    let out = stack.run(&stack.publish(&end), &vars);
    expect_code(&out, 0, "end");

    let got = stack.client(CLIENT_PARAMS, &["ParamFlow/sfn-params1"]);
    assert_eq!(got["seen"], json!(values), "parameter values arrive byte-exact");
    assert_eq!(got["num2"], json!(42), "the trigger's value overrides the deploy-time default");
    assert_eq!(got["alpha"], json!(0.25), "the deploy-time default overrides the flow's default");
    assert!(got["stdout"].as_str().unwrap().contains("hello from start"), "Task.stdout: {}", got["stdout"]);
    assert!(got["end_stderr"].as_str().unwrap().contains("bye from end"), "Task.stderr: {}", got["end_stderr"]);
    assert_eq!(got["successful"], json!(true));
    let tags: Vec<String> = serde_json::from_value(got["tags"].clone()).unwrap();
    assert!(tags.contains(&"ferry-test".to_string()), "{tags:?}");
}
