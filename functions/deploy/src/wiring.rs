//! Building the deploy use case's context from the Lambda's environment (template.yaml sets the
//! variables below).
//!
//! [`settings_from_env`] maps the environment to [`DeploySettings`] (pure, tested here).
//! [`context_from_env`] adds the stores (`DynamoTable` on `FERRY_DEPLOYMENTS_TABLE`, `S3Blobs` on
//! `FERRY_BUCKET`/`FERRY_BLOB_PREFIX`) and the `ferry-aws` adapters of the ports (Step Functions
//! with `FERRY_SFN_ROLE_ARN`, EventBridge Scheduler in `FERRY_SCHEDULE_GROUP` with
//! `FERRY_SCHEDULER_ROLE_ARN`, Batch job definitions with `FERRY_API_KEY_SECRET_ARN` and
//! `FERRY_BATCH_LOG_GROUP`; see `ferry_aws::config`).
//!
//! Without `FERRY_WRAPPER_HASHES` and `FERRY_WRAPPER_COMMAND`, the context reads the hashes the
//! install step uploads next to the wrapper binaries (`<blob prefix>bin/task-wrapper-<arch>.sha256`,
//! one hex digest) and, when any exists, tasks bootstrap the wrapper from the bucket; otherwise
//! they run the image's `task-wrapper`.
//!
//! | variable | use |
//! |---|---|
//! | `FERRY_BUCKET` | the stack's bucket (blobs, datastore) |
//! | `FERRY_BLOB_PREFIX` | Ferry's key prefix in it (`ferry/`) |
//! | `FERRY_DATASTORE_ROOT` | Metaflow's `METAFLOW_DATASTORE_SYSROOT_S3` |
//! | `FERRY_DEPLOYMENTS_TABLE` | records and request claims |
//! | `FERRY_STATE_TABLE` | foreach state (the compiled `dynamodb:getItem` reads it) |
//! | `FERRY_METADATA_URL` | Metaflow's `METAFLOW_SERVICE_URL` |
//! | `FERRY_JOB_QUEUE_ARN`, `FERRY_TASK_IMAGE`, `FERRY_JOB_ROLE_ARN`, `FERRY_EXECUTION_ROLE_ARN` | Batch defaults |
//! | `FERRY_WRAPPER_HASHES` (optional) | `x86_64=<sha256>,arm64=<sha256>`: tasks bootstrap the wrapper from `s3://<bucket>/<FERRY_WRAPPER_PREFIX><arch>` (default prefix `<blob prefix>bin/task-wrapper-`) |
//! | `FERRY_WRAPPER_COMMAND` (optional) | JSON array: the wrapper argv when the image has it (default `["task-wrapper"]`) |
//! | `FERRY_STATE_MACHINE_PREFIX` (optional) | Metaflow's `SFN_STATE_MACHINE_PREFIX` |
//! | `FERRY_EVENTS_FUNCTION_ARN`, `FERRY_EVENT_BUS`, `FERRY_RULE_PREFIX` (optional) | the deployments' EventBridge rules and their target, the events Lambda (`ferry_aws::config`); unset: no rules |
//! | `FERRY_SECRETS_PREFIX` (optional) | SSM parameter prefix of notification secrets (default `/ferry/`) |
//! | `AWS_PARTITION` (optional) | ARN partition (default `aws`) |

use std::sync::Arc;

use anyhow::{Context as _, bail};
use ferry_compile::{CompileOptions, Platform};
use ferry_deploy::{DeployContext, DeploySettings};
use ferry_spec::task::{BlobStoreRef, DatastoreSettings, MetadataSettings, TableRef};

/// The Lambda's timeout (template.yaml) plus a margin: a claim older than this belongs to an
/// invocation that died, and a redelivery takes it over.
pub const CLAIM_STALE_AFTER_SECS: i64 = 150;

/// The blob prefix of the stack's bucket (`FERRY_BLOB_PREFIX`, default `ferry/`).
pub fn blob_prefix() -> String {
    std::env::var("FERRY_BLOB_PREFIX").unwrap_or_else(|_| "ferry/".to_string())
}

/// The deploy settings described by the environment `get` reads.
pub fn settings_from_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<DeploySettings> {
    let need = |name: &str| match get(name).filter(|v| !v.trim().is_empty()) {
        Some(v) => Ok(v),
        None => bail!("the deploy function needs the environment variable {name}"),
    };
    let bucket = need("FERRY_BUCKET")?;
    let prefix = get("FERRY_BLOB_PREFIX").unwrap_or_else(|| "ferry/".to_string());
    let state_table = need("FERRY_STATE_TABLE")?;
    let python = "python3".to_string();
    let wrapper_command = match (get("FERRY_WRAPPER_HASHES"), get("FERRY_WRAPPER_COMMAND")) {
        (Some(hashes), _) => {
            let pairs: Vec<(String, String)> = hashes
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| match p.trim().split_once('=') {
                    Some((a, h)) => Ok((a.to_string(), h.to_string())),
                    None => bail!("FERRY_WRAPPER_HASHES entry {p:?} is not <arch>=<sha256>"),
                })
                .collect::<anyhow::Result<_>>()?;
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(a, h)| (a.as_str(), h.as_str()))
                .collect();
            let wprefix =
                get("FERRY_WRAPPER_PREFIX").unwrap_or_else(|| format!("{prefix}bin/task-wrapper-"));
            ferry_compile::bootstrap::bootstrap_command(&python, &bucket, &wprefix, &refs)?
        }
        (None, Some(json)) => serde_json::from_str::<Vec<String>>(&json)
            .context("FERRY_WRAPPER_COMMAND must be a JSON array of strings")?,
        (None, None) => vec!["task-wrapper".to_string()],
    };
    let compile = CompileOptions {
        partition: get("AWS_PARTITION").unwrap_or_else(|| "aws".to_string()),
        blobs: BlobStoreRef::S3 {
            bucket: bucket.clone(),
            prefix: prefix.clone(),
        },
        state_table_name: state_table.clone(),
        state_table: TableRef::Dynamodb { table: state_table },
        job_queue: need("FERRY_JOB_QUEUE_ARN")?,
        default_image: need("FERRY_TASK_IMAGE")?,
        job_role_arn: get("FERRY_JOB_ROLE_ARN"),
        execution_role_arn: get("FERRY_EXECUTION_ROLE_ARN"),
        platform: Platform::Fargate,
        wrapper_command,
        python,
        metadata: MetadataSettings {
            kind: "service".into(),
            url: Some(need("FERRY_METADATA_URL")?),
        },
        datastore: DatastoreSettings {
            kind: "s3".into(),
            root: get("FERRY_DATASTORE_ROOT").unwrap_or_else(|| format!("s3://{bucket}/metaflow")),
        },
        ..CompileOptions::default()
    };
    Ok(DeploySettings {
        platform: ferry_deploy::PLATFORM_AWS.to_string(),
        state_machine_prefix: get("FERRY_STATE_MACHINE_PREFIX").filter(|p| !p.is_empty()),
        claim_stale_after_secs: CLAIM_STALE_AFTER_SECS,
        compile,
        // Set by `context_from` with the EventBridge adapter (`FERRY_EVENTS_FUNCTION_ARN`).
        event_rules: None,
    })
}

/// The deploy context of this Lambda, from the process environment.
pub async fn context_from_env() -> anyhow::Result<DeployContext> {
    context_from(|k| std::env::var(k).ok()).await
}

/// The deploy context described by the variables `get` reads (AWS clients still take
/// credentials, region and `AWS_ENDPOINT_URL` from the process environment).
pub async fn context_from(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<DeployContext> {
    // Checked first, so a misconfigured stack says what is missing.
    let mut settings = settings_from_env(&get)?;
    let aws = ferry_aws::AwsConfig::from_lookup(&get)?;
    let blobs = ferry_store::open_blobs(&BlobStoreRef::S3 {
        bucket: aws.bucket.clone(),
        prefix: aws.blob_prefix.clone(),
    })
    .await
    .context("opening the stack's bucket")?;
    // DynamoDB directly (not `open_table`), so this binary never links the SQLite adapter.
    let table = ferry_store::open_dynamodb_table(
        &aws.deployments_table,
        &ferry_store::AwsClientSettings::default(),
    )
    .await;
    if get("FERRY_WRAPPER_HASHES").is_none() && get("FERRY_WRAPPER_COMMAND").is_none() {
        let mut hashes = Vec::new();
        for arch in ferry_compile::bootstrap::ARCHITECTURES {
            let key = format!("bin/task-wrapper-{arch}.sha256");
            let found = match blobs.get(&key).await {
                Ok(found) => found,
                Err(e) => {
                    // Not fatal: tasks then run the image's task-wrapper.
                    tracing::warn!(key = %key, error = %e, "cannot read a wrapper hash");
                    None
                }
            };
            if let Some(bytes) = found {
                let sha = String::from_utf8_lossy(&bytes)
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                hashes.push((arch, sha));
            }
        }
        if !hashes.is_empty() {
            let refs: Vec<(&str, &str)> = hashes.iter().map(|(a, h)| (*a, h.as_str())).collect();
            settings.compile.wrapper_command = ferry_compile::bootstrap::bootstrap_command(
                &settings.compile.python,
                &aws.bucket,
                &aws.wrapper_key_prefix(),
                &refs,
            )?;
        }
    }
    let sdk = ferry_aws::sdk_config().await;
    let adapters = ferry_aws::Adapters::new(&sdk, &aws)?;
    let event_rules: Arc<dyn ferry_deploy::EventRules> = match adapters.event_rules {
        Some((rules, rule_settings)) => {
            settings.event_rules = Some(rule_settings);
            Arc::new(rules)
        }
        None => Arc::new(ferry_deploy::NoEventRules),
    };
    Ok(DeployContext {
        table,
        blobs,
        state_machines: Arc::new(adapters.step_functions),
        schedules: Arc::new(adapters.schedules),
        job_definitions: Arc::new(adapters.job_definitions),
        secrets: Arc::new(adapters.secrets),
        event_rules,
        settings,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn template_env() -> HashMap<&'static str, String> {
        HashMap::from([
            ("FERRY_BUCKET", "ferry-abc123".to_string()),
            ("FERRY_BLOB_PREFIX", "ferry/".to_string()),
            (
                "FERRY_DATASTORE_ROOT",
                "s3://ferry-abc123/metaflow".to_string(),
            ),
            (
                "FERRY_DEPLOYMENTS_TABLE",
                "stack-DeploymentsTable-1".to_string(),
            ),
            ("FERRY_STATE_TABLE", "stack-StateTable-1".to_string()),
            (
                "FERRY_METADATA_URL",
                "https://abc.execute-api.eu-west-1.amazonaws.com/api".to_string(),
            ),
            (
                "FERRY_JOB_QUEUE_ARN",
                "arn:aws:batch:eu-west-1:123456789012:job-queue/ferry".to_string(),
            ),
            (
                "FERRY_JOB_ROLE_ARN",
                "arn:aws:iam::123456789012:role/job".to_string(),
            ),
            (
                "FERRY_EXECUTION_ROLE_ARN",
                "arn:aws:iam::123456789012:role/exec".to_string(),
            ),
            (
                "FERRY_TASK_IMAGE",
                "public.ecr.aws/docker/library/python:3.11-slim".to_string(),
            ),
        ])
    }

    #[test]
    fn the_template_environment_makes_aws_settings() {
        let env = template_env();
        let s = settings_from_env(|k| env.get(k).cloned()).unwrap();
        assert_eq!(s.platform, "AWS Step Functions");
        assert_eq!(s.claim_stale_after_secs, 150);
        let c = &s.compile;
        assert_eq!(
            c.blobs,
            BlobStoreRef::S3 {
                bucket: "ferry-abc123".into(),
                prefix: "ferry/".into()
            }
        );
        assert_eq!(
            c.state_table,
            TableRef::Dynamodb {
                table: "stack-StateTable-1".into()
            }
        );
        assert_eq!(c.state_table_name, "stack-StateTable-1");
        assert_eq!(c.platform, Platform::Fargate);
        assert_eq!(
            c.metadata.url.as_deref(),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com/api")
        );
        assert_eq!(c.datastore.root, "s3://ferry-abc123/metaflow");
        assert_eq!(c.wrapper_command, vec!["task-wrapper"]);
        assert_eq!(
            c.blob_url("tasks/x.json"),
            "s3://ferry-abc123/ferry/tasks/x.json"
        );
    }

    #[test]
    fn wrapper_hashes_make_a_bootstrap_command() {
        let mut env = template_env();
        let sha = "a".repeat(64);
        env.insert("FERRY_WRAPPER_HASHES", format!("x86_64={sha}"));
        let s = settings_from_env(|k| env.get(k).cloned()).unwrap();
        let cmd = &s.compile.wrapper_command;
        assert_eq!(cmd[0], "python3");
        assert!(cmd.contains(&"ferry-abc123".to_string()));
        assert!(cmd.contains(&"ferry/bin/task-wrapper-".to_string()));
        assert!(cmd.contains(&format!("x86_64={sha}")));
        env.insert("FERRY_WRAPPER_HASHES", "x86_64".into());
        assert!(settings_from_env(|k| env.get(k).cloned()).is_err());
    }

    #[test]
    fn missing_variables_are_named() {
        let mut env = template_env();
        env.remove("FERRY_STATE_TABLE");
        let e = settings_from_env(|k| env.get(k).cloned())
            .unwrap_err()
            .to_string();
        assert!(e.contains("FERRY_STATE_TABLE"), "{e}");
    }
}
