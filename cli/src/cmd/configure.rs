//! `ferry configure`: point `ferry` and `metaflow` at a Ferry stack on AWS.
//!
//! Inputs: `--from-stack FILE` (the JSON of `aws cloudformation describe-stacks --stack-name
//! <stack>`; its Outputs are read, see `template.yaml`) and/or flags (`--service-url`,
//! `--bucket`, `--region`, `--table`, `--api-key`, …), flags winning. Outputs:
//!
//! - Ferry's config, `<home>/config.json` (`"target": "aws"`, mode 0600), read by every command
//!   through [`crate::context::Context`];
//! - a Metaflow profile, `$METAFLOW_HOME` (default `~/.metaflowconfig`) `/config_ferry.json`
//!   (use it with `METAFLOW_PROFILE=ferry`, or `eval "$(ferry env)"`); the default `config.json`
//!   is never touched. Mode 0600: it holds the API key.
//!
//! The events URL (`METAFLOW_ARGO_EVENTS_WEBHOOK_URL`, stack output
//! `METAFLOWARGOEVENTSWEBHOOKURL`, else `<service URL>/ferry/v1/events`: the route is on the
//! same API) goes into the profile with `METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH=service`, so
//! Metaflow's `ArgoEvent(...).publish()` sends the API key (`x-api-key`, from
//! `METAFLOW_SERVICE_AUTH_KEY`) that API Gateway requires.
//!
//! The API key: `--api-key KEY`, else the stack's secret (`METAFLOWSERVICEAUTHKEYSECRET`, JSON
//! key `apikey`) is recorded and the key left out; fetch it with the stack's `ApiKeyCommand`
//! output and run `ferry configure --api-key …` again.
//!
//! `ferry configure --show` prints each value in effect and where it came from (the file, or
//! the environment variable that overrides it), secrets masked.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};

use crate::context::{CONFIG_FILE, Context};

/// Arguments of `ferry configure`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  aws cloudformation describe-stacks --stack-name ferry > ferry-stack.json\n  ferry configure --from-stack ferry-stack.json --api-key \"$(aws secretsmanager get-secret-value --secret-id <secret> --query SecretString --output text | jq -r .apikey)\"\n  ferry configure --show"
)]
pub struct ConfigureArgs {
    /// Print the configuration in effect and where each value comes from; change nothing.
    #[arg(long)]
    pub show: bool,
    /// The values (boxed: they are many).
    #[command(flatten)]
    pub values: Box<ConfigureValues>,
}

/// The values `ferry configure` writes.
#[derive(Debug, clap::Args)]
pub struct ConfigureValues {
    /// `aws cloudformation describe-stacks` output of the Ferry stack. Example: `--from-stack ferry-stack.json`.
    #[arg(long, value_name = "FILE")]
    pub from_stack: Option<PathBuf>,
    /// Which stack of the file (default: the only one, or the first with a `FerryBucket` output).
    #[arg(long, value_name = "NAME")]
    pub stack_name: Option<String>,
    /// METAFLOW_SERVICE_URL, the metadata API. Example: `https://abc.execute-api.eu-west-1.amazonaws.com/api`.
    #[arg(long, value_name = "URL")]
    pub service_url: Option<String>,
    /// METAFLOW_SERVICE_AUTH_KEY, the metadata API key.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// The stack's bucket. Example: `--bucket ferry-1a2b3c`.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Ferry's key prefix in the bucket (default `ferry/`).
    #[arg(long)]
    pub prefix: Option<String>,
    /// AWS region. Example: `--region eu-west-1`.
    #[arg(long)]
    pub region: Option<String>,
    /// The deployments table (DynamoDB).
    #[arg(long)]
    pub table: Option<String>,
    /// METAFLOW_DATASTORE_SYSROOT_S3 (default `s3://<bucket>/metaflow`).
    #[arg(long, value_name = "S3_URL")]
    pub datastore_root: Option<String>,
    /// METAFLOW_DATATOOLS_S3ROOT (default `s3://<bucket>/data`).
    #[arg(long, value_name = "S3_URL")]
    pub datatools_root: Option<String>,
    /// METAFLOW_BATCH_JOB_QUEUE.
    #[arg(long, value_name = "ARN")]
    pub job_queue: Option<String>,
    /// METAFLOW_ECS_S3_ACCESS_IAM_ROLE, the Batch job role.
    #[arg(long, value_name = "ARN")]
    pub job_role: Option<String>,
    /// METAFLOW_SFN_IAM_ROLE.
    #[arg(long, value_name = "ARN")]
    pub sfn_role: Option<String>,
    /// METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE (the Scheduler role).
    #[arg(long, value_name = "ARN")]
    pub events_role: Option<String>,
    /// METAFLOW_SFN_DYNAMO_DB_TABLE, the state table.
    #[arg(long, value_name = "TABLE")]
    pub state_table: Option<String>,
    /// METAFLOW_ARGO_EVENTS_WEBHOOK_URL, where `ArgoEvent(...).publish()` and `ferry publish`
    /// post (default: `<service URL>/ferry/v1/events`). Example: `https://abc.execute-api.eu-west-1.amazonaws.com/api/ferry/v1/events`.
    #[arg(long, value_name = "URL")]
    pub events_url: Option<String>,
    /// The stack's EventBridge bus (stack output `FerryEventBus`), where `ferry publish` puts
    /// events when no events URL is configured.
    /// Example: `--event-bus ferry-prod`.
    #[arg(long, value_name = "NAME")]
    pub event_bus: Option<String>,
    /// AWS endpoint override for ferry (e.g. a local emulator); not written to the Metaflow profile.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Name of the Metaflow profile to write (`config_<name>.json`).
    #[arg(long, default_value = "ferry", value_name = "NAME")]
    pub profile: String,
}

/// Keys of the Ferry config (`<home>/config.json`) besides `target`.
const FERRY_KEYS: [&str; 19] = [
    "metaflow_profile",
    "bucket",
    "prefix",
    "region",
    "endpoint_url",
    "table",
    "stack_name",
    "service_url",
    "api_key",
    "api_key_secret_arn",
    "datastore_root",
    "datatools_root",
    "job_queue",
    "job_role",
    "sfn_role",
    "events_role",
    "secrets_prefix",
    "event_bus",
    "events_url",
];

/// (Metaflow config key, Ferry config key) written to the profile.
const METAFLOW_KEYS: [(&str, &str); 10] = [
    ("METAFLOW_SERVICE_URL", "service_url"),
    ("METAFLOW_SERVICE_AUTH_KEY", "api_key"),
    ("METAFLOW_DATASTORE_SYSROOT_S3", "datastore_root"),
    ("METAFLOW_DATATOOLS_S3ROOT", "datatools_root"),
    ("METAFLOW_BATCH_JOB_QUEUE", "job_queue"),
    ("METAFLOW_ECS_S3_ACCESS_IAM_ROLE", "job_role"),
    ("METAFLOW_SFN_IAM_ROLE", "sfn_role"),
    ("METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE", "events_role"),
    ("METAFLOW_SFN_DYNAMO_DB_TABLE", "state_table"),
    ("METAFLOW_ARGO_EVENTS_WEBHOOK_URL", "events_url"),
];

/// `METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH` with an events URL: Metaflow's `ArgoEvent` then sends
/// `SERVICE_HEADERS`, which hold `x-api-key` (`metaflow/plugins/argo/argo_events.py`), and the
/// stack's API requires that key.
const EVENTS_AUTH: &str = "service";

/// Run `ferry configure`.
pub async fn run(ctx: &Context, args: ConfigureArgs) -> anyhow::Result<ExitCode> {
    if args.show {
        return show(ctx, &args.values.profile);
    }
    let args = *args.values;
    let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
    if let Some(file) = &args.from_stack {
        values.extend(from_stack(file, args.stack_name.as_deref())?);
    }
    let flags: [(&'static str, &Option<String>); 17] = [
        ("service_url", &args.service_url),
        ("api_key", &args.api_key),
        ("bucket", &args.bucket),
        ("prefix", &args.prefix),
        ("region", &args.region),
        ("table", &args.table),
        ("datastore_root", &args.datastore_root),
        ("datatools_root", &args.datatools_root),
        ("job_queue", &args.job_queue),
        ("job_role", &args.job_role),
        ("sfn_role", &args.sfn_role),
        ("events_role", &args.events_role),
        ("state_table", &args.state_table),
        ("event_bus", &args.event_bus),
        ("events_url", &args.events_url),
        ("endpoint_url", &args.endpoint_url),
        ("stack_name", &args.stack_name),
    ];
    for (k, v) in flags {
        if let Some(v) = v {
            values.insert(k, v.trim().to_string());
        }
    }
    values.retain(|_, v| !v.is_empty());
    let Some(bucket) = values.get("bucket").cloned() else {
        bail!("no bucket: give --from-stack FILE (the stack's describe-stacks JSON) or --bucket");
    };
    validate(&values)?;
    values
        .entry("datastore_root")
        .or_insert_with(|| format!("s3://{bucket}/metaflow"));
    values
        .entry("datatools_root")
        .or_insert_with(|| format!("s3://{bucket}/data"));
    if let Some(service) = values.get("service_url").cloned() {
        values
            .entry("events_url")
            .or_insert_with(|| ferry_events::routes::events_url(&service));
    }
    let mut prefix = values
        .remove("prefix")
        .unwrap_or_else(|| "ferry/".to_string());
    if !prefix.ends_with('/') {
        prefix.push('/');
    }

    // Ferry's config.
    let mut config = Map::new();
    config.insert("target".into(), json!("aws"));
    config.insert("prefix".into(), json!(prefix));
    // `ferry env` prints `export METAFLOW_PROFILE=<this>`.
    config.insert(
        "metaflow_profile".into(),
        json!(profile_name(&args.profile)?),
    );
    for (k, v) in &values {
        config.insert((*k).to_string(), json!(v));
    }
    let ferry_path = ctx.home.join(CONFIG_FILE);
    write_private(&ferry_path, &Value::Object(config))?;

    // The Metaflow profile.
    let mut profile = Map::new();
    profile.insert("METAFLOW_DEFAULT_METADATA".into(), json!("service"));
    profile.insert("METAFLOW_DEFAULT_DATASTORE".into(), json!("s3"));
    for (mf, key) in METAFLOW_KEYS {
        if let Some(v) = values.get(key) {
            profile.insert(mf.into(), json!(v));
        }
    }
    if values.contains_key("events_url") {
        profile.insert(
            "METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH".into(),
            json!(EVENTS_AUTH),
        );
    }
    if let Some(v) = values.get("region") {
        profile.insert(
            "METAFLOW_BATCH_CLIENT_PARAMS".into(),
            json!({"region_name": v}),
        );
    }
    let mf_home = metaflow_home()?;
    let profile_path = mf_home.join(format!("config_{}.json", profile_name(&args.profile)?));
    let profile = Value::Object(profile);
    // Only a named profile: the user's default Metaflow config (and so every plain
    // `python flow.py run`) stays as it was.
    write_private(&profile_path, &profile)?;

    if ctx.json {
        println!(
            "{}",
            json!({"ferry_config": ferry_path, "metaflow_profile": profile_path})
        );
    } else {
        println!("Wrote {}", ferry_path.display());
        println!(
            "Wrote {} (use it with METAFLOW_PROFILE={}, e.g. eval \"$(ferry env)\")",
            profile_path.display(),
            args.profile
        );
        if !values.contains_key("api_key") {
            println!(
                "No API key given: the metadata API will refuse Metaflow's requests until you run `ferry configure --api-key KEY`{}.",
                values
                    .get("api_key_secret_arn")
                    .map(|s| format!(
                        " (the key: aws secretsmanager get-secret-value --secret-id {s} --query SecretString --output text)"
                    ))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The values of a `describe-stacks` document's Outputs (and the region of its StackId).
fn from_stack(file: &Path, name: Option<&str>) -> anyhow::Result<BTreeMap<&'static str, String>> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let doc: Value = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not JSON: expected the output of `aws cloudformation describe-stacks`",
            file.display()
        )
    })?;
    let stacks = doc
        .get("Stacks")
        .and_then(Value::as_array)
        .with_context(|| format!("{} has no \"Stacks\" list", file.display()))?;
    let outputs_of = |s: &Value| -> BTreeMap<String, String> {
        s.get("Outputs")
            .and_then(Value::as_array)
            .map(|o| {
                o.iter()
                    .filter_map(|x| {
                        Some((
                            x.get("OutputKey")?.as_str()?.to_string(),
                            x.get("OutputValue")?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let stack = match name {
        Some(n) => stacks
            .iter()
            .find(|s| s.get("StackName").and_then(Value::as_str) == Some(n))
            .with_context(|| format!("{} has no stack named {n}", file.display()))?,
        None => stacks
            .iter()
            .find(|s| outputs_of(s).contains_key("FerryBucket"))
            .with_context(|| {
                format!("{} has no stack with a FerryBucket output", file.display())
            })?,
    };
    let outputs = outputs_of(stack);
    let mut v = BTreeMap::new();
    for (key, output) in [
        ("bucket", "FerryBucket"),
        ("table", "FerryDeploymentsTable"),
        ("service_url", "METAFLOWSERVICEURL"),
        ("api_key_secret_arn", "METAFLOWSERVICEAUTHKEYSECRET"),
        ("datastore_root", "METAFLOWDATASTORESYSROOTS3"),
        ("datatools_root", "METAFLOWDATATOOLSS3ROOT"),
        ("job_queue", "METAFLOWBATCHJOBQUEUE"),
        ("job_role", "METAFLOWECSS3ACCESSIAMROLE"),
        ("sfn_role", "METAFLOWSFNIAMROLE"),
        ("events_role", "METAFLOWEVENTSSFNACCESSIAMROLE"),
        ("state_table", "METAFLOWSFNDYNAMODBTABLE"),
        ("secrets_prefix", "FerrySecretsPrefix"),
        ("event_bus", "FerryEventBus"),
        ("events_url", "METAFLOWARGOEVENTSWEBHOOKURL"),
    ] {
        if let Some(x) = outputs.get(output) {
            v.insert(key, x.clone());
        }
    }
    if let Some(n) = stack.get("StackName").and_then(Value::as_str) {
        v.insert("stack_name", n.to_string());
    }
    // arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>
    if let Some(region) = stack
        .get("StackId")
        .and_then(Value::as_str)
        .and_then(|id| id.split(':').nth(3))
        .filter(|r| !r.is_empty())
    {
        v.insert("region", region.to_string());
    }
    Ok(v)
}

fn validate(values: &BTreeMap<&'static str, String>) -> anyhow::Result<()> {
    for (k, v) in values {
        if v.chars().any(char::is_control) {
            bail!("the value of {k} contains control characters");
        }
    }
    if let Some(b) = values.get("bucket") {
        let ok = (3..=63).contains(&b.len())
            && b.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
        if !ok {
            bail!("{b:?} is not an S3 bucket name");
        }
    }
    for k in ["service_url", "endpoint_url", "events_url"] {
        if let Some(u) = values.get(k)
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            bail!("{k} {u:?} is not an http(s) URL");
        }
    }
    if let Some(u) = values.get("events_url")
        && ferry_events::routes::events_api_base(u).is_none()
    {
        bail!(
            "events_url {u:?} is not the stack's events route: it ends in {} (the stack output METAFLOWARGOEVENTSWEBHOOKURL)",
            ferry_events::routes::EVENTS_ROUTE
        );
    }
    for k in ["datastore_root", "datatools_root"] {
        if let Some(u) = values.get(k)
            && !u.starts_with("s3://")
        {
            bail!("{k} {u:?} is not an s3:// URL");
        }
    }
    Ok(())
}

fn profile_name(name: &str) -> anyhow::Result<&str> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        bail!("the profile name {name:?} must be letters, digits, '-' or '_'");
    }
    Ok(name)
}

/// `$METAFLOW_HOME`, else `~/.metaflowconfig`.
pub fn metaflow_home() -> anyhow::Result<PathBuf> {
    if let Some(h) = std::env::var_os("METAFLOW_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".metaflowconfig")),
        None => bail!("set METAFLOW_HOME: there is no HOME to put ~/.metaflowconfig in"),
    }
}

/// Write `value` as pretty JSON to `path` with mode 0600 (parent created), atomically.
fn write_private(path: &Path, value: &Value) -> anyhow::Result<()> {
    let dir = path.parent().context("a config path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(serde_json::to_string_pretty(value)?.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `abcd…` for a secret (at most 4 characters shown).
fn mask(v: &str) -> String {
    let shown: String = v.chars().take(4).collect();
    if v.chars().count() <= 8 {
        "****".to_string()
    } else {
        format!("{shown}…")
    }
}

fn read_json(path: &Path) -> anyhow::Result<Option<Map<String, Value>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(
            serde_json::from_slice(&b).with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `ferry configure --show`.
fn show(ctx: &Context, profile: &str) -> anyhow::Result<ExitCode> {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let ferry_path = ctx.home.join(CONFIG_FILE);
    let ferry = read_json(&ferry_path)?;
    match &ferry {
        None => rows.push((
            "target".into(),
            "local".into(),
            format!("default: no {}", ferry_path.display()),
        )),
        Some(cfg) => {
            let src = ferry_path.display().to_string();
            rows.push((
                "target".into(),
                cfg.get("target").map(as_text).unwrap_or_default(),
                src.clone(),
            ));
            for k in FERRY_KEYS {
                let env_over = match k {
                    "region" => ["AWS_REGION", "AWS_DEFAULT_REGION"]
                        .into_iter()
                        .find_map(|e| std::env::var(e).ok().map(|v| (e, v))),
                    "endpoint_url" => std::env::var("AWS_ENDPOINT_URL")
                        .ok()
                        .map(|v| ("AWS_ENDPOINT_URL", v)),
                    _ => None,
                };
                if let Some((e, v)) = env_over.filter(|(_, v)| !v.is_empty()) {
                    rows.push((k.into(), v, format!("environment {e}")));
                } else if let Some(v) = cfg.get(k) {
                    let v = as_text(v);
                    let v = if k == "api_key" { mask(&v) } else { v };
                    rows.push((k.into(), v, src.clone()));
                }
            }
        }
    }
    let mf_home = metaflow_home()?;
    let profile_env = std::env::var("METAFLOW_PROFILE")
        .ok()
        .filter(|p| !p.is_empty());
    let profile_path = match &profile_env {
        Some(p) => mf_home.join(format!("config_{}.json", profile_name(p)?)),
        None => mf_home.join("config.json"),
    };
    let mf = read_json(&profile_path)?.unwrap_or_default();
    let mut mf_keys: Vec<&str> = vec!["METAFLOW_DEFAULT_METADATA", "METAFLOW_DEFAULT_DATASTORE"];
    mf_keys.extend(METAFLOW_KEYS.iter().map(|(k, _)| *k));
    mf_keys.push("METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH");
    for k in mf_keys {
        let (v, src) = match std::env::var(k).ok().filter(|v| !v.is_empty()) {
            Some(v) => (v, format!("environment {k}")),
            None => match mf.get(k) {
                Some(v) => (as_text(v), profile_path.display().to_string()),
                None => continue,
            },
        };
        let v = if k == "METAFLOW_SERVICE_AUTH_KEY" {
            mask(&v)
        } else {
            v
        };
        rows.push((k.into(), v, src));
    }
    if ctx.json {
        let obj: Map<String, Value> = rows
            .iter()
            .map(|(k, v, s)| (k.clone(), json!({"value": v, "source": s})))
            .collect();
        println!("{}", Value::Object(obj));
    } else {
        if profile_env.is_none() && mf_home.join(format!("config_{profile}.json")).exists() {
            println!(
                "(Metaflow reads {} unless METAFLOW_PROFILE is set; the Ferry profile is config_{profile}.json)",
                profile_path.display()
            );
        }
        let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (k, v, s) in rows {
            println!("{k:<w$}  {v}  ({s})");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets() {
        assert_eq!(mask("short"), "****");
        assert_eq!(mask("0123456789abcdef"), "0123…");
    }
}
