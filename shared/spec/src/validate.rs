//! Deploy-time validation of a [`FlowSpec`]: every rule that Metaflow's lint, its Step
//! Functions compiler and AWS itself would enforce, checked up front with one message per
//! problem that names the step and says what to do.
//!
//! [`validate`] collects every error (not just the first) and returns the derived
//! [`FlowGraph`] when there is none. Graph rules come from [`crate::graph`]; the rest are here:
//! names AWS would refuse (Step Functions state/state machine names: ≤ 80 characters, none of
//! its forbidden characters; Batch job names: ≤ 128 characters of `[A-Za-z0-9_-]`), schedules
//! (EventBridge 6-field cron via [`crate::aws_cron`], IANA time zones), parameters, decorator
//! limits (`@timeout` ≥ 60 s, `@retry(times)` ≤ 4, no `@catch` on a foreach), `@project`
//! names (contract `metaflow-sfn.md` §6), `@trigger`/`@trigger_on_finish`
//! ([`crate::trigger_rules`]), and features Ferry cannot deploy.

use std::collections::BTreeMap;
use std::fmt;

use crate::aws_cron::{self, CronError};
use crate::graph::{FlowGraph, GraphError};
use crate::model::{FlowSpec, MIN_SPEC_VERSION, ParamType, SPEC_VERSION, ScheduleKind, StepType};
use crate::trigger_rules::{TriggerError, check_triggers};

/// Longest Step Functions state / state machine name.
pub const MAX_SFN_NAME: usize = 80;
/// Longest AWS Batch job name.
pub const MAX_BATCH_JOB_NAME: usize = 128;
/// Shortest `@timeout` AWS Batch accepts (`AttemptDurationSeconds`), in seconds.
pub const MIN_TIMEOUT_SECONDS: u64 = 60;
/// Largest `@retry(times=...)`: Metaflow's `MAX_ATTEMPTS` (6) minus the first attempt and the
/// `@catch` fallback.
pub const MAX_RETRIES: u32 = 4;
/// Longest `@project` name or branch (Metaflow's `VALID_NAME_LEN`).
pub const MAX_PROJECT_NAME: usize = 128;
/// Extra characters the compiler adds to a step name in a state name (`*<step>`, `#<step>`).
pub const STATE_NAME_PREFIX: usize = 1;
/// Characters Metaflow puts around flow and step in a Batch job name: `SFN-<flow>--<step>--`.
pub const BATCH_JOB_NAME_OVERHEAD: usize = "SFN---".len() + "--".len();

/// Step names Metaflow reserves (attributes of every flow).
pub const RESERVED_STEP_NAMES: &[&str] = &["name", "next", "input", "index", "cmd"];

/// Parameter names Metaflow reserves for its own command-line options.
pub const RESERVED_PARAMETER_NAMES: &[&str] = &[
    "params",
    "with",
    "tag",
    "namespace",
    "obj",
    "tags",
    "decospecs",
    "run-id-file",
    "max-num-splits",
    "max-workers",
    "max-log-size",
    "user-namespace",
    "run-id",
    "task-id",
    "runner-attribute-file",
];

/// Parameter names that `ferry trigger` reads as its own options (`--home`, `--json`, `--branch`,
/// `--flow`, `--production`, `--help`), so a flow parameter of that name could never be set.
pub const FERRY_TRIGGER_OPTIONS: &[&str] =
    &["home", "json", "branch", "flow", "production", "help"];

/// One problem with a flow. `Display` is the message a user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A graph rule (see [`GraphError`]).
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// `spec_version` is not one this crate reads.
    #[error(
        "This spec has spec_version {found}, but this Ferry reads versions {MIN_SPEC_VERSION} to {SPEC_VERSION}. Export the flow again with this Ferry (ferry spec FLOW.py)."
    )]
    SpecVersion { found: u32 },
    /// A spec that uses what its `spec_version` cannot express (e.g. triggers in version 1).
    #[error(
        "This spec has spec_version {found} but uses @trigger or @trigger_on_finish, which need version {needed}. Export the flow again with this Ferry (ferry spec FLOW.py)."
    )]
    SpecVersionTooLow { found: u32, needed: u32 },
    /// A `@trigger` / `@trigger_on_finish` rule (see [`TriggerError`]).
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    /// A flow name AWS would refuse.
    #[error("The flow name *{name}* cannot be deployed: {reason}. Rename the flow class.")]
    FlowName { name: String, reason: String },
    /// A step name AWS or Metaflow would refuse.
    #[error("Step *{step}* has a name that cannot be deployed: {reason}. Rename the step.")]
    StepName { step: String, reason: String },
    /// `@schedule(cron=...)` that EventBridge would refuse.
    #[error("The @schedule cron of this flow is not valid: {source}.")]
    Cron {
        #[source]
        source: CronError,
    },
    /// `@schedule(timezone=...)` that is not an IANA zone.
    #[error(
        "The @schedule timezone {tz:?} is unknown. Use an IANA time zone name such as \"Europe/Paris\" or \"America/New_York\"."
    )]
    Timezone { tz: String },
    /// A required parameter without a default on a scheduled flow (Metaflow's message).
    #[error(
        "The parameter *{name}* does not have a default and is required. Scheduling such parameters via AWS Event Bridge is not currently supported. Give it a default or remove @schedule."
    )]
    RequiredParameterScheduled { name: String },
    /// Two parameters whose names differ only in case (Metaflow's message).
    #[error(
        "Parameter *{name}* is specified twice. Note that parameter names are case-insensitive."
    )]
    DuplicateParameter { name: String },
    /// A parameter name that Metaflow reserves or that is not a valid option name.
    #[error("Parameter *{name}* cannot be used: {reason}. Rename the parameter.")]
    ParameterName { name: String, reason: String },
    /// A parameter default of the wrong JSON type.
    #[error(
        "Parameter *{name}* is of type {ty} but its default {default} is not. Change the default or the type."
    )]
    ParameterDefault {
        name: String,
        ty: String,
        default: String,
    },
    /// `@timeout` shorter than Batch accepts (Metaflow's message).
    #[error(
        "The timeout for step *{step}* should be at least 60 seconds for execution on AWS Batch (it is {seconds} s). Raise @timeout to 60 seconds or more."
    )]
    TimeoutTooShort { step: String, seconds: u64 },
    /// `@retry(times)` above the limit.
    #[error(
        "Step *{step}* has @retry(times={times}); the maximum number of retries is @retry(times={MAX_RETRIES})."
    )]
    TooManyRetries { step: String, times: u32 },
    /// `@catch` on a foreach step.
    #[error(
        "@catch is defined for the step *{step}* but @catch is not supported for foreach branches. Move @catch to the steps inside the foreach, or remove it."
    )]
    CatchOnForeach { step: String },
    /// `@parallel` (a foreach with `num_parallel`).
    #[error(
        "Step *{step}* fans out with num_parallel (@parallel). Ferry cannot deploy @parallel steps to Step Functions; use a foreach over a list instead."
    )]
    Parallel { step: String },
    /// A step decorator Ferry cannot deploy.
    #[error(
        "Step *{step}* uses @{decorator}, which Ferry cannot deploy to Step Functions. Remove it (use @batch or @resources for compute)."
    )]
    UnsupportedStepDecorator { step: String, decorator: String },
    /// A flow decorator Ferry cannot deploy.
    #[error("The flow uses @{decorator}: {hint}")]
    UnsupportedFlowDecorator { decorator: String, hint: String },
    /// A `command` step with an empty argv.
    #[error("Step *{step}* has an empty command. Give the program to run and its arguments.")]
    EmptyCommand { step: String },
    /// An `@environment` variable name that is not a valid name.
    #[error(
        "Step *{step}* sets the environment variable {name:?} in @environment; names must be letters, digits and _ and not start with a digit."
    )]
    EnvironmentName { step: String, name: String },
    /// A bad `@project` name or branch (Metaflow's messages).
    #[error("{message}")]
    Project { message: String },
    /// An `@exit_hook` that names no function, or a function name that is not a Python name.
    #[error("@exit_hook: {message}")]
    ExitHook { message: String },
}

/// Every problem found in a flow, in a stable order (graph first, then flow, then steps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "the flow cannot be deployed ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, e) in self.0.iter().enumerate() {
            write!(f, "  - {e}")?;
            if i + 1 < n {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl ValidationErrors {
    /// The individual errors.
    pub fn errors(&self) -> &[ValidationError] {
        &self.0
    }
}

/// Check `spec` against every rule; the derived graph when it passes, else every error found.
pub fn validate(spec: &FlowSpec) -> Result<FlowGraph, ValidationErrors> {
    let mut errors: Vec<ValidationError> = Vec::new();
    if !(MIN_SPEC_VERSION..=SPEC_VERSION).contains(&spec.spec_version) {
        errors.push(ValidationError::SpecVersion {
            found: spec.spec_version,
        });
    } else if spec.spec_version < spec.minimal_version() {
        errors.push(ValidationError::SpecVersionTooLow {
            found: spec.spec_version,
            needed: spec.minimal_version(),
        });
    }
    let graph = match FlowGraph::check(spec) {
        Ok(g) => Some(g),
        Err(graph_errors) => {
            errors.extend(graph_errors.into_iter().map(ValidationError::Graph));
            None
        }
    };
    check_names(spec, &mut errors);
    check_schedule(spec, &mut errors);
    check_parameters(spec, &mut errors);
    check_project(spec, &mut errors);
    check_flow_decorators(spec, &mut errors);
    errors.extend(
        check_triggers(spec)
            .into_iter()
            .map(ValidationError::Trigger),
    );
    check_exit_hook(spec, &mut errors);
    check_steps(spec, &mut errors);
    match graph {
        Some(g) if errors.is_empty() => Ok(g),
        _ => Err(ValidationErrors(errors)),
    }
}

/// Why `name` is not a Step Functions name (state or state machine), if it is not.
pub fn sfn_name_problem(name: &str) -> Option<String> {
    const FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";
    if name.is_empty() {
        return Some("it is empty".into());
    }
    let len = name.chars().count();
    if len > MAX_SFN_NAME {
        return Some(format!(
            "it has {len} characters and Step Functions allows at most {MAX_SFN_NAME}"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || FORBIDDEN.contains(*c))
    {
        return Some(format!("Step Functions does not allow {c:?} in names"));
    }
    None
}

/// Why `name` is not an AWS Batch job name, if it is not.
pub fn batch_name_problem(name: &str) -> Option<String> {
    let len = name.chars().count();
    if len > MAX_BATCH_JOB_NAME {
        return Some(format!(
            "it has {len} characters and AWS Batch job names allow at most {MAX_BATCH_JOB_NAME}"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Some(format!(
            "AWS Batch job names allow only A-Z, a-z, 0-9, _ and -, not {c:?}"
        ));
    }
    None
}

fn check_names(spec: &FlowSpec, errors: &mut Vec<ValidationError>) {
    let flow = &spec.flow;
    let flow_problem = sfn_name_problem(flow)
        .or_else(|| batch_name_problem(flow))
        .or_else(|| {
            (flow.starts_with(|c: char| c.is_ascii_digit()))
                .then(|| "a Python class name cannot start with a digit".to_string())
        });
    if let Some(reason) = flow_problem {
        errors.push(ValidationError::FlowName {
            name: flow.clone(),
            reason,
        });
    }
    let mut longest_step = 0;
    for step in &spec.steps {
        let name = &step.name;
        longest_step = longest_step.max(name.chars().count());
        let problem = if name.is_empty() {
            Some("it is empty".to_string())
        } else if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            Some(format!(
                "step names may contain only lowercase ASCII letters, digits and _ (Metaflow's rule), not {c:?}"
            ))
        } else if name.starts_with('_') || name.starts_with(|c: char| c.is_ascii_digit()) {
            Some("step names must start with a lowercase letter".to_string())
        } else if RESERVED_STEP_NAMES.contains(&name.as_str()) {
            Some(format!(
                "{name} is a reserved word in Metaflow (every flow has an attribute of that name)"
            ))
        } else if name.chars().count() + STATE_NAME_PREFIX > MAX_SFN_NAME {
            Some(format!(
                "it has {} characters; Step Functions state names allow {MAX_SFN_NAME} and Ferry adds {STATE_NAME_PREFIX}",
                name.chars().count()
            ))
        } else {
            None
        };
        if let Some(reason) = problem {
            errors.push(ValidationError::StepName {
                step: name.clone(),
                reason,
            });
        }
    }
    let job = flow.chars().count() + longest_step + BATCH_JOB_NAME_OVERHEAD;
    if job > MAX_BATCH_JOB_NAME && !spec.steps.is_empty() {
        errors.push(ValidationError::FlowName {
            name: flow.clone(),
            reason: format!(
                "with its longest step name the Batch job name (SFN-<flow>--<step>--) has {job} characters and AWS Batch allows {MAX_BATCH_JOB_NAME}; shorten the flow or step name"
            ),
        });
    }
}

fn check_schedule(spec: &FlowSpec, errors: &mut Vec<ValidationError>) {
    let Some(schedule) = &spec.decorators.schedule else {
        return;
    };
    if let ScheduleKind::Cron { cron } = &schedule.every
        && let Err(source) = aws_cron::AwsCron::parse(cron)
    {
        errors.push(ValidationError::Cron { source });
    }
    if let Some(tz) = &schedule.timezone
        && aws_cron::parse_timezone(Some(tz)).is_err()
    {
        errors.push(ValidationError::Timezone { tz: tz.clone() });
    }
    for p in &spec.parameters {
        if p.required && p.default.is_none() {
            errors.push(ValidationError::RequiredParameterScheduled {
                name: p.name.clone(),
            });
        }
    }
}

fn check_parameters(spec: &FlowSpec, errors: &mut Vec<ValidationError>) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for p in &spec.parameters {
        let lower = p.name.to_lowercase();
        if seen.insert(lower, &p.name).is_some() {
            errors.push(ValidationError::DuplicateParameter {
                name: p.name.clone(),
            });
        }
        let name_problem = if p.name.is_empty() {
            Some("its name is empty".to_string())
        } else if RESERVED_PARAMETER_NAMES.contains(&p.name.as_str())
            || RESERVED_PARAMETER_NAMES.contains(&p.name.replace('_', "-").as_str())
        {
            Some("Metaflow reserves this name for one of its own options".to_string())
        } else if FERRY_TRIGGER_OPTIONS
            .contains(&p.name.to_ascii_lowercase().replace('_', "-").as_str())
        {
            Some(format!(
                "`ferry trigger --{}` is one of Ferry's own options, so the parameter could never be set",
                p.name
            ))
        } else {
            p.name
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
                .map(|c| {
                    format!(
                        "parameter names may contain only ASCII letters, digits, _ and -, not {c:?}"
                    )
                })
        };
        if let Some(reason) = name_problem {
            errors.push(ValidationError::ParameterName {
                name: p.name.clone(),
                reason,
            });
        }
        if let Some(default) = &p.default {
            let fits = match p.ty {
                ParamType::Str => default.is_string(),
                ParamType::Int => default.is_i64() || default.is_u64(),
                ParamType::Float => default.is_number(),
                ParamType::Bool => default.is_boolean(),
                ParamType::Json => true,
            };
            if !fits {
                let ty = serde_json::to_value(p.ty)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                errors.push(ValidationError::ParameterDefault {
                    name: p.name.clone(),
                    ty,
                    default: default.to_string(),
                });
            }
        }
    }
}

/// Check a `@project` name or branch against Metaflow's rules (`project_decorator.py`): not
/// empty, only `[a-z0-9_]`, at most 128 characters. `what` is `"name"` or `"branch"`.
pub fn project_name_problem(value: &str, what: &str) -> Option<String> {
    let is_name = what == "name";
    if value.is_empty() {
        return Some(if is_name {
            "@project needs a name. Try @project(name='some_name').".to_string()
        } else {
            "The @project branch name is empty. Give a branch such as branch='feature_x'."
                .to_string()
        });
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Some(if is_name {
            format!(
                "The @project name {value:?} must contain only lowercase alphanumeric characters and underscores."
            )
        } else {
            format!(
                "The branch name {value:?} must contain only lowercase alphanumeric characters and underscores."
            )
        });
    }
    if value.chars().count() > MAX_PROJECT_NAME {
        return Some(if is_name {
            format!("The @project name must be shorter than {MAX_PROJECT_NAME} characters.")
        } else {
            format!("Branch name is too long. The maximum is {MAX_PROJECT_NAME} characters.")
        });
    }
    None
}

fn check_project(spec: &FlowSpec, errors: &mut Vec<ValidationError>) {
    let Some(project) = &spec.decorators.project else {
        return;
    };
    if let Some(message) = project_name_problem(&project.name, "name") {
        errors.push(ValidationError::Project { message });
    }
    if let Some(branch) = &project.branch
        && let Some(message) = project_name_problem(branch, "branch")
    {
        errors.push(ValidationError::Project { message });
    }
}

fn check_flow_decorators(spec: &FlowSpec, errors: &mut Vec<ValidationError>) {
    for name in &spec.decorators.unsupported {
        let hint = match name.as_str() {
            "trigger" | "trigger_on_finish" => "this spec was exported by a Ferry that could not deploy event triggers. Export the flow again with this Ferry (ferry spec FLOW.py).".to_string(),
            other => format!("Ferry cannot deploy flows with @{other} to Step Functions. Remove it."),
        };
        errors.push(ValidationError::UnsupportedFlowDecorator {
            decorator: name.clone(),
            hint,
        });
    }
}

/// Metaflow's rules for `@exit_hook` (`exit_hook_decorator.py`): at least one function; each
/// a Python name or dotted import path.
fn check_exit_hook(spec: &FlowSpec, errors: &mut Vec<ValidationError>) {
    let Some(hook) = &spec.decorators.exit_hook else {
        return;
    };
    if hook.on_success.is_empty() && hook.on_error.is_empty() {
        errors.push(ValidationError::ExitHook {
            message: "choose at least one of on_success=[...] or on_error=[...]".to_string(),
        });
    }
    let identifier = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    for (field, names) in [
        ("on_success", &hook.on_success),
        ("on_error", &hook.on_error),
    ] {
        for name in names.iter().filter(|n| !n.split('.').all(identifier)) {
            errors.push(ValidationError::ExitHook {
                message: format!(
                    "{field} names {name:?}, which is not a Python function name or import path (e.g. notify_team, or ops.alerts.notify_team)"
                ),
            });
        }
    }
    if let Some(image) = &hook.image
        && (image.trim().is_empty() || image.chars().any(char::is_whitespace))
    {
        errors.push(ValidationError::ExitHook {
            message: format!("options image {image:?} is not a container image name"),
        });
    }
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_steps(spec: &FlowSpec, errors: &mut Vec<ValidationError>) {
    for step in &spec.steps {
        let d = &step.decorators;
        let name = || step.name.clone();
        if let Some(t) = &d.timeout
            && t.seconds < MIN_TIMEOUT_SECONDS
        {
            errors.push(ValidationError::TimeoutTooShort {
                step: name(),
                seconds: t.seconds,
            });
        }
        if let Some(r) = &d.retry
            && r.times > MAX_RETRIES
        {
            errors.push(ValidationError::TooManyRetries {
                step: name(),
                times: r.times,
            });
        }
        if d.catch.is_some() && step.ty == StepType::Foreach {
            errors.push(ValidationError::CatchOnForeach { step: name() });
        }
        if step.num_parallel.is_some() {
            errors.push(ValidationError::Parallel { step: name() });
        }
        for deco in &d.unsupported {
            errors.push(ValidationError::UnsupportedStepDecorator {
                step: name(),
                decorator: deco.clone(),
            });
        }
        if step.command.as_ref().is_some_and(|c| c.is_empty()) {
            errors.push(ValidationError::EmptyCommand { step: name() });
        }
        if let Some(env) = &d.environment {
            for var in env.vars.keys().filter(|k| !is_env_name(k)) {
                errors.push(ValidationError::EnvironmentName {
                    step: name(),
                    name: var.clone(),
                });
            }
        }
    }
}
