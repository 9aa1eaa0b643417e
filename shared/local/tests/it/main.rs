//! The embedded stack's integration tests, one binary.
//!
//! Each module is one former test file; run one with `cargo test -p ferry-local --test it <module>::`.

mod array_jobs;
mod compiled_goldens;
mod control;
mod differential;
mod events;
mod executor;
mod exit_hook;
mod map_scale;
mod orchestrator;
mod runner;
