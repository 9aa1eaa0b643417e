//! Seeds a Ferry home for `bench/ui.sh`: a deployment `UiBenchFlow` (record, spec blob, state
//! machine) with N finished executions, written through the embedded stack's own adapters (the
//! local orchestrator runs each execution of a one-state machine in-process). The bench then
//! starts `ferry up` on the home and writes the matching Metaflow runs through the metadata API.
//!
//! `cargo run -p ferry-ui --example ui_seed -- HOME N` prints one execution name per line,
//! oldest first.

use std::sync::Arc;
use std::time::Duration;

use ferry_control::{DeploymentName, ExecutionStatus, Executions, StateMachines};
use ferry_local::executor::{Executor, Resources};
use ferry_local::orchestrator::LocalOrchestrator;
use ferry_spec::task::{BlobStoreRef, TableRef};
use serde_json::json;

const FLOW: &str = "UiBenchFlow";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let home = std::path::PathBuf::from(args.next().ok_or("usage: ui_seed HOME N")?);
    let n: usize = args.next().ok_or("usage: ui_seed HOME N")?.parse()?;
    std::fs::create_dir_all(home.join("blobs"))?;
    let table = ferry_store::open_table(&TableRef::Sqlite {
        path: home.join("ferry.db").display().to_string(),
    })
    .await?;
    let blobs = ferry_store::open_blobs(&BlobStoreRef::Dir {
        path: home.join("blobs").display().to_string(),
    })
    .await?;
    let spec = json!({
        "spec_version": 1, "flow": FLOW, "file": "ui_bench.py",
        "parameters": [{"name": "width", "type": "int", "default": 10000}],
        "steps": [
            {"name": "start", "type": "foreach", "foreach": "items", "next": ["fan"]},
            {"name": "fan", "type": "linear", "next": ["join"]},
            {"name": "join", "type": "join", "next": ["end"]},
            {"name": "end", "type": "end"}
        ]
    });
    let spec_key = format!("deploy/{FLOW}/0b1c2d3e-0000-4000-8000-00000000be0c/spec.json");
    blobs.put(&spec_key, serde_json::to_vec(&spec)?).await?;
    let record: ferry_deploy::DeploymentRecord = serde_json::from_value(json!({
        "schema_version": 1, "deployment": FLOW, "flow": FLOW, "owner": "bench",
        "token": "bench", "token_prefix": "uibenchflow", "namespace": "production:bench",
        "state_machine": {"name": FLOW, "id": format!("local:stateMachine:{FLOW}")},
        "spec_sha256": "b".repeat(64), "spec_key": spec_key,
        "package": {"key": "code/bench.tgz", "sha256": "c".repeat(64)},
        "schedule": {"name": "uibenchflow", "expression": "0 10 * * ? *", "timezone": "Europe/Paris"},
        "parameters": [{"name": "width", "type": "int", "default": 10000}],
        "tags": [], "max_workers": 100, "version": 1, "ferry_version": "bench",
        "request_id": "0b1c2d3e-0000-4000-8000-00000000be0c",
        "created_at": "2026-11-30T00:00:00Z", "updated_at": "2026-11-30T00:00:00Z"
    }))?;
    table
        .put(
            ferry_deploy::record::encode_record(&record),
            ferry_store::Condition::None,
        )
        .await?;
    let orchestrator = LocalOrchestrator::new(
        table.clone(),
        Executor::new(Arc::new(Resources::new())),
        None,
    );
    let definition =
        json!({"StartAt": "start", "States": {"start": {"Type": "Succeed"}}}).to_string();
    let sm = DeploymentName::parse(FLOW)?;
    orchestrator
        .put(&sm, &definition, &Default::default())
        .await?;
    let mut names = Vec::with_capacity(n);
    for _ in 0..n {
        let e = orchestrator
            .start(&sm, None, r#"{"Parameters": "{}"}"#)
            .await?;
        names.push(e.name);
    }
    // Wait until every execution has ended (they are one Succeed state each).
    for _ in 0..600 {
        let running = orchestrator
            .list(&sm, Some(ExecutionStatus::Running))
            .await?;
        if running.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for name in names {
        println!("{name}");
    }
    Ok(())
}
