//! Checks of the options and the spec before compiling: every refusal a user can hit.

use std::collections::HashSet;

use ferry_spec::FlowGraph;
use ferry_spec::model::{FlowSpec, Step, StepType};
use ferry_spec::task as td;

use crate::options::{CompileOptions, Platform};
use crate::output::CompileError;
use crate::{limits, naming};

/// Batch attempts `@catch` adds (Metaflow's `NUM_FALLBACK_RETRIES`).
const CATCH_ERROR_RETRIES: u32 = 3;
/// Batch allows at most 10 attempts.
const MAX_BATCH_ATTEMPTS: u32 = 10;
/// Batch's minimum attempt timeout.
const MIN_TIMEOUT_SECONDS: u64 = 60;

fn opt_err(option: &'static str, why: impl Into<String>) -> CompileError {
    CompileError::Option {
        option,
        why: why.into(),
    }
}

pub(super) fn check_options(o: &CompileOptions) -> Result<(), CompileError> {
    naming::check_sfn_name(&o.state_machine_name)?;
    let required = [
        ("state_table_name", &o.state_table_name),
        ("job_queue", &o.job_queue),
        ("default_image", &o.default_image),
        ("owner", &o.owner),
        ("production_token", &o.production_token),
        ("code_package.key", &o.code_package.key),
        ("python", &o.python),
    ];
    for (name, value) in required {
        if value.trim().is_empty() {
            return Err(opt_err(name, "is required"));
        }
    }
    if !matches!(
        o.partition.as_str(),
        "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b"
    ) {
        return Err(opt_err(
            "partition",
            format!("unknown partition {:?}", o.partition),
        ));
    }
    match &o.blobs {
        td::BlobStoreRef::S3 { bucket, prefix } => {
            if bucket.is_empty()
                || !bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            {
                return Err(opt_err(
                    "blobs.bucket",
                    format!("{bucket:?} is not an S3 bucket name"),
                ));
            }
            if !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b))
            {
                return Err(opt_err(
                    "blobs.prefix",
                    "may only contain letters, digits and / _ . -",
                ));
            }
        }
        td::BlobStoreRef::Dir { path } => {
            if path.is_empty()
                || path.contains(['\'', '{', '}', '\\'])
                || path.chars().any(char::is_control)
            {
                return Err(opt_err("blobs.path", "must be a plain directory path"));
            }
        }
    }
    if o.wrapper_command.is_empty() || o.wrapper_command.iter().any(|a| a.is_empty()) {
        return Err(opt_err(
            "wrapper_command",
            "needs at least the wrapper executable",
        ));
    }
    if o.max_workers == 0 {
        return Err(opt_err("max_workers", "must be at least 1"));
    }
    if let Some(t) = o.workflow_timeout_seconds
        && !(1..=limits::MAX_WORKFLOW_TIMEOUT_SECONDS).contains(&t)
    {
        return Err(opt_err(
            "workflow_timeout_seconds",
            format!(
                "--workflow-timeout {t} is out of range: AWS Step Functions allows 1 to {} seconds (one year)",
                limits::MAX_WORKFLOW_TIMEOUT_SECONDS
            ),
        ));
    }
    check_tags(o)?;
    if o.production_token.contains(char::is_whitespace) {
        return Err(opt_err("production_token", "must not contain whitespace"));
    }
    Ok(())
}

/// Run tags (Metaflow's limits) and the values that become AWS resource tags (AWS's limits).
fn check_tags(o: &CompileOptions) -> Result<(), CompileError> {
    if o.tags.len() > limits::MAX_TAGS {
        return Err(opt_err(
            "tags",
            format!(
                "{} --tag values given; Metaflow allows at most {} tags on a run: drop some",
                o.tags.len(),
                limits::MAX_TAGS
            ),
        ));
    }
    for t in &o.tags {
        let chars = t.chars().count();
        if chars == 0 || chars > limits::MAX_TAG_CHARS {
            let shown: String = t.chars().take(40).collect();
            return Err(opt_err(
                "tags",
                format!(
                    "--tag {shown:?}{} is {chars} characters; Metaflow tags are 1 to {} characters: shorten it",
                    if chars > 40 { "…" } else { "" },
                    limits::MAX_TAG_CHARS
                ),
            ));
        }
    }
    // The owner becomes the state machine tag `ferry:owner`.
    if o.owner.chars().count() > limits::MAX_AWS_TAG_VALUE_CHARS {
        return Err(opt_err(
            "owner",
            format!(
                "the user name is {} characters; it is stored as an AWS tag value, which allows {}: set a shorter METAFLOW_USER",
                o.owner.chars().count(),
                limits::MAX_AWS_TAG_VALUE_CHARS
            ),
        ));
    }
    for (k, v) in &o.batch_tags {
        if k.is_empty() || k.chars().count() > limits::MAX_AWS_TAG_KEY_CHARS {
            return Err(opt_err(
                "batch_tags",
                format!(
                    "the Batch job tag key {k:?} must be 1 to {} characters: change the stack's batch tags",
                    limits::MAX_AWS_TAG_KEY_CHARS
                ),
            ));
        }
        if v.chars().count() > limits::MAX_AWS_TAG_VALUE_CHARS {
            return Err(opt_err(
                "batch_tags",
                format!(
                    "the value of the Batch job tag {k:?} is {} characters; AWS allows {}: change the stack's batch tags",
                    v.chars().count(),
                    limits::MAX_AWS_TAG_VALUE_CHARS
                ),
            ));
        }
    }
    Ok(())
}

/// The vCPUs, memory and GPUs of every step against AWS Batch's bounds, and on Fargate against
/// its task sizes, with the decorator to change.
pub(super) fn check_resources(spec: &FlowSpec, o: &CompileOptions) -> Result<(), CompileError> {
    if spec.flow.chars().count() > limits::MAX_AWS_TAG_VALUE_CHARS {
        return Err(CompileError::Unsupported(format!(
            "The flow class name is {} characters; it is stored as an AWS tag value, which allows {}: rename the class",
            spec.flow.chars().count(),
            limits::MAX_AWS_TAG_VALUE_CHARS
        )));
    }
    for step in &spec.steps {
        let serr = |why: String| CompileError::Step {
            step: step.name.clone(),
            why,
        };
        let d = &step.decorators;
        let given = [
            (
                "@resources",
                d.resources.as_ref().map(|r| (r.cpu, r.memory, r.gpu)),
            ),
            ("@batch", d.batch.as_ref().map(|b| (b.cpu, b.memory, b.gpu))),
        ];
        for (deco, values) in given {
            let Some((cpu, memory, gpu)) = values else {
                continue;
            };
            if let Some(c) = cpu
                && c > limits::MAX_VCPUS
            {
                return Err(serr(format!(
                    "{deco}(cpu={c}) asks for more vCPUs than any AWS Batch instance has (at most {}): lower cpu=",
                    limits::MAX_VCPUS
                )));
            }
            if let Some(m) = memory {
                if m < limits::MIN_MEMORY_MIB {
                    return Err(serr(format!(
                        "{deco}(memory={m}) is below AWS Batch's minimum of {} MiB: memory= is in MiB, e.g. memory=4096",
                        limits::MIN_MEMORY_MIB
                    )));
                }
                if m > limits::MAX_MEMORY_MIB {
                    return Err(serr(format!(
                        "{deco}(memory={m}) is more than any AWS Batch instance has (at most {} MiB): memory= is in MiB, e.g. memory=16384 for 16 GiB",
                        limits::MAX_MEMORY_MIB
                    )));
                }
            }
            if let Some(g) = gpu
                && g > limits::MAX_GPUS
            {
                return Err(serr(format!(
                    "{deco}(gpu={g}) asks for more GPUs than any AWS Batch instance has (at most {}): lower gpu=",
                    limits::MAX_GPUS
                )));
            }
        }
        if o.platform == Platform::Fargate {
            let (_, _, cpu, memory, gpu, _) = super::walk::resources(step, o);
            if let Some(why) = limits::fargate_gpu_problem(gpu) {
                return Err(serr(why));
            }
            if let Some(why) = limits::fargate_size_problem(cpu, memory) {
                return Err(serr(format!("{why} (in @resources or @batch)")));
            }
        }
    }
    Ok(())
}

/// The deploy-time warnings of a deployment to one machine (`o.machine`, the embedded stack):
/// a step asking for more memory than the machine has or for GPUs it lacks runs there anyway,
/// unlike on AWS; and job memory may not be enforced. Empty without `o.machine`.
pub(super) fn machine_warnings(spec: &FlowSpec, o: &CompileOptions) -> Vec<String> {
    let Some(m) = &o.machine else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    for step in &spec.steps {
        let d = &step.decorators;
        let r = d.resources.clone().unwrap_or_default();
        let b = d.batch.clone().unwrap_or_default();
        let asked = [r.memory, b.memory].into_iter().flatten().max();
        if let Some(memory) = asked
            && memory > m.memory_mib
        {
            warnings.push(format!(
                "Step *{}* asks for {memory} MiB of memory, more than this machine has ({} MiB): it runs here but cannot get that much. The largest memory= this machine can give is {}.",
                step.name, m.memory_mib, m.memory_mib
            ));
        }
        let (_, _, _, _, gpu, _) = super::walk::resources(step, o);
        if gpu > m.gpus {
            let has = match m.gpus {
                0 => "none".to_string(),
                n => n.to_string(),
            };
            warnings.push(format!(
                "Step *{}* asks for {gpu} GPU(s) (gpu={gpu}); this machine has {has}, so the step runs here without them.",
                step.name
            ));
        }
    }
    if let Some(why) = &m.memory_not_enforced {
        warnings.push(format!(
            "Memory limits are not enforced on this machine ({why}): a step that uses more than its memory= (4096 MiB without @resources) runs here but is killed on AWS Batch."
        ));
    }
    warnings
}

fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

pub(super) fn check_spec(spec: &FlowSpec, graph: &FlowGraph) -> Result<(), CompileError> {
    if let Some(d) = spec.decorators.unsupported.first() {
        return Err(CompileError::Unsupported(format!(
            "Deploying flows with the @{d} flow decorator is not supported by Ferry. Remove it to deploy."
        )));
    }
    if graph.len() != spec.steps.len() {
        return Err(CompileError::Graph(
            "the graph and the spec have different steps".to_string(),
        ));
    }
    let mut seen = HashSet::new();
    for p in &spec.parameters {
        if !seen.insert(p.name.to_lowercase()) {
            return Err(CompileError::Parameter(format!(
                "Parameter *{}* is specified twice. Note that parameter names are case-insensitive.",
                p.name
            )));
        }
    }
    for step in &spec.steps {
        let Some(node) = graph.node(&step.name) else {
            return Err(CompileError::Graph(format!(
                "step {} is not in the graph",
                step.name
            )));
        };
        if node.step.ty != step.ty || node.step.next != step.next {
            return Err(CompileError::Graph(format!(
                "step {} differs from the graph",
                step.name
            )));
        }
        let s = &step.name;
        let serr = |why: String| CompileError::Step {
            step: s.clone(),
            why,
        };
        if !is_identifier(s) {
            return Err(serr("step names must be Python identifiers".to_string()));
        }
        if step.ty == StepType::Switch {
            return Err(CompileError::Unsupported(format!(
                "Step *{s}* is a switch; deploying flows with switch statements is not supported."
            )));
        }
        if step.num_parallel.is_some() {
            return Err(CompileError::Unsupported(format!(
                "Step *{s}* uses @parallel; deploying flows with @parallel is not supported."
            )));
        }
        let d = &step.decorators;
        if let Some(u) = d.unsupported.first() {
            return Err(CompileError::Unsupported(format!(
                "Step *{s}* uses @{u}, which Ferry cannot deploy. Remove it to deploy."
            )));
        }
        if step.ty == StepType::Foreach && d.catch.is_some() {
            return Err(serr("@catch is not supported on a foreach step; put it on the steps of the foreach body".to_string()));
        }
        if let Some(t) = &d.timeout
            && t.seconds < MIN_TIMEOUT_SECONDS
        {
            return Err(serr(format!(
                "the timeout should be at least {MIN_TIMEOUT_SECONDS} seconds for execution on AWS Batch (got {})",
                t.seconds
            )));
        }
        if attempts(step) > MAX_BATCH_ATTEMPTS {
            return Err(serr(format!(
                "@retry and @catch ask for {} attempts; AWS Batch allows at most {MAX_BATCH_ATTEMPTS}. Lower @retry(times=...).",
                attempts(step)
            )));
        }
        if let Some(env) = &d.environment {
            for k in env.vars.keys() {
                if !is_identifier(k) || k.starts_with("FERRY_") || k.starts_with("AWS_BATCH_") {
                    return Err(serr(format!(
                        "@environment variable {k:?} is not allowed: use letters, digits and _, and no FERRY_ or AWS_BATCH_ prefix"
                    )));
                }
            }
        }
        for (cpu, what) in [
            (d.resources.as_ref().and_then(|r| r.cpu), "@resources(cpu)"),
            (d.batch.as_ref().and_then(|r| r.cpu), "@batch(cpu)"),
        ] {
            if let Some(c) = cpu
                && !(c.is_finite() && c > 0.0)
            {
                return Err(serr(format!("{what} must be a positive number")));
            }
        }
        if let Some(argv) = &step.command
            && argv.is_empty()
        {
            return Err(serr(
                "a generic command needs at least one argument".to_string(),
            ));
        }
    }
    Ok(())
}

/// Batch attempts of a step: `@retry(times)` + 3 for `@catch` + 1.
pub(super) fn attempts(step: &Step) -> u32 {
    let d = &step.decorators;
    let user = d.retry.as_ref().map_or(0, |r| r.times);
    let error = if d.catch.is_some() {
        CATCH_ERROR_RETRIES
    } else {
        0
    };
    user.saturating_add(error).saturating_add(1)
}
