//! Flow spec → Amazon States Language, Batch job definitions and a schedule; the naming rules
//! and the production-token algorithm.
//!
//! * [`compile`] (in [`asl`]): `FlowSpec` + `FlowGraph` + [`CompileOptions`] → [`Compiled`]
//!   (definition, content-addressed task descriptions, job definitions, schedule).
//! * [`naming`]: `@project` branches, deployment/state machine/schedule/job/state names.
//! * [`triggers`]: `@trigger`/`@trigger_on_finish` → the deployment's [`triggers::TriggerSpec`].
//! * [`event_rules`]: a `TriggerSpec` → the EventBridge rule (name, bus, event pattern).
//! * [`token`]: Metaflow-compatible production tokens.
//! * [`limits`]: the AWS limits and a definition checker.
//! * [`bootstrap`]: a wrapper command that fetches the task wrapper from S3 (hash-checked).
//!
//! The interface with the task wrapper and the executors is `docs/runtime-contract.md`.

pub mod asl;
pub mod bootstrap;
pub mod canonical;
pub mod event_rules;
pub mod limits;
pub mod naming;
pub mod options;
pub mod output;
pub mod schedule;
pub mod token;
pub mod triggers;

pub use asl::{array_body, array_foreaches, array_form_allowed, compile};
pub use options::{CompileOptions, ForeachMode, MapMode, Platform};
pub use output::{
    CompileError, Compiled, ForeachForm, JobDefinitionSpec, ScheduleSpec, TaskDescriptionBlob,
};
