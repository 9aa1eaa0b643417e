//! The embedded stack: a Step Functions state-machine executor, local process runner, schedule clock.
//!
//! - [`executor`]: runs an Amazon States Language definition locally ([`executor::Executor`]),
//!   with Task resources behind [`executor::TaskResources`] (Batch jobs through a
//!   [`executor::BatchRunner`], DynamoDB on a [`ferry_store::Table`], S3 on a
//!   [`ferry_store::Blobs`]).
//! - [`time`]: the time port the executor waits on ([`time::SystemTime`], [`time::ManualTime`]).
//! - [`clock`]: fires EventBridge-cron schedules (IANA time zones, DST as EventBridge Scheduler)
//!   on the time port.

// Embedded stack modules (runner, orchestrator, schedules, control, engine, stack): keep these lines.
pub mod clock;
pub mod control;
pub mod engine;
pub mod executor;
pub mod orchestrator;
pub mod runner;
pub mod schedules;
pub mod stack;
pub mod time;
