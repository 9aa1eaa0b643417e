//! `ferry plan` (the AWS model over a locally compiled flow) and `--foreach-mode`: a usage
//! error for an unknown mode, refused by the embedded stack for `array`, named per foreach in
//! the deploy output.

use crate::common;

use common::*;

const CHAIN: &str = r#"
from metaflow import FlowSpec, step


class ChainFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(3))
        self.next(self.prep, foreach="items")

    @step
    def prep(self):
        self.x = self.input
        self.next(self.score)

    @step
    def score(self):
        self.y = self.x * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.ys = [i.y for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ChainFlow()
"#;

#[test]
fn plan_compares_the_map_and_array_forms() {
    let h = Stack::new();
    let f = flow("chain.py", CHAIN);
    let out = h.ferry(
        "alice",
        &[
            "--json",
            "plan",
            f.path(),
            "--width",
            "25000",
            "--trials",
            "3",
            "--compute",
            "ec2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = stdout_json(&out);
    let plans = v["plans"].as_array().unwrap();
    let by_mode = |m: &str| {
        plans
            .iter()
            .find(|p| p["foreach_mode"] == m)
            .unwrap()
            .clone()
    };
    let (map, array) = (by_mode("map"), by_mode("array"));
    let submits = |p: &serde_json::Value| p["plan"]["api_calls"]["batch"]["SubmitJob"].as_u64();
    // Map: start, join, end + 2 body steps × 25,000 items; array: 2 body steps × 3 chunks.
    assert_eq!(submits(&map), Some(3 + 2 * 25_000));
    assert_eq!(submits(&array), Some(3 + 2 * 3));
    assert_eq!(
        array["foreach_forms"],
        serde_json::json!(["Foreach start: Batch array jobs (body: prep, score)."])
    );
    let started = |p: &serde_json::Value| p["plan"]["all_tasks_started"]["p50_s"].as_f64().unwrap();
    assert!(started(&array) < started(&map), "{v}");
    // Text mode: a table with both columns.
    let out = h.ferry(
        "alice",
        &["plan", f.path(), "--width", "100", "--trials", "1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for want in [
        "--foreach-mode map",
        "--foreach-mode array",
        "Batch SubmitJob calls",
        "docs/aws-model.md",
    ] {
        assert!(text(&out).contains(want), "{want}: {}", text(&out));
    }
}

#[test]
fn foreach_mode_is_checked_and_the_embedded_stack_deploys_every_form() {
    let mut h = Stack::new();
    let f = flow("chain.py", CHAIN);
    for cmd in [&["deploy", f.path()][..], &["plan", f.path()][..]] {
        let mut args = cmd.to_vec();
        args.extend(["--foreach-mode", "arrays"]);
        let out = h.ferry("alice", &args);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {}", text(&out));
        assert!(text(&out).contains("map, array, auto"), "{}", text(&out));
    }
    h.up();
    // The embedded stack runs both forms: array and auto deploy the array form, map the Map.
    for (mode, form) in [
        ("array", "Batch array jobs"),
        ("auto", "Batch array jobs"),
        ("map", "Map."),
    ] {
        let out = h.ferry("alice", &["deploy", f.path(), "--foreach-mode", mode]);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", text(&out));
        assert!(text(&out).contains("Foreach start: "), "{}", text(&out));
        assert!(text(&out).contains(form), "{mode}: {}", text(&out));
    }
}

const NESTED: &str = r#"
from metaflow import FlowSpec, step


class NestedFlow(FlowSpec):
    @step
    def start(self):
        self.outer = [1, 2]
        self.next(self.mid, foreach="outer")

    @step
    def mid(self):
        self.inner = [1, 2]
        self.next(self.leaf, foreach="inner")

    @step
    def leaf(self):
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NestedFlow()
"#;

#[test]
fn a_nested_foreach_too_wide_to_simulate_is_a_usage_error_at_once() {
    let h = Stack::new();
    let f = flow("nested.py", NESTED);
    // --width applies to every foreach: 1,000 x 1,000 tasks a trial is refused, not simulated
    // for minutes.
    let started = std::time::Instant::now();
    let out = h.ferry("alice", &["plan", f.path()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("1,000,000 tasks") && t.contains("--width"),
        "{t}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "refused at once"
    );
    // A width whose square fits is simulated.
    let out = h.ferry(
        "alice",
        &["plan", f.path(), "--width", "10", "--trials", "1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
