//! The command line's small promises, through the real `ferry` binary: usage mistakes exit 2,
//! `ferry trigger FLOW.py --help` lists the flow's parameters, `ferry deploy --with` says it is
//! not supported, and a mistyped `--home` creates nothing and says so.
//!
//! Needs the tools venv (`scripts/setup-tools`): flows are exported by the real `metaflow`.

use std::process::Output;

use crate::common;

use common::{Stack, flow, stdout_json, text};

const PARAMS: &str = r#"
from metaflow import FlowSpec, Parameter, step


class ParamFlow(FlowSpec):
    alpha = Parameter("alpha", help="Learning rate of the model.", default=0.5)
    day = Parameter("day", help="The day to score, as YYYY-MM-DD.", required=True)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ParamFlow()
"#;

fn usage(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}", text(out));
    text(out)
}

#[test]
fn usage_mistakes_exit_2_with_a_usage_error_object() {
    let h = Stack::new();
    usage(&h.ferry("alice", &["status", "nope"]));
    usage(&h.ferry("alice", &["terminate", "nope"]));
    usage(&h.ferry("alice", &["resume", "nope"]));
    usage(&h.ferry("alice", &["logs", "Flow/run"]));
    let out = h.ferry("alice", &["--json", "status", "nope"]);
    usage(&out);
    assert_eq!(stdout_json(&out)["error"]["kind"], "usage");
}

#[test]
fn trigger_help_lists_the_flows_parameters() {
    let h = Stack::new();
    let f = flow("params.py", PARAMS);
    let out = h.ferry("alice", &["trigger", f.path(), "--help"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("Usage: ferry trigger"), "{t}");
    assert!(
        t.contains("  --alpha (float, default 0.5)  Learning rate of the model.\n"),
        "{t}"
    );
    assert!(
        t.contains("  --day (str, required)  The day to score, as YYYY-MM-DD.\n"),
        "{t}"
    );
}

#[test]
fn deploy_with_says_it_is_not_supported() {
    let h = Stack::new();
    let f = flow("params.py", PARAMS);
    let t = usage(&h.ferry("alice", &["deploy", f.path(), "--with", "retry"]));
    assert!(t.contains("does not support --with retry"), "{t}");
    assert!(t.contains("`@retry` above `@step`"), "{t}");
    assert!(!t.contains("-- --with"), "{t}");
}

#[test]
fn a_mistyped_home_creates_nothing_and_is_an_error() {
    let h = Stack::new();
    let missing = h.home().join("typo");
    let home = missing.to_str().unwrap();
    for args in [
        vec!["--home", home, "deployments"],
        vec!["--home", home, "describe", "SomeFlow"],
        vec!["--home", home, "--json", "deployments"],
    ] {
        let out = h.ferry("alice", &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let t = text(&out);
        assert!(t.contains("is no Ferry home"), "{t}");
        assert!(!t.contains("No deployments"), "{t}");
        assert!(!missing.exists(), "{args:?} created {home}");
    }
    let out = h.ferry("alice", &["--home", home, "--json", "deployments"]);
    assert_eq!(stdout_json(&out)["error"]["kind"], "unavailable");
}
