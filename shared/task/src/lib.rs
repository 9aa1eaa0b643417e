//! The task wrapper's logic: what every AWS Batch job (and every local task of the embedded
//! executor) runs, as `task-wrapper run --task <blob URL of the task description>`.
//!
//! One invocation runs ONE attempt of one task (`docs/runtime-contract.md`):
//! 1. read the per-task environment ([`env`]) and the content-addressed task description
//!    ([`description`], sha256 checked against its key); a retry of a step with
//!    `@retry(minutes_between_retries)` waits first ([`retry_wait`]);
//! 2. make the code package available ([`package`]: download with retries, sha256 check, safe
//!    extraction ([`extract`]), host cache by sha256);
//! 3. build the input paths ([`inputs`], through a file, never argv), run Metaflow's `init` for
//!    `start` when the run's `_parameters` task does not exist yet ([`params`]), then the step
//!    ([`command`], [`child`]: no shell, own process group, signals forwarded);
//! 4. stream the output to the console and to the datastore's mflog files ([`logs`], [`mflog`]);
//! 5. after success, record the foreach fan-out state ([`fanout`]).
//!
//! In a resumed run ([`resume`]) the task first decides whether it clones its origin
//! counterpart (Metaflow's `step --clone-only`) or runs.
//! The `@exit_hook` task ([`exit_hook`]) runs its functions after step 2 instead.
//!
//! The step's exit code is the wrapper's; the wrapper's own failures exit
//! [`EXIT_WRAPPER_FAILURE`] after one line `ferry task-wrapper: <reason>` on stderr.

pub mod child;
pub mod command;
pub mod description;
pub mod env;
pub mod error;
pub mod exit_hook;
pub mod extract;
pub mod fanout;
pub mod heartbeat;
pub mod inputs;
pub mod logs;
pub mod package;
pub mod params;
pub mod resume;
pub mod retry_wait;
pub mod splits;
pub mod stores;
pub mod transient;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_spec::task::{StepCommand, StepInputs, TaskDescription};

pub use error::{EXIT_WRAPPER_FAILURE, TaskError};

use crate::child::Shutdown;
use crate::command::{CommandContext, datastore_root, parameters_task_id};
use crate::env::TaskEnv;
use crate::logs::{LogSink, Stream};

/// How the wrapper runs, beyond the task description.
#[derive(Debug, Clone)]
pub struct Options {
    /// The task description URL (`s3://…`, `file:///…` or an absolute path).
    pub task_url: String,
    /// Host cache (extracted packages); see [`package::default_cache_dir`].
    pub cache_dir: PathBuf,
    /// Between forwarding SIGTERM/SIGINT to the step's process group and SIGKILL.
    pub kill_grace: Duration,
    /// Between two uploads of the logs while the step runs.
    pub log_interval: Duration,
}

impl Options {
    /// Defaults, overridable by `FERRY_CACHE_DIR`, `FERRY_KILL_GRACE_SECONDS` (default 5) and
    /// `FERRY_LOG_FLUSH_SECONDS` (default 5; fractions allowed).
    pub fn from_env(task_url: String) -> Self {
        let secs = |name: &str, default: f64| {
            let v = std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(default);
            Duration::from_secs_f64(if v.is_finite() && v > 0.0 {
                v.min(3600.0)
            } else {
                default
            })
        };
        Options {
            task_url,
            cache_dir: package::default_cache_dir(),
            kill_grace: secs("FERRY_KILL_GRACE_SECONDS", 5.0),
            log_interval: secs("FERRY_LOG_FLUSH_SECONDS", 5.0),
        }
    }
}

/// Run one task attempt and return the process exit code: the step's, 128 + signal when it was
/// killed by one, or [`EXIT_WRAPPER_FAILURE`] (after printing one line on stderr) when the
/// wrapper itself failed. Must run inside a tokio runtime.
pub async fn run(opts: Options) -> i32 {
    let result = match Shutdown::install() {
        Ok(mut shutdown) => run_task(&opts, &mut shutdown).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", failure_line(&e));
            EXIT_WRAPPER_FAILURE
        }
    }
}

/// The one line the wrapper prints for its own failure.
fn failure_line(e: &TaskError) -> String {
    format!("ferry task-wrapper: {e}").replace(['\n', '\r'], " ")
}

async fn run_task(opts: &Options, shutdown: &mut Shutdown) -> Result<i32, TaskError> {
    let env = TaskEnv::from_process()?;
    // A one-item array-form foreach runs an array of 2 (Batch's smallest): the spare child
    // runs nothing.
    if let Some(a) = env.array.filter(|a| a.is_padding()) {
        eprintln!(
            "ferry task-wrapper: array child {} is padding (the chunk has {} item(s)); nothing to run",
            a.index, a.count
        );
        return Ok(0);
    }
    let url = description::TaskUrl::parse(&opts.task_url)?;
    let mut desc = description::fetch(&url).await?;
    // The executor's current metadata URL wins over the one recorded at deploy time.
    if let Some(url) = env.metadata_url()?
        && desc.metadata.kind == "service"
    {
        desc.metadata.url = Some(url);
    }
    check_description(&desc)?;
    let is_metaflow = matches!(desc.command, StepCommand::Metaflow { .. });
    let run_id = env.run_id();
    // Parameter problems are found before anything runs.
    let mut start = StartInputs::default();
    if let (StepInputs::Start, true) = (&desc.inputs, is_metaflow) {
        let trigger = params::trigger_text(env.parameters(), &desc.blobs).await?;
        let (trigger, run_tags) = params::split_trigger_tags(trigger)?;
        let (trigger, resume) = params::split_trigger_resume(trigger)?;
        let (trigger, events) = params::split_trigger_events(trigger)?;
        // `init` and `start` create the run: tags given at trigger time go on it.
        desc.tags.extend(run_tags);
        start.init_env = Some(params::init_env(
            &desc.default_parameters,
            trigger.as_deref(),
        )?);
        start.resume = resume;
        start.triggers = events;
    }

    let ds_blobs = stores::open_blobs(&stores::datastore_blobs_ref(&desc.datastore)?).await?;
    let work = tempfile::Builder::new()
        .prefix("ferry-task-")
        .tempdir()
        .map_err(|e| TaskError::io("creating the task's work directory", e))?;
    let task_prefix = format!("{}/{run_id}/{}/{}", desc.flow, desc.step, env.job_id);
    let sink = Arc::new(LogSink::new(
        &work.path().join(".logs"),
        Arc::clone(&ds_blobs),
        &task_prefix,
        env.retry_count()?,
    )?);
    let periodic = sink.flush_periodically(opts.log_interval);
    let result = match retry_wait::before_attempt(&env, &desc.retries, &sink, shutdown).await {
        Ok(Some(interrupted)) => Ok(interrupted),
        Ok(None) => {
            run_with_logs(
                opts,
                shutdown,
                &env,
                &desc,
                &sink,
                ds_blobs.as_ref(),
                work.path(),
                start,
            )
            .await
        }
        Err(e) => Err(e),
    };
    periodic.abort();
    if let Err(e) = &result {
        // The reason also lands in the task's stderr log, where `ferry logs` and the client look.
        sink.note(Stream::Stderr, &failure_line(e));
    }
    sink.flush().await;
    drop(work);
    result
}

/// What `start` takes from the trigger's parameters.
#[derive(Default)]
struct StartInputs {
    /// The `init` environment (`METAFLOW_INIT_*`), for a Metaflow `start`.
    init_env: Option<Vec<(String, String)>>,
    /// The resume section of a resumed run.
    resume: Option<ferry_spec::resume::ResumeSection>,
    /// The events that started an event-triggered run (`execution-triggers` JSON text).
    triggers: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn run_with_logs(
    opts: &Options,
    shutdown: &mut Shutdown,
    env: &TaskEnv,
    desc: &TaskDescription,
    sink: &LogSink,
    ds_blobs: &dyn ferry_store::Blobs,
    work: &Path,
    start: StartInputs,
) -> Result<i32, TaskError> {
    let StartInputs {
        init_env,
        resume,
        triggers,
    } = start;
    let interrupted = |s: &Shutdown| s.requested().map(|sig| 128 + sig);
    let package_dir = package::prepare(&desc.blobs, &desc.code_package, &opts.cache_dir).await?;
    if let Some(code) = interrupted(shutdown) {
        return Ok(code);
    }
    if let StepCommand::ExitHook { python, functions } = &desc.command {
        let ctx = CommandContext {
            desc,
            env,
            package_dir: &package_dir,
            input_paths_file: work,
        };
        return exit_hook::run(&ctx, python, functions, sink, shutdown, opts.kill_grace).await;
    }
    // @pypi/@conda: the step's interpreter, built from the stored wheels only (ferry-pyenv).
    let with_env;
    let desc = match python_env_description(desc, &opts.cache_dir).await? {
        Some(d) => {
            with_env = d;
            &with_env
        }
        None => desc,
    };
    let is_metaflow = matches!(desc.command, StepCommand::Metaflow { .. });
    // Every Metaflow step looks up whether its run is a resumed one.
    let needs_table = is_metaflow
        || desc.fanout.foreach
        || desc.fanout.join_parent
        || matches!(desc.inputs, StepInputs::ForeachJoin { .. })
        || inputs::static_join_reads_table(desc, env);
    let table = if needs_table {
        Some(stores::open_table(&desc.state_table).await?)
    } else {
        None
    };
    let resumed = match (&table, is_metaflow) {
        (Some(t), true) => resume::load(t.as_ref(), desc, env, resume).await?,
        _ => None,
    };
    let decision = match (&resumed, &table) {
        (Some(r), Some(t)) => Some(r.decide(t.as_ref(), desc, env).await?),
        _ => None,
    };
    let cloning = matches!(decision, Some(resume::Decision::Clone { .. }));

    let paths = inputs::input_paths(desc, env, table.as_deref()).await?;
    let input_file = work.join("input-paths");
    std::fs::write(&input_file, &paths)
        .map_err(|e| TaskError::io("writing the input paths file", e))?;
    let ctx = CommandContext {
        desc,
        env,
        package_dir: &package_dir,
        input_paths_file: &input_file,
    };

    if let Some(init_env) = init_env {
        let done_key = format!(
            "{}/{}/_parameters/{}/0.DONE.lock",
            desc.flow,
            env.run_id(),
            parameters_task_id(&env.job_id)
        );
        let done = transient::with_retries("checking the _parameters task", || {
            ds_blobs.exists(&done_key)
        })
        .await
        .map_err(|e| TaskError::Store(e.to_string()))?;
        if !done {
            let outcome = child::run(&ctx.init(init_env)?, sink, shutdown, opts.kill_grace).await?;
            if outcome.code != 0 {
                return Ok(outcome.code);
            }
        }
    }
    if let Some(code) = interrupted(shutdown) {
        return Ok(code);
    }

    let mut step = ctx.step()?;
    if !is_metaflow {
        step.env.push((
            "FERRY_INPUT_PATHS_FILE".into(),
            input_file.to_string_lossy().into_owned(),
        ));
    }
    if let (Some(r), Some(d)) = (&resumed, &decision) {
        r.apply(d, desc, &mut step);
    }
    // A Metaflow step reporting to a service: the wrapper sends the task's heartbeats, so
    // Metaflow needs no heartbeat sidecar interpreter (see `heartbeat`). A clone runs no user
    // code and, as in Metaflow, sends none.
    let hb = match (&desc.command, &desc.metadata.url) {
        (StepCommand::Metaflow { .. }, Some(service))
            if desc.metadata.kind == "service" && !cloning =>
        {
            heartbeat::Heartbeat::new(
                service,
                &desc.flow,
                &env.run_id(),
                &desc.step,
                &env.job_id,
                &step.env,
            )
            .map(Arc::new)
        }
        _ => None,
    };
    if let Some(events) = &triggers {
        step.env
            .push((heartbeat::ENV_EXECUTION_TRIGGERS.into(), events.clone()));
    }
    let mut beating = None;
    if let Some(hb) = &hb {
        step = heartbeat::without_heartbeat_sidecar(step);
        let hb = Arc::clone(hb);
        beating = Some(tokio::spawn(async move {
            hb.run(heartbeat::DEFAULT_INTERVAL).await
        }));
    }
    let outcome = child::run(&step, sink, shutdown, opts.kill_grace).await;
    if let Some(beating) = beating {
        beating.abort();
    }
    if let Some(hb) = &hb {
        // Metaflow's sidecar also sends one last beat when the task ends.
        hb.beat().await;
        // The start task of an event-triggered run records what started it, where the client's
        // `Run.trigger` reads it (Metaflow's Argo decorator does the same in the task).
        if let Some(events) = &triggers {
            let user = step
                .env
                .iter()
                .rev()
                .find(|(k, _)| k == "METAFLOW_USER")
                .map_or("ferry", |(_, v)| v.as_str());
            let run_id = env.run_id();
            let ids = [
                desc.flow.as_str(),
                run_id.as_str(),
                desc.step.as_str(),
                env.job_id.as_str(),
            ];
            if let Err(e) = hb
                .register_metadata(ids, "execution-triggers", events, env.retry_count()?, user)
                .await
            {
                sink.note(
                    Stream::Stderr,
                    &format!("ferry task-wrapper: could not record the run's triggers: {e}"),
                );
            }
        }
    }
    let outcome = outcome?;
    if outcome.code != 0 || outcome.interrupted_by.is_some() {
        return Ok(if outcome.code == 0 {
            128 + outcome.interrupted_by.unwrap_or(0)
        } else {
            outcome.code
        });
    }

    if let (
        Some(table),
        Some(resume::Decision::Clone {
            origin_task_id,
            path,
        }),
    ) = (&table, &decision)
    {
        resume::record_lineage(
            table.as_ref(),
            &env.job_id,
            origin_task_id,
            path,
            desc.state_ttl_seconds,
        )
        .await?;
    }
    if let Some(table) = &table {
        record_fanout(desc, env, table.as_ref(), ds_blobs, &ctx, &package_dir).await?;
    }
    Ok(0)
}

async fn record_fanout(
    desc: &TaskDescription,
    env: &TaskEnv,
    table: &dyn ferry_store::Table,
    ds_blobs: &dyn ferry_store::Blobs,
    ctx: &CommandContext<'_>,
    package_dir: &Path,
) -> Result<(), TaskError> {
    if desc.fanout.foreach {
        let StepCommand::Metaflow { python } = &desc.command else {
            return Err(TaskError::Description(
                "a generic (argv) step cannot be a foreach".into(),
            ));
        };
        let root = datastore_root(desc);
        let run_id = env.run_id();
        let q = fanout::SplitsQuery {
            python,
            flow: &desc.flow,
            datastore_kind: &desc.datastore.kind,
            datastore_root: &root,
            run_id: &run_id,
            step: &desc.step,
            task_id: &env.job_id,
            attempt: env.retry_count()?,
        };
        // Straight from the datastore when it has the usual shape; else Metaflow's own reader.
        let task = splits::TaskPath {
            flow: &desc.flow,
            run_id: &run_id,
            step: &desc.step,
            task_id: &env.job_id,
            attempt: q.attempt,
        };
        let n = match splits::read_num_splits(ds_blobs, &task).await {
            Some(n) => n,
            None => fanout::read_num_splits(&q, &ctx.base_env(), package_dir).await?,
        };
        let blobs = if desc.fanout.items_object {
            Some(stores::open_blobs(&desc.blobs).await?)
        } else {
            None
        };
        fanout::record_cardinality(
            table,
            blobs.as_deref(),
            &env.job_id,
            n,
            desc.state_ttl_seconds,
        )
        .await?;
    }
    if desc.fanout.join_parent {
        // `FERRY_TAIL_SPLIT_PARENT_TASK_ID`; older compilers set only `FERRY_SPLIT_PARENT_TASK_ID`
        // on a join parent that is not itself a join.
        let split_parent = if env.has(ferry_spec::task::ENV_TAIL_SPLIT_PARENT_TASK_ID)
            || matches!(desc.inputs, StepInputs::ForeachJoin { .. })
        {
            env.tail_split_parent_task_id()?
        } else {
            env.split_parent_task_id()?
        };
        fanout::add_join_parent(table, &split_parent, env.foreach_index()?, &env.job_id).await?;
    }
    Ok(())
}

/// With a `@pypi`/`@conda` lock: the description whose Metaflow command runs the environment's
/// interpreter (built, or reused from `<cache>/envs/`, before any user code runs).
async fn python_env_description(
    desc: &TaskDescription,
    cache_dir: &Path,
) -> Result<Option<TaskDescription>, TaskError> {
    let (Some(lock), StepCommand::Metaflow { python }) = (
        desc.python_env.as_ref().and_then(|e| e.lock.as_ref()),
        &desc.command,
    ) else {
        return Ok(None);
    };
    let blobs = stores::open_blobs(&desc.blobs).await?;
    let opts = ferry_pyenv::InstallOptions {
        cache_dir: cache_dir.to_path_buf(),
        base_python: python.clone(),
    };
    let env = ferry_pyenv::prepare_env(blobs.as_ref(), lock, &opts)
        .await
        .map_err(|e| TaskError::PythonEnv(e.to_string()))?;
    let mut d = desc.clone();
    d.command = StepCommand::Metaflow {
        python: env.python.to_string_lossy().into_owned(),
    };
    Ok(Some(d))
}

/// Names that end up in paths and command lines must be safe.
fn check_description(desc: &TaskDescription) -> Result<(), TaskError> {
    inputs::check_step(&desc.flow)
        .map_err(|_| TaskError::Description(format!("{:?} is not a valid flow name", desc.flow)))?;
    inputs::check_step(&desc.step)?;
    let ff = Path::new(&desc.flow_file);
    let clean =
        !desc.flow_file.is_empty() && ff.components().all(|c| matches!(c, Component::Normal(_)));
    if !clean {
        return Err(TaskError::Description(format!(
            "the flow file {:?} must be a relative path inside the package",
            desc.flow_file
        )));
    }
    match (desc.metadata.kind.as_str(), &desc.metadata.url) {
        ("local", _) | ("service", Some(_)) => {}
        ("service", None) => {
            return Err(TaskError::Description(
                "metadata kind `service` needs a url".into(),
            ));
        }
        (other, _) => {
            return Err(TaskError::Description(format!(
                "unknown metadata kind {other:?} (local or service)"
            )));
        }
    }
    Ok(())
}
