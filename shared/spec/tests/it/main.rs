//! The flow spec's integration tests, one binary.
//!
//! Each module is one former test file; run one with `cargo test -p ferry-spec --test it <module>::`.

mod examples_run;
mod export;
mod never_panics;
mod schema;
mod validate_rules;
