//! The CLI's integration tests, one binary (one link of the AWS SDK instead of one per file).
//!
//! Each module is one former test file; run one with `cargo test -p ferry-cli --test it <module>::`.

mod aws_events;
mod aws_logs;
mod aws_publish;
mod aws_runs;
mod aws_target;
mod cli_shapes;
mod common;
mod configure;
mod deploy;
mod env;
mod plan;
mod run_status;
mod up_log;
mod usability;
