//! `task-wrapper run --task <URL>`: runs one attempt of one task (see `ferry_task` and
//! `docs/runtime-contract.md`). Exit code: the step's, or 101 for the wrapper's own failures.

use clap::{Parser, Subcommand};

/// Entrypoint of every Ferry task (AWS Batch job or local executor process).
#[derive(Parser)]
#[command(name = "task-wrapper", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one attempt of the task described at URL (s3://…, file:///… or an absolute path).
    Run {
        /// The content-addressed task description (`…/tasks/<sha256>.json`).
        #[arg(long = "task", value_name = "URL")]
        task: String,
    },
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            let _ = e.print();
            std::process::exit(0);
        }
        Err(e) => {
            let msg = e.to_string();
            let first = msg
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("bad arguments");
            eprintln!(
                "ferry task-wrapper: {}",
                first.trim_start_matches("error: ")
            );
            std::process::exit(ferry_task::EXIT_WRAPPER_FAILURE);
        }
    };
    let Command::Run { task } = cli.command;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferry task-wrapper: starting the runtime: {e}");
            std::process::exit(ferry_task::EXIT_WRAPPER_FAILURE);
        }
    };
    let code = runtime.block_on(ferry_task::run(ferry_task::Options::from_env(task)));
    // Exit without tearing the runtime down: its idle blocking threads would only delay the
    // exit (the logs are flushed and the step has ended by now).
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code);
}
