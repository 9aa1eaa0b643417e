//! `ferry plan FLOW.py`: compile the flow locally (no stack needed) and run `ferry-model`'s
//! simulation of its state machine on AWS: API calls, state transitions, time until every
//! foreach task has started and until the run ends, request cost; for the Map and the Batch
//! array form of its foreaches side by side unless `--foreach-mode` picks one.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use ferry_compile::{CompileOptions, ForeachMode, compile};
use ferry_model::{AwsFigures, Compute, Plan, Scenario, simulate};
use ferry_spec::FlowGraph;
use ferry_spec::task::{BlobStoreRef, DatastoreSettings, MetadataSettings, PackageRef, TableRef};
use serde_json::json;

use crate::context::Context;

/// Arguments of `ferry plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub flow: crate::flow::FlowArgs,

    /// Items of every foreach (a foreach nested in another has width x width tasks; one
    /// simulated execution holds at most 200,000 tasks). Example: `--width 10000`.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub width: u64,

    /// Plan one foreach form only (`map` or `array`, as `ferry deploy --foreach-mode` takes
    /// them; `auto` is what deploy's `auto` picks). Without it: `map` and `array` side by side.
    #[arg(long, value_name = "MODE",
          value_parser = crate::cmd::plan::foreach_mode_parser())]
    pub foreach_mode: Option<ForeachMode>,

    /// Where Batch runs containers: `fargate` (launch-rate limited, cold starts) or `ec2`
    /// (running instances). Example: `--compute ec2`.
    #[arg(long, default_value = "fargate", value_name = "COMPUTE",
          value_parser = PossibleValuesParser::new(["fargate", "ec2"])
              .map(|s| if s == "ec2" { Compute::Ec2 } else { Compute::Fargate }))]
    pub compute: Compute,

    /// Seconds each task runs once its container is up. Example: `--task-seconds 300`.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub task_seconds: f64,

    /// The `--max-workers` the deployment would use (a foreach Map's `MaxConcurrency`).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_workers: u32,

    /// At most this many containers run at once (the compute environment's vCPUs over a
    /// task's); without it, every runnable job finds a slot. Example: `--max-running 256`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_running: Option<u64>,

    /// Simulated executions; times are their p50 and p90. Example: `--trials 21`.
    #[arg(long, default_value_t = 51, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub trials: u32,

    /// Seed of the first trial (same seed, same figures). Example: `--seed 7`.
    #[arg(long, default_value_t = 1, value_name = "SEED")]
    pub seed: u64,
}

/// The parser of `--foreach-mode` (`ferry deploy`, `ferry plan`): `map`, `array` or `auto`;
/// anything else is a usage error (exit 2) that lists them.
pub(crate) fn foreach_mode_parser() -> impl TypedValueParser<Value = ForeachMode> {
    PossibleValuesParser::new(["map", "array", "auto"]).map(|s| match s.as_str() {
        "array" => ForeachMode::Array,
        "auto" => ForeachMode::Auto,
        _ => ForeachMode::Map,
    })
}

/// The most tasks one simulated execution may have: 100,000-wide single foreaches fit, a
/// nested foreach at the default width (1,000 x 1,000) does not.
const MAX_SIMULATED_TASKS: u64 = 200_000;

/// Refuse (usage error) a width that makes one simulated execution hold more than
/// [`MAX_SIMULATED_TASKS`] tasks: `--width` applies to every foreach, so a foreach nested in
/// another has `width^depth` tasks.
fn check_simulated_tasks(graph: &FlowGraph, width: u64) -> anyhow::Result<()> {
    let depth = graph
        .nodes()
        .filter(|n| n.ty() == ferry_spec::model::StepType::Foreach)
        .map(|n| graph.enclosing_foreaches(n.name()).len() as u32 + 1)
        .max()
        .unwrap_or(0);
    if depth < 2 {
        return Ok(());
    }
    let tasks = width.checked_pow(depth);
    if tasks.is_some_and(|t| t <= MAX_SIMULATED_TASKS) {
        return Ok(());
    }
    let fits = (1..=width)
        .rev()
        .find(|w| {
            w.checked_pow(depth)
                .is_some_and(|t| t <= MAX_SIMULATED_TASKS)
        })
        .unwrap_or(1);
    let shown = tasks.map_or_else(|| "too many".to_string(), |t| format!("{} tasks", group(t)));
    Err(crate::UsageError(anyhow::anyhow!(
        "--width {width} applies to every foreach, and this flow nests them {depth} deep: one \
         simulated execution would hold {shown}, more than the model runs ({} at most). Give a \
         smaller width, e.g. --width {fits}.",
        group(MAX_SIMULATED_TASKS)
    ))
    .into())
}

/// `1000000` as `1,000,000`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Compile and simulate.
pub async fn run(ctx: &Context, args: PlanArgs) -> anyhow::Result<ExitCode> {
    if !(args.task_seconds.is_finite() && args.task_seconds >= 0.0) {
        return Err(crate::UsageError(anyhow::anyhow!(
            "--task-seconds must be a number of seconds >= 0, got {}",
            args.task_seconds
        ))
        .into());
    }
    let flow_file = args
        .flow
        .flow
        .canonicalize()
        .with_context(|| format!("cannot read the flow file {}", args.flow.flow.display()))?;
    let spec = crate::flow::export(&flow_file, args.flow.flow_class.as_deref()).await?;
    let graph = FlowGraph::new(&spec).map_err(|e| anyhow::anyhow!("{e}"))?;
    check_simulated_tasks(&graph, args.width)?;
    let modes = match args.foreach_mode {
        Some(m) => vec![m],
        None => vec![ForeachMode::Map, ForeachMode::Array],
    };
    let scenario = Scenario {
        width: args.width,
        task_seconds: args.task_seconds,
        trials: args.trials,
        seed: args.seed,
        max_running: args.max_running,
        figures: AwsFigures::for_compute(args.compute),
    };
    let mut plans = Vec::new();
    for mode in modes {
        let options = plan_options(&spec.flow, args.max_workers, mode);
        let compiled = compile(&spec, &graph, &options)
            .map_err(|e| anyhow::anyhow!("the flow {} cannot be compiled: {e}", spec.flow))?;
        let definition = compiled.definition;
        let forms: Vec<String> = compiled
            .foreach_forms
            .iter()
            .map(|f| f.describe())
            .collect();
        let sc = scenario.clone();
        let plan = tokio::task::spawn_blocking(move || simulate(&definition, &sc))
            .await
            .context("the simulation panicked")??;
        plans.push((mode, forms, plan));
    }
    if ctx.json {
        let out: Vec<_> = plans
            .iter()
            .map(|(mode, forms, plan)| {
                json!({"foreach_mode": mode.as_str(), "foreach_forms": forms, "plan": plan})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"flow": spec.flow, "plans": out}))?
        );
    } else {
        print!("{}", render(&spec.flow, &scenario, &plans));
    }
    Ok(ExitCode::SUCCESS)
}

/// The options of a stand-in AWS deployment: the names do not change what is simulated.
fn plan_options(flow: &str, max_workers: u32, mode: ForeachMode) -> CompileOptions {
    CompileOptions {
        state_machine_name: flow.to_string(),
        blobs: BlobStoreRef::S3 {
            bucket: "ferry-plan".into(),
            prefix: "ferry".into(),
        },
        state_table_name: "ferry-plan-state".into(),
        state_table: TableRef::Dynamodb {
            table: "ferry-plan-state".into(),
        },
        job_queue: "ferry-plan-queue".into(),
        default_image: "python:3.12".into(),
        code_package: PackageRef {
            key: format!("code/{}.tgz", "0".repeat(64)),
            sha256: "0".repeat(64),
        },
        metadata: MetadataSettings {
            kind: "service".into(),
            url: Some("https://ferry-plan.invalid/".into()),
        },
        datastore: DatastoreSettings {
            kind: "s3".into(),
            root: "s3://ferry-plan/metaflow".into(),
        },
        owner: "plan".into(),
        production_token: "plan-0-0000".into(),
        max_workers,
        foreach_mode: mode,
        ..Default::default()
    }
}

fn render(flow: &str, s: &Scenario, plans: &[(ForeachMode, Vec<String>, Plan)]) -> String {
    let compute = match s.figures.compute {
        Compute::Fargate => "Fargate",
        Compute::Ec2 => "EC2",
    };
    let mut out = format!(
        "{flow} on AWS: every foreach {} items wide, Batch on {compute}, tasks of {} s, \
         {} simulated runs (seed {}).\n\n",
        s.width, s.task_seconds, s.trials, s.seed
    );
    let head: Vec<String> = plans
        .iter()
        .map(|(m, ..)| format!("--foreach-mode {}", m.as_str()))
        .collect();
    let row = |label: &str, cells: Vec<String>| {
        let mut line = format!("  {label:<34}");
        for c in cells {
            line.push_str(&format!("{c:>22}"));
        }
        line + "\n"
    };
    out.push_str(&row("", head));
    let count = |f: &dyn Fn(&Plan) -> u64| plans.iter().map(|(_, _, p)| f(p).to_string()).collect();
    out.push_str(&row(
        "Batch SubmitJob calls",
        count(&|p| p.submit_job_calls()),
    ));
    out.push_str(&row(
        "Batch jobs / containers",
        plans
            .iter()
            .map(|(_, _, p)| format!("{} / {}", p.batch_jobs, p.containers))
            .collect(),
    ));
    out.push_str(&row(
        "Step Functions state transitions",
        count(&|p| p.state_transitions),
    ));
    out.push_str(&row(
        "Distributed Map child executions",
        count(&|p| p.child_executions),
    ));
    let calls = |service: &'static str| {
        move |p: &Plan| p.api_calls.get(service).map_or(0, |a| a.values().sum())
    };
    out.push_str(&row(
        "DynamoDB / S3 calls (Step Functions)",
        plans
            .iter()
            .map(|(_, _, p)| format!("{} / {}", calls("dynamodb")(p), calls("s3")(p)))
            .collect(),
    ));
    let secs = |v: f64| format!("{v:.0} s");
    out.push_str(&row(
        "All tasks started, p50 / p90",
        plans
            .iter()
            .map(|(_, _, p)| {
                format!(
                    "{} / {}",
                    secs(p.all_tasks_started.p50_s),
                    secs(p.all_tasks_started.p90_s)
                )
            })
            .collect(),
    ));
    out.push_str(&row(
        "Run completed, p50 / p90",
        plans
            .iter()
            .map(|(_, _, p)| format!("{} / {}", secs(p.completed.p50_s), secs(p.completed.p90_s)))
            .collect(),
    ));
    out.push_str(&row(
        "Request cost (Step Functions)",
        plans
            .iter()
            .map(|(_, _, p)| format!("${:.4}", p.cost.step_functions_usd))
            .collect(),
    ));
    out.push('\n');
    for (mode, forms, _) in plans {
        for f in forms {
            out.push_str(&format!("  {}: {f}\n", mode.as_str()));
        }
    }
    if let Some((_, _, p)) = plans.first() {
        out.push_str(&format!(
            "\nBatch requests are free; not included: {}. Figures and sources: docs/aws-model.md.\n",
            p.cost.excludes
        ));
    }
    out
}
