//! The AWS adapters' settings, from the deploy Lambda's environment (`template.yaml`).
//! The compile settings of the same environment are `functions/deploy`'s `settings_from_env`.
//!
//! | variable | field | required |
//! |---|---|---|
//! | `FERRY_BUCKET` | [`AwsConfig::bucket`] | yes |
//! | `FERRY_BLOB_PREFIX` | [`AwsConfig::blob_prefix`] (default `ferry/`) | no |
//! | `FERRY_DEPLOYMENTS_TABLE` | [`AwsConfig::deployments_table`] | yes |
//! | `FERRY_SFN_ROLE_ARN` | [`AwsConfig::sfn_role_arn`] | yes |
//! | `FERRY_SCHEDULER_ROLE_ARN` | [`AwsConfig::scheduler_role_arn`] | yes |
//! | `FERRY_SCHEDULE_GROUP` | [`AwsConfig::schedule_group`] (default `default`) | no |
//! | `FERRY_API_KEY_SECRET_ARN` | [`AwsConfig::api_key_secret_arn`] | no |
//! | `FERRY_BATCH_LOG_GROUP` | [`AwsConfig::batch_log_group`] | no |
//! | `FERRY_SECRETS_PREFIX` | [`AwsConfig::secrets_prefix`] (default `/ferry/`) | no |
//! | `FERRY_EVENTS_FUNCTION_ARN` | [`AwsConfig::events`]: the events Lambda the rules target; unset: no rules | no |
//! | `FERRY_EVENT_BUS` | [`EventsConfig::event_bus`] (default `ferry-events`) | with the above |
//! | `FERRY_RULE_PREFIX` | [`EventsConfig::rule_prefix`] (default `ferry-`) | with the above |
//! | `AWS_REGION`, else `AWS_DEFAULT_REGION` | [`AwsConfig::region`] (Lambda sets `AWS_REGION`) | no |

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("the environment variable {0} is required")]
    Missing(&'static str),
    /// A variable has a value that cannot be right.
    #[error("the environment variable {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

/// What the AWS adapters need to know about the installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    /// The stack's bucket.
    pub bucket: String,
    /// Ferry's key prefix in the bucket, ending in `/` (`ferry/`).
    pub blob_prefix: String,
    /// The DynamoDB table of deployment records and request claims.
    pub deployments_table: String,
    /// The role Step Functions runs state machines with (`arn:<partition>:iam::<account>:role/…`).
    pub sfn_role_arn: String,
    /// The role EventBridge Scheduler starts executions with.
    pub scheduler_role_arn: String,
    /// The EventBridge Scheduler schedule group.
    pub schedule_group: String,
    /// The Secrets Manager secret holding the metadata API key (JSON key `apikey`); `None`: the
    /// jobs get no `METAFLOW_SERVICE_AUTH_KEY`.
    pub api_key_secret_arn: Option<String>,
    /// The CloudWatch log group of Batch jobs; `None`: Batch's default (`/aws/batch/job`).
    pub batch_log_group: Option<String>,
    /// The AWS region (ARNs, `awslogs-region`); `None`: the SDK's.
    pub region: Option<String>,
    /// The SSM parameter prefix of the stack's secrets (`/ferry/<stack name>/`).
    pub secrets_prefix: String,
    /// The EventBridge rules' settings; `None`: the installation keeps no rules.
    pub events: Option<EventsConfig>,
}

/// Where a stack's EventBridge rules go and what they target (`template.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// The events Lambda's ARN (every rule's target).
    pub function_arn: String,
    /// The Ferry event bus (published events).
    pub event_bus: String,
    /// The prefix of every rule name of the stack (the deploy Lambda may touch only these).
    pub rule_prefix: String,
}

impl AwsConfig {
    /// Read the process environment (see the module table).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the variables through `lookup` (tests pass a map). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let req = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let arn = |name: &'static str| -> Result<String, ConfigError> {
            let v = req(name)?;
            let parts: Vec<&str> = v.split(':').collect();
            if parts.len() >= 6 && parts[0] == "arn" && !parts[4].is_empty() {
                Ok(v)
            } else {
                Err(ConfigError::Invalid {
                    name,
                    why: format!("{v:?} is not an ARN with an account"),
                })
            }
        };
        let mut blob_prefix = get("FERRY_BLOB_PREFIX").unwrap_or_else(|| "ferry/".to_string());
        if !blob_prefix.ends_with('/') {
            blob_prefix.push('/');
        }
        Ok(AwsConfig {
            bucket: req("FERRY_BUCKET")?,
            blob_prefix,
            deployments_table: req("FERRY_DEPLOYMENTS_TABLE")?,
            sfn_role_arn: arn("FERRY_SFN_ROLE_ARN")?,
            scheduler_role_arn: arn("FERRY_SCHEDULER_ROLE_ARN")?,
            schedule_group: get("FERRY_SCHEDULE_GROUP").unwrap_or_else(|| "default".to_string()),
            api_key_secret_arn: get("FERRY_API_KEY_SECRET_ARN"),
            batch_log_group: get("FERRY_BATCH_LOG_GROUP"),
            region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            secrets_prefix: get("FERRY_SECRETS_PREFIX")
                .unwrap_or_else(|| crate::secrets::DEFAULT_PREFIX.to_string()),
            events: match get("FERRY_EVENTS_FUNCTION_ARN") {
                None => None,
                Some(_) => Some(EventsConfig {
                    function_arn: arn("FERRY_EVENTS_FUNCTION_ARN")?,
                    event_bus: get("FERRY_EVENT_BUS").unwrap_or_else(|| "ferry-events".into()),
                    rule_prefix: get("FERRY_RULE_PREFIX").unwrap_or_else(|| "ferry-".into()),
                }),
            },
        })
    }

    /// The key prefix of the wrapper binaries: `<blob prefix>bin/task-wrapper-` (the
    /// architecture, `x86_64` or `arm64`, follows).
    pub fn wrapper_key_prefix(&self) -> String {
        format!("{}bin/task-wrapper-", self.blob_prefix)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("FERRY_BUCKET", "ferry-abc"),
            ("FERRY_DEPLOYMENTS_TABLE", "deployments"),
            ("FERRY_SFN_ROLE_ARN", "arn:aws:iam::123456789012:role/sfn"),
            (
                "FERRY_SCHEDULER_ROLE_ARN",
                "arn:aws:iam::123456789012:role/sched",
            ),
            ("FERRY_BATCH_LOG_GROUP", "/ferry/batch"),
        ])
    }

    #[test]
    fn defaults() {
        let e = env();
        let c = AwsConfig::from_lookup(|n| e.get(n).map(|v| v.to_string())).unwrap();
        assert_eq!(c.blob_prefix, "ferry/");
        assert_eq!(c.schedule_group, "default");
        assert_eq!(c.batch_log_group.as_deref(), Some("/ferry/batch"));
        assert_eq!(c.api_key_secret_arn, None);
        assert_eq!(c.wrapper_key_prefix(), "ferry/bin/task-wrapper-");
        assert_eq!(c.secrets_prefix, "/ferry/");
        assert_eq!(c.events, None);
        let mut e = env();
        e.insert(
            "FERRY_EVENTS_FUNCTION_ARN",
            "arn:aws:lambda:eu-west-1:123456789012:function:events",
        );
        e.insert("FERRY_RULE_PREFIX", "ferry-ab12cd34-");
        let c = AwsConfig::from_lookup(|n| e.get(n).map(|v| v.to_string())).unwrap();
        let events = c.events.unwrap();
        assert_eq!(events.event_bus, "ferry-events");
        assert_eq!(events.rule_prefix, "ferry-ab12cd34-");
    }

    #[test]
    fn missing_and_invalid_values_are_named() {
        let mut e = env();
        e.remove("FERRY_DEPLOYMENTS_TABLE");
        let err = AwsConfig::from_lookup(|n| e.get(n).map(|v| v.to_string())).unwrap_err();
        assert_eq!(err, ConfigError::Missing("FERRY_DEPLOYMENTS_TABLE"));
        let mut e = env();
        e.insert("FERRY_SFN_ROLE_ARN", "sfn-role");
        let err = AwsConfig::from_lookup(|n| e.get(n).map(|v| v.to_string())).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "FERRY_SFN_ROLE_ARN",
                ..
            }
        ));
    }
}
