//! Interpreter overhead of the local executor: a 10,000-item inline Map of Pass states, a
//! chain of 1,000 Pass states, and a 100-branch Parallel. Run with `bench/executor.sh` (or
//! `cargo bench -p ferry-local --bench executor`).

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ferry_control::{DeploymentName, ExecutionName, ExecutionStatus};
use ferry_local::executor::{Executor, Resources, StateMachine};
use serde_json::{Value, json};

fn run(rt: &tokio::runtime::Runtime, exec: &Executor, m: &Arc<StateMachine>, input: &Value) {
    let rec = rt.block_on(async {
        let name = DeploymentName::parse("Bench").unwrap();
        exec.start(
            m.clone(),
            &name,
            &ExecutionName::parse("run").unwrap(),
            input.clone(),
        )
        .wait()
        .await
    });
    assert_eq!(rec.status, ExecutionStatus::Succeeded);
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let exec = Executor::new(Arc::new(Resources::new()));

    let map = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0,
        "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"i.$": "$.i"}, "End": true}}},
        "End": true}}});
    let map = exec.validate(&map.to_string()).unwrap();
    let items = json!({"items": (0..10_000).map(|i| json!({"n": i})).collect::<Vec<_>>()});
    c.bench_function("map_10000_pass", |b| {
        b.iter(|| run(&rt, &exec, &map, &items))
    });

    let mut states = serde_json::Map::new();
    for i in 0..1000 {
        let next = if i == 999 {
            json!({"End": true})
        } else {
            json!({"Next": format!("S{}", i + 1)})
        };
        let mut s = json!({"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}});
        s.as_object_mut()
            .unwrap()
            .extend(next.as_object().unwrap().clone());
        states.insert(format!("S{i}"), s);
    }
    let chain = exec
        .validate(&json!({"StartAt": "S0", "States": states}).to_string())
        .unwrap();
    c.bench_function("chain_1000_pass", |b| {
        b.iter(|| run(&rt, &exec, &chain, &json!({"n": 0})))
    });

    let branches: Vec<Value> = (0..100)
        .map(|i| json!({"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": i, "End": true}}}))
        .collect();
    let par = exec
        .validate(&json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": branches, "End": true}}}).to_string())
        .unwrap();
    c.bench_function("parallel_100_branches", |b| {
        b.iter(|| run(&rt, &exec, &par, &json!({})))
    });
}

criterion_group! {
    name = executor;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(executor);
