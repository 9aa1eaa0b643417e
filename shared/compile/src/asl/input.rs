//! The shape of a Task state's input, which decides the JSONPaths it reads
//! (runtime contract §2, "What a Task state's input looks like").

use super::{PARAM_RUN_ID, param_split_index, param_split_parent};

/// The shape of a state's input, which decides the JSONPaths a Task reads.
#[derive(Debug, Clone, Copy)]
pub(super) enum Input<'a> {
    /// The execution input `{"Parameters": "<json>"}` (start).
    Execution,
    /// A Task output `{JobId, Parameters}`.
    Task,
    /// A Parallel output `[{JobId, Parameters}, ...]`.
    Branches,
    /// A Map item `{JobId, Parameters, Index}` of foreach `foreach`.
    MapItem { foreach: &'a str },
    /// The first state of a Parallel branch: the split task's `{JobId, Parameters}`.
    BranchStart { split: &'a str },
    /// A Map's input passed through: the foreach task's `{JobId, Parameters, ...}`.
    AfterMap,
    /// An array-form chunk `{JobId, Parameters, Offset, Size, Count[, Array]}` of foreach
    /// `foreach` (`JobId`, `Parameters`: the foreach task's; `Array`: the previous body
    /// step's array job).
    ArrayChunk { foreach: &'a str },
}

impl Input<'_> {
    fn params_base(&self) -> &'static str {
        match self {
            Input::Branches => "$[0].Parameters",
            _ => "$.Parameters",
        }
    }
    pub(super) fn run_id(&self) -> String {
        match self {
            Input::Execution => "$$.Execution.Name".to_string(),
            _ => format!("{}['{PARAM_RUN_ID}']", self.params_base()),
        }
    }
    pub(super) fn split_parent(&self, f: &str) -> String {
        match self {
            Input::MapItem { foreach } if *foreach == f => "$.JobId".to_string(),
            Input::BranchStart { split } if *split == f => "$.JobId".to_string(),
            Input::ArrayChunk { foreach } if *foreach == f => "$.JobId".to_string(),
            _ => format!("{}.{}", self.params_base(), param_split_parent(f)),
        }
    }
    pub(super) fn split_index(&self, f: &str) -> String {
        match self {
            Input::MapItem { foreach } if *foreach == f => "$.Index".to_string(),
            _ => format!("{}.{}", self.params_base(), param_split_index(f)),
        }
    }
}
