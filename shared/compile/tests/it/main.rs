//! The compiler's integration tests, one binary.
//!
//! Each module is one former test file; run one with `cargo test -p ferry-compile --test it <module>::`.

mod array_form;
mod bootstrap;
mod bootstrap_limits;
mod bounds;
mod common;
mod compile;
mod event_rules;
mod examples;
mod golden;
mod limits_proptest;
mod tokens;
