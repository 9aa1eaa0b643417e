//! Stable execution environments for `@pypi`/`@pypi_base` and `@conda`/`@conda_base` steps
//! (Metaflow's answer to "a library released a new version over the holiday"), see
//! `docs/environments.md`:
//!
//! - [`request`]: which environment each step of a flow asks for (flow-level base merged with
//!   the step's decorator, Metaflow's rules) and its identity.
//! - [`resolve`] (deploy side, on the deployer's machine): `uv pip compile` once per distinct
//!   environment and platform, then `pip download` of exactly the pinned wheels (hash-checked).
//! - [`lock`]: the lock document (per platform: name, version, filename, sha256, blob key) and
//!   the blob keys `envs/wheels/<sha256>/<filename>` and `envs/locks/<sha256>.json`.
//! - [`publish`]: resolve every environment of a flow, upload wheels and locks once, and return
//!   the per-step [`ferry_spec::task::PythonEnvRef`]s that go into the deploy request.
//! - [`install`] (run side, in the task wrapper): build the step's interpreter from the stored
//!   wheels only (no index, no resolver, every sha256 checked), cached on the host by lock hash.
//! - [`uv`]: finding `uv` for resolution, or installing a pinned one on first use.
//! - [`wheel`]: unpacking one wheel into an environment.

pub mod error;
pub mod install;
pub mod lock;
pub mod publish;
pub mod request;
pub mod resolve;
pub mod uv;
pub mod wheel;

pub use error::PyenvError;
pub use install::{InstallOptions, PreparedEnv, prepare_env};
pub use lock::{Lock, LockedWheel};
pub use publish::publish_flow_envs;
pub use request::{EnvRequest, StepEnv, step_environments};
pub use resolve::Resolver;

pub use ferry_spec::digest::sha256_hex;
