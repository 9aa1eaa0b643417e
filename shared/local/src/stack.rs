//! `ferry up`: the whole embedded stack in one process.
//!
//! - the Metaflow metadata service ([`ferry_metadata::router`]), the control API
//!   ([`crate::control`], under `/ferry/v1/`) and the web UI ([`ferry_ui::router`], under `/ui`)
//!   on `127.0.0.1:<port>`, over `<home>/ferry.db`;
//! - deploy processing: `<home>/blobs/deploy/**/request.json` is polled (at least once per
//!   request, like S3 events) and handed to [`ferry_deploy::handle_request_key`] with the local
//!   adapters ([`LocalOrchestrator`], [`LocalSchedules`], no job definitions);
//! - the control plane in-process ([`LocalOrchestrator`]), which gives every execution start
//!   and end to the listeners of [`StackConfig::listeners`] and to the stack's own (wired once,
//!   here): the metadata API's run status ([`ferry_metadata::RunStatusListener`]),
//!   `@trigger_on_finish` ([`RunSucceededListener`]) and notifications;
//! - the state-machine executor, whose Batch jobs run as task-wrapper processes
//!   ([`ProcessRunner`]) given the stack's metadata URL (`FERRY_METADATA_URL`), its DynamoDB state table in `<home>/state.db` and its S3 bucket
//!   ([`ferry_compile::options::LOCAL_BUCKET`]) in `<home>/blobs`, each attempt held to its
//!   memory as [`StackConfig::memory_limits`] says ([`crate::memory`]); deploys warn about steps
//!   asking for more memory or GPUs than the machine has ([`crate::memory::machine_capacity`]);
//! - schedules fired by an in-process clock ([`Time`]);
//! - events ([`crate::events`]): `POST /ferry/v1/events` and run successes start the
//!   deployments whose `@trigger`/`@trigger_on_finish` wait for them.
//!
//! Files under the home: `stack.lock` (held while running: a second stack on the same home is
//! refused), `stack.json` ([`StackInfo`]: url, pid; removed at shutdown), `ferry.db`, `state.db`,
//! `blobs/`, `datastore/` (the Metaflow local datastore), `logs/<execution>/<step>/…` (task
//! stdout/stderr), `work/` (per-attempt working directories).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ferry_compile::CompileOptions;
use ferry_control::{Executions, Listeners, StateMachines};
use ferry_deploy::{DeployContext, DeploySettings, DeploymentStore, NoJobDefinitions, Schedules};
use ferry_spec::task::MetadataSettings;
use ferry_store::{Blobs, Table};
use tokio::sync::watch;

use crate::control::{ControlState, StackInfo};
use crate::events::{RunSucceededListener, StackEvents};
use crate::executor::{Executor, Resources};
use crate::home::Home;
use crate::memory::{MemoryLimitMode, MemoryLimits};
use crate::orchestrator::LocalOrchestrator;
use crate::runner::{ProcessRunner, RunnerConfig};
use crate::schedules::LocalSchedules;
use crate::time::Time;

/// Default port of the stack.
pub const DEFAULT_PORT: u16 = 8765;
/// The DynamoDB table name the compiled state machines use for foreach state.
pub const STATE_TABLE_NAME: &str = "ferry-state";
/// How messages name this platform.
pub const PLATFORM: &str = ferry_deploy::PLATFORM_LOCAL;
/// `<home>/stack.json`.
pub const STACK_FILE: &str = "stack.json";
/// `<home>/stack.lock`.
pub const LOCK_FILE: &str = "stack.lock";

/// Errors starting or running the stack.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// Another stack holds the home.
    #[error(
        "a Ferry stack is already running on {home} ({url}); stop it first or use another --home"
    )]
    AlreadyRunning { home: PathBuf, url: String },
    /// The port is taken (or another listener error). `error` is not a `source`: the message
    /// already carries it, and an error chain would print it twice.
    #[error(
        "cannot listen on 127.0.0.1:{port}: {error} (choose another with --port, or 0 for any free one)"
    )]
    Listen { port: u16, error: std::io::Error },
    /// A file or folder of the home.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Opening a store.
    #[error("opening {0}")]
    Store(String),
    /// `--memory-limits cgroup` where cgroup v2 cannot be used.
    #[error(transparent)]
    MemoryLimits(#[from] crate::memory::CgroupUnavailable),
}

/// How to run the stack.
#[derive(Clone)]
pub struct StackConfig {
    /// The Ferry home.
    pub home: PathBuf,
    /// Port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// Task processes at once, over every execution.
    pub max_workers: usize,
    /// The Python interpreter tasks run Metaflow with (`python3`, `FERRY_PYTHON`).
    pub python: String,
    /// The schedules' clock.
    pub clock: Arc<dyn Time>,
    /// How often the deploy folder is polled.
    pub deploy_poll: Duration,
    /// Environment for every task process (before the task's own).
    pub task_env: Vec<(String, String)>,
    /// How job memory is limited (`--memory-limits`).
    pub memory_limits: MemoryLimitMode,
    /// Who is told when an execution starts and ends (the lifecycle hook); none by default.
    pub listeners: Listeners,
}

impl StackConfig {
    /// Defaults for `home`: port [`DEFAULT_PORT`], 2×cores workers, `$FERRY_PYTHON` or `python3`,
    /// the clock from `FERRY_CLOCK_SPEEDUP`, deploy polling every 250 ms.
    pub fn new(home: PathBuf) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        StackConfig {
            home,
            port: DEFAULT_PORT,
            max_workers: (cores * 2).max(2),
            python: std::env::var("FERRY_PYTHON")
                .ok()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "python3".into()),
            clock: crate::time::from_env(),
            deploy_poll: Duration::from_millis(250),
            task_env: Vec::new(),
            memory_limits: MemoryLimitMode::Auto,
            listeners: Listeners::new(),
        }
    }
}

/// The environment a `metaflow` client needs to see this stack's runs.
pub fn client_env(info: &StackInfo) -> Vec<(String, String)> {
    client_env_at(&info.url, &info.datastore_root)
}

/// The environment a `metaflow` client needs to see the runs of a stack serving `url` with its
/// datastore at `datastore_root`: `METAFLOW_DEFAULT_METADATA`, `METAFLOW_SERVICE_URL`,
/// `METAFLOW_DEFAULT_DATASTORE`, `METAFLOW_DATASTORE_SYSROOT_LOCAL`, and
/// `METAFLOW_ARGO_EVENTS_WEBHOOK_URL` (the stack's events route, [`crate::events::events_url`],
/// where Metaflow's own `ArgoEvent(...).publish()` posts), in that order.
pub fn client_env_at(url: &str, datastore_root: &Path) -> Vec<(String, String)> {
    vec![
        ("METAFLOW_DEFAULT_METADATA".into(), "service".into()),
        ("METAFLOW_SERVICE_URL".into(), url.to_string()),
        ("METAFLOW_DEFAULT_DATASTORE".into(), "local".into()),
        (
            "METAFLOW_DATASTORE_SYSROOT_LOCAL".into(),
            datastore_root.display().to_string(),
        ),
        (
            "METAFLOW_ARGO_EVENTS_WEBHOOK_URL".into(),
            crate::events::events_url(url),
        ),
    ]
}

/// The web UI of a stack at `url` (its base URL): `<url>/ui/`.
pub fn ui_url(url: &str) -> String {
    format!("{}{}/", url.trim_end_matches('/'), ferry_ui::PREFIX)
}

/// Read `<home>/stack.json` (the running stack's url and pid), if any.
pub fn read_stack_file(home: &Path) -> Option<StackInfo> {
    let bytes = std::fs::read(home.join(STACK_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `<home>/last-port`: the port the home's stack listened on last.
pub const LAST_PORT_FILE: &str = "last-port";

/// The port the stack of `home` listened on last, if recorded: `ferry up`'s default, so the
/// client environment it printed stays valid (tasks get the current URL whatever the port).
pub fn last_port(home: &Path) -> Option<u16> {
    std::fs::read_to_string(home.join(LAST_PORT_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The compile settings of deploys to this stack.
pub fn compile_environment(home: &Path, url: &str, python: &str) -> CompileOptions {
    CompileOptions {
        blobs: Home::new(home).blobs_ref(),
        state_table_name: STATE_TABLE_NAME.into(),
        state_table: Home::new(home).state_table_ref(),
        job_queue: "ferry-local".into(),
        default_image: "local".into(),
        wrapper_command: vec!["task-wrapper".into()],
        python: python.into(),
        metadata: MetadataSettings {
            kind: "service".into(),
            url: Some(url.into()),
        },
        datastore: Home::new(home).datastore_settings(),
        ..CompileOptions::default()
    }
}

/// A started stack: listening, recovering done, loops running.
pub struct RunningStack {
    info: StackInfo,
    orchestrator: LocalOrchestrator,
    runner: ProcessRunner,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _lock: std::fs::File,
    home: PathBuf,
    /// Executions interrupted by the previous stop, marked FAILED at start.
    pub recovered: Vec<String>,
    /// How job memory is limited.
    memory_limits: MemoryLimits,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StackError + 'a {
    move |source| StackError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Start the stack: take the home's lock, open the stores, listen, recover interrupted
/// executions, start the deploy watcher and the schedules, write `stack.json`.
pub async fn start(cfg: StackConfig) -> Result<RunningStack, StackError> {
    let home = cfg.home.clone();
    for dir in crate::home::DIRS {
        let p = home.join(dir);
        std::fs::create_dir_all(&p).map_err(io("creating", &p))?;
    }
    let home = home.canonicalize().map_err(io("resolving", &home))?;
    let layout = Home::new(&home);
    let lock_path = home.join(LOCK_FILE);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("opening", &lock_path))?;
    if lock.try_lock().is_err() {
        let url = read_stack_file(&home)
            .map(|i| i.url)
            .unwrap_or_else(|| "url unknown".into());
        return Err(StackError::AlreadyRunning { home, url });
    }

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port))
        .await
        .map_err(|error| StackError::Listen {
            port: cfg.port,
            error,
        })?;
    let port = listener
        .local_addr()
        .map_err(|error| StackError::Listen {
            port: cfg.port,
            error,
        })?
        .port();
    let url = format!("http://127.0.0.1:{port}");

    let ferry_table = open_ferry_table(&home).await?;
    let state_table = ferry_store::open_table(&layout.state_table_ref())
        .await
        .map_err(|e| StackError::Store(format!("state.db: {e}")))?;
    let blobs: Arc<dyn Blobs> = ferry_store::open_blobs(&layout.blobs_ref())
        .await
        .map_err(|e| StackError::Store(format!("blobs: {e}")))?;

    let memory_limits = MemoryLimits::detect(cfg.memory_limits)?;
    let mut rcfg = RunnerConfig::under(&home);
    rcfg.memory_limits = memory_limits.clone();
    rcfg.max_workers = cfg.max_workers.max(1);
    rcfg.base_env = cfg.task_env.clone();
    // Tasks report to this stack's metadata service, whatever URL their deployment recorded
    // (the port may have changed since).
    rcfg.base_env
        .push((ferry_spec::task::ENV_METADATA_URL.into(), url.clone()));
    let runner = ProcessRunner::new(rcfg);
    let resources = Resources::new()
        .with_batch(Arc::new(runner.clone()))
        .with_table(STATE_TABLE_NAME, state_table.clone())
        .with_bucket(ferry_compile::options::LOCAL_BUCKET, blobs.clone(), "");
    let executor = Executor::new(Arc::new(resources));
    // Events (`crate::events`): the publish route, and run successes for `@trigger_on_finish`.
    let events =
        StackEvents::new(ferry_table.clone(), ferry_table.clone()).with_blobs(blobs.clone());
    // The metadata API's run status is the execution's (`ferry_metadata::run_status`).
    let listeners = (cfg.listeners.clone())
        .with(Arc::new(ferry_metadata::RunStatusListener::new(
            ferry_table.clone(),
            DeploymentStore::new(ferry_table.clone()),
        )))
        .with(Arc::new(RunSucceededListener::new(events.clone())))
        .with(Arc::new(notify_listener(&home, ferry_table.clone())?));
    let orchestrator = LocalOrchestrator::new(ferry_table.clone(), executor, Some(runner.clone()))
        .with_listeners(listeners);
    events.bind(Arc::new(orchestrator.clone()));
    let recovered = orchestrator
        .recover()
        .await
        .map_err(|e| StackError::Store(format!("recovering executions: {e}")))?;
    let schedules = LocalSchedules::new(ferry_table.clone());

    let info = StackInfo {
        home: home.clone(),
        pid: std::process::id(),
        url: url.clone(),
        started_at: Utc::now(),
        datastore_root: layout.datastore(),
        logs_dir: layout.logs(),
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    // HTTP: the metadata service and the control API.
    let control = ControlState {
        orchestrator: orchestrator.clone(),
        deployments: DeploymentStore::new(ferry_table.clone()),
        info: info.clone(),
    };
    // The web UI at /ui, over the same stores (its task logs through the `ferry logs` reader).
    let datastore: Arc<dyn Blobs> = ferry_store::open_blobs(
        &ferry_store::datastore_blobs_ref(&layout.datastore_settings())
            .map_err(|e| StackError::Store(format!("datastore: {e}")))?,
    )
    .await
    .map_err(|e| StackError::Store(format!("datastore: {e}")))?;
    let ui = ferry_ui::router(ferry_ui::UiConfig {
        metadata: ferry_table.clone(),
        deployments: Some(ferry_table.clone()),
        blobs: Some(blobs.clone()),
        executions: Some(Arc::new(orchestrator.clone()) as Arc<dyn Executions>),
        logs: ferry_store::task_logs::TaskLogs::new(Some(datastore), Some(layout.logs())),
        api_key: None,
    });
    let app = crate::control::router(control)
        .merge(ferry_metadata::router(ferry_metadata::Config {
            table: ferry_table.clone(),
            api_key: None,
        }))
        .merge(crate::events::router(events))
        .merge(ui);
    let mut server_stop = shutdown_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|s| *s).await;
            })
            .await
    });

    let mut tasks = Vec::new();
    // Deploy processing.
    let deploy_ctx = DeployContext {
        table: ferry_table.clone(),
        blobs: blobs.clone(),
        state_machines: Arc::new(orchestrator.clone()) as Arc<dyn StateMachines>,
        schedules: Arc::new(schedules.clone()) as Arc<dyn Schedules>,
        job_definitions: Arc::new(NoJobDefinitions),
        secrets: Arc::new(crate::secrets::DirSecrets::for_home(&home)),
        event_rules: Arc::new(ferry_deploy::NoEventRules),
        settings: DeploySettings {
            event_rules: None,
            platform: PLATFORM.into(),
            state_machine_prefix: None,
            claim_stale_after_secs: 120,
            compile: CompileOptions {
                machine: Some(crate::memory::machine_capacity(&memory_limits)),
                ..compile_environment(&home, &url, &cfg.python)
            },
        },
    };
    tasks.push(tokio::spawn(watch_deploys(
        deploy_ctx,
        cfg.deploy_poll,
        shutdown_rx.clone(),
    )));
    // Schedules.
    let sched = schedules.clone();
    let executions: Arc<dyn Executions> = Arc::new(orchestrator.clone());
    let clock = cfg.clock.clone();
    let sched_stop = shutdown_rx.clone();
    tasks.push(tokio::spawn(async move {
        sched.run(executions, clock, sched_stop, |_| {}).await
    }));

    let port_file = home.join(LAST_PORT_FILE);
    std::fs::write(&port_file, format!("{port}\n")).map_err(io("writing", &port_file))?;
    let stack_file = home.join(STACK_FILE);
    let body = serde_json::to_vec_pretty(&info).unwrap_or_default();
    let tmp = home.join(format!("{STACK_FILE}.tmp"));
    std::fs::write(&tmp, body).map_err(io("writing", &tmp))?;
    std::fs::rename(&tmp, &stack_file).map_err(io("writing", &stack_file))?;

    Ok(RunningStack {
        info,
        orchestrator,
        runner,
        shutdown_tx,
        tasks,
        server,
        _lock: lock,
        home,
        recovered,
        memory_limits,
    })
}

impl RunningStack {
    /// What the stack is (url, pid, home, datastore).
    pub fn info(&self) -> &StackInfo {
        &self.info
    }

    /// How job memory is limited (cgroup v2, `RLIMIT_DATA`, or not at all).
    pub fn memory_limits(&self) -> &MemoryLimits {
        &self.memory_limits
    }

    /// Run until `shutdown` completes, then stop: running executions end `FAILED`
    /// (`Ferry.StackStopped`) with their processes terminated, the server drains, `stack.json`
    /// is removed and the lock released.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), StackError> {
        shutdown.await;
        self.stop().await
    }

    /// Stop now (see [`RunningStack::run_until`]).
    pub async fn stop(self) -> Result<(), StackError> {
        let _ = self.shutdown_tx.send(true);
        self.orchestrator.shutdown().await;
        self.runner.terminate_all("The Ferry stack is stopping");
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        let _ = std::fs::remove_file(self.home.join(STACK_FILE));
        Ok(())
    }
}

/// Poll `deploy/**/request.json` and process each request that has no `result.json` yet.
async fn watch_deploys(ctx: DeployContext, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut done = std::collections::HashSet::<String>::new();
    loop {
        match ctx.blobs.list("deploy/").await {
            Ok(keys) => {
                let results: std::collections::HashSet<&str> = keys
                    .iter()
                    .filter_map(|k| k.strip_suffix("/result.json"))
                    .collect();
                for key in keys.iter().filter(|k| k.ends_with("/request.json")) {
                    let prefix = key.trim_end_matches("/request.json");
                    if results.contains(prefix) || done.contains(key) {
                        continue;
                    }
                    match ferry_deploy::handle_request_key(&ctx, key).await {
                        Ok(Some(result)) => {
                            tracing::info!(request = %key, status = ?result.status, "deploy request handled");
                            done.insert(key.clone());
                        }
                        Ok(None) => {} // another handler has it; look again later
                        Err(e) => {
                            tracing::warn!(request = %key, "deploy request failed, will retry: {e}")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("listing deploy requests: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The tables the stack uses, for commands that read them without a running stack.
pub async fn open_ferry_table(home: &Path) -> Result<Arc<dyn Table>, StackError> {
    ferry_store::open_table(&Home::new(home).ferry_table_ref())
        .await
        .map_err(|e| StackError::Store(format!("ferry.db: {e}")))
}

/// Notifications of run ends (`ferry deploy --notify-*`): records and the delivery log on the
/// stack's table, secret values in `<home>/secrets` (`DirSecrets`).
fn notify_listener(
    home: &std::path::Path,
    table: Arc<dyn ferry_store::Table>,
) -> Result<ferry_notify::NotifyListener, StackError> {
    let http = ferry_notify::HttpSender::new(ferry_notify::RetryPolicy::default())
        .map_err(|e| StackError::Store(format!("notifications: {e}")))?;
    let notifier = ferry_notify::Notifier::new(http, ferry_notify::Endpoints::from_env())
        .with_log(ferry_notify::DeliveryLog::new(table.clone()));
    Ok(ferry_notify::NotifyListener::new(
        ferry_deploy::DeploymentStore::new(table),
        Arc::new(crate::secrets::DirSecrets::for_home(home)),
        notifier,
    ))
}
