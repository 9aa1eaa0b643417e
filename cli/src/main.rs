//! `ferry`: take a Metaflow flow to production on the embedded stack (`ferry up`) or on AWS.

mod cmd;
mod context;
mod control;
mod explain;
mod failure;
mod flow;
mod metadata;
mod notify;
mod package;
mod progress;
mod run_input;
mod run_status;
mod run_wait;
mod submit;
mod task_logs;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::context::Context;
pub use crate::failure::UsageError;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  the request was refused (production token) or failed (bad flow, compile error, timeout…)
  2  usage error (unknown flag, missing argument)

With --json, a failing command prints one JSON object on stdout:
  {\"error\": {\"kind\": KIND, \"message\": TEXT}}   (plus the command's result when it has one)
where KIND is usage, not_found, refused, unavailable (no stack running or answering),
invalid_flow (the flow file cannot be read, imported or deployed as it is) or failed.

Quick start (embedded stack, no AWS):
  ferry up &                         # start the local stack in ~/.ferry
  ferry deploy examples/hello.py     # deploy the flow (prints its production namespace)
  ferry trigger examples/hello.py    # start a run
  ferry list-runs examples/hello.py";

/// Ferry takes a Metaflow flow from a laptop to production: a Step Functions state machine on
/// AWS, or the same state machine on the embedded stack (`ferry up`), with schedules,
/// production tokens and @project branches as Metaflow has them.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, after_help = AFTER_HELP, propagate_version = true)]
struct Cli {
    /// Ferry's home folder: the embedded stack's data and `config.json` (the target).
    /// Example: `--home /tmp/ferry-demo`.
    #[arg(long, global = true, env = "FERRY_HOME", value_name = "DIR")]
    home: Option<PathBuf>,

    /// Print machine-readable JSON on stdout (messages still go to stderr).
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a flow's spec (its DAG, parameters and decorators) as JSON.
    ///
    /// Example: `ferry spec examples/hello.py > hello.spec.json`
    Spec(cmd::spec::SpecArgs),

    /// Deploy a flow to production (a state machine, its schedule and a deployment record).
    ///
    /// Packages the flow's folder, uploads it with the flow's spec, and waits until the deploy
    /// handler has compiled it, set its schedule and recorded the deployment.
    ///
    /// Examples:
    ///   ferry deploy flow.py
    ///   ferry deploy flow.py --authorize production:myflow-0-abcd   # replace someone else's deployment
    ///   ferry deploy flow.py --branch feature_x                     # @project test branch
    ///   ferry deploy flow.py --only-json > definition.json          # compile only
    ///   ferry deploy flow.py --notify-on-error \
    ///       --notify-slack-webhook-url https://hooks.slack.com/services/T0/B0/XXXX   # alert on failures
    #[command(verbatim_doc_comment)]
    Deploy(Box<cmd::deploy::DeployArgs>),

    /// Delete a deployment: its schedule, its state machine and its record.
    ///
    /// Running executions are not stopped. FLOW.py may be a deployment name as `ferry
    /// deployments` lists it.
    ///
    /// Examples:
    ///   ferry delete flow.py --branch feature_x
    ///   ferry delete fraud_model.test.feature_x.ScoreFlow
    #[command(verbatim_doc_comment)]
    #[command(mut_args(flow::flow_or_deployment))]
    Delete(cmd::deploy::DeleteArgs),

    /// Show a deployment: owner, namespace, token hint, schedule, parameters, versions.
    ///
    /// Example: `ferry describe flow.py --production`
    #[command(mut_args(flow::flow_or_deployment))]
    Describe(cmd::describe::DescribeArgs),

    /// List every deployment with its flow, project, branch, owner and schedule.
    ///
    /// Example: `ferry deployments --json`
    Deployments(cmd::describe::DeploymentsArgs),

    /// Run the embedded stack (metadata service, deploy handler, executor, schedules) in the
    /// foreground.
    Up(cmd::up::UpArgs),

    /// Start a run of a deployed flow, named by its flow file or its deployment name.
    #[command(mut_args(flow::flow_or_deployment))]
    Trigger(cmd::trigger::TriggerArgs),

    /// Resume a failed run where it failed (or from --step): a new run that clones the tasks
    /// before that point and runs the rest.
    ///
    /// Example: `ferry resume sfn-3f2c9a0e-8d61-4b7e-9a55-0c2d4e6f8a10 --step train`
    Resume(cmd::resume::ResumeArgs),

    /// List the runs of a deployed flow, named by its flow file or its deployment name.
    ///
    /// Examples:
    ///   ferry list-runs flow.py --failed
    ///   ferry list-runs fraud_model.prod.ScoreFlow --running
    #[command(verbatim_doc_comment)]
    #[command(mut_args(flow::flow_or_deployment))]
    ListRuns(cmd::runs::ListRunsArgs),

    /// Show the status of one run.
    Status(cmd::runs::StatusArgs),

    /// Print the logs of a run's tasks (embedded stack or AWS).
    ///
    /// Reads the Metaflow datastore, as `Task.stdout` does: the stack's datastore folder, or on
    /// AWS the configured S3 datastore root.
    Logs(cmd::logs::LogsArgs),

    /// Stop a running run.
    Terminate(cmd::runs::TerminateArgs),

    /// Publish an event, as Metaflow's `ArgoEvent(EVENT).publish(payload)` does: deployments
    /// whose `@trigger` waits for it start runs, their parameters from the payload. Prints the
    /// runs started (or why none).
    ///
    /// Example: `ferry publish data_ready --payload '{"date": "2026-12-01"}'`
    Publish(cmd::publish::PublishArgs),

    /// List the recent events and what each started: the run, the events still awaited, or
    /// why nothing started (embedded stack or AWS).
    ///
    /// Example: `ferry events --limit 5`
    Events(cmd::events::EventsArgs),

    /// Point ferry at a Ferry stack on AWS.
    Configure(cmd::configure::ConfigureArgs),

    /// Print the shell lines that point the metaflow client at the stack, for
    /// `eval "$(ferry env)"`: the embedded stack's METAFLOW_* variables, or on AWS the
    /// METAFLOW_PROFILE `ferry configure` wrote. Writes nothing.
    Env(cmd::env::EnvArgs),

    /// Predict what a run costs on AWS before deploying (compiled locally, no stack needed).
    ///
    /// Simulates the flow's state machine against AWS's published limits and latencies (Batch
    /// SubmitJob 50/s per account, Step Functions transition and start buckets, Fargate launch
    /// rate). Prints API calls, state transitions, time until every foreach task has started
    /// and until the run ends (p50/p90 of seeded runs) and the request cost, for the Map and
    /// the Batch array form side by side. See docs/aws-model.md.
    ///
    /// Examples:
    ///   ferry plan examples/foreach_flow.py --width 10000
    ///   ferry plan flow.py --width 100000 --foreach-mode array --compute ec2 --json
    ///   ferry plan flow.py --task-seconds 600 --trials 101 --seed 7
    #[command(verbatim_doc_comment)]
    Plan(cmd::plan::PlanArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            // `ferry trigger FLOW.py --help`: the flow's own parameters below the help.
            let argv: Vec<String> = std::env::args().collect();
            let _ = e.print();
            if let Some(section) = cmd::trigger::parameters_help(&argv).await {
                print!("{section}");
            }
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let json = std::env::args_os().skip(1).any(|a| a == "--json");
            return failure::report_clap(e, json);
        }
    };
    let json = cli.wants_json();
    let ctx = match Context::load(cli.home.clone(), cli.json) {
        Ok(c) => c,
        Err(e) => return failure::report(&e, json),
    };
    let outcome = match cli.command {
        Command::Spec(a) => cmd::spec::run(&ctx, a).await,
        Command::Deploy(a) => cmd::deploy::deploy(&ctx, *a).await,
        Command::Delete(a) => cmd::deploy::delete(&ctx, a).await,
        Command::Describe(a) => cmd::describe::describe(&ctx, a).await,
        Command::Deployments(a) => cmd::describe::deployments(&ctx, a).await,
        Command::Up(a) => cmd::up::run(&ctx, a).await,
        Command::Trigger(a) => cmd::trigger::run(&ctx, a).await,
        Command::Resume(a) => cmd::resume::run(&ctx, a).await,
        Command::ListRuns(a) => cmd::runs::list_runs(&ctx, a).await,
        Command::Status(a) => cmd::runs::status(&ctx, a).await,
        Command::Logs(a) => cmd::logs::run(&ctx, a).await,
        Command::Terminate(a) => cmd::runs::terminate(&ctx, a).await,
        Command::Publish(a) => cmd::publish::run(&ctx, a).await,
        Command::Events(a) => cmd::events::run(&ctx, a).await,
        Command::Configure(a) => cmd::configure::run(&ctx, a).await,
        Command::Env(a) => cmd::env::run(&ctx, a).await,
        Command::Plan(a) => cmd::plan::run(&ctx, a).await,
    };
    match outcome {
        Ok(code) => code,
        Err(e) => failure::report(&e, json),
    }
}

impl Cli {
    /// `--json`, also given among `ferry trigger`'s options after FLOW.py.
    fn wants_json(&self) -> bool {
        self.json
            || matches!(&self.command, Command::Trigger(a)
                if cmd::trigger::parse_options(&a.params)
                    .map_or_else(|_| a.params.iter().any(|p| p == "--json"), |o| o.json))
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`ferry deployments | head -1`) would
/// panic; restore the default so the process ends quietly, as command-line tools do.
fn restore_default_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL installs no
    // Rust code as a handler.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap's own consistency checks (positional order, trailing arguments, conflicts) over
    /// every command, as `ferry` runs them on first use in debug builds.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The commands that take a deployment name in place of the flow file say so, and
    /// `trigger`'s flow parameters stay its last positional.
    #[test]
    fn flow_or_deployment_positionals() {
        let cli = Cli::command();
        for name in ["describe", "delete", "trigger", "list-runs"] {
            let sub = cli.find_subcommand(name).unwrap();
            let flow = sub.get_arguments().find(|a| a.get_id() == "flow").unwrap();
            let value_names: Vec<&str> = flow
                .get_value_names()
                .unwrap()
                .iter()
                .map(|v| v.as_str())
                .collect();
            assert_eq!(value_names, ["FLOW.py|DEPLOYMENT"], "{name}");
        }
        let deploy = cli.find_subcommand("deploy").unwrap();
        let flow = deploy
            .get_arguments()
            .find(|a| a.get_id() == "flow")
            .unwrap();
        assert_eq!(flow.get_value_names().unwrap()[0].as_str(), "FLOW.py");
    }
}
