//! Which foreaches take the Batch array form, and the limits checker on array jobs.

use crate::common;

use common::*;
use ferry_compile::{CompileOptions, ForeachMode, array_foreaches};
use ferry_spec::FlowGraph;
use ferry_spec::model::StepType::*;
use serde_json::{Value, json};

fn has_array_job(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("ArrayProperties") || m.values().any(has_array_job),
        Value::Array(a) => a.iter().any(has_array_job),
        _ => false,
    }
}

fn plain() -> ferry_spec::FlowSpec {
    flow(
        "PlainFlow",
        vec![
            step("start", Start, &["fan"]),
            step("fan", Foreach, &["a"]),
            step("a", Linear, &["b"]),
            step("b", Linear, &["join"]),
            step("join", Join, &["end"]),
            step("end", End, &[]),
        ],
    )
}

#[test]
fn the_mode_decides_and_map_stays_the_default() {
    let spec = plain();
    let graph = FlowGraph::new(&spec).unwrap();
    for (mode, array) in [
        (ForeachMode::Map, false),
        (ForeachMode::Array, true),
        (ForeachMode::Auto, true),
    ] {
        let o = CompileOptions {
            foreach_mode: mode,
            ..aws_options("PlainFlow")
        };
        assert_eq!(
            array_foreaches(&graph, &o),
            if array { vec!["fan"] } else { vec![] }
        );
        assert_eq!(
            has_array_job(&compile_ok(&spec, &o).definition),
            array,
            "{mode:?}"
        );
    }
    assert_eq!(CompileOptions::default().foreach_mode, ForeachMode::Map);
}

#[test]
fn nested_foreach_and_split_bodies_keep_the_map() {
    let nested = flow(
        "NestedFlow",
        vec![
            step("start", Foreach, &["outer"]),
            step("outer", Foreach, &["inner"]),
            step("inner", Linear, &["join_inner"]),
            step("join_inner", Join, &["join_outer"]),
            step("join_outer", Join, &["end"]),
            step("end", End, &[]),
        ],
    );
    let split = flow(
        "SplitInFlow",
        vec![
            step("start", Foreach, &["s"]),
            step("s", Split, &["a", "b"]),
            step("a", Linear, &["j"]),
            step("b", Linear, &["j"]),
            step("j", Join, &["join"]),
            step("join", Join, &["end"]),
            step("end", End, &[]),
        ],
    );
    let said = [
        vec![
            "Foreach start: distributed Map, not array jobs: its body has the foreach outer.",
            "Foreach outer: distributed Map, not array jobs: it is inside the foreach start.",
        ],
        vec!["Foreach start: distributed Map, not array jobs: its body has the split s."],
    ];
    for (spec, said) in [nested, split].into_iter().zip(said) {
        let o = CompileOptions {
            foreach_mode: ForeachMode::Array,
            ..aws_options(&spec.flow)
        };
        let graph = FlowGraph::new(&spec).unwrap();
        assert!(array_foreaches(&graph, &o).is_empty(), "{}", spec.flow);
        let compiled = compile_ok(&spec, &o);
        assert!(!has_array_job(&compiled.definition), "{}", spec.flow);
        // The deploy output says why each foreach kept the Map.
        let lines: Vec<String> = compiled
            .foreach_forms
            .iter()
            .map(|f| f.describe())
            .collect();
        assert_eq!(lines, said, "{}", spec.flow);
        // Under --foreach-mode map nothing was asked, so nothing is explained.
        let map = compile_ok(&spec, &aws_options(&spec.flow));
        assert!(map.foreach_forms.iter().all(|f| f.not_array.is_none()));
    }
}

#[test]
fn the_checker_refuses_array_sizes_batch_refuses() {
    let task = |params: Value| {
        json!({"StartAt": "t", "States": {"t": {
            "Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync",
            "Parameters": params, "End": true}}})
    };
    let check = ferry_compile::limits::check_definition;
    assert!(check(&task(json!({"ArrayProperties": {"Size": 2}}))).is_empty());
    assert!(check(&task(json!({"ArrayProperties": {"Size.$": "$.Size"}}))).is_empty());
    for bad in [1, 10_001] {
        let p = check(&task(json!({"ArrayProperties": {"Size": bad}})));
        assert!(p[0].contains("ArrayProperties"), "{p:?}");
    }
    let p = check(&task(
        json!({"DependsOn": [{"JobId": "j", "Type": "N_TO_N"}]}),
    ));
    assert!(p[0].contains("N_TO_N"), "{p:?}");
    let deps: Vec<Value> = (0..21).map(|i| json!({"JobId": format!("j{i}")})).collect();
    let p = check(&task(json!({"DependsOn": deps})));
    assert!(p[0].contains("21 job dependencies"), "{p:?}");
}
