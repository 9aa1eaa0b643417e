//! The deploy use case: `request.json` → token check → compile → task descriptions → job
//! definitions → state machine → schedule → record → `result.json`.
//!
//! Guarantees:
//! - **Idempotent per request id.** S3 delivers events at least once: a request is claimed in
//!   the table before anything happens, and its result is stored with the record in one
//!   transaction. A second delivery returns the stored result and deploys nothing.
//! - **A failed deploy changes nothing visible.** Everything that can fail on bad input (spec,
//!   names, token, compile, cron) is checked before the state machine is touched; if the
//!   schedule cannot be set afterwards, the previous definition is put back. The record is only
//!   written once everything else succeeded.
//! - **Refusals change nothing** (contract metaflow-sfn §4).
//! - **One request at a time per deployment.** A request takes the deployment's lock
//!   ([`DeploymentStore::lock`]) before reading its record, so a concurrent deploy sees the
//!   winner's record (and token) instead of racing it to the state machine; it waits up to
//!   [`LOCK_WAIT`], then fails without changing anything.

use std::sync::Arc;

use chrono::Utc;
use ferry_compile::event_rules::{self, EventRuleSpec, RuleSettings};
use ferry_compile::naming::{DeploymentNames, NameRequest, deployment_names, schedule_name};
use ferry_spec::FlowSpec;
use ferry_store::{BlobError, Blobs, Table};

use crate::compiler::{CompiledDeployment, compile_deployment};
use crate::keys::{RequestKey, parse_request_key, result_key, sha256_hex};
use crate::messages;
use crate::notifications;
use crate::ports::{EventRules, JobDefinitions, ScheduleError, ScheduleSpec, Schedules};
use crate::record::{
    Claim, DeploymentRecord, DeploymentStore, RECORD_SCHEMA_VERSION, RecordError, RecordWrite,
    RecordedParameter,
};
use crate::request::{DeployRequest, DeployResult, DeployStatus, RequestAction, ScheduleInfo};
use crate::secrets::Secrets;
use crate::tokens::{Holder, TokenRequest, authorized, choose_token, holder_from_definition};
use ferry_control::{ControlError, StateMachine, StateMachines};
use ferry_spec::DeploymentName;

/// Settings of one deploy handler (one installation: AWS stack or embedded stack).
#[derive(Debug, Clone)]
pub struct DeploySettings {
    /// Where flows run, as messages name it: `AWS Step Functions` or `the Ferry embedded stack`.
    pub platform: String,
    /// Prefix of every state machine name of this installation (Metaflow's
    /// `SFN_STATE_MACHINE_PREFIX`); `None`: none.
    pub state_machine_prefix: Option<String>,
    /// A claim older than this many seconds belongs to a handler that died and is taken over
    /// (at least the handler's own timeout: 900 s for the Lambda).
    pub claim_stale_after_secs: i64,
    /// What the compiler needs to know about the installation.
    pub compile: crate::compiler::CompileEnvironment,
    /// The installation's EventBridge rule settings (prefix, bus, state machine ARNs); `None`:
    /// the installation keeps no rules (the embedded stack).
    pub event_rules: Option<ferry_compile::event_rules::RuleSettings>,
}

/// Everything the use case drives.
#[derive(Clone)]
pub struct DeployContext {
    /// The Ferry table (deployment records, request claims).
    pub table: Arc<dyn Table>,
    /// The blob store (requests, specs, packages, task descriptions, results).
    pub blobs: Arc<dyn Blobs>,
    /// Step Functions, or the embedded stack's orchestrator.
    pub state_machines: Arc<dyn StateMachines>,
    /// EventBridge Scheduler, or the local schedules.
    pub schedules: Arc<dyn Schedules>,
    /// Batch, or nothing.
    pub job_definitions: Arc<dyn JobDefinitions>,
    /// Where notification secrets are kept: SSM Parameter Store, or a directory of 0600 files.
    pub secrets: Arc<dyn Secrets>,
    /// EventBridge rules, or none ([`crate::NoEventRules`]).
    pub event_rules: Arc<dyn EventRules>,
    /// The installation's settings.
    pub settings: DeploySettings,
}

/// An infrastructure failure that left no result behind: the caller should retry the delivery
/// (the Lambda returns an error, S3/Lambda redeliver).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The table failed.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The request object is not there.
    #[error("the request object {0} does not exist")]
    NoRequest(String),
    /// The key is not a request key.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
}

/// Handle the request object at `key` (relative to the blob root): read it, process it, write
/// `result.json` next to it. `Ok(None)` when another delivery of the same request is being
/// handled right now. A request that cannot be parsed gets a `failed` result.
pub async fn handle_request_key(
    ctx: &DeployContext,
    key: &str,
) -> Result<Option<DeployResult>, DeployError> {
    let RequestKey {
        deployment,
        request_id,
    } = parse_request_key(key)?;
    let bytes = ctx
        .blobs
        .get(key)
        .await?
        .ok_or_else(|| DeployError::NoRequest(key.to_string()))?;
    let problem = match DeployRequest::from_json(&bytes) {
        Ok(r) if r.deployment == deployment && r.request_id == request_id => {
            return process(ctx, &r).await;
        }
        Ok(r) => format!(
            "The request at {key} names deployment {} and request {}: it must match its key.",
            r.deployment, r.request_id
        ),
        Err(e) => format!("The deploy request could not be read: {e}"),
    };
    // Unreadable or misplaced: answer where the CLI waits, so it does not wait in vain.
    let mut result = DeployResult::new(
        &placeholder_request(deployment, request_id),
        DeployStatus::Failed,
    );
    result.messages.push(problem);
    write_result(ctx, &result).await?;
    Ok(Some(result))
}

/// A request standing for one that could not be read, to address its result.
fn placeholder_request(deployment: String, request_id: crate::keys::RequestId) -> DeployRequest {
    DeployRequest {
        version: crate::request::REQUEST_VERSION,
        request_id,
        action: RequestAction::Deploy,
        deployment,
        flow: String::new(),
        spec: None,
        package: None,
        user: String::new(),
        requested_at: Utc::now(),
        options: Default::default(),
    }
}

/// Process a parsed request exactly once per request id, store its result and write
/// `result.json`. `Ok(None)`: another delivery is handling it.
pub async fn process(
    ctx: &DeployContext,
    request: &DeployRequest,
) -> Result<Option<DeployResult>, DeployError> {
    let store = DeploymentStore::new(ctx.table.clone());
    let claim = store
        .claim(
            &request.request_id,
            &request.deployment,
            Utc::now(),
            ctx.settings.claim_stale_after_secs,
        )
        .await?;
    match claim {
        Claim::InProgress => return Ok(None),
        Claim::Done(stored) => {
            // Prefer the full result (it carries the definition of an --only-json request).
            let key = result_key(&request.deployment, &request.request_id);
            if let Some(bytes) = ctx.blobs.get(&key).await?
                && let Ok(full) = DeployResult::from_json(&bytes)
            {
                return Ok(Some(full));
            }
            write_result(ctx, &stored).await?;
            return Ok(Some(*stored));
        }
        Claim::Claimed => {}
    }
    if !wait_for_lock(ctx, &store, request).await? {
        let mut result = DeployResult::new(request, DeployStatus::Failed);
        notifications::settle_secrets(ctx.secrets.as_ref(), request, None, &result).await;
        result.messages.push(format!(
            "Another deploy or delete of {} kept it busy for more than {} s, so this request \
             changed nothing. Try again once it has finished.",
            request.deployment,
            LOCK_WAIT.as_secs()
        ));
        store.finish(&result, RecordWrite::Keep).await?;
        write_result(ctx, &result).await?;
        return Ok(Some(result));
    }
    // Read before the request changes it: the notification secret it may replace.
    let previous = store.get(&request.deployment).await;
    let outcome = match request.action {
        RequestAction::Deploy => run_deploy(ctx, &store, request).await,
        RequestAction::Delete => run_delete(ctx, &store, request).await,
    };
    let finished = store_outcome(ctx, &store, request, outcome).await;
    store
        .unlock(&request.deployment, &request.request_id)
        .await?;
    if let (Ok(Some(result)), Ok(previous)) = (&finished, &previous) {
        notifications::settle_secrets(ctx.secrets.as_ref(), request, previous.as_ref(), result)
            .await;
    }
    finished
}

/// How long a request waits for another deploy or delete of the same deployment to finish.
/// Below the deploy Lambda's 120 s timeout, with room for the deploy itself.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Take the deployment's lock for `request`, polling (250 ms, then up to 2 s apart) for at most
/// [`LOCK_WAIT`]. `false`: still held by another request.
async fn wait_for_lock(
    ctx: &DeployContext,
    store: &DeploymentStore,
    request: &DeployRequest,
) -> Result<bool, DeployError> {
    let start = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(250);
    loop {
        let stale_after = ctx.settings.claim_stale_after_secs;
        if store
            .lock(
                &request.deployment,
                &request.request_id,
                Utc::now(),
                stale_after,
            )
            .await?
        {
            return Ok(true);
        }
        if start.elapsed() >= LOCK_WAIT {
            return Ok(false);
        }
        tokio::time::sleep(pause.min(LOCK_WAIT.saturating_sub(start.elapsed()))).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(2));
    }
}

/// Store the outcome of a request that held the lock and write `result.json`.
async fn store_outcome(
    ctx: &DeployContext,
    store: &DeploymentStore,
    request: &DeployRequest,
    outcome: Result<Outcome, DeployError>,
) -> Result<Option<DeployResult>, DeployError> {
    let (mut result, write) = match outcome {
        Ok(o) => o,
        Err(e) => {
            // Nothing was stored: release the claim so that a redelivery can run it.
            let _ = ctx
                .table
                .delete(
                    &crate::record::request_pk(&request.request_id),
                    crate::record::REQUEST_SK,
                    ferry_store::Condition::None,
                )
                .await;
            return Err(e);
        }
    };
    result.finished_at = Utc::now();
    match store.finish(&result, write).await {
        Ok(()) => {}
        Err(RecordError::Conflict) => {
            result.status = DeployStatus::Failed;
            result.record = None;
            result.messages.push(RecordError::Conflict.to_string());
            store.finish(&result, RecordWrite::Keep).await?;
        }
        Err(e) => return Err(e.into()),
    }
    write_result(ctx, &result).await?;
    Ok(Some(result))
}

async fn write_result(ctx: &DeployContext, result: &DeployResult) -> Result<(), BlobError> {
    ctx.blobs
        .put(
            &result_key(&result.deployment, &result.request_id),
            result.to_json(),
        )
        .await
}

type Outcome = (DeployResult, RecordWrite);

fn failed(mut result: DeployResult, lines: impl IntoIterator<Item = String>) -> Outcome {
    result.status = DeployStatus::Failed;
    result.messages.extend(lines);
    (result, RecordWrite::Keep)
}

fn refused(mut result: DeployResult, lines: impl IntoIterator<Item = String>) -> Outcome {
    result.status = DeployStatus::Refused;
    result.messages.extend(lines);
    (result, RecordWrite::Keep)
}

/// A result line for a failed port call. Port failures (even transient ones) end the request
/// with a `failed` result the user sees at once, rather than a silent redelivery.
fn port_line(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what} failed: {e}")
}

/// Read the spec of a deploy request and check it against its hash and the request.
async fn load_spec(
    ctx: &DeployContext,
    request: &DeployRequest,
) -> Result<Result<FlowSpec, Vec<String>>, DeployError> {
    let Some(spec_ref) = &request.spec else {
        return Ok(Err(vec!["The deploy request has no spec.".to_string()]));
    };
    let Some(bytes) = ctx.blobs.get(&spec_ref.key).await? else {
        return Ok(Err(vec![format!(
            "The spec {} is missing from the blob store.",
            ctx.blobs.url(&spec_ref.key)
        )]));
    };
    let actual = sha256_hex(&bytes);
    if actual != spec_ref.sha256 {
        return Ok(Err(vec![format!(
            "The spec {} does not match its sha256 (expected {}, got {actual}).",
            spec_ref.key, spec_ref.sha256
        )]));
    }
    let spec: FlowSpec = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => return Ok(Err(vec![format!("The spec could not be read: {e}")])),
    };
    if spec.flow != request.flow {
        return Ok(Err(vec![format!(
            "The spec is for flow {} but the request is for {}.",
            spec.flow, request.flow
        )]));
    }
    Ok(Ok(spec))
}

/// Read the environment locks a request references, each checked against its sha256; keyed by
/// blob key. `Err(lines)` when one is missing or altered.
async fn load_locks(
    ctx: &DeployContext,
    envs: &std::collections::BTreeMap<String, ferry_spec::task::PythonEnvRef>,
) -> Result<Result<std::collections::BTreeMap<String, serde_json::Value>, Vec<String>>, DeployError>
{
    let mut locks = std::collections::BTreeMap::new();
    for (step, env) in envs {
        let Some(lock) = &env.lock else { continue };
        if locks.contains_key(&lock.key) {
            continue;
        }
        let Some(bytes) = ctx.blobs.get(&lock.key).await? else {
            return Ok(Err(vec![format!(
                "The environment lock {} of step {step} is missing from the blob store.",
                ctx.blobs.url(&lock.key)
            )]));
        };
        if sha256_hex(&bytes) != lock.sha256 {
            return Ok(Err(vec![format!(
                "The environment lock {} of step {step} does not match its sha256.",
                lock.key
            )]));
        }
        match serde_json::from_slice(&bytes) {
            Ok(v) => {
                locks.insert(lock.key.clone(), v);
            }
            Err(e) => {
                return Ok(Err(vec![format!(
                    "The environment lock {} of step {step} could not be read: {e}",
                    lock.key
                )]));
            }
        }
    }
    Ok(Ok(locks))
}

/// The names a request's flow deploys to (`@project` branches, prefixes), with Metaflow's
/// decorator-vs-CLI consistency checks.
pub fn names_for(
    spec: &FlowSpec,
    user: &str,
    branch: Option<&str>,
    production: bool,
    state_machine_prefix: Option<&str>,
) -> Result<DeploymentNames, String> {
    let project = spec.decorators.project.as_ref();
    if project.is_none() && (branch.is_some() || production) {
        return Err(format!(
            "--branch and --production apply to @project flows only; {} has no @project.",
            spec.flow
        ));
    }
    let (branch, production) = match project {
        Some(p) => {
            if let (Some(a), Some(b)) = (p.branch.as_deref(), branch)
                && a != b
            {
                return Err(format!(
                    "The @project decorator says branch={a:?} but --branch {b} was given; use one of them."
                ));
            }
            (branch.or(p.branch.as_deref()), production || p.production)
        }
        None => (None, false),
    };
    deployment_names(&NameRequest {
        flow: &spec.flow,
        name: None,
        project: project.map(|p| p.name.as_str()),
        branch,
        production,
        user,
        state_machine_prefix,
    })
    .map_err(|e| e.to_string())
}

/// The holder of a deployment: its record, else the owner/token written in an existing state
/// machine's definition (a Metaflow deployment, or a Ferry deploy whose record write was lost).
/// `Err(line)` for a state machine that neither Metaflow nor Ferry deployed.
fn holder_of(
    record: Option<&DeploymentRecord>,
    machine: Option<&StateMachine>,
    deployment: &str,
    platform: &str,
) -> Result<Option<Holder>, String> {
    if let Some(r) = record {
        return Ok(Some(Holder {
            owner: r.owner.clone(),
            token: r.token.clone(),
        }));
    }
    match machine {
        None => Ok(None),
        Some(m) => holder_from_definition(&m.definition)
            .map(Some)
            .map_err(|()| messages::foreign(deployment, platform)),
    }
}

async fn run_deploy(
    ctx: &DeployContext,
    store: &DeploymentStore,
    req: &DeployRequest,
) -> Result<Outcome, DeployError> {
    let platform = ctx.settings.platform.as_str();
    let mut result = DeployResult::new(req, DeployStatus::Ok);
    let opts = &req.options;
    let name = match DeploymentName::parse(&req.deployment) {
        Ok(n) => n,
        Err(e) => return Ok(failed(result, [e.to_string()])),
    };

    // 1. The spec, its graph, the package.
    let spec = match load_spec(ctx, req).await? {
        Ok(s) => s,
        Err(lines) => return Ok(failed(result, lines)),
    };
    let graph = match ferry_spec::validate(&spec) {
        Ok(g) => g,
        Err(errors) => {
            let mut lines = vec![format!("The flow {} cannot be deployed:", spec.flow)];
            lines.extend(errors.errors().iter().map(|e| format!("    {e}")));
            return Ok(failed(result, lines));
        }
    };
    let package = req
        .package
        .clone()
        .expect("validated: a deploy request has a package");
    if !ctx.blobs.exists(&package.key).await? {
        return Ok(failed(
            result,
            [format!(
                "The code package {} is missing from the blob store.",
                ctx.blobs.url(&package.key)
            )],
        ));
    }

    // 1b. The `@pypi`/`@conda` locks the CLI resolved (docs/environments.md).
    let locks = match load_locks(ctx, &opts.environments).await? {
        Ok(l) => l,
        Err(lines) => return Ok(failed(result, lines)),
    };

    // 1c. Notification settings and their secret (docs/notifications.md).
    if let Err(lines) = notifications::check_request(ctx.secrets.as_ref(), req).await {
        return Ok(failed(result, lines));
    }

    // 2. Names.
    let names = match names_for(
        &spec,
        &req.user,
        opts.branch.as_deref(),
        opts.production,
        ctx.settings.state_machine_prefix.as_deref(),
    ) {
        Ok(n) => n,
        Err(line) => return Ok(failed(result, [line])),
    };
    if names.state_machine != req.deployment {
        return Ok(failed(
            result,
            [format!(
                "The request is for deployment {} but the flow deploys to {}: rebuild the request with this version of ferry.",
                req.deployment, names.state_machine
            )],
        ));
    }
    result.token_prefix = Some(names.token_prefix.clone());

    // 3. Who holds the deployment; may this user change it; which token.
    let record = store.get(&req.deployment).await?;
    let machine = match ctx.state_machines.get(&name).await {
        Ok(m) => m,
        Err(e) => {
            return Ok(failed(
                result,
                [port_line("Reading the existing state machine", e)],
            ));
        }
    };
    let holder = match holder_of(record.as_ref(), machine.as_ref(), &req.deployment, platform) {
        Ok(h) => h,
        Err(line) => return Ok(refused(result, [line])),
    };
    if let Some(h) = &holder
        && !authorized(h, &req.user, opts.authorize.as_deref())
    {
        let lines = messages::refusal(
            &req.deployment,
            platform,
            &h.owner,
            "deploy a new version of this flow",
            "ferry deploy",
            opts.authorize.is_some(),
        );
        return Ok(refused(result, lines));
    }
    if holder.is_none() {
        result
            .messages
            .push(messages::first_deploy(&spec.flow, platform));
    }
    let ask = TokenRequest {
        generate_new_token: opts.generate_new_token,
        given: opts.given_token.as_deref(),
        is_project: names.project.is_some(),
    };
    let choice = match choose_token(holder.as_ref(), &names.token_prefix, ask) {
        Ok(c) => c,
        Err(e) => return Ok(failed(result, [e.to_string()])),
    };
    if choice.generated {
        result.messages.push(messages::NEW_TOKEN.to_string());
    } else if opts.given_token.is_some() {
        result.messages.push(messages::given_token(&choice.token));
    }
    let namespace = opts
        .namespace
        .clone()
        .unwrap_or_else(|| format!("production:{}", choice.token));
    result.first_deploy = choice.first_deploy;
    result.new_token = choice.generated;
    result.token = Some(choice.token.clone());
    result.namespace = Some(namespace.clone());

    // 4. Compile (pure: nothing has changed yet).
    let compiled: CompiledDeployment = match compile_deployment(
        &ctx.settings.compile,
        &spec,
        &graph,
        &names,
        req,
        &package,
        &choice.token,
    ) {
        Ok(c) => c,
        Err(lines) => return Ok(failed(result, lines)),
    };
    result.warnings = compiled.warnings.clone();
    let triggers = match crate::compiler::compile_triggers(
        &spec,
        &names,
        ctx.settings.state_machine_prefix.as_deref(),
    ) {
        Ok(t) => t,
        Err(lines) => return Ok(failed(result, lines)),
    };
    let rules = match &ctx.settings.event_rules {
        Some(settings) => match DeploymentRules::of(&req.deployment, triggers.as_ref(), settings) {
            Ok(r) => Some(r),
            Err(e) => return Ok(failed(result, [e.to_string()])),
        },
        None => None,
    };
    result
        .messages
        .extend(messages::token_block(&choice.token, platform));
    if let Some(ns) = &opts.namespace {
        result.messages.push(messages::custom_namespace(ns));
    }
    result
        .messages
        .extend(compiled.foreach_forms.iter().cloned());
    if opts.only_json {
        result.definition = Some(compiled.definition.clone());
        return Ok((result, RecordWrite::Keep));
    }

    // 5. Task descriptions and job definitions (content-addressed: harmless if the deploy fails later).
    for (key, bytes) in &compiled.task_descriptions {
        if !ctx.blobs.exists(key).await? {
            ctx.blobs.put(key, bytes.clone()).await?;
        }
    }
    for jd in &compiled.job_definitions {
        if let Err(e) = ctx.job_definitions.ensure(jd).await {
            return Ok(failed(
                result,
                [port_line(
                    &format!("Registering the Batch job definition {}", jd.name),
                    e,
                )],
            ));
        }
    }

    // 6. The state machine.
    let definition_text =
        serde_json::to_string(&compiled.definition).expect("a definition serialises");
    let sm = match ctx
        .state_machines
        .put(&name, &definition_text, &compiled.tags)
        .await
    {
        Ok(sm) => sm,
        Err(e @ ControlError::Deleting(_)) => {
            return Ok(failed(
                result,
                [format!(
                    "{e}. A deployment that was just deleted can be deployed again in a minute."
                )],
            ));
        }
        Err(e) => return Ok(failed(result, [port_line("Pushing the state machine", e)])),
    };

    // 7. The schedule (or none); on failure put the previous definition back.
    let sched_name = schedule_name(&req.deployment);
    let schedule = compiled.schedule.as_ref().map(|s| ScheduleSpec {
        name: sched_name.clone(),
        expression: s.expression.clone(),
        timezone: s.timezone.clone(),
        target: sm.clone(),
        input: r#"{"Parameters": "{}"}"#.to_string(),
    });
    let sched_outcome: Result<(), ScheduleError> = match &schedule {
        Some(s) => ctx.schedules.put(s).await,
        None => ctx.schedules.delete(&sched_name).await.map(|_| ()),
    };
    if let Err(e) = sched_outcome {
        let lines = vec![
            port_line("Setting the schedule", e),
            restore(ctx, machine.as_ref(), &name).await,
        ];
        return Ok(failed(result, lines));
    }

    // 7b. The EventBridge rules (AWS): the trigger's, and the status changes'.
    if let Some(rules) = &rules
        && let Err(e) = rules.put(ctx.event_rules.as_ref()).await
    {
        let lines = vec![
            port_line("Setting the EventBridge rules", e),
            restore(ctx, machine.as_ref(), &name).await,
        ];
        return Ok(failed(result, lines));
    }

    // 8. The record.
    let now = Utc::now();
    let project = names.project.as_ref();
    let record_out = DeploymentRecord {
        schema_version: RECORD_SCHEMA_VERSION,
        deployment: req.deployment.clone(),
        flow: spec.flow.clone(),
        owner: req.user.clone(),
        token: choice.token.clone(),
        token_prefix: names.token_prefix.clone(),
        namespace: namespace.clone(),
        project: project.map(|p| p.project.clone()),
        branch: project.map(|p| p.branch.clone()),
        state_machine: sm.clone(),
        spec_sha256: req
            .spec
            .as_ref()
            .map(|s| s.sha256.clone())
            .unwrap_or_default(),
        spec_key: req.spec.as_ref().map(|s| s.key.clone()).unwrap_or_default(),
        package: package.clone(),
        schedule: schedule.as_ref().map(ScheduleInfo::from),
        triggers: triggers.clone(),
        parameters: spec
            .parameters
            .iter()
            .map(|p| RecordedParameter {
                name: p.name.clone(),
                ty: serde_json::to_value(p.ty)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                default: p.default.clone(),
                required: p.required,
            })
            .collect(),
        tags: opts.tags.clone(),
        max_workers: opts.max_workers.unwrap_or(crate::DEFAULT_MAX_WORKERS),
        workflow_timeout: opts.workflow_timeout,
        version: record.as_ref().map_or(1, |r| r.version + 1),
        metaflow_version: spec.metaflow_version.clone(),
        ferry_version: env!("CARGO_PKG_VERSION").to_string(),
        request_id: req.request_id.clone(),
        created_at: record.as_ref().map_or(now, |r| r.created_at),
        updated_at: now,
        python_envs: opts.environments.clone(),
        locks,
        notifications: opts.notifications.clone(),
    };
    if names.truncated {
        result.messages.push(messages::truncated());
    }
    result
        .messages
        .push(messages::pushed(&req.deployment, &spec.flow, platform));
    if let Some(n) = &opts.notifications {
        result.messages.push(messages::notifications(n));
    }
    result.messages.extend(messages::triggers(
        schedule.as_ref().map(|s| {
            (
                s.name.as_str(),
                s.expression.as_str(),
                s.timezone.as_deref(),
            )
        }),
        triggers.as_ref(),
        platform,
    ));
    result.state_machine = Some(sm);
    result.schedule = schedule.as_ref().map(ScheduleInfo::from);
    result.record = Some(record_out.clone());
    let write = RecordWrite::Put {
        record: Box::new(record_out),
        expected_version: record.map(|r| r.version),
    };
    Ok((result, write))
}

/// Put the previous version of the state machine back after a later step failed (or delete a
/// state machine this deploy created); the result line says which happened.
async fn restore(
    ctx: &DeployContext,
    machine: Option<&StateMachine>,
    name: &DeploymentName,
) -> String {
    let rollback = match machine {
        Some(prev) => ctx
            .state_machines
            .put(&prev.name, &prev.definition, &prev.tags)
            .await
            .map(|_| ()),
        None => ctx.state_machines.delete(name).await.map(|_| ()),
    };
    match rollback {
        Ok(()) => "The previous version of the deployment was restored.".to_string(),
        Err(r) => port_line("Restoring the previous version", r),
    }
}

/// A deployment's EventBridge rules (`ferry_compile::event_rules`): its trigger's, addressed to
/// it, when it has a trigger; its status changes', always.
struct DeploymentRules {
    deployment: String,
    trigger: Option<EventRuleSpec>,
    status: EventRuleSpec,
    /// The trigger rule's name and the buses it may be on (a deploy without the trigger, or
    /// one that moved between `@trigger` and `@trigger_on_finish`, removes it from the others).
    trigger_name: String,
    buses: [String; 2],
}

impl DeploymentRules {
    /// The rules of `deployment` with `triggers`. Errors: a trigger whose event pattern is too
    /// long for EventBridge.
    fn of(
        deployment: &str,
        triggers: Option<&ferry_compile::triggers::TriggerSpec>,
        settings: &RuleSettings,
    ) -> Result<Self, ferry_compile::CompileError> {
        Ok(DeploymentRules {
            deployment: deployment.to_string(),
            trigger: triggers
                .map(|t| event_rules::event_rule(deployment, t, settings))
                .transpose()?,
            status: event_rules::status_change_rule(deployment, settings),
            trigger_name: event_rules::event_rule_name(deployment, &settings.rule_prefix),
            buses: [
                settings.event_bus.clone(),
                event_rules::DEFAULT_BUS.to_string(),
            ],
        })
    }

    /// Put the rules; remove the trigger rule's name from the buses it is not on now.
    async fn put(&self, port: &dyn EventRules) -> Result<(), crate::EventRuleError> {
        for bus in &self.buses {
            if self.trigger.as_ref().is_none_or(|t| &t.event_bus != bus) {
                port.delete(&self.trigger_name, bus).await?;
            }
        }
        if let Some(t) = &self.trigger {
            port.put(t, Some(&self.deployment)).await?;
        }
        port.put(&self.status, None).await
    }

    /// Remove every rule `deployment` may have.
    async fn delete(
        deployment: &str,
        settings: &RuleSettings,
        port: &dyn EventRules,
    ) -> Result<(), crate::EventRuleError> {
        let trigger = event_rules::event_rule_name(deployment, &settings.rule_prefix);
        port.delete(&trigger, &settings.event_bus).await?;
        port.delete(&trigger, event_rules::DEFAULT_BUS).await?;
        port.delete(
            &event_rules::status_rule_name(deployment, &settings.rule_prefix),
            event_rules::DEFAULT_BUS,
        )
        .await?;
        Ok(())
    }
}

async fn run_delete(
    ctx: &DeployContext,
    store: &DeploymentStore,
    req: &DeployRequest,
) -> Result<Outcome, DeployError> {
    let platform = ctx.settings.platform.as_str();
    let result = DeployResult::new(req, DeployStatus::Ok);
    let name = match DeploymentName::parse(&req.deployment) {
        Ok(n) => n,
        Err(e) => return Ok(failed(result, [e.to_string()])),
    };
    let record = store.get(&req.deployment).await?;
    let machine = match ctx.state_machines.get(&name).await {
        Ok(m) => m,
        Err(e) => return Ok(failed(result, [port_line("Reading the state machine", e)])),
    };
    if record.is_none() && machine.is_none() {
        return Ok(failed(
            result,
            [messages::missing(&req.deployment, platform)],
        ));
    }
    let holder = match holder_of(record.as_ref(), machine.as_ref(), &req.deployment, platform) {
        Ok(h) => h,
        Err(line) => return Ok(refused(result, [line])),
    };
    if let Some(h) = &holder
        && !authorized(h, &req.user, req.options.authorize.as_deref())
    {
        let lines = messages::refusal(
            &req.deployment,
            platform,
            &h.owner,
            "delete this flow",
            "ferry delete",
            req.options.authorize.is_some(),
        );
        return Ok(refused(result, lines));
    }
    let mut result = result;
    let sched_name = schedule_name(&req.deployment);
    let had_schedule = match ctx.schedules.delete(&sched_name).await {
        Ok(b) => b,
        Err(e) => return Ok(failed(result, [port_line("Deleting the schedule", e)])),
    };
    if let Some(settings) = &ctx.settings.event_rules
        && let Err(e) =
            DeploymentRules::delete(&req.deployment, settings, ctx.event_rules.as_ref()).await
    {
        return Ok(failed(
            result,
            [port_line("Deleting the EventBridge rules", e)],
        ));
    }
    if let Err(e) = ctx.state_machines.delete(&name).await {
        return Ok(failed(result, [port_line("Deleting the state machine", e)]));
    }
    result.messages.extend(messages::deleting(
        &req.deployment,
        platform,
        had_schedule.then_some(sched_name.as_str()),
    ));
    result.token = holder.map(|h| h.token);
    result.state_machine = machine.map(|m| m.reference());
    let write = match record {
        Some(r) => RecordWrite::Delete {
            deployment: req.deployment.clone(),
            expected_version: r.version,
        },
        None => RecordWrite::Keep,
    };
    Ok((result, write))
}
