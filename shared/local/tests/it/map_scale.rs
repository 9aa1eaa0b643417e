//! A Map of 10,000 trivial Pass iterations completes, keeps only counters for its history, and
//! stays memory-light (peak RSS growth is reported, and bounded generously; no timing asserts).

use std::sync::Arc;

use ferry_control::{DeploymentName, ExecutionName, ExecutionStatus};
use ferry_local::executor::{Executor, KEPT_EVENTS, Resources};
use serde_json::{Value, json};

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_item_map_is_memory_light() {
    const N: usize = 10_000;
    let exec = Executor::new(Arc::new(Resources::new()));
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0,
        "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"i.$": "$.i"}, "End": true}}},
        "ResultSelector": {"count.$": "States.ArrayLength($)", "last.$": "$[9999]"},
        "End": true}}});
    let machine = exec.validate(&def.to_string()).unwrap();
    let input = json!({"items": (0..N).map(|i| json!({"n": i})).collect::<Vec<_>>()});
    let before = rss_kib("VmHWM:");
    let handle = exec.start(
        machine,
        &DeploymentName::parse("Scale").unwrap(),
        &ExecutionName::parse("map-10k").unwrap(),
        input,
    );
    let rec = handle.wait().await;
    let after = rss_kib("VmHWM:");
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{:?}", rec.error);
    assert_eq!(
        rec.output_json().unwrap(),
        json!({"count": N, "last": {"i": N - 1}})
    );
    // Every iteration is counted (entered + exited + iteration started/succeeded per item)...
    let counts = handle.event_counts();
    assert_eq!(counts["MapIterationStarted"], N as u64);
    assert_eq!(counts["PassStateEntered"], N as u64);
    assert!(rec.events >= 4 * N as u64);
    // ...but only the first KEPT_EVENTS events are kept.
    assert_eq!(handle.history().len(), KEPT_EVENTS);
    let growth_mib = after.saturating_sub(before) / 1024;
    eprintln!(
        "10,000-item Map: {} events, peak RSS {} MiB -> {} MiB (+{growth_mib} MiB)",
        rec.events,
        before / 1024,
        after / 1024
    );
    assert!(growth_mib < 256, "peak RSS grew by {growth_mib} MiB");
    let _: Value = rec.output_json().unwrap();
}
