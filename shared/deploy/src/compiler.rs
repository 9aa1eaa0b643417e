//! The seam between the deploy use case and `ferry-compile`: fill the installation's
//! [`CompileOptions`] template with what is specific to one deploy (names, token, owner,
//! package, options) and compile.

use std::collections::BTreeMap;

use ferry_compile::naming::DeploymentNames;
use ferry_compile::{CompileOptions, JobDefinitionSpec, compile};
use ferry_spec::task::{PackageRef, ProjectOptions};
use ferry_spec::{FlowGraph, FlowSpec};

use crate::request::{BlobRef, DeployRequest};

/// The installation's compile settings: a [`CompileOptions`] whose installation-wide fields
/// (blobs, state table, job queue, image, roles, wrapper command, python, metadata,
/// datastore, environment, map mode…) are set. The per-deploy fields are overwritten.
pub type CompileEnvironment = CompileOptions;

/// The schedule a compiled deployment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledSchedule {
    /// 6-field EventBridge cron expression, without the `cron(...)` wrapper.
    pub expression: String,
    /// IANA time zone.
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
    /// The compiler's warnings (steps asking for more than the embedded stack's machine has).
    pub warnings: Vec<String>,
    /// The form each foreach got (`Foreach fan: Batch array jobs (body: a).`), one line each.
    pub foreach_forms: Vec<String>,
}

/// The options of one deploy.
pub fn options_for(
    env: &CompileEnvironment,
    names: &DeploymentNames,
    request: &DeployRequest,
    package: &BlobRef,
    token: &str,
) -> CompileOptions {
    let o = &request.options;
    let mut opts = env.clone();
    opts.state_machine_name = names.state_machine.clone();
    opts.code_package = PackageRef {
        key: package.key.clone(),
        sha256: package.sha256.clone(),
    };
    opts.max_workers = o.max_workers.unwrap_or(crate::DEFAULT_MAX_WORKERS);
    // The embedded stack runs both forms, so every mode means the same on every target.
    opts.foreach_mode = o.foreach_mode;
    opts.workflow_timeout_seconds = o.workflow_timeout;
    opts.tags = o.tags.clone();
    opts.namespace = o.namespace.clone();
    opts.owner = request.user.clone();
    opts.python_envs = o.environments.clone();
    opts.production_token = token.to_string();
    opts.project = names.project.as_ref().map(|_| ProjectOptions {
        branch: o.branch.clone(),
        production: o.production,
    });
    opts
}

/// Compile. `Err(lines)`: the flow cannot be deployed, with what to do.
pub fn compile_deployment(
    env: &CompileEnvironment,
    spec: &FlowSpec,
    graph: &FlowGraph,
    names: &DeploymentNames,
    request: &DeployRequest,
    package: &BlobRef,
    token: &str,
) -> Result<CompiledDeployment, Vec<String>> {
    let opts = options_for(env, names, request, package, token);
    let compiled = compile(spec, graph, &opts).map_err(|e| {
        vec![
            format!("The flow {} cannot be compiled:", spec.flow),
            format!("    {e}"),
        ]
    })?;
    let schedule = compiled.schedule.as_ref().map(|s| CompiledSchedule {
        expression: s
            .expression
            .strip_prefix("cron(")
            .and_then(|x| x.strip_suffix(')'))
            .unwrap_or(&s.expression)
            .to_string(),
        timezone: Some(s.timezone.clone()),
    });
    let mut tags = BTreeMap::new();
    tags.insert("ferry:flow".to_string(), spec.flow.clone());
    tags.insert("ferry:owner".to_string(), request.user.clone());
    Ok(CompiledDeployment {
        definition: compiled.definition,
        task_descriptions: compiled
            .task_descriptions
            .into_iter()
            .map(|t| (t.key, t.bytes))
            .collect(),
        job_definitions: compiled.job_definitions,
        schedule,
        tags,
        foreach_forms: compiled
            .foreach_forms
            .iter()
            .map(|f| f.describe())
            .collect(),
        warnings: compiled.warnings,
    })
}

/// The deployment's trigger (`@trigger`/`@trigger_on_finish`), resolved for `names` on an
/// installation whose state machines carry `state_machine_prefix`. `Err(lines)`: it cannot be
/// deployed, with what to do.
pub fn compile_triggers(
    spec: &FlowSpec,
    names: &DeploymentNames,
    state_machine_prefix: Option<&str>,
) -> Result<Option<ferry_compile::triggers::TriggerSpec>, Vec<String>> {
    ferry_compile::triggers::compile_triggers(spec, names, state_machine_prefix).map_err(|e| {
        vec![
            format!("The flow {} cannot be deployed:", spec.flow),
            format!("    {e}"),
        ]
    })
}
