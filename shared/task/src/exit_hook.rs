//! The `@exit_hook` task: each function runs in its own Python process, as Metaflow runs
//! exit hooks (`metaflow/plugins/exit_hook/exit_hook_script.py`, one container per function on
//! Argo Workflows): `<python> -m metaflow.plugins.exit_hook.exit_hook_script <flow file>
//! <function> <Flow>/sfn-<execution>` in the extracted code package, with the environment of
//! the flow's tasks (so `Run(pathspec)` reads the run from the deployment's metadata service and
//! datastore). A function that fails does not stop the next; the task fails when any failed.
//! Each function's start and end are noted in the task's logs (`ferry logs
//! <Flow>/sfn-<id>/_exit_hook`).

use std::ffi::OsString;
use std::time::Duration;

use crate::child::{self, Shutdown};
use crate::command::{CommandContext, Invocation};
use crate::error::TaskError;
use crate::logs::{LogSink, Stream};

/// Metaflow's exit hook runner module.
pub const EXIT_HOOK_SCRIPT: &str = "metaflow.plugins.exit_hook.exit_hook_script";

/// The invocation of one hook function.
pub fn invocation(ctx: &CommandContext<'_>, python: &str, function: &str) -> Invocation {
    let d = ctx.desc;
    Invocation {
        program: python.into(),
        args: [
            "-m",
            EXIT_HOOK_SCRIPT,
            &d.flow_file,
            function,
            &format!("{}/{}", d.flow, ctx.env.run_id()),
        ]
        .into_iter()
        .map(OsString::from)
        .collect(),
        env: ctx.base_env(),
        cwd: ctx.package_dir.to_path_buf(),
    }
}

/// Run `functions` in order; the exit code is the first failure's (0 when all succeeded), or
/// 128 + the signal when the wrapper was asked to stop (the remaining functions do not run).
pub async fn run(
    ctx: &CommandContext<'_>,
    python: &str,
    functions: &[String],
    sink: &LogSink,
    shutdown: &mut Shutdown,
    grace: Duration,
) -> Result<i32, TaskError> {
    let mut first_failure = 0;
    for f in functions {
        if let Some(sig) = shutdown.requested() {
            return Ok(128 + sig);
        }
        sink.note(Stream::Stdout, &format!("[exit_hook] {f} is starting."));
        let outcome = child::run(&invocation(ctx, python, f), sink, shutdown, grace).await?;
        if let Some(sig) = outcome.interrupted_by {
            return Ok(128 + sig);
        }
        if outcome.code == 0 {
            sink.note(Stream::Stdout, &format!("[exit_hook] {f} finished."));
        } else {
            sink.note(
                Stream::Stderr,
                &format!("[exit_hook] {f} failed with exit code {}.", outcome.code),
            );
            if first_failure == 0 {
                first_failure = outcome.code;
            }
        }
    }
    Ok(first_failure)
}
