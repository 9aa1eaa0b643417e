//! The ASL Map state: reading the items (`ItemsPath`, `ItemReader`, `ItemSelector`,
//! `ItemBatcher`), running the `ItemProcessor` over them at `MaxConcurrency`, inline or
//! distributed (child executions named `<map run id>:<index>`, tolerated failures, a Map Run
//! event, `ResultWriter` manifests in S3), as Step Functions does.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::context::{Context, ExecInfo, Scope};
use super::error::{StatesError, names};
use super::model::MapState;
use super::resources::integration;
use super::run::{Runtime, resolve_number, run_machine, task_context, timestamp};

/// The Map's items: from its `ItemReader` (S3 object or listing) or `ItemsPath`, each through
/// `ItemSelector`, then grouped by `ItemBatcher`.
async fn read_items(
    rt: &Arc<Runtime>,
    m: &MapState,
    name: &str,
    effective: &Value,
    ctx: &Context,
) -> Result<Vec<Value>, StatesError> {
    let scope = Scope {
        input: effective,
        ctx,
    };
    let items = if let Some(reader) = &m.item_reader {
        let params = reader.parameters.eval(&scope)?;
        let tctx = task_context(rt, ctx, name);
        let fail = |why: String| StatesError::new(names::ITEM_READER_FAILED, why);
        let out = rt
            .resources
            .invoke(&reader.resource, params, &tctx)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut items = match integration(&reader.resource) {
            Some("s3:listObjectsV2") => out
                .get("Contents")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            _ => {
                let body = out.get("Body").and_then(Value::as_str).unwrap_or("");
                match reader.input_type.as_deref().unwrap_or("JSON") {
                    "JSON" => match serde_json::from_str::<Value>(body) {
                        Ok(Value::Array(a)) => a,
                        Ok(_) => {
                            return Err(fail(
                                "the ItemReader object must hold a JSON array".into(),
                            ));
                        }
                        Err(e) => {
                            return Err(fail(format!("the ItemReader object is not JSON: {e}")));
                        }
                    },
                    other => {
                        return Err(fail(format!(
                            "ReaderConfig.InputType {other} is not supported (JSON)"
                        )));
                    }
                }
            }
        };
        if let Some(max) = &reader.max_items {
            let max = resolve_number(max, &scope, "MaxItemsPath")? as usize;
            if max > 0 {
                items.truncate(max);
            }
        }
        items
    } else {
        match scope.select(&m.items_path) {
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(StatesError::runtime(format!(
                    "Invalid path '{}': The ItemsPath must point at an array, got {other}",
                    m.items_path
                )));
            }
            None => {
                return Err(StatesError::runtime(format!(
                    "Invalid path '{}' : The ItemsPath could not be found in the input",
                    m.items_path
                )));
            }
        }
    };
    // Per-item input (ItemSelector), then batching.
    let mut inputs = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let v = match &m.item_selector {
            Some(t) => {
                let c = Context {
                    map_item: Some((i, item)),
                    ..ctx.clone()
                };
                t.eval(&Scope {
                    input: effective,
                    ctx: &c,
                })?
            }
            None => item,
        };
        inputs.push(v);
    }
    if let Some(b) = &m.item_batcher {
        let size = match &b.max_items_per_batch {
            Some(n) => resolve_number(n, &scope, "MaxItemsPerBatchPath")? as usize,
            None => inputs.len(),
        }
        .max(1);
        let batch_input = b.batch_input.as_ref().map(|t| t.eval(&scope)).transpose()?;
        let mut out = Vec::new();
        let mut it = inputs.into_iter().peekable();
        while it.peek().is_some() {
            let chunk: Vec<Value> = it.by_ref().take(size).collect();
            let mut obj = Map::new();
            if let Some(bi) = &batch_input {
                obj.insert("BatchInput".into(), bi.clone());
            }
            obj.insert("Items".into(), Value::Array(chunk));
            out.push(Value::Object(obj));
        }
        inputs = out;
    }
    Ok(inputs)
}

/// Run a Map state on its effective input: every item through the `ItemProcessor`, inline or
/// (`ProcessorConfig.Mode: DISTRIBUTED`) as child executions; the output is the array of item
/// outputs in item order, or the `ResultWriter` manifest's location.
pub(crate) async fn run_map(
    rt: &Arc<Runtime>,
    m: &MapState,
    name: &str,
    effective: &Value,
    ctx: &Context,
) -> Result<Value, StatesError> {
    let scope = Scope {
        input: effective,
        ctx,
    };
    let inputs = read_items(rt, m, name, effective, ctx).await?;
    let n = inputs.len();
    let conc = resolve_number(&m.max_concurrency, &scope, "MaxConcurrencyPath")? as usize;
    let conc = if conc == 0 { n.max(1) } else { conc };
    rt.history.event("MapStateStarted", Some(name));
    if !m.distributed {
        let runs = futures::stream::iter(inputs.into_iter().enumerate().map(|(i, input)| {
            let rt2 = rt.clone();
            let proc_ = m.processor.clone();
            let exec = ctx.exec.clone();
            async move {
                rt2.history.event("MapIterationStarted", None);
                let r = run_machine(rt2.clone(), proc_, exec, input).await;
                rt2.history.event(
                    if r.is_ok() {
                        "MapIterationSucceeded"
                    } else {
                        "MapIterationFailed"
                    },
                    None,
                );
                (i, r)
            }
        }))
        .buffer_unordered(conc);
        futures::pin_mut!(runs);
        // Completion order, so the first failure fails the Map at once (the others are
        // dropped); outputs are placed by item index.
        let mut outs = vec![Value::Null; n];
        while let Some((i, r)) = runs.next().await {
            outs[i] = r.map_err(|f| f.error)?;
        }
        return Ok(Value::Array(outs));
    }
    run_distributed(rt, m, name, inputs, conc, ctx).await
}

/// A distributed Map run: child executions with their own names and ARNs, the tolerated
/// failure threshold, a Map Run in the history, and the results written by `ResultWriter`.
async fn run_distributed(
    rt: &Arc<Runtime>,
    m: &MapState,
    name: &str,
    inputs: Vec<Value>,
    conc: usize,
    ctx: &Context,
) -> Result<Value, StatesError> {
    let n = inputs.len();
    let run_id = uuid::Uuid::new_v4().to_string();
    let machine_name = &ctx.exec.state_machine_name;
    let map_run_arn = format!(
        "{}/{}:{}",
        ctx.exec
            .state_machine_id
            .replace(":stateMachine:", ":mapRun:"),
        name,
        run_id
    );
    let scope = Scope {
        input: &Value::Null,
        ctx,
    };
    let tol_count = m
        .tolerated_failure_count
        .as_ref()
        .map(|t| resolve_number(t, &scope, "ToleratedFailureCountPath"))
        .transpose()?;
    let tol_pct = m
        .tolerated_failure_percentage
        .as_ref()
        .map(|t| resolve_number(t, &scope, "ToleratedFailurePercentagePath"))
        .transpose()?;
    let keep_records = m.result_writer.is_some();
    let runs = futures::stream::iter(inputs.into_iter().enumerate().map(|(i, input)| {
        let rt2 = rt.clone();
        let proc_ = m.processor.clone();
        let child_name = format!("{run_id}:{i}");
        let exec = Arc::new(ExecInfo {
            id: format!("{}:{}", ctx.exec.id.replace(":execution:", ":mapRunExecution:"), child_name),
            name: child_name,
            input: input.clone(),
            start_time: timestamp(rt.time.now()),
            role_arn: ctx.exec.role_arn.clone(),
            state_machine_id: format!("{}/{}", ctx.exec.state_machine_id, name),
            state_machine_name: format!("{machine_name}/{name}"),
        });
        async move {
            let start = timestamp(rt2.time.now());
            let r = run_machine(rt2.clone(), proc_, exec.clone(), input).await;
            let stop = timestamp(rt2.time.now());
            let record = keep_records.then(|| {
                let mut rec = json!({
                    "ExecutionArn": exec.id, "Name": exec.name, "StateMachineArn": exec.state_machine_id,
                    "Input": exec.input.to_string(), "InputDetails": {"Included": true},
                    "StartDate": start, "StopDate": stop, "RedriveCount": 0,
                });
                match &r {
                    Ok(out) => {
                        rec["Status"] = json!("SUCCEEDED");
                        rec["Output"] = json!(out.to_string());
                        rec["OutputDetails"] = json!({"Included": true});
                    }
                    Err(f) => {
                        rec["Status"] = json!("FAILED");
                        rec["Error"] = json!(f.error.error);
                        rec["Cause"] = json!(f.error.cause);
                    }
                }
                rec
            });
            (i, r, record)
        }
    }))
    .buffer_unordered(conc);
    futures::pin_mut!(runs);
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut outs = Vec::new();
    let (mut succeeded_records, mut failed_records) = (Vec::new(), Vec::new());
    let exceeded = |failed: usize| {
        let over_count = failed as f64 > tol_count.unwrap_or(0.0);
        let over_pct = n > 0 && (failed as f64 * 100.0 / n as f64) > tol_pct.unwrap_or(0.0);
        match (tol_count, tol_pct) {
            (None, None) => failed > 0,
            (Some(_), None) => over_count,
            (None, Some(_)) => over_pct,
            // Both set: exceeding either fails the Map Run.
            (Some(_), Some(_)) => over_count || over_pct,
        }
    };
    let mut result = Ok(());
    while let Some((i, r, record)) = runs.next().await {
        match r {
            Ok(v) => {
                ok += 1;
                if keep_records {
                    succeeded_records.extend(record.map(|r| (i, r)));
                } else {
                    outs.push((i, v));
                }
            }
            Err(f) => {
                failed += 1;
                if keep_records {
                    failed_records.extend(record.map(|r| (i, r)));
                } else {
                    outs.push((i, f.error.to_output()));
                }
                if exceeded(failed) {
                    result = Err(StatesError::new(
                        names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                        format!(
                            "The specified tolerated failure threshold was exceeded (last error {}: {})",
                            f.error.error, f.error.cause
                        ),
                    ));
                    break;
                }
            }
        }
    }
    rt.history.map_run(name, &map_run_arn, n, ok, failed);
    result?;
    // Item order, whatever the completion order.
    outs.sort_by_key(|o| o.0);
    succeeded_records.sort_by_key(|r| r.0);
    failed_records.sort_by_key(|r| r.0);
    let Some(writer) = &m.result_writer else {
        return Ok(Value::Array(outs.into_iter().map(|o| o.1).collect()));
    };
    let succeeded_records: Vec<Value> = succeeded_records.into_iter().map(|r| r.1).collect();
    let failed_records: Vec<Value> = failed_records.into_iter().map(|r| r.1).collect();
    let params = writer.parameters.eval(&Scope {
        input: &Value::Null,
        ctx,
    })?;
    let bucket = params
        .get("Bucket")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let prefix = params
        .get("Prefix")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
    let base = if prefix.is_empty() {
        run_id.clone()
    } else {
        format!("{prefix}/{run_id}")
    };
    let tctx = task_context(rt, ctx, name);
    let put = |key: String, body: String| {
        let bucket = bucket.clone();
        let tctx = tctx.clone();
        async move {
            rt.resources
                .invoke(
                    "arn:aws:states:::s3:putObject",
                    json!({"Bucket": bucket, "Key": key, "Body": body}),
                    &tctx,
                )
                .await
                .map_err(|e| StatesError::new(names::RESULT_WRITER_FAILED, e.to_string()))
                .map(|_| body.len())
        }
    };
    let mut files = json!({"FAILED": [], "PENDING": [], "SUCCEEDED": []});
    for (kind, recs) in [("SUCCEEDED", succeeded_records), ("FAILED", failed_records)] {
        if recs.is_empty() {
            continue;
        }
        let key = format!("{base}/{kind}_0.json");
        let size = put(key.clone(), Value::Array(recs).to_string()).await?;
        files[kind] = json!([{"Key": key, "Size": size}]);
    }
    let manifest_key = format!("{base}/manifest.json");
    let manifest =
        json!({"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": files});
    put(manifest_key.clone(), manifest.to_string()).await?;
    Ok(
        json!({"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key}}),
    )
}
