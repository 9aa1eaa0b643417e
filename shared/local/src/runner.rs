//! The process Batch runner: runs the job of a `arn:aws:states:::batch:submitJob.sync` Task state as
//! a local process, the way AWS Batch would run its container.
//!
//! - argv = `ContainerOverrides.Command`, never through a shell. A first element `task-wrapper`
//!   resolves to `$FERRY_TASK_WRAPPER`, else the `task-wrapper` next to the running executable,
//!   else `task-wrapper` on `PATH`.
//! - environment = the runner's own environment, then `ContainerOverrides.Environment`, then
//!   `AWS_BATCH_JOB_ID` (the job's [`BatchJob::job_id`] — an array child's `<array id>:<index>`
//!   — else a fresh UUID; stable across attempts) and
//!   `AWS_BATCH_JOB_ATTEMPT` (1-based), as Batch sets them.
//! - `RetryStrategy.Attempts` (1..=10, default 1) attempts with the same job id;
//!   `Timeout.AttemptDurationSeconds` kills an attempt that runs longer (and counts as a failure).
//! - at most `max_workers` processes at once (a semaphore shared by every execution).
//! - each process is the leader of its own process group; terminating a job (dropping its future,
//!   [`ProcessRunner::terminate_execution`] or [`ProcessRunner::terminate_all`]) sends SIGTERM to
//!   the group, then SIGKILL after a grace period.
//! - stdout/stderr go to `<log_dir>/<execution>/<step>/<task id>.<attempt>.{stdout,stderr}`, the
//!   task id being the job id with an array child's `:<index>` made `-<index>`
//!   ([`ferry_spec::array_job::task_id_of_job`]); the live view lists jobs by task id too.
//! - memory: each attempt is held to the job's `ResourceRequirements` `MEMORY` (MiB; else
//!   [`RunnerConfig::default_memory_mib`], the job definition's) as [`RunnerConfig::memory_limits`]
//!   says ([`crate::memory`]); an attempt that ran out of it ends with status reason
//!   `OutOfMemoryError: …`, and the record's `Container.ResourceRequirements` says what it asked.
//!
//! The result mirrors Batch `DescribeJobs` (`{JobId, JobName, JobQueue, JobDefinition, Status,
//! StatusReason, Parameters, Attempts, Container, CreatedAt, StartedAt, StoppedAt}`, times in
//! epoch milliseconds), which is what Step Functions hands to the state's output processing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

use ferry_store::task_logs::{Stream, raw_log_path};

use crate::executor::{BatchJob, InvalidJob};
use crate::memory::MemoryLimits;

/// Name of the environment variable overriding where `task-wrapper` is found.
pub const ENV_TASK_WRAPPER: &str = "FERRY_TASK_WRAPPER";

/// Errors of the runner itself (bad job parameters). A job that runs and fails is not an error
/// of this kind: it is a [`JobFailed`].
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The Task state's `Parameters` are not a valid SubmitJob request.
    #[error(transparent)]
    InvalidJob(#[from] InvalidJob),
}

/// A job that ended in `FAILED`: every attempt failed, timed out, or the job was terminated.
/// `description` is the DescribeJobs-like record (Status `FAILED`, with `StatusReason`); Step
/// Functions reports it as error `States.TaskFailed` with the record as the cause.
#[derive(Debug, Clone, thiserror::Error)]
#[error("job {job_id} failed: {reason}")]
pub struct JobFailed {
    /// The job id.
    pub job_id: String,
    /// Why the last attempt ended (`Essential container in task exited`, a timeout, termination).
    pub reason: String,
    /// The DescribeJobs-like record.
    pub description: Value,
}

/// Settings of a [`ProcessRunner`].
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Root of the per-execution log files.
    pub log_dir: PathBuf,
    /// Root of the per-attempt working directories (removed after each attempt).
    pub work_dir: PathBuf,
    /// Processes running at once, over every execution.
    pub max_workers: usize,
    /// Time between SIGTERM and SIGKILL when a job is terminated or times out.
    pub kill_grace: Duration,
    /// Extra environment for every job, applied before the job's own `Environment`.
    pub base_env: Vec<(String, String)>,
    /// How each attempt is held to its memory.
    pub memory_limits: MemoryLimits,
    /// The memory (MiB) of a job whose overrides name none: the job definition's.
    pub default_memory_mib: u64,
}

impl RunnerConfig {
    /// Defaults under `home`: logs in `<home>/logs`, work dirs in `<home>/work`, 2×cores workers,
    /// memory held by `RLIMIT_DATA` ([`MemoryLimits::data_limit`]), 4,096 MiB by default.
    pub fn under(home: &Path) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let home = crate::home::Home::new(home);
        RunnerConfig {
            log_dir: home.logs(),
            work_dir: home.work(),
            max_workers: (cores * 2).max(2),
            kill_grace: Duration::from_secs(5),
            base_env: Vec::new(),
            memory_limits: MemoryLimits::data_limit(None),
            default_memory_mib: ferry_compile::options::DEFAULT_MEMORY_MIB,
        }
    }
}

/// A live job: its execution and a channel that asks it to stop.
struct Live {
    execution: Option<String>,
    stop: watch::Sender<Option<String>>,
    /// What `ferry status` shows of it.
    job: LiveJob,
}

/// A job the runner holds now (`GET /ferry/v1/executions/{name}/jobs`, `ferry status`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LiveJob {
    /// The Batch job id, which is the Metaflow task id.
    pub job_id: String,
    /// The step it runs (the `step_name` parameter).
    pub step: String,
    /// The attempt running (1-based); 0 while the job waits for a worker slot.
    pub attempt: u32,
    /// When the job was submitted.
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    /// When the running attempt started; `None` while waiting for a worker slot.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Runs Batch jobs as local process groups. Cheap to clone.
#[derive(Clone)]
pub struct ProcessRunner {
    cfg: Arc<RunnerConfig>,
    slots: Arc<Semaphore>,
    live: Arc<Mutex<HashMap<String, Live>>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Where `task-wrapper` is: `$FERRY_TASK_WRAPPER`, else next to the current executable, else `PATH`.
pub fn resolve_task_wrapper() -> PathBuf {
    if let Some(p) = std::env::var_os(ENV_TASK_WRAPPER).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        let sibling = dir.join("task-wrapper");
        if sibling.is_file() {
            return sibling;
        }
    }
    PathBuf::from("task-wrapper")
}

/// How one attempt ended.
enum AttemptEnd {
    Exited(i32),
    Signalled(i32),
    /// It ran out of its memory (the status reason), having exited with this code.
    OutOfMemory(i32, String),
    TimedOut,
    Terminated(String),
    SpawnFailed(String),
}

/// Kills the process group when dropped (the job future was cancelled) unless disarmed.
struct GroupGuard {
    pgid: Option<i32>,
    grace: Duration,
}

impl GroupGuard {
    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            terminate_group(pgid, self.grace);
        }
    }
}

/// SIGTERM the group now and SIGKILL it after `grace` (from a background thread).
fn terminate_group(pgid: i32, grace: Duration) {
    let pid = Pid::from_raw(pgid);
    if killpg(pid, Signal::SIGTERM).is_err() {
        return; // already gone
    }
    std::thread::spawn(move || {
        let step = Duration::from_millis(100);
        let mut waited = Duration::ZERO;
        while waited < grace {
            std::thread::sleep(step);
            waited += step;
            // Signal 0 probes whether any member of the group is left.
            if killpg(pid, None).is_err() {
                return;
            }
        }
        let _ = killpg(pid, Signal::SIGKILL);
    });
}

impl ProcessRunner {
    /// A runner with these settings.
    pub fn new(cfg: RunnerConfig) -> Self {
        let slots = Arc::new(Semaphore::new(cfg.max_workers.max(1)));
        ProcessRunner {
            cfg: Arc::new(cfg),
            slots,
            live: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RunnerConfig {
        &self.cfg
    }

    /// Number of jobs currently registered (running or waiting for a slot).
    pub fn live_jobs(&self) -> usize {
        self.live.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// The jobs of `execution` it holds now (running or waiting for a slot), by step then id.
    pub fn jobs_of(&self, execution: &str) -> Vec<LiveJob> {
        let Ok(live) = self.live.lock() else {
            return Vec::new();
        };
        let mut out: Vec<LiveJob> = live
            .values()
            .filter(|j| j.execution.as_deref() == Some(execution))
            .map(|j| j.job.clone())
            .collect();
        out.sort_by(|a, b| (&a.step, &a.job_id).cmp(&(&b.step, &b.job_id)));
        out
    }

    /// Record that `job_id` runs `attempt` from now on.
    fn mark_started(&self, job_id: &str, attempt: u32) {
        if let Ok(mut live) = self.live.lock()
            && let Some(l) = live.get_mut(job_id)
        {
            l.job.attempt = attempt;
            l.job.started_at = Some(chrono::Utc::now());
        }
    }

    /// Stop every job of `execution` (SIGTERM, then SIGKILL after the grace period). Their
    /// [`ProcessRunner::run`] calls return [`JobFailed`] with `reason`.
    pub fn terminate_execution(&self, execution: &str, reason: &str) -> usize {
        let Ok(live) = self.live.lock() else { return 0 };
        let mut n = 0;
        for job in live
            .values()
            .filter(|j| j.execution.as_deref() == Some(execution))
        {
            let _ = job.stop.send(Some(reason.to_string()));
            n += 1;
        }
        n
    }

    /// Stop every job (stack shutdown).
    pub fn terminate_all(&self, reason: &str) -> usize {
        let Ok(live) = self.live.lock() else { return 0 };
        for job in live.values() {
            let _ = job.stop.send(Some(reason.to_string()));
        }
        live.len()
    }

    /// Run the job described by SubmitJob `parameters` to its end; `Ok` is the DescribeJobs-like
    /// record of a `SUCCEEDED` job. Dropping the future terminates the running process group.
    pub async fn run(&self, parameters: &Value) -> Result<Result<Value, JobFailed>, RunnerError> {
        let job = BatchJob::from_parameters(parameters)?;
        Ok(self.run_job(&job).await)
    }

    /// [`ProcessRunner::run`] for an already parsed job.
    pub async fn run_job(&self, spec: &BatchJob) -> Result<Value, JobFailed> {
        // Batch's id (`AWS_BATCH_JOB_ID`); logs and the live view use the task id made of it.
        let job_id = spec
            .job_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let task_id = ferry_spec::array_job::task_id_of_job(&job_id);
        let (stop_tx, stop_rx) = watch::channel(None);
        if let Ok(mut live) = self.live.lock() {
            live.insert(
                task_id.clone(),
                Live {
                    execution: spec.execution(),
                    stop: stop_tx,
                    job: LiveJob {
                        job_id: task_id.clone(),
                        step: spec.step(),
                        attempt: 0,
                        submitted_at: chrono::Utc::now(),
                        started_at: None,
                    },
                },
            );
        }
        struct Unregister<'a>(&'a ProcessRunner, String);
        impl Drop for Unregister<'_> {
            fn drop(&mut self) {
                if let Ok(mut live) = self.0.live.lock() {
                    live.remove(&self.1);
                }
            }
        }
        let _unregister = Unregister(self, task_id.clone());

        let created = now_ms();
        let mut attempts_out = Vec::new();
        let mut started_first: Option<i64> = None;
        let mut last_reason = String::new();
        let mut last_exit: Option<i32> = None;
        for attempt in 1..=spec.attempts {
            if let Some(reason) = stop_rx.borrow().clone() {
                last_reason = reason;
                break;
            }
            let permit = tokio::select! {
                p = self.slots.clone().acquire_owned() => p.ok(),
                _ = stop_requested(stop_rx.clone()) => None,
            };
            let Some(_permit) = permit else {
                last_reason = stop_rx
                    .borrow()
                    .clone()
                    .unwrap_or_else(|| "Job terminated".into());
                break;
            };
            let started = now_ms();
            started_first.get_or_insert(started);
            self.mark_started(&task_id, attempt);
            let (end, log_stream) = self
                .run_attempt(spec, (&job_id, &task_id), attempt, stop_rx.clone())
                .await;
            let stopped = now_ms();
            let (exit_code, reason) = match &end {
                AttemptEnd::Exited(0) => {
                    (Some(0), "Essential container in task exited".to_string())
                }
                AttemptEnd::Exited(c) => {
                    (Some(*c), "Essential container in task exited".to_string())
                }
                AttemptEnd::Signalled(s) => (
                    Some(128 + s),
                    format!("Essential container in task exited (signal {s})"),
                ),
                AttemptEnd::OutOfMemory(code, reason) => (Some(*code), reason.clone()),
                AttemptEnd::TimedOut => (None, "Job attempt duration exceeded timeout".to_string()),
                AttemptEnd::Terminated(r) => (None, r.clone()),
                AttemptEnd::SpawnFailed(e) => (None, format!("CannotStartContainerError: {e}")),
            };
            attempts_out.push(json!({
                "Container": {"ExitCode": exit_code, "LogStreamName": log_stream, "Reason": reason},
                "StartedAt": started, "StoppedAt": stopped, "StatusReason": reason,
            }));
            last_exit = exit_code;
            last_reason = reason;
            match end {
                AttemptEnd::Exited(0) => {
                    return Ok(self.describe(
                        spec,
                        &job_id,
                        "SUCCEEDED",
                        &last_reason,
                        last_exit,
                        attempts_out,
                        created,
                        started_first,
                        stopped,
                    ));
                }
                AttemptEnd::Terminated(_) => break,
                _ => continue,
            }
        }
        let description = self.describe(
            spec,
            &job_id,
            "FAILED",
            &last_reason,
            last_exit,
            attempts_out,
            created,
            started_first,
            now_ms(),
        );
        Err(JobFailed {
            job_id,
            reason: last_reason,
            description,
        })
    }

    /// The job's `DescribeJobs` record ([`BatchJob::describe`]) with what the runner knows
    /// beyond the request: `StatusReason`, the last exit code, the memory it ran with, the
    /// timeout, and the times (epoch milliseconds).
    #[allow(clippy::too_many_arguments)]
    fn describe(
        &self,
        spec: &BatchJob,
        job_id: &str,
        status: &str,
        reason: &str,
        exit_code: Option<i32>,
        attempts: Vec<Value>,
        created: i64,
        started: Option<i64>,
        stopped: i64,
    ) -> Value {
        // As DescribeJobs reports them: the overrides over the job definition's memory.
        let mut requirements: Vec<Value> = spec
            .resource_requirements
            .iter()
            .filter(|(t, _)| t != "MEMORY")
            .map(|(t, v)| json!({"Type": t, "Value": v}))
            .collect();
        requirements.push(json!({"Type": "MEMORY", "Value": self.memory_of(spec).to_string()}));
        let mut record = spec.describe(job_id, status, &attempts);
        record["StatusReason"] = json!(reason);
        record["Container"]["ExitCode"] = json!(exit_code);
        record["Container"]["ResourceRequirements"] = Value::Array(requirements);
        record["Timeout"] =
            json!({"AttemptDurationSeconds": spec.attempt_timeout().map(|d| d.as_secs())});
        record["CreatedAt"] = json!(created);
        record["StartedAt"] = json!(started);
        record["StoppedAt"] = json!(stopped);
        record
    }

    /// The memory (MiB) `spec` runs with: its `MEMORY` requirement, else the default.
    fn memory_of(&self, spec: &BatchJob) -> u64 {
        spec.memory_mib().unwrap_or(self.cfg.default_memory_mib)
    }

    /// Log file paths of one attempt: `<log_dir>/<execution>/<step>/<job id>.<attempt>.{stdout,stderr}`
    /// ([`ferry_store::task_logs::raw_log_path`], where `ferry logs` reads them).
    pub fn log_paths(
        &self,
        execution: Option<&str>,
        step: &str,
        job_id: &str,
        attempt: u32,
    ) -> (PathBuf, PathBuf) {
        let path =
            |stream| raw_log_path(&self.cfg.log_dir, execution, step, job_id, attempt, stream);
        (path(Stream::Stdout), path(Stream::Stderr))
    }

    async fn run_attempt(
        &self,
        spec: &BatchJob,
        (job_id, task_id): (&str, &str),
        attempt: u32,
        stop: watch::Receiver<Option<String>>,
    ) -> (AttemptEnd, String) {
        let (out_path, err_path) =
            self.log_paths(spec.execution().as_deref(), &spec.step(), task_id, attempt);
        let log_stream = out_path.display().to_string();
        let work = self.cfg.work_dir.join(format!("{task_id}.{attempt}"));
        let prepared = (|| -> std::io::Result<(std::fs::File, std::fs::File)> {
            if let Some(dir) = out_path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::create_dir_all(&work)?;
            Ok((
                std::fs::File::create(&out_path)?,
                std::fs::File::create(&err_path)?,
            ))
        })();
        let (out, mut err) = match prepared {
            Ok(files) => files,
            Err(e) => {
                return (
                    AttemptEnd::SpawnFailed(format!("preparing logs and work dir: {e}")),
                    log_stream,
                );
            }
        };
        let memory = match self
            .cfg
            .memory_limits
            .for_attempt(&format!("{task_id}.{attempt}"), self.memory_of(spec))
        {
            Ok(m) => m,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&work);
                return (
                    AttemptEnd::SpawnFailed(format!("setting the job's memory limit: {e}")),
                    log_stream,
                );
            }
        };
        if let Some(warning) = memory.warning() {
            use std::io::Write as _;
            let _ = err.write_all(warning.as_bytes());
        }
        let program = if spec.command[0] == "task-wrapper" {
            resolve_task_wrapper()
        } else {
            PathBuf::from(&spec.command[0])
        };
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&spec.command[1..])
            .current_dir(&work)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);
        // If the stack dies without stopping its jobs (SIGKILL, crash), the kernel sends the
        // job SIGTERM, so no task outlives the stack unnoticed.
        // SAFETY: the closure only calls prctl(2), which is async-signal-safe.
        let parent = Pid::from_raw(std::process::id() as i32);
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
                if nix::unistd::getppid() != parent {
                    return Err(std::io::Error::other(
                        "the stack exited while the job was starting",
                    ));
                }
                Ok(())
            });
            // SAFETY: joining the cgroup and setrlimit(2) only (see AttemptMemory::child_setup).
            cmd.pre_exec(memory.child_setup());
        }
        for (k, v) in &self.cfg.base_env {
            cmd.env(k, v);
        }
        for (k, v) in &spec.environment {
            cmd.env(k, v);
        }
        cmd.env(ferry_spec::task::ENV_JOB_ID, job_id)
            .env(ferry_spec::task::ENV_JOB_ATTEMPT, attempt.to_string());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&work);
                return (
                    AttemptEnd::SpawnFailed(format!("{}: {e}", program.display())),
                    log_stream,
                );
            }
        };
        let mut guard = GroupGuard {
            pgid: child.id().map(|p| p as i32),
            grace: self.cfg.kill_grace,
        };
        let timeout = async {
            match spec.attempt_timeout() {
                Some(d) => tokio::time::sleep(d).await,
                None => futures::future::pending::<()>().await,
            }
        };
        let end = tokio::select! {
            status = child.wait() => {
                // The leader is gone; kill what it left behind in its group, as Batch stops the
                // container when its main process exits.
                if let Some(pgid) = guard.pgid {
                    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
                }
                guard.disarm();
                match status {
                    Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                        (Some(c), _) => AttemptEnd::Exited(c),
                        (None, Some(sig)) => AttemptEnd::Signalled(sig),
                        (None, None) => AttemptEnd::Exited(1),
                    },
                    Err(e) => AttemptEnd::SpawnFailed(format!("waiting for the process: {e}")),
                }
            }
            _ = timeout => {
                drop(guard);
                let _ = child.wait().await;
                AttemptEnd::TimedOut
            }
            reason = stop_requested(stop) => {
                drop(guard);
                let _ = child.wait().await;
                AttemptEnd::Terminated(reason)
            }
        };
        let end = match end {
            AttemptEnd::Exited(c) if c != 0 => match memory.out_of_memory(true, &err_path) {
                Some(reason) => AttemptEnd::OutOfMemory(c, reason),
                None => AttemptEnd::Exited(c),
            },
            AttemptEnd::Signalled(sig) => match memory.out_of_memory(true, &err_path) {
                Some(reason) => AttemptEnd::OutOfMemory(128 + sig, reason),
                None => AttemptEnd::Signalled(sig),
            },
            other => other,
        };
        drop(memory);
        let _ = tokio::fs::remove_dir_all(&work).await;
        (end, log_stream)
    }
}

/// Resolves with the stop reason once a stop is requested (never, if the sender is dropped
/// without one).
async fn stop_requested(mut rx: watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(r) = rx.borrow_and_update().clone() {
            return r;
        }
        if rx.changed().await.is_err() {
            return futures::future::pending().await;
        }
    }
}
