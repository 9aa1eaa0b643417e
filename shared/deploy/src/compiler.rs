//! The seam between the deploy use case and `ferry-compile`: turn a validated spec, the chosen
//! names and token, and the installation's settings into what gets deployed.

use std::collections::BTreeMap;

use ferry_compile::naming::DeploymentNames;
use ferry_spec::{FlowGraph, FlowSpec};

use crate::ports::JobDefinitionSpec;
use crate::request::{BlobRef, DeployRequest};

/// What the compiler needs to know about the installation (placeholder until `ferry-compile`
/// exposes its options type).
#[derive(Debug, Clone, Default)]
pub struct CompileEnvironment {}

/// The schedule a compiled deployment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledSchedule {
    pub expression: String,
    pub timezone: Option<String>,
}

/// What gets deployed.
#[derive(Debug, Clone)]
pub struct CompiledDeployment {
    /// The Amazon States Language definition.
    pub definition: serde_json::Value,
    /// Task descriptions: (blob key `tasks/<sha256>.json`, JSON bytes).
    pub task_descriptions: Vec<(String, Vec<u8>)>,
    /// Batch job definitions the definition references.
    pub job_definitions: Vec<JobDefinitionSpec>,
    /// The schedule; `None`: no `@schedule`.
    pub schedule: Option<CompiledSchedule>,
    /// State machine tags.
    pub tags: BTreeMap<String, String>,
}

/// Compile. `Err(lines)`: the flow cannot be deployed, with what to do.
pub fn compile_deployment(
    _env: &CompileEnvironment,
    _spec: &FlowSpec,
    _graph: &FlowGraph,
    _names: &DeploymentNames,
    _request: &DeployRequest,
    _package: &BlobRef,
    _token: &str,
) -> Result<CompiledDeployment, Vec<String>> {
    Err(vec![
        "The compiler is not available in this build yet.".to_string(),
    ])
}
