//! The Batch array-job form of a foreach (`docs/deploy.md`, "Foreach forms";
//! `docs/runtime-contract.md` §2).
//!
//! ```text
//! <foreach> (submitJob.sync) → <foreach>-chunks (dynamodb:getItem: the chunk list)
//!   → <foreach>-map (inline Map over the chunks; ResultPath null)
//!       <body 1> batch:submitJob      ArrayProperties.Size = chunk size   ResultPath $.Array
//!       <body 2> batch:submitJob      + DependsOn [{JobId: $.Array.JobId, Type: N_TO_N}]
//!       …
//!       <tail>   batch:submitJob.sync (the last body step; OutputPath null)
//!   → <join>
//! ```
//!
//! The foreach task writes `for_each_chunks` ([`ferry_spec::array_job::array_chunks`]) next to
//! its cardinality; each iteration's input is `{JobId, Parameters, Offset, Size, Count}` (the
//! foreach task's `JobId` and `Parameters`, the chunk's fields), and stays so: earlier body
//! states put their result in `$.Array`. Every child reads its split index as
//! `FERRY_ARRAY_OFFSET + AWS_BATCH_JOB_ARRAY_INDEX`; later body steps name their parent array
//! job (`FERRY_PARENT_ARRAY_JOB_ID`), and the wrapper adds the index.

use ferry_spec::FlowGraph;
use ferry_spec::array_job::{ATTR_CHUNKS, CHUNKS_ITEMS_PATH};
use ferry_spec::model::StepType;
use serde_json::{Value, json};

use crate::options::{CompileOptions, ForeachMode};

/// The body of foreach `foreach` (its steps in order, up to the join) when the array form can
/// express it: the foreach is inside no other foreach, and the body is a chain of plain
/// (linear) steps, so no split or foreach inside. `None` otherwise; [`array_body`] says why.
pub fn array_form_allowed(graph: &FlowGraph, foreach: &str) -> Option<Vec<String>> {
    array_body(graph, foreach).ok()
}

/// [`array_form_allowed`], with the reason when the array form cannot express the foreach:
/// `Err("it is inside the foreach outer")`, `Err("its body has the foreach inner")`, ...
pub fn array_body(graph: &FlowGraph, foreach: &str) -> Result<Vec<String>, String> {
    let Some(node) = graph.node(foreach).filter(|n| n.ty() == StepType::Foreach) else {
        return Err(format!("{foreach} is not a foreach step"));
    };
    if let Some(outer) = graph.enclosing_foreaches(foreach).first() {
        return Err(format!("it is inside the foreach {outer}"));
    }
    let Some(join) = node.matching_join.as_deref() else {
        return Err("it has no join".to_string());
    };
    let [first] = node.next() else {
        return Err("it fans out to more than one step".to_string());
    };
    let mut body = Vec::new();
    let mut cur = graph
        .node(first)
        .ok_or_else(|| format!("its body step {first} is missing"))?;
    loop {
        let name = cur.name();
        match cur.ty() {
            StepType::Linear if cur.in_funcs.len() == 1 => {}
            StepType::Foreach => return Err(format!("its body has the foreach {name}")),
            StepType::Split => return Err(format!("its body has the split {name}")),
            StepType::Join => return Err(format!("its body has the join {name}")),
            _ => return Err(format!("its body step {name} is not a plain step")),
        }
        body.push(name.to_string());
        let [next] = cur.next() else {
            return Err(format!("its body step {name} has more than one next step"));
        };
        if next == join {
            return Ok(body);
        }
        cur = graph
            .node(next)
            .ok_or_else(|| format!("its body step {next} is missing"))?;
    }
}

/// The foreach steps that get the array form under `options.foreach_mode`.
pub fn array_foreaches(graph: &FlowGraph, options: &CompileOptions) -> Vec<String> {
    if options.foreach_mode == ForeachMode::Map {
        return Vec::new();
    }
    graph
        .nodes()
        .filter(|n| n.ty() == StepType::Foreach)
        .filter(|n| array_form_allowed(graph, n.name()).is_some())
        .map(|n| n.name().to_string())
        .collect()
}

/// The `<foreach>-chunks` state: the chunk list the foreach task wrote, as JSON, at
/// `$.Foreach.Chunks`.
pub(super) fn chunks_state(o: &CompileOptions, next: &str) -> Value {
    json!({
        "Type": "Task",
        "Resource": format!("arn:{}:states:::dynamodb:getItem", o.partition),
        "Parameters": {
            "TableName": o.state_table_name,
            "Key": {"pk": {"S.$": "$.JobId"}, "sk": {"S": "foreach"}},
            "ConsistentRead": true,
            "ProjectionExpression": ATTR_CHUNKS,
        },
        "ResultSelector": {"Chunks.$": format!("States.StringToJson($.Item.{ATTR_CHUNKS}.S)")},
        "ResultPath": "$.Foreach",
        "Retry": [{
            "ErrorEquals": ["States.TaskFailed"],
            "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2,
            "MaxDelaySeconds": 30, "JitterStrategy": "FULL",
        }],
        "Next": next,
    })
}

/// The chunk Map: one inline iteration per chunk (at most ⌈items / 10,000⌉).
pub(super) fn chunk_map(
    body_start: &str,
    body: serde_json::Map<String, Value>,
    join: &str,
) -> Value {
    json!({
        "Type": "Map",
        "ItemsPath": CHUNKS_ITEMS_PATH,
        "ItemSelector": {
            "JobId.$": "$.JobId",
            "Parameters.$": "$.Parameters",
            "Offset.$": "$$.Map.Item.Value.Offset",
            "Size.$": "$$.Map.Item.Value.Size",
            "Count.$": "$$.Map.Item.Value.Count",
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": body_start,
            "States": body,
        },
        "ResultPath": null,
        "Next": join,
    })
}

/// Where an array-form body step sits.
#[derive(Debug, Clone)]
pub(super) struct ArrayRole {
    /// The first body step (its parent is the foreach task).
    pub first: bool,
    /// The last body step (`.sync`; the join waits for it).
    pub last: bool,
}
