//! `ferry logs PATHSPEC`: print a task's stdout (or stderr) from the Metaflow datastore of the
//! embedded stack — the files `Task.stdout`/`Task.stderr` read
//! (`<datastore>/.metaflow/<Flow>/<run>/<step>/<task>/<attempt>.task_std{out,err}.log`, mflog
//! lines), latest attempt unless `--attempt` says otherwise. `Flow/run/step` prints every task
//! of the step. When a task left no datastore log (the wrapper failed before the step ran), the
//! raw process output the stack captured (`<home>/logs/<execution>/<step>/<task>.<attempt>.*`) is
//! printed instead.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::context::Context;

/// Arguments of `ferry logs`.
#[derive(Debug, clap::Args)]
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

/// The attempts with a log file of this stream in a task folder, ascending.
fn attempts(task_dir: &Path, stream: &str) -> Vec<u32> {
    let suffix = format!(".task_{stream}.log");
    let mut out: Vec<u32> = std::fs::read_dir(task_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(&suffix))
                        .and_then(|a| a.parse().ok())
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
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

/// Raw process output captured by the stack for a task, any attempt (latest last).
fn raw_logs(home: &Path, run: &str, step: &str, task: &str, stream: &str) -> Vec<PathBuf> {
    let execution = run.strip_prefix("sfn-").unwrap_or(run);
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
    files.into_iter().map(|(_, p)| p).collect()
}

/// Print the logs.
pub async fn run(ctx: &Context, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let parts: Vec<&str> = args.pathspec.split('/').collect();
    if !(parts.len() == 3 || parts.len() == 4) {
        bail!(
            "PATHSPEC must be Flow/run/step or Flow/run/step/task, got {:?}",
            args.pathspec
        );
    }
    for p in &parts {
        safe(p)?;
    }
    let (flow, run, step) = (parts[0], parts[1], parts[2]);
    let stream = if args.stderr { "stderr" } else { "stdout" };
    let datastore = ferry_local::stack::read_stack_file(&ctx.home)
        .map(|i| i.datastore_root)
        .unwrap_or_else(|| ctx.home.join("datastore"));
    let step_dir = datastore.join(".metaflow").join(flow).join(run).join(step);
    let tasks: Vec<String> = if parts.len() == 4 {
        vec![parts[3].to_string()]
    } else {
        let mut t: Vec<String> = std::fs::read_dir(&step_dir)
            .with_context(|| {
                format!(
                    "no step {flow}/{run}/{step} in the datastore {}",
                    datastore.display()
                )
            })?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        t.sort();
        t
    };
    let mut found = false;
    let mut json_out = Vec::new();
    for task in &tasks {
        let task_dir = step_dir.join(task);
        let chosen = match args.attempt {
            Some(a) => Some(a),
            None => attempts(&task_dir, stream).last().copied(),
        };
        let text = match chosen.map(|a| task_dir.join(format!("{a}.task_{stream}.log"))) {
            Some(p) if p.is_file() => Some(strip_mflog(&String::from_utf8_lossy(
                &std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?,
            ))),
            _ => raw_logs(&ctx.home, run, step, task, stream)
                .last()
                .map(|p| std::fs::read(p).map(|b| String::from_utf8_lossy(&b).to_string()))
                .transpose()?,
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
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&json_out)?);
    }
    if !found {
        bail!(
            "no {stream} logs for {} (is the pathspec right, and has the task started?)",
            args.pathspec
        );
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
}
