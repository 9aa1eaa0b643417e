//! The single-table layout: which item holds what, under which keys.
//!
//! Every object lives in one [`ferry_store::Table`]. Names inside keys are escaped (`%` → `%25`,
//! `#` → `%23`) so `#` always separates components; numbers are zero-padded so that sort-key
//! order is numeric order.
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | flow | `FLOWS` | `<flow>` | one partition lists every flow (`GET /flows`); flows are written once |
//! | run-number counter | `F#<flow>` | `RUNSEQ` | attribute `n`, `ADD 1` per run: per flow, so no global hot key |
//! | run | `F#<flow>` | `R#<run_number:019>` | `version` for optimistic tag mutation; `end_attempt_ok(_ts)`, `end_attempt_ts` for the status |
//! | run alias | `F#<flow>` | `RA#<run_id>` | `run_number`; written in the same transaction as the run, `NotExists` |
//! | run heartbeat | `HB#<flow>#<run_number>` | `R` | `ts` (seconds); its own partition, off the run's |
//! | run execution status | `F#<flow>` | `RX#<run_id>` | `status` (Step Functions' spelling), `state_machine`, `execution`: the status of the execution that is the run, for runs of Ferry deployments ([`crate::run_status`]); may exist before the run item |
//! | execution's flow | `XF#<state_machine>` | `<execution name>` | `flow`: which flow an execution's run belongs to, kept from its start event so its end finds the status item even when the deployment is gone |
//! | step | `R#<flow>#<run_number>` | `S#<step>` | `NotExists`: a duplicate is a 409 |
//! | task | `S#<flow>#<run_number>#<step>` | `T#<task_id:019>` | task ids come from [`crate::ids`] block allocation; `attempt(_ts)`, `attempt_ok(_ts)`: the latest attempt metadata, so listing a step's tasks tells their states |
//! | task alias | `S#<flow>#<run_number>#<step>` | `TA#<task_name>` | `task_id`; same transaction as the task |
//! | task heartbeat | `HB#<flow>#<run_number>#T<task_id>` | `T` | `ts` (seconds); one partition per task |
//! | metadata row | `T#<flow>#<run_number>#<task_id>` | `M#<ts_epoch:013>#<id:019>` | duplicates allowed; newest last |
//! | artifact | `T#<flow>#<run_number>#<task_id>` | `A#<attempt:05>#<name>` | `NotExists`: a re-post is skipped |
//! | id block counter | `SEQ#<kind>` | `SEQ` | attribute `n`; `ADD 100` hands a process 100 ids |
//!
//! Every object item carries `schema_version` ([`SCHEMA_VERSION`]); readers accept items
//! without it (version 0) and ignore attributes they do not know.

/// The schema version written on every object item.
pub const SCHEMA_VERSION: i64 = 1;

/// Escape a name for use inside a key.
pub fn esc(s: &str) -> String {
    if !s.contains(['%', '#']) {
        return s.to_string();
    }
    s.replace('%', "%25").replace('#', "%23")
}

/// Partition of all flows.
pub const FLOWS_PK: &str = "FLOWS";

/// Flow item keys.
pub fn flow(flow: &str) -> (String, String) {
    (FLOWS_PK.to_string(), esc(flow))
}

/// The partition holding a flow's runs, aliases and run counter.
pub fn flow_pk(flow: &str) -> String {
    format!("F#{}", esc(flow))
}

/// Sort key of the per-flow run counter.
pub const RUN_SEQ_SK: &str = "RUNSEQ";

/// Sort-key prefix of run items.
pub const RUN_PREFIX: &str = "R#";

/// Run item keys.
pub fn run(flow: &str, run_number: i64) -> (String, String) {
    (flow_pk(flow), format!("R#{run_number:019}"))
}

/// Run alias item keys.
pub fn run_alias(flow: &str, run_id: &str) -> (String, String) {
    (flow_pk(flow), format!("RA#{}", esc(run_id)))
}

/// Run heartbeat item keys.
pub fn run_heartbeat(flow: &str, run_number: i64) -> (String, String) {
    (format!("HB#{}#{run_number}", esc(flow)), "R".to_string())
}

/// Sort-key prefix of run execution status items.
pub const RUN_EXECUTION_PREFIX: &str = "RX#";

/// Run execution status item keys: by flow and run id (`sfn-<execution name>`), so the item
/// can be written before the run exists and read with the run.
pub fn run_execution(flow: &str, run_id: &str) -> (String, String) {
    (
        flow_pk(flow),
        format!("{RUN_EXECUTION_PREFIX}{}", esc(run_id)),
    )
}

/// Keys of the item naming the flow of `execution` of `state_machine`.
pub fn execution_flow(state_machine: &str, execution: &str) -> (String, String) {
    (format!("XF#{}", esc(state_machine)), esc(execution))
}

/// The partition holding a run's steps.
pub fn run_pk(flow: &str, run_number: i64) -> String {
    format!("R#{}#{run_number}", esc(flow))
}

/// Sort-key prefix of step items.
pub const STEP_PREFIX: &str = "S#";

/// Step item keys.
pub fn step(flow: &str, run_number: i64, step: &str) -> (String, String) {
    (run_pk(flow, run_number), format!("S#{}", esc(step)))
}

/// The partition holding a step's tasks and task aliases.
pub fn step_pk(flow: &str, run_number: i64, step: &str) -> String {
    format!("S#{}#{run_number}#{}", esc(flow), esc(step))
}

/// Sort-key prefix of task items.
pub const TASK_PREFIX: &str = "T#";

/// Task item keys.
pub fn task(flow: &str, run_number: i64, step: &str, task_id: i64) -> (String, String) {
    (step_pk(flow, run_number, step), format!("T#{task_id:019}"))
}

/// Task alias item keys.
pub fn task_alias(flow: &str, run_number: i64, step: &str, name: &str) -> (String, String) {
    (step_pk(flow, run_number, step), format!("TA#{}", esc(name)))
}

/// Task heartbeat item keys.
pub fn task_heartbeat(flow: &str, run_number: i64, task_id: i64) -> (String, String) {
    (
        format!("HB#{}#{run_number}#T{task_id}", esc(flow)),
        "T".to_string(),
    )
}

/// The partition holding a task's metadata rows and artifacts.
pub fn task_pk(flow: &str, run_number: i64, task_id: i64) -> String {
    format!("T#{}#{run_number}#{task_id}", esc(flow))
}

/// Sort-key prefix of metadata rows.
pub const METADATA_PREFIX: &str = "M#";

/// Metadata row sort key.
pub fn metadata_sk(ts_epoch: i64, id: i64) -> String {
    format!("M#{ts_epoch:013}#{id:019}")
}

/// Sort-key prefix of artifacts (all attempts).
pub const ARTIFACT_PREFIX: &str = "A#";

/// Sort-key prefix of one attempt's artifacts.
pub fn artifact_attempt_prefix(attempt: u32) -> String {
    format!("A#{attempt:05}#")
}

/// Artifact sort key.
pub fn artifact_sk(attempt: u32, name: &str) -> String {
    format!("A#{attempt:05}#{}", esc(name))
}

/// Id block counter keys.
pub fn seq(kind: &str) -> (String, String) {
    (format!("SEQ#{kind}"), "SEQ".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_components_apart() {
        assert_ne!(step_pk("x#5", 3, "s"), step_pk("x", 5, "3#s"));
        assert_eq!(esc("a%#b"), "a%25%23b");
        assert!(run("f", 2).1 < run("f", 10).1);
    }
}
