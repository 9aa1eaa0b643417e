//! The embedded stack: a Step Functions state-machine executor, local process runner, schedules.
//!
//! - [`executor`]: runs an Amazon States Language definition locally ([`executor::Executor`]),
//!   with Task resources behind [`executor::TaskResources`] (Batch jobs through a
//!   [`executor::BatchRunner`], DynamoDB on a [`ferry_store::Table`], S3 on a
//!   [`ferry_store::Blobs`]).
//! - [`time`]: the time port the executor waits on ([`time::SystemTime`], [`time::ManualTime`]).
//! - [`schedules`]: `@schedule` on the embedded stack: stored schedules fired on EventBridge-cron
//!   times (IANA time zones, DST as EventBridge Scheduler).

// Embedded stack modules (runner, orchestrator, schedules, control, engine, stack): keep these lines.
pub mod control;
pub mod engine;
pub mod executor;
pub mod memory;
pub mod orchestrator;
pub mod runner;
pub mod schedules;
pub mod secrets;
pub mod stack;
pub mod time;
