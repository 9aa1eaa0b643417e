//! Wide foreach joins: the parents come from the state table, ordered by split index, and reach
//! the step through the input-paths file (no argv limit).
//! - 5,000 parents: the exact input-paths file the wrapper hands over (a generic step copies it).
//! - 300 parents: a real Metaflow join step sees every input in split order. The parents are
//!   copies of one real body task (the datastore's artifacts are content-addressed, so a copy of
//!   the task folder is a valid task); the state table is seeded as the body tails would leave it.

use crate::common;

use std::collections::BTreeMap;

use common::*;
use ferry_spec::task::{Fanout, StepCommand, StepInputs, TableRef};
use ferry_store::Attr;
use serde_json::json;

/// Seed the foreach item of `split` with `ids` (split index = position), added out of order, and
/// its cardinality unless 0 (wide static splits record none).
fn seed(stack: &Stack, split: &str, ids: &[String], cardinality: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let table = ferry_store::open_table(&TableRef::Sqlite {
            path: stack.table.to_string_lossy().into_owned(),
        })
        .await
        .unwrap();
        if cardinality > 0 {
            let attrs = BTreeMap::from([(
                "for_each_cardinality".to_string(),
                Attr::Ns((0..cardinality).map(|i| i.to_string()).collect()),
            )]);
            table
                .set(split, "foreach", attrs, ferry_store::Condition::None)
                .await
                .unwrap();
        }
        let members: Vec<String> = ids
            .iter()
            .enumerate()
            .rev()
            .map(|(i, id)| format!("{i}:{id}"))
            .collect();
        for batch in members.chunks(500) {
            table
                .add_to_set(split, "foreach", "parent_task_ids_for_foreach_join", batch)
                .await
                .unwrap();
        }
    });
}

#[test]
fn a_join_over_5000_parents_gets_all_of_them_through_the_input_paths_file() {
    const N: usize = 5000;
    let stack = Stack::new();
    let pkg = stack.put_package(&tgz(&[("flow.py", b"")]));
    let copy = stack.dir.path().join("input-paths");
    let mut join = stack.describe(
        "WideFlow",
        "join",
        "flow.py",
        &pkg,
        StepInputs::ForeachJoin {
            step: "body".into(),
        },
    );
    join.command = StepCommand::Argv {
        argv: vec![
            "/bin/sh".into(),
            "-c".into(),
            "exec cp \"$FERRY_INPUT_PATHS_FILE\" \"$1\"".into(),
            "sh".into(),
            copy.to_string_lossy().into_owned(),
        ],
    };
    // Ids whose split order differs from their lexical order (p-10 sorts before p-2).
    let ids: Vec<String> = (0..N).map(|i| format!("p-{i}")).collect();
    seed(&stack, "split-5k", &ids, N);
    let mut vars = task_vars("w5k", "j", 1);
    vars.push(("FERRY_SPLIT_PARENT_TASK_ID", "split-5k".into()));
    expect_code(
        &stack.run(&stack.publish(&join), &vars),
        0,
        "join over 5,000 parents",
    );
    let want: Vec<String> = ids.iter().map(|id| format!("sfn-w5k/body/{id}")).collect();
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), want.join(","));

    // A parent set with a gap is the wrapper's failure, never a join with missing inputs.
    seed(&stack, "gap-split", &["p-0".to_string()], 2);
    let mut vars = task_vars("w5k", "j2", 1);
    vars.push(("FERRY_SPLIT_PARENT_TASK_ID", "gap-split".into()));
    let out = stack.run(&stack.publish(&join), &vars);
    expect_code(&out, 101, "join with a missing split");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 of 2 splits"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const JOIN_FLOW: &str = r#"
from metaflow import FlowSpec, step

class JoinFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(300))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.v = 7
        self.next(self.join)

    @step
    def join(self, inputs):
        inputs = list(inputs)
        self.n = len(inputs)
        self.ids = [inp._datastore.task_id for inp in inputs]
        self.vs = sorted(set(inp.v for inp in inputs))
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    JoinFlow()
"#;

/// Copy a task folder's files (not the local metadata below it).
fn copy_task(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_real_metaflow_join_over_300_parents_sees_every_input_in_split_order() {
    const N: usize = 300;
    let stack = Stack::new();
    let pkg = stack.flow_package("join_flow.py", JOIN_FLOW);
    let mut start = stack.describe("JoinFlow", "start", "join_flow.py", &pkg, StepInputs::Start);
    start.fanout = Fanout {
        foreach: true,
        ..Fanout::default()
    };
    let mut body = stack.describe(
        "JoinFlow",
        "body",
        "join_flow.py",
        &pkg,
        StepInputs::Parent {
            step: "start".into(),
        },
    );
    body.fanout = Fanout {
        join_parent: true,
        ..Fanout::default()
    };
    let join = stack.describe(
        "JoinFlow",
        "join",
        "join_flow.py",
        &pkg,
        StepInputs::ForeachJoin {
            step: "body".into(),
        },
    );
    let exec = "wide300";

    expect_code(
        &stack.run(&stack.publish(&start), &task_vars(exec, "s", 1)),
        0,
        "start",
    );
    let mut vars = task_vars(exec, "b-0", 1);
    vars.extend([
        ("FERRY_PARENT_TASK_ID", "s".to_string()),
        ("FERRY_SPLIT_INDEX", "0".to_string()),
        ("FERRY_FOREACH_INDEX", "0".to_string()),
        ("FERRY_TAIL_SPLIT_PARENT_TASK_ID", "s".to_string()),
    ]);
    expect_code(&stack.run(&stack.publish(&body), &vars), 0, "body");

    let body_dir = stack.datastore.join(".metaflow/JoinFlow/sfn-wide300/body");
    let ids: Vec<String> = (0..N).map(|i| format!("p-{i}")).collect();
    for id in &ids {
        copy_task(&body_dir.join("b-0"), &body_dir.join(id));
    }
    seed(&stack, "split-300", &ids, N);

    let mut vars = task_vars(exec, "j", 1);
    vars.push(("FERRY_SPLIT_PARENT_TASK_ID", "split-300".into()));
    expect_code(
        &stack.run(&stack.publish(&join), &vars),
        0,
        "join over 300 parents",
    );

    let got = stack.client(
        r#"
import sys, json
from metaflow import Task, namespace
namespace(None)
t = Task(sys.argv[1])
print(json.dumps({"n": t["n"].data, "ids": t["ids"].data, "vs": t["vs"].data}))
"#,
        &["JoinFlow/sfn-wide300/join/j"],
    );
    assert_eq!(got["n"], json!(N), "the join step saw every input");
    assert_eq!(got["ids"], json!(ids), "inputs arrive in split order");
    assert_eq!(got["vs"], json!([7]));
}

#[test]
fn a_wide_static_join_reads_its_branch_parents_from_the_state_table() {
    let stack = Stack::new();
    let pkg = stack.put_package(&tgz(&[("flow.py", b"")]));
    let steps: Vec<String> = (0..70).map(|i| format!("branch_{i}")).collect();
    let copy = stack.dir.path().join("input-paths");
    let mut join = stack.describe(
        "WideFlow",
        "join",
        "flow.py",
        &pkg,
        StepInputs::StaticJoin {
            steps: steps.clone(),
        },
    );
    join.command = StepCommand::Argv {
        argv: vec![
            "/bin/sh".into(),
            "-c".into(),
            "exec cp \"$FERRY_INPUT_PATHS_FILE\" \"$1\"".into(),
            "sh".into(),
            copy.to_string_lossy().into_owned(),
        ],
    };
    let ids: Vec<String> = (0..70).map(|i| format!("job-{i}")).collect();
    seed(&stack, "split-70", &ids, 0);
    let mut vars = task_vars("w70", "j", 1);
    vars.push(("FERRY_SPLIT_PARENT_TASK_ID", "split-70".into()));
    expect_code(
        &stack.run(&stack.publish(&join), &vars),
        0,
        "wide static join",
    );
    let want: Vec<String> = (0..70)
        .map(|i| format!("sfn-w70/branch_{i}/job-{i}"))
        .collect();
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), want.join(","));
}
