//! The task wrapper's integration tests, one binary.
//!
//! Each module is one former test file; run one with `cargo test -p task-wrapper --test it <module>::`.

mod aws;
mod common;
mod flows;
mod packages;
mod resume;
mod shipped_metaflow;
mod signals;
mod wide_join;
