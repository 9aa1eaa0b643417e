//! A model of AWS for Ferry's state machines: from a compiled definition (the ASL JSON
//! `ferry_compile::compile` emits) and a foreach width, simulate executions against AWS's
//! published limits and latencies, and report API calls by service, state transitions, the time
//! from the fan-out until every foreach task has started, the time until the run ends (p50/p90 over seeded trials),
//! and the request cost. `docs/aws-model.md` describes the model and its sources.
//!
//! * [`figures`]: the limits, latencies and price, each with its source;
//! * [`simulate`]: [`Scenario`] + definition → [`Plan`].
//!
//! Every foreach `Map` of the definition iterates `width` items (an array-form chunk `Map`,
//! `ItemsPath` [`CHUNKS_ITEMS_PATH`], iterates the chunks of `width` items). Runs are
//! deterministic for a seed. Not modelled: failures and retries, compute capacity beyond a
//! bound on running containers (every runnable job finds a slot unless [`Scenario::max_running`] bounds them), EC2 instance scale-up, the tasks' own metadata and S3 traffic.

mod bucket;
pub mod figures;
mod sim;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use figures::{AwsFigures, Compute, Latency, Rate};

pub use ferry_spec::array_job::CHUNKS_ITEMS_PATH;

/// Errors of [`simulate`].
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The definition is not one the model can read (a missing field, a dangling `Next`).
    #[error("the state machine definition cannot be simulated: {0}")]
    Definition(String),
    /// A state type or resource the model does not know.
    #[error("the model does not simulate this: {0}")]
    Unsupported(String),
    /// A bad scenario (0 trials, a negative duration).
    #[error("bad scenario: {0}")]
    Scenario(String),
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Items of every foreach.
    pub width: u64,
    /// Seconds each task runs once its container is up (≥ 0).
    pub task_seconds: f64,
    /// Executions simulated (≥ 1); percentiles are over these.
    pub trials: u32,
    /// Seed of the first trial; trial `i` uses `seed + i`.
    pub seed: u64,
    /// Containers that may run at once (the compute environment's vCPUs over a task's);
    /// `None`: no bound. Jobs past it wait `RUNNABLE` in submission order.
    #[serde(default)]
    pub max_running: Option<u64>,
    /// The AWS figures.
    pub figures: AwsFigures,
}

/// Median and 90th percentile over the trials, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median, seconds.
    pub p50_s: f64,
    /// 90th percentile, seconds.
    pub p90_s: f64,
}

/// Request cost of one execution, US dollars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Step Functions Standard: state transitions × the price per transition.
    pub step_functions_usd: f64,
    /// AWS Batch requests: Batch itself is free.
    pub batch_usd: f64,
    /// What the figure leaves out.
    pub excludes: String,
}

/// What an execution of the definition costs in calls, transitions, time and money.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The scenario simulated.
    pub scenario: Scenario,
    /// API calls by service (`states`, `batch`, `dynamodb`, `s3`) and action.
    pub api_calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// State transitions of the execution and its child executions (what Step Functions
    /// Standard bills).
    pub state_transitions: u64,
    /// Child executions of distributed Maps.
    pub child_executions: u64,
    /// Batch jobs submitted (an array job once).
    pub batch_jobs: u64,
    /// Containers started (array children, padding included).
    pub containers: u64,
    /// Time from the fan-out (the first foreach `Map` state starting, once the foreach task
    /// has ended) until every foreach task is running; for a flow without foreach, from the
    /// execution's start until every task is running.
    pub all_tasks_started: Percentiles,
    /// Time from the execution's start until it ends.
    pub completed: Percentiles,
    /// Request cost.
    pub cost: Cost,
}

impl Plan {
    /// `SubmitJob` calls.
    pub fn submit_job_calls(&self) -> u64 {
        self.api_calls
            .get("batch")
            .and_then(|b| b.get("SubmitJob"))
            .copied()
            .unwrap_or(0)
    }
}

/// Simulate `scenario.trials` executions of `definition`.
///
/// Errors: a definition the model cannot read or a state it does not know
/// ([`ModelError::Definition`], [`ModelError::Unsupported`]); 0 trials or a negative or
/// non-finite task duration ([`ModelError::Scenario`]).
pub fn simulate(definition: &Value, scenario: &Scenario) -> Result<Plan, ModelError> {
    if scenario.max_running == Some(0) {
        return Err(ModelError::Scenario(
            "max_running must be at least 1 (or none)".into(),
        ));
    }
    if scenario.trials == 0 {
        return Err(ModelError::Scenario("trials must be at least 1".into()));
    }
    if !(scenario.task_seconds.is_finite() && scenario.task_seconds >= 0.0) {
        return Err(ModelError::Scenario(format!(
            "the task duration must be a number of seconds ≥ 0, got {}",
            scenario.task_seconds
        )));
    }
    let setup = sim::Setup {
        definition,
        width: scenario.width,
        task_seconds: scenario.task_seconds,
        max_running: scenario.max_running,
        figures: &scenario.figures,
    };
    let mut outcomes = Vec::with_capacity(scenario.trials as usize);
    for i in 0..scenario.trials {
        outcomes.push(sim::run(&setup, scenario.seed.wrapping_add(u64::from(i)))?);
    }
    let first = outcomes[0].clone();
    let mut api_calls: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for ((service, action), n) in &first.calls {
        api_calls
            .entry(service.clone())
            .or_default()
            .insert(action.clone(), *n);
    }
    let pct = |pick: fn(&sim::Outcome) -> f64| {
        let mut v: Vec<f64> = outcomes.iter().map(pick).collect();
        v.sort_by(f64::total_cmp);
        Percentiles {
            p50_s: percentile(&v, 0.5),
            p90_s: percentile(&v, 0.9),
        }
    };
    Ok(Plan {
        scenario: scenario.clone(),
        api_calls,
        state_transitions: first.transitions,
        child_executions: first.child_executions,
        batch_jobs: first.batch_jobs,
        containers: first.containers,
        all_tasks_started: pct(|o| o.all_started_s),
        completed: pct(|o| o.completed_s),
        cost: Cost {
            step_functions_usd: first.transitions as f64 * scenario.figures.usd_per_transition,
            batch_usd: 0.0,
            excludes: "compute (EC2/Fargate time), DynamoDB and S3 requests, the free tier".into(),
        },
    })
}

/// The nearest-rank percentile `q` of sorted `v` (non-empty).
fn percentile(v: &[f64], q: f64) -> f64 {
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}
