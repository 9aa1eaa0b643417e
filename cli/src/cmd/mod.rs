//! One module per command (or family of commands). Each exposes a clap `Args` struct and
//! `pub async fn run(ctx: &Context, args: …) -> anyhow::Result<ExitCode>`; `main.rs` holds the
//! top-level command enum and dispatches. No command module imports another: what several
//! share lives beside them, named for it (`crate::flow`: the flow selector and `resolve()`;
//! `crate::control`: the control plane of the run commands; `crate::submit`, `crate::package`,
//! `crate::tokens`).
//!
//! | module | commands | owner |
//! |---|---|---|
//! | `spec` | `ferry spec` | deploy |
//! | `deploy` | `ferry deploy`, `ferry delete` | deploy |
//! | `describe` | `ferry describe`, `ferry deployments` | deploy |
//! | `up` | `ferry up` | embedded stack |
//! | `trigger` | `ferry trigger` | embedded stack |
//! | `resume` | `ferry resume` | embedded stack |
//! | `runs` | `ferry list-runs`, `ferry status`, `ferry terminate` | embedded stack |
//! | `logs` | `ferry logs` | embedded stack |
//! | `publish` | `ferry publish` | embedded stack (events) |
//! | `events` | `ferry events` | both targets (events) |
//! | `configure` | `ferry configure` | AWS |
//! | `env` | `ferry env` | both targets |
//! | `plan` | `ferry plan` | AWS model |

pub mod configure;
pub mod deploy;
pub mod describe;
pub mod env;
pub mod events;
pub mod logs;
pub mod plan;
pub mod publish;
pub mod resume;
pub mod runs;
pub mod spec;
pub mod trigger;
pub mod up;
