//! `ferry logs PATHSPEC`: print a task's stdout (or stderr) from the Metaflow datastore — the
//! objects `Task.stdout`/`Task.stderr` read, which the task wrapper uploads
//! (`<Flow>/<run>/<step>/<task>/<attempt>.task_std{out,err}.log` below the datastore root,
//! mflog lines) — latest attempt unless `--attempt` says otherwise. `Flow/run/step` prints every
//! task of the step.
//!
//! One code path reads both targets: the task-log reader ([`ferry_store::task_logs::TaskLogs`],
//! which the web UI uses too) over the [`ferry_store::Blobs`] port, opened on the datastore with
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

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use ferry_spec::task::{BlobStoreRef, DatastoreSettings};
use ferry_store::task_logs::{LogRead, StepPath, Stream, TaskLogs};
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

    /// The step whose logs are read.
    fn step_path(&self) -> StepPath<'a> {
        StepPath {
            flow: self.flow,
            run: self.run,
            step: self.step,
        }
    }
}

/// Where the target keeps the task logs.
struct LogStore {
    /// The reader over the datastore (and, on the embedded stack, the raw process logs).
    logs: TaskLogs,
    /// The datastore, for messages: a folder or `s3://bucket/prefix`.
    location: String,
    /// The target's own fallbacks and hints.
    kind: StoreKind,
}

enum StoreKind {
    /// The embedded stack of this home (raw process logs under `<home>/logs`).
    Local,
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
                    .unwrap_or_else(|| ctx.local_home().datastore());
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
                    logs: TaskLogs::new(blobs, Some(ctx.local_home().logs())),
                    location: datastore.display().to_string(),
                    kind: StoreKind::Local,
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
                    logs: TaskLogs::new(Some(blobs), None),
                    location: root.trim_end_matches('/').to_string(),
                    kind: StoreKind::Aws {
                        stack_name: extra("stack_name"),
                    },
                })
            }
        }
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
    let kind = if args.stderr {
        Stream::Stderr
    } else {
        Stream::Stdout
    };
    let store = LogStore::open(ctx).await?;
    let step_path = spec.step_path();
    let listing = |e: ferry_store::BlobError| {
        anyhow::Error::new(e).context(format!(
            "listing the logs of {flow}/{run}/{step} in {}",
            store.location
        ))
    };
    let tasks: Vec<String>;
    let attempts = match spec.task {
        Some(task) => {
            tasks = vec![task.to_string()];
            store
                .logs
                .attempts(step_path, Some(task), kind)
                .await
                .map_err(listing)?
        }
        None => {
            let by_task = store
                .logs
                .attempts(step_path, None, kind)
                .await
                .map_err(listing)?;
            if by_task.is_empty() {
                let hint = match &store.kind {
                    StoreKind::Local => String::new(),
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
    let stream = kind.name();
    let mut found = false;
    let mut json_out = Vec::new();
    // Tasks that have this stream's log, but not of the `--attempt` asked for.
    let mut other_attempts: Vec<(String, Vec<u32>)> = Vec::new();
    for task in &tasks {
        let available = attempts.get(task).map(Vec::as_slice).unwrap_or_default();
        let read = store
            .logs
            .read(step_path, task, available, args.attempt, kind)
            .await
            .with_context(|| format!("reading the {stream} log of {flow}/{run}/{step}/{task}"))?;
        let log = match read {
            LogRead::Found(log) => log,
            LogRead::Missing { known } => {
                if args.attempt.is_some() && !known.is_empty() {
                    other_attempts.push((task.clone(), known));
                }
                continue;
            }
        };
        found = true;
        if ctx.json {
            json_out.push(json!({"pathspec": format!("{flow}/{run}/{step}/{task}"), "attempt": log.attempt, "stream": stream, "text": log.text}));
        } else {
            if tasks.len() > 1 {
                println!("--- {flow}/{run}/{step}/{task} ---");
            }
            print!("{}", log.text);
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
            (StoreKind::Local, _, _) => format!(
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
        assert_eq!(p.step_path().prefix(), "F/sfn-1/start/");
        assert_eq!(p.task, Some("2"));
        assert_eq!(Pathspec::parse("F/sfn-1/start").unwrap().task, None);
    }
}
