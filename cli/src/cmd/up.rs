//! `ferry up`: run the embedded stack in the foreground (see `ferry_local::stack`): the metadata
//! service, control API and web UI (`/ui/`, whose URL it prints) on 127.0.0.1, deploy processing, the executor and schedules. Ctrl-C or
//! SIGTERM stops it: running executions are marked FAILED and their processes terminated.

use std::process::ExitCode;

use anyhow::Context as _;
use ferry_local::stack::{self, StackConfig};
use serde_json::json;

use crate::context::{Context, Target};

/// Arguments of `ferry up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Port on 127.0.0.1 for the metadata service, control API and web UI (0: any free port).
    /// Default: the port this home used last (so an exported `METAFLOW_SERVICE_URL` stays
    /// valid), else 8765. Deployments made on another port keep working: tasks get the stack's
    /// current URL.
    /// Example: `--port 8765`.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Task processes running at once, over every run (default: twice the cores).
    /// Example: `--max-workers 8`.
    #[arg(long, value_name = "N")]
    pub max_workers: Option<usize>,
    /// How each task is held to the memory its step asks for (`@resources(memory=…)`, else
    /// 4,096 MiB), so that a step needing more fails here as on AWS Batch: `auto` (cgroup v2
    /// when `ferry up` may create cgroups, else `rlimit`), `cgroup` (fail when it cannot be
    /// used), `rlimit` (RLIMIT_DATA = memory + a headroom per process), `off` (not enforced;
    /// warned about). Example: `--memory-limits rlimit`.
    #[arg(
        long,
        value_name = "MODE",
        env = "FERRY_MEMORY_LIMITS",
        default_value = "auto"
    )]
    pub memory_limits: ferry_local::memory::MemoryLimitMode,
    /// For tests: run the stack's clock this many times faster than real time (`60` fires a
    /// per-minute cron every second, and a task's one-minute retry wait lasts a second). Same as
    /// `FERRY_CLOCK_SPEEDUP`.
    #[arg(long, value_name = "FACTOR", hide = true)]
    pub test_clock_speedup: Option<f64>,
    /// Log only warnings and errors on stderr, not a line per deploy, run start and end,
    /// schedule fire and restart recovery. `FERRY_LOG` (a tracing filter, e.g.
    /// `FERRY_LOG=debug` or `FERRY_LOG=warn,ferry_local=info`) overrides both.
    /// Example: `ferry up --quiet`.
    #[arg(long)]
    pub quiet: bool,
}

/// The log filter of `ferry up` when `FERRY_LOG` is not set: Ferry's own lines at `info`
/// (`warn` with `--quiet`), every other crate's at `warn`.
pub fn default_log_filter(quiet: bool) -> String {
    let level = if quiet { "warn" } else { "info" };
    [
        "ferry",
        "ferry_local",
        "ferry_deploy",
        "ferry_events",
        "ferry_notify",
    ]
    .iter()
    .fold("warn".to_string(), |acc, t| format!("{acc},{t}={level}"))
}

/// Print the stack's log lines on stderr (`tracing`), filtered by `FERRY_LOG`, else by
/// [`default_log_filter`].
fn init_logging(quiet: bool) -> anyhow::Result<()> {
    let filter = match std::env::var("FERRY_LOG") {
        Ok(f) if !f.trim().is_empty() => {
            tracing_subscriber::EnvFilter::try_new(&f).with_context(|| {
                format!(
                    "FERRY_LOG={f:?} is no tracing filter (e.g. `info`, `warn,ferry_local=debug`)"
                )
            })?
        }
        _ => tracing_subscriber::EnvFilter::new(default_log_filter(quiet)),
    };
    // A second initialisation (tests calling `run` twice) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Run the stack until stopped.
pub async fn run(ctx: &Context, args: UpArgs) -> anyhow::Result<ExitCode> {
    if let Target::Aws(_) = ctx.target {
        anyhow::bail!(
            "{} is configured for AWS (config.json); run `ferry up` with another --home",
            ctx.home.display()
        );
    }
    init_logging(args.quiet)?;
    let mut cfg = StackConfig::new(ctx.home.clone());
    cfg.listeners = cfg
        .listeners
        .with(std::sync::Arc::new(ferry_local::run_log::RunLogListener));
    cfg.port = match args.port {
        Some(p) => p,
        None => stack::last_port(&ctx.home).unwrap_or(stack::DEFAULT_PORT),
    };
    if let Some(n) = args.max_workers {
        anyhow::ensure!(n > 0, "--max-workers must be at least 1");
        cfg.max_workers = n;
    }
    cfg.memory_limits = args.memory_limits;
    if let Some(f) = args.test_clock_speedup {
        anyhow::ensure!(
            f.is_finite() && f >= 1.0,
            "--test-clock-speedup must be a number >= 1"
        );
        cfg.clock = std::sync::Arc::new(ferry_local::time::ScaledTime::new(f));
        // Tasks wait out `@retry(minutes_between_retries)` on the same clock.
        cfg.task_env.push((
            ferry_local::schedules::ENV_CLOCK_SPEEDUP.to_string(),
            f.to_string(),
        ));
    }
    let running = stack::start(cfg)
        .await
        .context("starting the Ferry stack")?;
    let info = running.info().clone();
    if !running.recovered.is_empty() {
        let runs: Vec<String> = running
            .recovered
            .iter()
            .map(|name| format!("sfn-{name}"))
            .collect();
        tracing::warn!(
            "restart recovery: {} run(s) interrupted by the last stop were marked FAILED: {}",
            runs.len(),
            runs.join(", ")
        );
    }
    let env = stack::client_env(&info);
    if ctx.json {
        let env_obj: serde_json::Map<String, serde_json::Value> =
            env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        println!(
            "{}",
            serde_json::to_string(&json!({
                "url": info.url,
                "ui": stack::ui_url(&info.url),
                "pid": info.pid,
                "home": info.home,
                "env": env_obj,
                "memory_limits": running.memory_limits().describe(),
            }))?
        );
    } else {
        println!(
            "Ferry stack running at {} (home {}, pid {}).",
            info.url,
            info.home.display(),
            info.pid
        );
        println!("Web UI: {}", stack::ui_url(&info.url));
        if !running.recovered.is_empty() {
            println!(
                "{} run(s) interrupted by the last stop were marked FAILED: {}.",
                running.recovered.len(),
                running
                    .recovered
                    .iter()
                    .map(|name| format!("sfn-{name}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        println!("Task memory: {}.", running.memory_limits().describe());
        println!("To read its runs with the metaflow client, set:");
        for (k, v) in &env {
            println!("  export {k}={}", crate::cmd::env::shell_quote(v));
        }
        let home_flag = match crate::context::home_dir_default() {
            Some(default) if default == info.home => String::new(),
            _ => format!(
                " --home {}",
                crate::cmd::env::shell_quote(&info.home.display().to_string())
            ),
        };
        println!(
            "or, in any new shell (before starting Jupyter): eval \"$(ferry{home_flag} env)\""
        );
        println!("Stop it with Ctrl-C.");
    }
    if let Some(why) = running.memory_limits().not_enforced() {
        eprintln!(
            "ferry: warning: task memory is not enforced ({why}): a step that uses more than its memory= runs here but is killed on AWS Batch"
        );
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    running.run_until(shutdown_signal()).await?;
    eprintln!("Ferry stack stopped.");
    Ok(ExitCode::SUCCESS)
}
