//! The embedded stack: a Step Functions state-machine executor, local process runner, schedule clock.

pub mod orchestrator;
pub mod runner;
