//! Waiting for a run to end with its progress in view (`ferry trigger --wait`), and ending with
//! its outcome, for scripts and CI: exit code 0 when it succeeded, 1 when it failed, timed out
//! or was aborted.
//!
//! The end comes from [`ferry_control::Executions::wait`] (told of the end in-process, a long
//! poll over the embedded stack's control API, polling on Step Functions), asked for
//! [`LOOK_EVERY`] at a time; between asks the progress ([`crate::progress`]) is shown on stderr:
//! a bar on a terminal (indicatif), else one plain line (`RUNNING: start 1/1, body 3/10 (2
//! running)`) each time it changes.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use ferry_control::{Execution, ExecutionStatus};
use serde_json::{Map, Value};

use crate::context::Context;
use crate::control::{ControlPlane, failure};
use crate::failure::{ErrorKind, Failure};
use crate::progress;
use crate::run_status::RunReport;

/// How long one wait lasts before the progress is looked at again.
pub const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Where the progress goes: a bar on a terminal, plain lines otherwise.
enum Display {
    Bar(indicatif::ProgressBar),
    Lines { last: String },
}

impl Display {
    fn new() -> Self {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed} [{bar:30}] {pos}/{len} tasks  {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            Display::Bar(bar)
        } else {
            Display::Lines {
                last: String::new(),
            }
        }
    }

    fn show(&mut self, report: &RunReport) {
        let Some(steps) = &report.steps else {
            return;
        };
        let line = progress::summary(steps);
        match self {
            Display::Bar(bar) => {
                if let Some((done, total)) = progress::totals(steps) {
                    bar.set_length(total);
                    bar.set_position(done);
                }
                bar.set_message(line);
            }
            Display::Lines { last } => {
                if *last != line {
                    eprintln!("{}: {line}", report.execution.status);
                    *last = line;
                }
            }
        }
    }

    fn finish(self) {
        if let Display::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// Wait for `e` to end, showing its progress on stderr, and return its report once ended.
pub async fn wait_with_progress(
    ctx: &Context,
    control: &ControlPlane,
    e: Execution,
) -> anyhow::Result<RunReport> {
    let mut display = Display::new();
    let mut warned: Vec<String> = Vec::new();
    let mut now = e;
    while !now.status.is_terminal() {
        let report = RunReport::gather(ctx, control, now.clone()).await?;
        for w in &report.warnings {
            if !warned.contains(w) {
                eprintln!("ferry: warning: {w}");
                warned.push(w.clone());
            }
        }
        display.show(&report);
        now = control
            .executions()
            .wait(&now.state_machine, &now.name, LOOK_EVERY)
            .await
            .map_err(failure)?;
    }
    display.finish();
    RunReport::gather(ctx, control, now).await
}

/// Print the ended run's report (`--json`: the status object; else `ferry status`'s text) and
/// end with its outcome: success for `SUCCEEDED`, else a [`ErrorKind::Failed`] failure whose
/// `--json` object is the status object with the `error` beside it.
pub fn outcome(report: &RunReport, json: bool) -> anyhow::Result<ExitCode> {
    outcome_with(report, json, Map::new())
}

/// [`outcome`], with `extra` fields added to the `--json` object where the status object has
/// none of that name (`ferry resume --wait`: the resume's origin, plan and cloned tasks).
pub fn outcome_with(
    report: &RunReport,
    json: bool,
    extra: Map<String, Value>,
) -> anyhow::Result<ExitCode> {
    report.print_warnings();
    let e = &report.execution;
    if !json {
        for line in report.text() {
            println!("{line}");
        }
    }
    let mut object = report.json();
    if let Some(fields) = object.as_object_mut() {
        for (k, v) in extra {
            fields.entry(k).or_insert(v);
        }
    }
    if e.status == ExecutionStatus::Succeeded {
        if json {
            println!("{}", serde_json::to_string_pretty(&object)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    Err(anyhow::Error::new(Failure {
        kind: ErrorKind::Failed,
        message: format!("the run {} ended {}", e.run_id(), e.status),
        result: Some(object),
        reported: !json,
    }))
}
