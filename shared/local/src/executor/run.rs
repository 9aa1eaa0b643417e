//! The interpreter: runs a [`StateMachine`] on an input, state by state.
//!
//! Data flow per state (JSONPath query language): `InputPath` -> `Parameters`/`ItemSelector`
//! -> the work -> `ResultSelector` -> `ResultPath` (merged into the raw state input) ->
//! `OutputPath`. On an error, the first matching `Retry` entry re-runs the state after its
//! back-off; when none applies (or it is exhausted), the first matching `Catch` entry puts
//! `{Error, Cause}` at its `ResultPath` on the raw input and transitions to its `Next`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::cancel::Cancellation;
use super::context::{Context, ExecInfo, Scope};
use super::error::{StatesError, names};
use super::history::History;
use super::jsonpath::Path;
use super::model::{
    Kind, MapState, NumberOrPath, Retrier, State, StateMachine, StringOrPath, Transition, WaitFor,
};
use super::resources::{TaskContext, TaskResources, integration};
use crate::time::Time;

/// Everything an execution's states share.
pub(crate) struct Runtime {
    pub resources: Arc<dyn TaskResources>,
    pub time: Arc<dyn Time>,
    /// Uniform random numbers in `[0, 1)` for `JitterStrategy: FULL`.
    pub random: Arc<dyn Fn() -> f64 + Send + Sync>,
    pub cancel: Cancellation,
    pub history: Arc<History>,
}

/// A failed (sub-)execution: the error and the state that raised it.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub error: StatesError,
    pub state: String,
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// RFC 3339 with milliseconds, as Step Functions prints timestamps.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The delay before retry number `attempt` (0-based) of `r`: `IntervalSeconds ×
/// BackoffRate^attempt`, capped at `MaxDelaySeconds`; with `JitterStrategy: FULL`, scaled by
/// `random` in `[0, 1)`.
pub fn retry_delay(r: &Retrier, attempt: u32, random: f64) -> Duration {
    let mut secs = r.interval_seconds * r.backoff_rate.powi(attempt.min(1000) as i32);
    if let Some(max) = r.max_delay_seconds {
        secs = secs.min(max);
    }
    if r.jitter_full {
        secs *= random.clamp(0.0, 1.0);
    }
    seconds(secs)
}

/// The longest wait Step Functions allows (one year); longer or non-finite values are capped.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// A non-negative number of seconds as a `Duration`, capped at one year (never panics).
pub(crate) fn seconds(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(secs.min(MAX_SECONDS))
}

/// Whether an `ErrorEquals` list matches `error`. `States.ALL` matches everything but
/// `States.Runtime`/`States.DataLimitExceeded`; `States.TaskFailed` matches every Task error
/// but those and `States.Timeout`.
pub fn error_matches(list: &[String], error: &str, in_task: bool) -> bool {
    let terminal = error == names::RUNTIME || error == "States.DataLimitExceeded";
    list.iter().any(|e| {
        e == error
            || (e == names::ALL && !terminal)
            || (e == names::TASK_FAILED && in_task && !terminal && error != names::TIMEOUT)
    })
}

/// Run `sm` from its `StartAt` to a terminal state.
pub(crate) fn run_machine(
    rt: Arc<Runtime>,
    sm: Arc<StateMachine>,
    exec: Arc<ExecInfo>,
    input: Value,
) -> BoxFut<Result<Value, Failure>> {
    Box::pin(async move {
        let mut name = sm.start_at.clone();
        let mut input = input;
        loop {
            let state = sm.states.get(&name).expect("transitions are validated");
            rt.history
                .event(&format!("{}StateEntered", state.type_name), Some(&name));
            match run_state(&rt, state, &name, &exec, input).await {
                Ok((output, next)) => {
                    rt.history
                        .event(&format!("{}StateExited", state.type_name), Some(&name));
                    match next {
                        Some(n) => {
                            name = n;
                            input = output;
                        }
                        None => return Ok(output),
                    }
                }
                Err(error) => return Err(Failure { error, state: name }),
            }
        }
    })
}

fn apply_input_path(state: &State, raw: &Value) -> Result<Value, StatesError> {
    match &state.input_path {
        None => Ok(json!({})),
        Some(p) if p.is_root() => Ok(raw.clone()),
        Some(p) => p.select(raw).ok_or_else(|| {
            StatesError::runtime(format!(
                "Invalid path '{p}' : The InputPath could not be found in the input '{raw}'"
            ))
        }),
    }
}

fn apply_output_path(state: &State, v: Value) -> Result<Value, StatesError> {
    match &state.output_path {
        None => Ok(json!({})),
        Some(p) if p.is_root() => Ok(v),
        Some(p) => p.select(&v).ok_or_else(|| {
            StatesError::runtime(format!(
                "Invalid path '{p}' : The OutputPath could not be found in the output '{v}'"
            ))
        }),
    }
}

fn apply_result_path(path: &Option<Path>, raw: Value, result: Value) -> Result<Value, StatesError> {
    match path {
        None => Ok(raw),
        Some(p) => p.set(raw, result).map_err(StatesError::runtime),
    }
}

fn next_of(state: &State) -> Option<String> {
    match &state.transition {
        Transition::Next(n) => Some(n.clone()),
        _ => None,
    }
}

fn resolve_number(n: &NumberOrPath, scope: &Scope<'_>, what: &str) -> Result<f64, StatesError> {
    match n {
        NumberOrPath::Value(v) => Ok(*v),
        NumberOrPath::Path(p) => scope
            .select(p)
            .and_then(|v| v.as_f64())
            .filter(|f| *f >= 0.0)
            .ok_or_else(|| {
                StatesError::runtime(format!(
                    "{what}: the path '{p}' must point at a non-negative number"
                ))
            }),
    }
}

async fn run_state(
    rt: &Arc<Runtime>,
    state: &State,
    name: &str,
    exec: &Arc<ExecInfo>,
    raw: Value,
) -> Result<(Value, Option<String>), StatesError> {
    let entered = timestamp(rt.time.now());
    let ctx = |retry_count: u32| Context {
        exec: exec.clone(),
        state_name: name.to_string(),
        entered_time: entered.clone(),
        retry_count,
        map_item: None,
    };
    match &state.kind {
        Kind::Pass { result, parameters } => {
            let c = ctx(0);
            let effective = apply_input_path(state, &raw)?;
            let value = match (result, parameters) {
                (Some(r), _) => r.clone(),
                (None, Some(t)) => t.eval(&Scope {
                    input: &effective,
                    ctx: &c,
                })?,
                (None, None) => effective,
            };
            let out = apply_result_path(&state.result_path, raw, value)?;
            Ok((apply_output_path(state, out)?, next_of(state)))
        }
        Kind::Choice { choices, default } => {
            let c = ctx(0);
            let effective = apply_input_path(state, &raw)?;
            let scope = Scope {
                input: &effective,
                ctx: &c,
            };
            let mut next = None;
            for (rule, target) in choices {
                if rule.eval(&scope)? {
                    next = Some(target.clone());
                    break;
                }
            }
            let next = next.or_else(|| default.clone()).ok_or_else(|| {
                StatesError::new(
                    names::NO_CHOICE_MATCHED,
                    format!("No Choice Rule matched in state '{name}' and no Default"),
                )
            })?;
            Ok((apply_output_path(state, effective)?, Some(next)))
        }
        Kind::Wait(how) => {
            let c = ctx(0);
            let effective = apply_input_path(state, &raw)?;
            let scope = Scope {
                input: &effective,
                ctx: &c,
            };
            let d = match how {
                WaitFor::Seconds(n) => seconds(resolve_number(n, &scope, "SecondsPath")?),
                WaitFor::Timestamp(t) => until(rt, *t),
                WaitFor::TimestampPath(p) => {
                    let t = scope
                        .select(p)
                        .and_then(|v| {
                            v.as_str()
                                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        })
                        .ok_or_else(|| {
                            StatesError::runtime(format!(
                                "TimestampPath '{p}' must point at an RFC 3339 timestamp"
                            ))
                        })?;
                    until(rt, t.with_timezone(&Utc))
                }
            };
            rt.history.event("WaitStarted", Some(name));
            rt.time.sleep(d).await;
            Ok((apply_output_path(state, effective)?, next_of(state)))
        }
        Kind::Succeed => {
            let effective = apply_input_path(state, &raw)?;
            Ok((apply_output_path(state, effective)?, None))
        }
        Kind::Fail { error, cause } => {
            let c = ctx(0);
            let scope = Scope {
                input: &raw,
                ctx: &c,
            };
            let text = |x: &Option<StringOrPath>| -> Result<String, StatesError> {
                Ok(match x {
                    None => String::new(),
                    Some(StringOrPath::Value(s)) => s.clone(),
                    Some(StringOrPath::Path(p)) => match scope.select(p) {
                        Some(Value::String(s)) => s,
                        _ => {
                            return Err(StatesError::runtime(format!(
                                "The path '{p}' must point at a string"
                            )));
                        }
                    },
                    Some(StringOrPath::Call(c)) => match c.eval(&scope)? {
                        Value::String(s) => s,
                        other => {
                            return Err(StatesError::runtime(format!(
                                "States.{} must give a string here, got {other}",
                                c.name
                            )));
                        }
                    },
                })
            };
            Err(StatesError::new(text(error)?, text(cause)?))
        }
        Kind::Task { .. } | Kind::Parallel { .. } | Kind::Map(_) => {
            let in_task = matches!(state.kind, Kind::Task { .. });
            let mut counts = vec![0u32; state.retry.len()];
            let mut retries = 0u32;
            loop {
                let c = ctx(retries);
                let res = attempt(rt, state, name, &raw, &c).await;
                let e = match res {
                    Ok(out) => return Ok((out, next_of(state))),
                    Err(e) => e,
                };
                if let Some(i) = state
                    .retry
                    .iter()
                    .position(|r| error_matches(&r.error_equals, &e.error, in_task))
                {
                    let r = &state.retry[i];
                    if counts[i] < r.max_attempts {
                        let d = retry_delay(r, counts[i], (rt.random)());
                        counts[i] += 1;
                        retries += 1;
                        rt.history.event("StateRetryScheduled", Some(name));
                        rt.time.sleep(d).await;
                        continue;
                    }
                }
                if let Some(catcher) = state
                    .catch
                    .iter()
                    .find(|c| error_matches(&c.error_equals, &e.error, in_task))
                {
                    rt.history.event("StateErrorCaught", Some(name));
                    let out = apply_result_path(&catcher.result_path, raw, e.to_output())?;
                    return Ok((out, Some(catcher.next.clone())));
                }
                return Err(e);
            }
        }
    }
}

fn until(rt: &Arc<Runtime>, t: DateTime<Utc>) -> Duration {
    (t - rt.time.now()).to_std().unwrap_or(Duration::ZERO)
}

/// One attempt of a Task, Parallel or Map state: the whole data flow, InputPath to OutputPath.
async fn attempt(
    rt: &Arc<Runtime>,
    state: &State,
    name: &str,
    raw: &Value,
    ctx: &Context,
) -> Result<Value, StatesError> {
    let effective = apply_input_path(state, raw)?;
    let scope = Scope {
        input: &effective,
        ctx,
    };
    let (result, selector) = match &state.kind {
        Kind::Task {
            resource,
            parameters,
            result_selector,
            timeout,
        } => {
            let params = match parameters {
                Some(t) => t.eval(&scope)?,
                None => effective.clone(),
            };
            let tctx = TaskContext {
                execution_name: ctx.exec.name.clone(),
                execution_id: ctx.exec.id.clone(),
                state_name: name.to_string(),
                retry_count: ctx.retry_count,
                cancel: rt.cancel.clone(),
            };
            rt.history.event("TaskScheduled", Some(name));
            let limit = timeout
                .as_ref()
                .map(|t| resolve_number(t, &scope, "TimeoutSecondsPath"))
                .transpose()?;
            let call = rt.resources.invoke(resource, params, &tctx);
            let r = match limit {
                None => call.await,
                Some(secs) => {
                    tokio::select! {
                        r = call => r,
                        _ = rt.time.sleep(seconds(secs)) => Err(StatesError::timeout(format!("State '{name}' exceeded its TimeoutSeconds ({secs} s)"))),
                    }
                }
            };
            rt.history.event(
                if r.is_ok() {
                    "TaskSucceeded"
                } else {
                    "TaskFailed"
                },
                Some(name),
            );
            (r?, result_selector)
        }
        Kind::Parallel {
            branches,
            parameters,
            result_selector,
        } => {
            let input = match parameters {
                Some(t) => t.eval(&scope)?,
                None => effective.clone(),
            };
            let runs = branches
                .iter()
                .map(|b| run_machine(rt.clone(), b.clone(), ctx.exec.clone(), input.clone()));
            let outs = futures::future::try_join_all(runs)
                .await
                .map_err(|f| f.error)?;
            (Value::Array(outs), result_selector)
        }
        Kind::Map(m) => (
            run_map(rt, m, name, &effective, ctx).await?,
            &m.result_selector,
        ),
        _ => unreachable!("attempt is for Task, Parallel and Map"),
    };
    let result = match selector {
        Some(t) => t.eval(&Scope {
            input: &result,
            ctx,
        })?,
        None => result,
    };
    let out = apply_result_path(&state.result_path, raw.clone(), result)?;
    apply_output_path(state, out)
}

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
        let tctx = TaskContext {
            execution_name: ctx.exec.name.clone(),
            execution_id: ctx.exec.id.clone(),
            state_name: name.to_string(),
            retry_count: ctx.retry_count,
            cancel: rt.cancel.clone(),
        };
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

async fn run_map(
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
    let tctx = TaskContext {
        execution_name: ctx.exec.name.clone(),
        execution_id: ctx.exec.id.clone(),
        state_name: name.to_string(),
        retry_count: ctx.retry_count,
        cancel: rt.cancel.clone(),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn retrier(interval: f64, rate: f64, max_delay: Option<f64>, jitter: bool) -> Retrier {
        Retrier {
            error_equals: vec!["States.ALL".into()],
            interval_seconds: interval,
            max_attempts: 10,
            backoff_rate: rate,
            max_delay_seconds: max_delay,
            jitter_full: jitter,
        }
    }

    #[test]
    fn backoff_math() {
        let r = retrier(2.0, 2.0, Some(60.0), false);
        let secs: Vec<u64> = (0..7).map(|a| retry_delay(&r, a, 0.5).as_secs()).collect();
        assert_eq!(secs, vec![2, 4, 8, 16, 32, 60, 60]);
        let r = retrier(3.0, 1.5, None, false);
        assert_eq!(retry_delay(&r, 2, 0.0), Duration::from_secs_f64(6.75));
        let r = retrier(2.0, 2.0, Some(60.0), true);
        assert_eq!(retry_delay(&r, 3, 0.25), Duration::from_secs(4));
        assert_eq!(retry_delay(&r, 10, 0.5), Duration::from_secs(30));
        assert_eq!(retry_delay(&r, 0, 0.0), Duration::ZERO);
        let r = retrier(1.0, 2.0, None, false);
        assert!(retry_delay(&r, 5000, 0.0) > Duration::from_secs(1000));
    }

    #[test]
    fn error_name_matching() {
        let all = vec!["States.ALL".to_string()];
        let tf = vec!["States.TaskFailed".to_string()];
        assert!(error_matches(&all, "Custom.Error", false));
        assert!(!error_matches(&all, "States.Runtime", true));
        assert!(error_matches(
            &["States.Runtime".to_string()],
            "States.Runtime",
            true
        ));
        assert!(error_matches(
            &tf,
            "DynamoDB.ResourceNotFoundException",
            true
        ));
        assert!(!error_matches(&tf, "States.Timeout", true));
        assert!(!error_matches(&tf, "Custom", false));
        assert!(error_matches(
            &["States.Timeout".to_string()],
            "States.Timeout",
            true
        ));
    }
}
