//! Benchmark driver (run by `bench/foreach_wall.sh`): the embedded stack's executor, orchestrator
//! and process runner on one N-wide distributed Map of trivial Batch jobs (`/bin/true`), in a
//! temporary home. Prints one JSON line: width, workers, wall seconds, peak RSS (KiB) of this
//! process (the stack's share of the work: the interpreter, the SQLite records, the runner).
//!
//! `cargo run -p ferry-local --example wide_map -- [WIDTH] [WORKERS]`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_control::{DeploymentName, ExecutionStatus, Executions, StateMachines};
use ferry_local::executor::{Executor, Resources};
use ferry_local::orchestrator::LocalOrchestrator;
use ferry_local::runner::{ProcessRunner, RunnerConfig};
use serde_json::json;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let width: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let workers: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    let home = tempfile::tempdir()?;
    let table: Arc<dyn ferry_store::Table> = Arc::new(ferry_store::SqliteTable::open(
        home.path().join("ferry.db"),
        "default",
    )?);
    let mut cfg = RunnerConfig::under(home.path());
    cfg.max_workers = workers;
    let runner = ProcessRunner::new(cfg);
    let resources = Resources::new().with_batch(Arc::new(runner.clone()));
    let orch = LocalOrchestrator::new(table, Executor::new(Arc::new(resources)), Some(runner));
    let definition = json!({
        "StartAt": "Fan",
        "States": {"Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 1000,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Body",
                "States": {"Body": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::batch:submitJob.sync",
                    "Parameters": {
                        "JobName": "bench-body", "JobQueue": "q", "JobDefinition": "d",
                        "Parameters": {"step_name": "body", "index.$": "States.Format('{}', $)"},
                        "ContainerOverrides": {"Command": ["/bin/true"]}
                    },
                    "ResultSelector": {"JobId.$": "$.JobId"},
                    "End": true
                }}
            },
            "ResultSelector": {"n.$": "States.ArrayLength($)"},
            "End": true
        }}
    });
    let machine = DeploymentName::parse("WideMap")?;
    orch.put(&machine, &definition.to_string(), &BTreeMap::new())
        .await?;
    let items: Vec<usize> = (0..width).collect();
    let start = Instant::now();
    let e = orch
        .start(&machine, None, &json!({"items": items}).to_string())
        .await?;
    let done = orch
        .wait(&machine, &e.name, Duration::from_secs(24 * 3600))
        .await?;
    let wall = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "width": width, "workers": workers, "status": done.status.as_str(),
            "wall_seconds": (wall * 100.0).round() / 100.0,
            "jobs_per_second": ((width as f64 / wall) * 10.0).round() / 10.0,
            "peak_rss_kib": peak_rss_kib(),
            "error": done.error, "cause": done.cause.map(|c| c.chars().take(300).collect::<String>()),
        })
    );
    if done.status != ExecutionStatus::Succeeded {
        std::process::exit(1);
    }
    Ok(())
}
