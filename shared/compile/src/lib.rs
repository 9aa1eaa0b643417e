//! Flow spec -> Amazon States Language, Batch job definitions, schedules; naming rules and production tokens.

pub mod naming;
pub mod token;
