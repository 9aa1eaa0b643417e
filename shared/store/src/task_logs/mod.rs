//! Task logs: the one owner of their contract. The key the task wrapper writes each attempt's
//! output to in the Metaflow datastore, the mflog line format it decorates lines with and the
//! reader strips ([`mflog`]), the path the embedded stack's process runner writes raw process
//! output to ([`raw_log_path`]), and the one reader of both ([`TaskLogs`]), which `ferry logs`
//! and the web UI use.
//!
//! Layout (Metaflow's `TaskDataStore`, below the datastore root, see [`crate::datastore`]):
//! `<Flow>/<run>/<step>/<task>/<attempt>.task_<stdout|stderr>.log`, each line an mflog line
//! (`[MFLOG|0|<time>|<source>|<id>]<text>`). The embedded stack also keeps each attempt's raw
//! process output in `<logs dir>/<execution>/<step>/<task>.<attempt>.<stream>`, which is all a
//! task has when its wrapper failed before the step ran.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::blobs::{BlobError, Blobs};

pub mod mflog;

pub use mflog::strip_mflog;

/// Which output stream of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output (`Task.stdout`).
    Stdout,
    /// Standard error (`Task.stderr`).
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`, as in the key.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl std::str::FromStr for Stream {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stdout" => Ok(Stream::Stdout),
            "stderr" => Ok(Stream::Stderr),
            other => Err(format!("unknown log stream {other:?} (stdout or stderr)")),
        }
    }
}

/// The datastore key of a task attempt's log: `<task_prefix>/<attempt>.task_<stream>.log`, where
/// `task_prefix` is `<Flow>/<run>/<step>/<task>`.
pub fn log_key(task_prefix: &str, attempt: u32, stream: Stream) -> String {
    format!("{task_prefix}/{attempt}.task_{}.log", stream.name())
}

/// The attempts with a log of `stream`, per task, from datastore keys below `step_prefix`
/// (`<Flow>/<run>/<step>/`; ascending; tasks with keys but no such log map to an empty list).
pub fn attempts_by_task(
    step_prefix: &str,
    keys: &[String],
    stream: Stream,
) -> BTreeMap<String, Vec<u32>> {
    let suffix = format!(".task_{}.log", stream.name());
    let mut out: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for key in keys {
        let Some((task, file)) = key
            .strip_prefix(step_prefix)
            .and_then(|rest| rest.split_once('/'))
        else {
            continue;
        };
        let entry = out.entry(task.to_string()).or_default();
        if let Some(a) = file.strip_suffix(&suffix).and_then(|a| a.parse().ok()) {
            entry.insert(a);
        }
    }
    out.into_iter()
        .map(|(t, a)| (t, a.into_iter().collect()))
        .collect()
}

/// A path segment made safe for a file name: ASCII letters, digits, `-`, `_` and `.` are kept,
/// other characters become `_`, at most 128 characters; an empty or all-dots segment is `_`.
fn safe_segment(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        "_".to_string()
    } else {
        cleaned
    }
}

/// The folder of a step's raw process logs: `<logs_dir>/<execution>/<step>` (each segment made
/// safe for a file name; a job outside any execution files under `no-execution`).
pub fn raw_log_dir(logs_dir: &Path, execution: Option<&str>, step: &str) -> PathBuf {
    logs_dir
        .join(safe_segment(execution.unwrap_or("no-execution")))
        .join(safe_segment(step))
}

/// Where the embedded stack's process runner writes one attempt's raw output:
/// `<logs_dir>/<execution>/<step>/<job id>.<job attempt>.<stream>` ([`raw_log_dir`]). The job id
/// is the Metaflow task id; the job attempt is Batch's (1-based, `AWS_BATCH_JOB_ATTEMPT`).
pub fn raw_log_path(
    logs_dir: &Path,
    execution: Option<&str>,
    step: &str,
    job_id: &str,
    job_attempt: u32,
    stream: Stream,
) -> PathBuf {
    raw_log_dir(logs_dir, execution, step).join(format!("{job_id}.{job_attempt}.{}", stream.name()))
}

/// The raw process output the embedded stack captured for a task, `(attempt, file)` ascending:
/// `<logs_dir>/<execution>/<step>/<task>.<job attempt>.<stream>` (`run` is `sfn-<execution>`; the
/// stack files them by execution name: the run id's, or the run segment as given when it is no
/// `sfn-` run id). The file names Batch's job attempt (1-based, `AWS_BATCH_JOB_ATTEMPT`); the
/// attempt returned is Metaflow's (0-based, the retry count), as the datastore logs number them.
pub fn raw_logs(
    logs_dir: &Path,
    run: &str,
    step: &str,
    task: &str,
    stream: Stream,
) -> Vec<(u32, PathBuf)> {
    let execution = ferry_spec::RunId::parse(run)
        .map(|r| r.execution_name().to_string())
        .unwrap_or_else(|_| run.to_string());
    let dir = raw_log_dir(logs_dir, Some(&execution), step);
    let (head, tail) = (format!("{task}."), format!(".{}", stream.name()));
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_string();
                    let rest = name.strip_prefix(&head)?.strip_suffix(&tail)?;
                    let job_attempt: u32 = rest.parse().ok()?;
                    Some((job_attempt.checked_sub(1)?, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// What went wrong reading a log.
#[derive(Debug, thiserror::Error)]
pub enum TaskLogError {
    /// The datastore failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// A raw log file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where a log's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// The datastore log the wrapper uploads (mflog prefixes stripped).
    Datastore,
    /// The raw process output the embedded stack captured.
    Raw,
}

/// One attempt's log of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLog {
    /// The attempt (0-based, Metaflow's retry count).
    pub attempt: u32,
    /// The text, mflog prefixes stripped.
    pub text: String,
    /// Where it came from.
    pub source: LogSource,
}

/// The outcome of [`TaskLogs::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRead {
    /// The log of the attempt asked for (or of the latest one).
    Found(TaskLog),
    /// No log of that attempt; `known` lists the attempts that have one (ascending).
    Missing {
        /// Attempts with a log of this stream.
        known: Vec<u32>,
    },
}

/// `Flow/run/step`: the step whose task logs are read.
#[derive(Debug, Clone, Copy)]
pub struct StepPath<'a> {
    /// Flow name.
    pub flow: &'a str,
    /// Run id (`sfn-<execution>` for deployed runs).
    pub run: &'a str,
    /// Step name.
    pub step: &'a str,
}

impl StepPath<'_> {
    /// The datastore key prefix of the step, `Flow/run/step/`.
    pub fn prefix(&self) -> String {
        format!("{}/{}/{}/", self.flow, self.run, self.step)
    }
}

/// The task-log reader: the datastore (as a [`Blobs`] whose keys are datastore paths, see
/// [`crate::datastore_blobs_ref`]) and, on the embedded stack, the folder of raw process logs.
#[derive(Clone)]
pub struct TaskLogs {
    blobs: Option<Arc<dyn Blobs>>,
    raw_dir: Option<PathBuf>,
}

impl TaskLogs {
    /// A reader over `blobs` (`None`: a datastore that does not exist yet, so every listing is
    /// empty) with raw process logs under `raw_dir` (the embedded stack's `<home>/logs`).
    pub fn new(blobs: Option<Arc<dyn Blobs>>, raw_dir: Option<PathBuf>) -> Self {
        TaskLogs { blobs, raw_dir }
    }

    /// The datastore, when there is one.
    pub fn blobs(&self) -> Option<&Arc<dyn Blobs>> {
        self.blobs.as_ref()
    }

    /// Whether raw process logs are read too (the embedded stack).
    pub fn has_raw_logs(&self) -> bool {
        self.raw_dir.is_some()
    }

    /// Datastore keys below `prefix` (none without a datastore).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        match &self.blobs {
            Some(b) => b.list(prefix).await,
            None => Ok(Vec::new()),
        }
    }

    /// The attempts with a datastore log of `stream`, per task of the step (every task, or
    /// only `task`).
    pub async fn attempts(
        &self,
        step: StepPath<'_>,
        task: Option<&str>,
        stream: Stream,
    ) -> Result<BTreeMap<String, Vec<u32>>, BlobError> {
        let prefix = step.prefix();
        let listed = match task {
            Some(t) => format!("{prefix}{t}/"),
            None => prefix.clone(),
        };
        let keys = self.list(&listed).await?;
        Ok(attempts_by_task(&prefix, &keys, stream))
    }

    /// The datastore object at `key`, mflog prefixes stripped.
    pub async fn text(&self, key: &str) -> Result<Option<String>, BlobError> {
        let Some(b) = &self.blobs else {
            return Ok(None);
        };
        Ok(b.get(key)
            .await?
            .map(|body| strip_mflog(&String::from_utf8_lossy(&body))))
    }

    /// The log of `task` for `attempt` (`None`: the latest), given the attempts its datastore
    /// log has (`available`, from [`TaskLogs::attempts`]). When the datastore has no such log,
    /// the raw process output of that attempt (or the latest one) is read, where kept.
    pub async fn read(
        &self,
        step: StepPath<'_>,
        task: &str,
        available: &[u32],
        attempt: Option<u32>,
        stream: Stream,
    ) -> Result<LogRead, TaskLogError> {
        let chosen = attempt.or_else(|| available.last().copied());
        if let Some(a) = chosen.filter(|a| available.contains(a)) {
            let key = log_key(&format!("{}{task}", step.prefix()), a, stream);
            if let Some(text) = self.text(&key).await? {
                return Ok(LogRead::Found(TaskLog {
                    attempt: a,
                    text,
                    source: LogSource::Datastore,
                }));
            }
        }
        let raw = match &self.raw_dir {
            Some(dir) => raw_logs(dir, step.run, step.step, task, stream),
            None => Vec::new(),
        };
        let pick = match attempt {
            Some(a) => raw.iter().find(|(n, _)| *n == a),
            None => raw.last(),
        };
        if let Some((n, path)) = pick {
            let bytes = std::fs::read(path).map_err(|source| TaskLogError::Io {
                path: path.clone(),
                source,
            })?;
            return Ok(LogRead::Found(TaskLog {
                attempt: *n,
                text: String::from_utf8_lossy(&bytes).into_owned(),
                source: LogSource::Raw,
            }));
        }
        let mut known: Vec<u32> = available.to_vec();
        known.extend(raw.iter().map(|(n, _)| *n));
        known.sort_unstable();
        known.dedup();
        Ok(LogRead::Missing { known })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_collected_per_task_and_stream() {
        let keys: Vec<String> = [
            "F/r/s/1/0.attempt.json",
            "F/r/s/1/0.task_stdout.log",
            "F/r/s/1/10.task_stdout.log",
            "F/r/s/1/2.task_stdout.log",
            "F/r/s/1/2.task_stderr.log",
            "F/r/s/2/0.data.json",
            "F/r/s/x.task_stdout.log",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = attempts_by_task("F/r/s/", &keys, Stream::Stdout);
        assert_eq!(out.get("1"), Some(&vec![0, 2, 10]));
        assert_eq!(out.get("2"), Some(&vec![]));
        assert_eq!(out.len(), 2);
        assert_eq!(
            attempts_by_task("F/r/s/", &keys, Stream::Stderr).get("1"),
            Some(&vec![2])
        );
    }

    #[tokio::test]
    async fn reads_the_datastore_then_the_raw_output() {
        let dir = tempfile::tempdir().unwrap();
        let blobs: Arc<dyn Blobs> = Arc::new(crate::DirBlobs::open(dir.path().join("ds")).unwrap());
        let raw = dir.path().join("logs");
        blobs
            .put(
                "F/sfn-e1/s/t1/0.task_stdout.log",
                b"[MFLOG|0|2026-11-30T04:00:00.000000Z|task|1]first\n".to_vec(),
            )
            .await
            .unwrap();
        std::fs::create_dir_all(raw.join("e1/s")).unwrap();
        std::fs::write(raw.join("e1/s/t2.1.stdout"), "raw only\n").unwrap();
        let logs = TaskLogs::new(Some(blobs), Some(raw));
        let step = StepPath {
            flow: "F",
            run: "sfn-e1",
            step: "s",
        };
        let attempts = logs.attempts(step, None, Stream::Stdout).await.unwrap();
        assert_eq!(attempts.get("t1"), Some(&vec![0]));
        let read = logs
            .read(step, "t1", &attempts["t1"], None, Stream::Stdout)
            .await
            .unwrap();
        assert_eq!(
            read,
            LogRead::Found(TaskLog {
                attempt: 0,
                text: "first\n".into(),
                source: LogSource::Datastore
            })
        );
        let read = logs
            .read(step, "t2", &[], None, Stream::Stdout)
            .await
            .unwrap();
        assert!(
            matches!(&read, LogRead::Found(l) if l.source == LogSource::Raw && l.attempt == 0 && l.text == "raw only\n"),
            "{read:?}"
        );
        let read = logs
            .read(step, "t1", &attempts["t1"], Some(3), Stream::Stdout)
            .await
            .unwrap();
        assert_eq!(read, LogRead::Missing { known: vec![0] });
    }
}
