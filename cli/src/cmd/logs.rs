//! `ferry logs PATHSPEC`: print a task's stdout (or stderr) from the Metaflow datastore — the
//! objects `Task.stdout`/`Task.stderr` read, which the task wrapper uploads
//! (`<Flow>/<run>/<step>/<task>/<attempt>.task_std{out,err}.log` below the datastore root,
//! mflog lines) — latest attempt unless `--attempt` says otherwise. `Flow/run/step` prints every
//! task of the step.
//!
//! One code path reads both targets through the [`Blobs`] port, opened on the datastore with
//! [`ferry_store::datastore_blobs_ref`] (the wrapper's own mapping):
//! - the embedded stack: the folder `<datastore>/.metaflow` (`DirBlobs`). When a task left no
//!   datastore log (the wrapper failed before the step ran, or a delayed retry's first attempt),
//!   the raw process output the stack captured (`<home>/logs/<execution>/<step>/<task>.<attempt>.*`,
//!   of the `--attempt` asked for) is printed instead;
//! - AWS (`ferry configure`): the S3 datastore root `datastore_root` (`METAFLOW_DATASTORE_SYSROOT_S3`,
//!   default `s3://<bucket>/metaflow`) with the configured endpoint and region (`S3Blobs`). A task
//!   without a datastore log fails with a pointer to its Batch job's CloudWatch log group (the
//!   stack's `BatchLogGroup`), where such early output goes.
//!
//! On both, an `--attempt` that does not exist fails with the attempts that do.
//!
//! `--json` prints `[{"pathspec", "attempt", "stream", "text"}, …]`, one object per task printed.
//! No log at all is a `not_found` failure (exit code 1; under `--json` stdout holds only the
//! error object, see `crate::failure`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use ferry_spec::task::{BlobStoreRef, DatastoreSettings};
use ferry_store::Blobs;
use serde_json::json;

use crate::context::{Context, Target};
use crate::failure::{ErrorKind, Failure};

/// Arguments of `ferry logs`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ferry logs HelloFlow/sfn-0b1c…/start --stderr          # every task of the step
  ferry logs HelloFlow/sfn-0b1c…/start/7f3e…             # one task, by its Metaflow task id
  ferry logs HelloFlow/sfn-0b1c…/start/7f3e… --attempt 0 --json

On AWS, a task that failed before its step ran (image or code package fetch) has no datastore \
log: its output is in the Batch job's CloudWatch log group (the stack's BatchLogGroup).")]
pub struct LogsArgs {
    /// `Flow/sfn-<id>/step/task` or `Flow/sfn-<id>/step` (every task of the step).
    /// Example: `HelloFlow/sfn-0b1c…/start`.
    #[arg(value_name = "PATHSPEC")]
    pub pathspec: String,
    /// Print stderr instead of stdout.
    #[arg(long)]
    pub stderr: bool,
    /// Which attempt (0-based, Metaflow's retry count); default: the latest.
    #[arg(long, value_name = "N")]
    pub attempt: Option<u32>,
}

fn safe(seg: &str) -> anyhow::Result<&str> {
    if seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\') || seg.contains('\0') {
        bail!("invalid pathspec segment {seg:?}");
    }
    Ok(seg)
}

/// A checked `Flow/run/step[/task]`.
struct Pathspec<'a> {
    flow: &'a str,
    run: &'a str,
    step: &'a str,
    task: Option<&'a str>,
}

impl<'a> Pathspec<'a> {
    /// Three or four segments, none empty, `.`, `..` or with a backslash or NUL.
    fn parse(s: &'a str) -> anyhow::Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        if !(parts.len() == 3 || parts.len() == 4) {
            bail!("PATHSPEC must be Flow/run/step or Flow/run/step/task, got {s:?}");
        }
        for p in &parts {
            safe(p)?;
        }
        Ok(Pathspec {
            flow: parts[0],
            run: parts[1],
            step: parts[2],
            task: parts.get(3).copied(),
        })
    }

    /// The datastore key prefix of the step, `Flow/run/step/`.
    fn step_prefix(&self) -> String {
        format!("{}/{}/{}/", self.flow, self.run, self.step)
    }
}

/// The datastore key of a task attempt's log, as the task wrapper writes it
/// (`ferry_task::logs::log_key`): `Flow/run/step/task/<attempt>.task_<stream>.log`.
fn log_key(step_prefix: &str, task: &str, attempt: u32, stream: &str) -> String {
    format!("{step_prefix}{task}/{attempt}.task_{stream}.log")
}

/// The attempts with a log of `stream`, per task, from datastore keys below `step_prefix`
/// (ascending; tasks with keys but no such log map to an empty list).
fn attempts_by_task(
    step_prefix: &str,
    keys: &[String],
    stream: &str,
) -> BTreeMap<String, Vec<u32>> {
    let suffix = format!(".task_{stream}.log");
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

/// Strip the `[MFLOG|0|<time>|<source>|<id>]` prefix of each line (lines without it are kept).
pub fn strip_mflog(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line
            .strip_prefix("[MFLOG|")
            .and_then(|rest| {
                // Four `|`-separated fields, then `]`.
                let mut idx = 0;
                for _ in 0..3 {
                    idx += rest[idx..].find('|')? + 1;
                }
                let close = rest[idx..].find(']')?;
                Some(&rest[idx + close + 1..])
            })
            .unwrap_or(line);
        out.push_str(body);
    }
    out
}

/// Raw process output captured by the stack for a task: (attempt, file), ascending. The stack
/// files them by execution name: the run id's, or the run segment as given when it is no
/// `sfn-` run id.
fn raw_logs(home: &Path, run: &str, step: &str, task: &str, stream: &str) -> Vec<(u32, PathBuf)> {
    let execution = ferry_spec::RunId::parse(run)
        .map(|r| r.execution_name().to_string())
        .unwrap_or_else(|_| run.to_string());
    let dir = home.join("logs").join(execution).join(step);
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_string();
                    let rest = name
                        .strip_prefix(&format!("{task}."))?
                        .strip_suffix(&format!(".{stream}"))?;
                    Some((rest.parse().ok()?, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Where the target keeps the task logs.
struct LogStore {
    /// The datastore as a blob store; `None` when the local datastore folder does not exist
    /// (nothing has run: every listing is empty, and opening would create it).
    blobs: Option<Arc<dyn Blobs>>,
    /// The datastore, for messages: a folder or `s3://bucket/prefix`.
    location: String,
    /// The target's own fallbacks and hints.
    kind: StoreKind,
}

enum StoreKind {
    /// The embedded stack of this home (raw process logs under `<home>/logs`).
    Local { home: PathBuf },
    /// A stack on AWS, named `stack_name` when `ferry configure` recorded it.
    Aws { stack_name: Option<String> },
}

impl LogStore {
    /// The datastore of the context's target.
    async fn open(ctx: &Context) -> anyhow::Result<Self> {
        match &ctx.target {
            Target::Local => {
                let datastore = ferry_local::stack::read_stack_file(&ctx.home)
                    .map(|i| i.datastore_root)
                    .unwrap_or_else(|| ctx.home.join("datastore"));
                let datastore = std::path::absolute(&datastore)
                    .with_context(|| format!("resolving {}", datastore.display()))?;
                let settings = DatastoreSettings {
                    kind: "local".into(),
                    root: datastore.to_string_lossy().into_owned(),
                };
                let r = ferry_store::datastore_blobs_ref(&settings)?;
                let blobs = match &r {
                    BlobStoreRef::Dir { path } if !Path::new(path).is_dir() => None,
                    _ => Some(
                        ferry_store::open_blobs(&r)
                            .await
                            .with_context(|| format!("opening the datastore {r:?}"))?,
                    ),
                };
                Ok(LogStore {
                    blobs,
                    location: datastore.display().to_string(),
                    kind: StoreKind::Local {
                        home: ctx.home.clone(),
                    },
                })
            }
            Target::Aws(aws) => {
                let extra = |k: &str| {
                    aws.extra
                        .get(k)
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_string)
                };
                let root = extra("datastore_root")
                    .unwrap_or_else(|| format!("s3://{}/metaflow", aws.bucket));
                let settings = DatastoreSettings {
                    kind: "s3".into(),
                    root: root.clone(),
                };
                let r = ferry_store::datastore_blobs_ref(&settings).with_context(|| {
                    format!(
                        "the AWS configuration in {}: fix it with `ferry configure --datastore-root`",
                        ctx.home.join(crate::context::CONFIG_FILE).display()
                    )
                })?;
                let blobs = ferry_store::open_blobs_with(&r, &aws.client_settings())
                    .await
                    .with_context(|| format!("opening the datastore {root}"))?;
                Ok(LogStore {
                    blobs: Some(blobs),
                    location: root.trim_end_matches('/').to_string(),
                    kind: StoreKind::Aws {
                        stack_name: extra("stack_name"),
                    },
                })
            }
        }
    }

    /// Datastore keys below `prefix`.
    async fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        match &self.blobs {
            Some(b) => b
                .list(prefix)
                .await
                .with_context(|| format!("listing {}", b.url(prefix))),
            None => Ok(Vec::new()),
        }
    }

    /// The object at `key`, mflog prefixes stripped.
    async fn text(&self, key: &str) -> anyhow::Result<Option<String>> {
        let Some(b) = &self.blobs else {
            return Ok(None);
        };
        let body = b
            .get(key)
            .await
            .with_context(|| format!("reading {}", b.url(key)))?;
        Ok(body.map(|b| strip_mflog(&String::from_utf8_lossy(&b))))
    }

    /// Where to look when the datastore has no log (AWS), as a sentence.
    fn cloudwatch_hint(stack_name: Option<&str>) -> String {
        let find = match stack_name {
            Some(s) => format!(
                " (`aws cloudformation describe-stack-resource --stack-name {s} --logical-resource-id BatchLogGroup`)"
            ),
            None => String::new(),
        };
        format!(
            "A task that failed before its step ran (image pull, code package download, wrapper \
             error) wrote its output only to its Batch job's CloudWatch log group: the stack's \
             BatchLogGroup{find}, in a log stream named `ferry/…` (`aws batch describe-jobs --jobs \
             JOB_ID` names it: container.logStreamName)."
        )
    }
}

/// No log to print: a [`ErrorKind::NotFound`] failure (exit code 1; under `--json` the error
/// object is all stdout holds).
fn not_found(message: String) -> anyhow::Error {
    Failure::new(ErrorKind::NotFound, message)
}

/// Print the logs.
pub async fn run(ctx: &Context, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let spec = Pathspec::parse(&args.pathspec)?;
    let (flow, run, step) = (spec.flow, spec.run, spec.step);
    let stream = if args.stderr { "stderr" } else { "stdout" };
    let store = LogStore::open(ctx).await?;
    let step_prefix = spec.step_prefix();
    let tasks: Vec<String>;
    let attempts = match spec.task {
        Some(task) => {
            tasks = vec![task.to_string()];
            let keys = store.list(&format!("{step_prefix}{task}/")).await?;
            attempts_by_task(&step_prefix, &keys, stream)
        }
        None => {
            let keys = store.list(&step_prefix).await?;
            let by_task = attempts_by_task(&step_prefix, &keys, stream);
            if by_task.is_empty() {
                let hint = match &store.kind {
                    StoreKind::Local { .. } => String::new(),
                    StoreKind::Aws { stack_name } => {
                        format!(" {}", LogStore::cloudwatch_hint(stack_name.as_deref()))
                    }
                };
                return Err(not_found(format!(
                    "no step {flow}/{run}/{step} in the datastore {} (is the pathspec right, and has a task of it started?).{hint}",
                    store.location
                )));
            }
            tasks = by_task.keys().cloned().collect();
            by_task
        }
    };
    let mut found = false;
    let mut json_out = Vec::new();
    // Tasks that have this stream's log, but not of the `--attempt` asked for.
    let mut other_attempts: Vec<(String, Vec<u32>)> = Vec::new();
    for task in &tasks {
        let available = attempts.get(task).map(Vec::as_slice).unwrap_or_default();
        let mut chosen = match args.attempt {
            Some(a) => Some(a),
            None => available.last().copied(),
        };
        let text = match chosen.filter(|a| available.contains(a)) {
            Some(a) => store.text(&log_key(&step_prefix, task, a, stream)).await?,
            None => None,
        };
        // The embedded stack also keeps each attempt's raw process output (a delayed retry's
        // first attempt, or a wrapper that failed before the step ran, has only that).
        let raw = match &store.kind {
            StoreKind::Local { home } if text.is_none() => raw_logs(home, run, step, task, stream),
            _ => Vec::new(),
        };
        let text = match text {
            Some(t) => Some(t),
            None => {
                let pick = match args.attempt {
                    Some(a) => raw.iter().find(|(n, _)| *n == a),
                    None => raw.last(),
                };
                match pick {
                    Some((n, path)) => {
                        chosen = Some(*n);
                        let bytes = std::fs::read(path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        Some(String::from_utf8_lossy(&bytes).into_owned())
                    }
                    None => {
                        let mut known: Vec<u32> = available.to_vec();
                        known.extend(raw.iter().map(|(n, _)| *n));
                        known.sort_unstable();
                        known.dedup();
                        if args.attempt.is_some() && !known.is_empty() {
                            other_attempts.push((task.clone(), known));
                        }
                        None
                    }
                }
            }
        };
        let Some(text) = text else { continue };
        found = true;
        if ctx.json {
            json_out.push(json!({"pathspec": format!("{flow}/{run}/{step}/{task}"), "attempt": chosen, "stream": stream, "text": text}));
        } else {
            if tasks.len() > 1 {
                println!("--- {flow}/{run}/{step}/{task} ---");
            }
            print!("{text}");
        }
    }
    if !found {
        let list = |a: &[u32]| a.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        let message = match (&store.kind, args.attempt, other_attempts.as_slice()) {
            (_, Some(a), [(task, only)]) if tasks.len() == 1 => format!(
                "{flow}/{run}/{step}/{task} has no attempt {a} with a {stream} log; its attempts: {}",
                list(only)
            ),
            (_, Some(a), [_, ..]) => format!(
                "no task of {flow}/{run}/{step} has an attempt {a} with a {stream} log; their attempts: {}",
                other_attempts
                    .iter()
                    .map(|(t, only)| format!("{t}: {}", list(only)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            (StoreKind::Local { .. }, _, _) => format!(
                "no {stream} logs for {} (is the pathspec right, and has the task started?)",
                args.pathspec
            ),
            (StoreKind::Aws { stack_name }, _, _) => format!(
                "no {stream} log for {} in the datastore {} (is the pathspec right, and has the task started?). {}",
                args.pathspec,
                store.location,
                LogStore::cloudwatch_hint(stack_name.as_deref())
            ),
        };
        return Err(not_found(message));
    }
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&json_out)?);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mflog_prefixes_are_stripped() {
        let text = "[MFLOG|0|2026-11-30T04:00:00.000000Z|task|abc]hello\n[MFLOG|0|2026-11-30T04:00:00.100000Z|task|abd]a]b|c\nplain\n";
        assert_eq!(strip_mflog(text), "hello\na]b|c\nplain\n");
    }

    #[test]
    fn pathspecs_are_checked() {
        for bad in [
            "F/r",
            "F/r/s/t/x",
            "F//s",
            "F/r/../t",
            "F/r/./t",
            "F/r/s/",
            "F/r\\x/s",
        ] {
            assert!(Pathspec::parse(bad).is_err(), "{bad}");
        }
        let p = Pathspec::parse("F/sfn-1/start/2").unwrap();
        assert_eq!(p.step_prefix(), "F/sfn-1/start/");
        assert_eq!(p.task, Some("2"));
        assert_eq!(Pathspec::parse("F/sfn-1/start").unwrap().task, None);
    }

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
        let out = attempts_by_task("F/r/s/", &keys, "stdout");
        assert_eq!(out.get("1"), Some(&vec![0, 2, 10]));
        assert_eq!(out.get("2"), Some(&vec![]));
        assert_eq!(out.len(), 2);
        assert_eq!(
            attempts_by_task("F/r/s/", &keys, "stderr").get("1"),
            Some(&vec![2])
        );
    }
}
