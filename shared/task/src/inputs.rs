//! The step's input paths (Metaflow pathspecs `<run>/<step>/<task>`, comma-separated), written to
//! the file passed as `--input-paths-filename` so no argv limit applies (a foreach join over
//! thousands of parents included).

use ferry_spec::task::{StepInputs, TaskDescription};
use ferry_store::Table;

use crate::command::parameters_task_id;
use crate::env::{TaskEnv, validate_id};
use crate::error::TaskError;
use crate::fanout;

/// Build the comma-separated input paths of the task. A foreach join reads its parents from the
/// state table (`table` must then be `Some`).
pub async fn input_paths(
    desc: &TaskDescription,
    env: &TaskEnv,
    table: Option<&dyn Table>,
) -> Result<String, TaskError> {
    let run = env.run_id();
    let paths: Vec<String> = match &desc.inputs {
        StepInputs::Start => vec![format!(
            "{run}/_parameters/{}",
            parameters_task_id(&env.job_id)
        )],
        StepInputs::Parent { step } => {
            check_step(step)?;
            vec![format!("{run}/{step}/{}", env.parent_task_id()?)]
        }
        StepInputs::StaticJoin { steps } => {
            if steps.is_empty() {
                return Err(TaskError::Description(
                    "a static join with no parent steps".into(),
                ));
            }
            for step in steps {
                check_step(step)?;
            }
            if static_join_reads_table(desc, env) {
                // A wide split (> 56 branches): entry `<i>:<task id>` is the parent in `steps[i]`.
                let table = table.ok_or_else(|| {
                    TaskError::Inputs("a wide static join needs the state table".into())
                })?;
                let split_parent = env.split_parent_task_id()?;
                let ids =
                    fanout::join_parents(table, &split_parent, Some(steps.len() as u64)).await?;
                steps
                    .iter()
                    .zip(ids)
                    .map(|(step, id)| format!("{run}/{step}/{id}"))
                    .collect()
            } else {
                steps
                    .iter()
                    .enumerate()
                    .map(|(i, step)| Ok(format!("{run}/{step}/{}", env.static_parent_task_id(i)?)))
                    .collect::<Result<_, TaskError>>()?
            }
        }
        StepInputs::ForeachJoin { step } => {
            check_step(step)?;
            let table = table
                .ok_or_else(|| TaskError::Inputs("a foreach join needs the state table".into()))?;
            let split_parent = env.split_parent_task_id()?;
            fanout::join_parents(table, &split_parent, None)
                .await?
                .into_iter()
                .map(|id| format!("{run}/{step}/{id}"))
                .collect()
        }
        StepInputs::ExitHook => Vec::new(),
    };
    Ok(paths.join(","))
}

/// Whether a static join reads its parents from the state table: it has no
/// `FERRY_PARENT_0_TASK_ID` (a wide split, `docs/runtime-contract.md` §2).
pub fn static_join_reads_table(desc: &TaskDescription, env: &TaskEnv) -> bool {
    matches!(desc.inputs, StepInputs::StaticJoin { .. })
        && !env.has(&ferry_spec::task::env_parent_task_id(0))
}

/// A step name as it may appear in a pathspec: a Python identifier (`_parameters` included).
pub fn check_step(step: &str) -> Result<(), TaskError> {
    let ok = !step.is_empty()
        && step.len() <= 256
        && !step.starts_with(|c: char| c.is_ascii_digit())
        && step.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(TaskError::Description(format!(
            "{step:?} is not a valid step name"
        )))
    }
}

/// Parse one member of a join's parent set, `"<split index>:<task id>"`.
pub fn parse_parent_member(member: &str) -> Result<(u64, String), TaskError> {
    let bad = || {
        TaskError::Inputs(format!(
            "malformed parent set member {member:?} (expected <index>:<task id>)"
        ))
    };
    let (idx, id) = member.split_once(':').ok_or_else(bad)?;
    let idx: u64 = idx.parse().map_err(|_| bad())?;
    validate_id("a parent task id", id).map_err(|_| bad())?;
    Ok((idx, id.to_string()))
}
