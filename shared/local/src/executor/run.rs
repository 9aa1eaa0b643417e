//! The interpreter: runs a [`StateMachine`] on an input, state by state.
//!
//! Data flow per state (JSONPath query language): `InputPath` -> `Parameters`/`ItemSelector`
//! -> the work -> `ResultSelector` -> `ResultPath` (merged into the raw state input) ->
//! `OutputPath`. On an error, the first matching `Retry` entry re-runs the state after its
//! back-off; when none applies (or it is exhausted), the first matching `Catch` entry puts
//! `{Error, Cause}` at its `ResultPath` on the raw input and transitions to its `Next`.
//!
//! Map states (inline and distributed) run in [`super::map`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::cancel::Cancellation;
use super::context::{Context, ExecInfo, Scope};
use super::error::{StatesError, names};
use super::history::History;
use super::jobs::SubmittedJobs;
use super::jsonpath::Path;
use super::model::{
    Kind, NumberOrPath, Retrier, State, StateMachine, StringOrPath, Transition, WaitFor,
};
use super::resources::{TaskContext, TaskResources};
use crate::time::Time;

/// Everything an execution's states share.
pub(crate) struct Runtime {
    pub resources: Arc<dyn TaskResources>,
    pub time: Arc<dyn Time>,
    /// Uniform random numbers in `[0, 1)` for `JitterStrategy: FULL`.
    pub random: Arc<dyn Fn() -> f64 + Send + Sync>,
    pub cancel: Cancellation,
    pub history: Arc<History>,
    /// The Batch jobs the execution submitted as array jobs, with dependencies or without `.sync`.
    pub jobs: Arc<SubmittedJobs>,
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

pub(crate) fn resolve_number(
    n: &NumberOrPath,
    scope: &Scope<'_>,
    what: &str,
) -> Result<f64, StatesError> {
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

/// What a Task resource invoked by state `name` knows about where it runs.
pub(crate) fn task_context(rt: &Runtime, ctx: &Context, name: &str) -> TaskContext {
    TaskContext {
        execution_name: ctx.exec.name.clone(),
        execution_id: ctx.exec.id.clone(),
        state_name: name.to_string(),
        retry_count: ctx.retry_count,
        cancel: rt.cancel.clone(),
        jobs: rt.jobs.clone(),
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
            let tctx = task_context(rt, ctx, name);
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
            super::map::run_map(rt, m, name, &effective, ctx).await?,
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
