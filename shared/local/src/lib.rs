//! The embedded stack: a Step Functions state-machine executor, local process runner, schedules,
//! and the control plane's in-process and HTTP adapters.
//!
//! - [`orchestrator`]: [`ferry_control::StateMachines`] and [`ferry_control::Executions`]
//!   in-process ([`orchestrator::LocalOrchestrator`]), which dispatches the lifecycle events.
//! - [`control`]: the stack's control API (`/ferry/v1`): the server and its client
//!   ([`control::ControlClient`], [`ferry_control::Executions`] over HTTP).
//! - [`events`]: event-started runs on the stack: the publish route (`POST /ferry/v1/events`)
//!   and the `@trigger_on_finish` listener, over the one `ferry_events::Engine`.
//! - [`batch`]: the process runner as the executor's Batch resource.
//! - [`executor`]: runs an Amazon States Language definition locally ([`executor::Executor`]),
//!   with Task resources behind [`executor::TaskResources`] (Batch jobs through a
//!   [`executor::BatchRunner`], DynamoDB on a [`ferry_store::Table`], S3 on a
//!   [`ferry_store::Blobs`]).
//! - [`run_log`]: the stack's log line per run start and end (a lifecycle listener).
//! - [`time`]: the time port the executor waits on ([`time::SystemTime`], [`time::ManualTime`]).
//! - [`schedules`]: `@schedule` on the embedded stack: stored schedules fired on EventBridge-cron
//!   times (IANA time zones, DST as EventBridge Scheduler).

// Embedded stack modules (runner, orchestrator, schedules, control, batch, stack): keep these lines.
pub mod batch;
pub mod control;
pub mod events;
pub mod executor;
pub mod home;
pub mod memory;
pub mod orchestrator;
pub mod run_log;
pub mod runner;
pub mod schedules;
pub mod secrets;
pub mod stack;
pub mod time;
