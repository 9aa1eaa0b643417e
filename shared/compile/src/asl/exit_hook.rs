//! `@exit_hook` in the compiled machine: the hook functions run once after the flow ends, as
//! their own Batch job, and never change how the run ends (`docs/notifications.md`).
//!
//! ```text
//!  every top-level state ──Catch States.ALL (ResultPath $: {Error, Cause})──▶ ExitHookOnError
//!  end ──Next──▶ ExitHookOnSuccess ──End                                          │ (ResultPath null)
//!                  └─Catch──▶ RunSucceeded (Succeed)                              ▼
//!                                                     RunFailed (Fail, ErrorPath $.Error, CausePath $.Cause)
//!                                                        ▲ Catch of ExitHookOnError (ResultPath $.ExitHookError)
//! ```
//!
//! A failure anywhere in the flow (a top-level Task, or a Parallel/Map whose branch failed)
//! goes to `ExitHookOnError`, which runs the `on_error` functions and then re-raises the
//! flow's own error and cause in `RunFailed`, so the run stays `FAILED` with the same error
//! whether the hook succeeds or fails. After `end` succeeds, `ExitHookOnSuccess` runs the
//! `on_success` functions; if it fails, `RunSucceeded` keeps the run `SUCCEEDED` (the hook's
//! error is in the output as `ExitHookError` and in the history). Without `on_error` functions
//! no Catch is added, without `on_success` functions `end` stays the last state. The start
//! state is unchanged, so readers of `States[StartAt].Parameters.Parameters` keep working.
//! An execution past its `TimeoutSeconds` or stopped (`ferry terminate`) ends at once, as
//! Step Functions ends it: no hook runs (the run's notifications cover those).

use ferry_spec::model::FlowSpec;
use ferry_spec::task::{
    self as td, Fanout, Retries, StepCommand, StepInputs, TASK_DESCRIPTION_VERSION, TaskDescription,
};
use serde_json::{Map, Value, json};

use super::PARAM_RUN_ID;
use crate::canonical::{compact_bytes, sha256_hex};
use crate::limits;
use crate::naming;
use crate::options::{CompileOptions, DEFAULT_ATTEMPT_TIMEOUT_SECONDS};
use crate::output::{CompileError, TaskDescriptionBlob};

/// The state running the `on_success` functions.
pub const ON_SUCCESS_STATE: &str = "ExitHookOnSuccess";
/// The state running the `on_error` functions.
pub const ON_ERROR_STATE: &str = "ExitHookOnError";
/// The `Fail` state re-raising the flow's error after the `on_error` hook.
pub const RUN_FAILED_STATE: &str = "RunFailed";
/// The `Succeed` state ending a successful run whose `on_success` hook failed.
pub const RUN_SUCCEEDED_STATE: &str = "RunSucceeded";
/// The step name of the hook task (its Batch `step_name` parameter and its log path
/// `<Flow>/sfn-<id>/_exit_hook/<job id>`); Metaflow's step names cannot start with `_`.
pub const EXIT_HOOK_STEP: &str = "_exit_hook";
/// Where a caught error lands in the state input of the hook that caught it.
const HOOK_ERROR_PATH: &str = "$.ExitHookError";

/// Add the exit hook states of `spec` to the top-level `states`. `job_definition` names the job
/// definition of (image, job role). Returns the hooks' task descriptions.
pub(super) fn add(
    spec: &FlowSpec,
    opts: &CompileOptions,
    start_resources: (String, Option<String>),
    mut job_definition: impl FnMut(String, Option<String>) -> String,
    states: &mut Map<String, Value>,
) -> Result<Vec<TaskDescriptionBlob>, CompileError> {
    let Some(hook) = &spec.decorators.exit_hook else {
        return Ok(Vec::new());
    };
    let image = hook.image.clone().unwrap_or(start_resources.0);
    let job_def = job_definition(image, start_resources.1);
    let mut blobs = Vec::new();
    if !hook.on_error.is_empty() {
        for state in states.values_mut() {
            let Some(s) = state.as_object_mut() else {
                continue;
            };
            if matches!(
                s.get("Type").and_then(Value::as_str),
                Some("Task" | "Parallel" | "Map")
            ) {
                s.insert(
                    "Catch".into(),
                    json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": ON_ERROR_STATE}]),
                );
            }
        }
        let (state, blob) = hook_task(
            spec,
            opts,
            &job_def,
            &hook.on_error,
            RUN_FAILED_STATE,
            false,
        )?;
        insert(states, ON_ERROR_STATE, state)?;
        insert(
            states,
            RUN_FAILED_STATE,
            json!({
                "Type": "Fail",
                "Comment": "The run failed: the flow's own error and cause, after the on_error exit hook.",
                "ErrorPath": "$.Error",
                "CausePath": "$.Cause",
            }),
        )?;
        blobs.push(blob);
    }
    if !hook.on_success.is_empty() {
        let end = naming::step_state_name("end");
        let last = states
            .get_mut(&end)
            .and_then(Value::as_object_mut)
            .filter(|s| s.get("End") == Some(&json!(true)))
            .ok_or_else(|| {
                CompileError::Graph("the end step is not the last top-level state".to_string())
            })?;
        last.remove("End");
        last.insert("Next".into(), json!(ON_SUCCESS_STATE));
        let (state, blob) = hook_task(
            spec,
            opts,
            &job_def,
            &hook.on_success,
            RUN_SUCCEEDED_STATE,
            true,
        )?;
        insert(states, ON_SUCCESS_STATE, state)?;
        insert(
            states,
            RUN_SUCCEEDED_STATE,
            json!({
                "Type": "Succeed",
                "Comment": "The run succeeded; its on_success exit hook failed (see ExitHookError).",
            }),
        )?;
        blobs.push(blob);
    }
    Ok(blobs)
}

fn insert(states: &mut Map<String, Value>, name: &str, state: Value) -> Result<(), CompileError> {
    naming::check_sfn_name(name)?;
    if states.insert(name.to_string(), state).is_some() {
        return Err(CompileError::Graph(format!("two states are named {name}")));
    }
    Ok(())
}

/// The Task state running `functions` and its task description. After the hook: `End` when
/// `last`, else `Next: after`; a failed hook goes to `after` too, with its error at
/// `$.ExitHookError`.
fn hook_task(
    spec: &FlowSpec,
    o: &CompileOptions,
    job_definition: &str,
    functions: &[String],
    after: &str,
    last: bool,
) -> Result<(Value, TaskDescriptionBlob), CompileError> {
    let description = TaskDescription {
        version: TASK_DESCRIPTION_VERSION,
        flow: spec.flow.clone(),
        step: EXIT_HOOK_STEP.to_string(),
        flow_file: spec.file.clone(),
        code_package: o.code_package.clone(),
        command: StepCommand::ExitHook {
            python: o.python.clone(),
            functions: functions.to_vec(),
        },
        environment: o.environment.clone(),
        retries: Retries {
            max_user_code_retries: 0,
            total_attempts: 1,
            minutes_between_retries: 0,
        },
        metadata: o.metadata.clone(),
        datastore: o.datastore.clone(),
        blobs: o.blobs.clone(),
        state_table: o.state_table.clone(),
        production_token: o.production_token.clone(),
        owner: o.owner.clone(),
        namespace: o.namespace.clone(),
        project: o.project.clone(),
        tags: o.tags.clone(),
        default_parameters: Default::default(),
        inputs: StepInputs::ExitHook,
        fanout: Fanout::default(),
        state_ttl_seconds: (366 + 90) * 24 * 3600,
        python_env: None,
    };
    let bytes = compact_bytes(&description).map_err(|e| CompileError::Graph(e.to_string()))?;
    let key = format!("tasks/{}.json", sha256_hex(&bytes));
    let mut command: Vec<Value> = o.wrapper_command.iter().map(|s| json!(s)).collect();
    command.extend([json!("run"), json!("--task"), json!(o.blob_url(&key))]);
    let overrides = json!({
        "Command": command,
        "Environment": [{"Name": td::ENV_RUN_ID, "Value.$": "$$.Execution.Name"}],
    });
    let chars = limits::overrides_upper_bound(&overrides);
    if chars > limits::MAX_OVERRIDES_CHARS {
        return Err(CompileError::OverridesTooLarge {
            step: EXIT_HOOK_STEP.to_string(),
            chars,
            limit: limits::MAX_OVERRIDES_CHARS,
        });
    }
    let mut submit = Map::new();
    submit.insert(
        "JobName".into(),
        json!(naming::batch_job_name(&spec.flow, "exit-hook")),
    );
    submit.insert("JobQueue".into(), json!(o.job_queue));
    submit.insert("JobDefinition".into(), json!(job_definition));
    submit.insert(
        "Parameters".into(),
        json!({"step_name": EXIT_HOOK_STEP, format!("{PARAM_RUN_ID}.$"): "$$.Execution.Name"}),
    );
    submit.insert("ContainerOverrides".into(), overrides);
    // Hooks run once (Argo Workflows does not retry them either).
    submit.insert("RetryStrategy".into(), json!({"Attempts": 1}));
    submit.insert(
        "Timeout".into(),
        json!({"AttemptDurationSeconds": DEFAULT_ATTEMPT_TIMEOUT_SECONDS}),
    );
    if !o.batch_tags.is_empty() {
        submit.insert("Tags".into(), json!(o.batch_tags));
        submit.insert("PropagateTags".into(), json!(true));
    }
    let mut state = Map::new();
    state.insert("Type".into(), json!("Task"));
    state.insert(
        "Resource".into(),
        json!(format!("arn:{}:states:::batch:submitJob.sync", o.partition)),
    );
    state.insert("Parameters".into(), Value::Object(submit));
    state.insert("ResultPath".into(), Value::Null);
    state.insert(
        "Retry".into(),
        json!([{
            "ErrorEquals": ["Batch.AWSBatchException"],
            "IntervalSeconds": 2, "MaxAttempts": 10, "BackoffRate": 2,
            "MaxDelaySeconds": 60, "JitterStrategy": "FULL",
        }]),
    );
    state.insert(
        "Catch".into(),
        json!([{"ErrorEquals": ["States.ALL"], "ResultPath": HOOK_ERROR_PATH, "Next": after}]),
    );
    if last {
        state.insert("End".into(), json!(true));
    } else {
        state.insert("Next".into(), json!(after));
    }
    Ok((
        Value::Object(state),
        TaskDescriptionBlob {
            step: EXIT_HOOK_STEP.to_string(),
            key,
            description,
            bytes,
        },
    ))
}
