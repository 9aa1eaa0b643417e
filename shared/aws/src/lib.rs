//! AWS adapters for the control plane (`ferry-control`) and the deploy ports of `ferry-deploy`,
//! and the deploy Lambda's configuration.
//!
//! | module | port | AWS service |
//! |---|---|---|
//! | [`sfn`] | [`ferry_control::StateMachines`], [`ferry_control::Executions`] | Step Functions |
//! | [`events`] | [`ferry_control::ExecutionEvent`] (the lifecycle hook) | EventBridge "Step Functions Execution Status Change" |
//! | [`eventbridge`] | [`ferry_deploy::EventRules`]; publishing to the Ferry bus | EventBridge `PutRule`/`PutTargets`/`PutEvents` |
//! | [`scheduler`] | [`ferry_deploy::Schedules`] | EventBridge Scheduler |
//! | [`batch`] | [`ferry_deploy::JobDefinitions`] | Batch `RegisterJobDefinition` |
//! | [`secrets`] | [`ferry_deploy::Secrets`] | SSM Parameter Store `SecureString` |
//! | [`config`] | — | the adapters' settings from the deploy Lambda's environment |
//!
//! Every adapter takes an SDK client built from an [`aws_config::SdkConfig`] (so tests point
//! them at moto with `AWS_ENDPOINT_URL`) and names resources by name, mapping names to ARNs
//! itself.

pub mod batch;
pub mod config;
mod errors;
pub mod eventbridge;
pub mod events;
pub mod scheduler;
pub mod secrets;
pub mod sfn;

pub use batch::BatchJobDefinitions;
pub use config::{AwsConfig, ConfigError, EventsConfig};
pub use eventbridge::{EventBridgeRules, EventBus, PublishError};
pub use scheduler::SchedulerSchedules;
pub use secrets::SsmSecrets;
pub use sfn::StepFunctions;

/// The SDK configuration from the environment (credentials, region, `AWS_ENDPOINT_URL`).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// An SNS client on `sdk` (what `ferry_notify::Notifier::with_sns` publishes with), so callers
/// need not name the SDK.
pub fn sns_client(sdk: &aws_config::SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(sdk)
}

/// An EventBridge bus of `name` on `sdk` (`ferry publish` on AWS).
pub fn event_bus(sdk: &aws_config::SdkConfig, name: &str) -> EventBus {
    EventBus::new(aws_sdk_eventbridge::Client::new(sdk), name)
}

/// The port adapters of one installation, built from one SDK configuration.
#[derive(Debug, Clone)]
pub struct Adapters {
    /// Step Functions ([`ferry_control::StateMachines`], [`ferry_control::Executions`]).
    pub step_functions: StepFunctions,
    /// EventBridge Scheduler ([`ferry_deploy::Schedules`]).
    pub schedules: SchedulerSchedules,
    /// Batch job definitions ([`ferry_deploy::JobDefinitions`]).
    pub job_definitions: BatchJobDefinitions,
    /// SSM Parameter Store ([`ferry_deploy::Secrets`]) under [`AwsConfig::secrets_prefix`].
    pub secrets: SsmSecrets,
    /// EventBridge rules ([`ferry_deploy::EventRules`]) and their settings, when
    /// [`AwsConfig::events`] is set.
    pub event_rules: Option<(EventBridgeRules, ferry_compile::event_rules::RuleSettings)>,
}

impl Adapters {
    /// Clients from `sdk` (endpoint, credentials), settings from `config`. The region is
    /// `config.region`, else the SDK's.
    /// Errors: [`ferry_control::ControlError::Invalid`] without a region or with a Step
    /// Functions role ARN that names no account.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        config: &AwsConfig,
    ) -> Result<Self, ferry_control::ControlError> {
        let region = config
            .region
            .clone()
            .or_else(|| sdk.region().map(|r| r.to_string()))
            .unwrap_or_default();
        let step_functions = StepFunctions::from_sdk(sdk, &config.sfn_role_arn, &region)?;
        let event_rules = config.events.as_ref().map(|e| {
            (
                EventBridgeRules::new(aws_sdk_eventbridge::Client::new(sdk), &e.function_arn),
                ferry_compile::event_rules::RuleSettings {
                    rule_prefix: e.rule_prefix.clone(),
                    event_bus: e.event_bus.clone(),
                    event_source: ferry_events::event::EVENT_SOURCE.to_string(),
                    state_machine_arn_prefix: step_functions.state_machine_arn(""),
                },
            )
        });
        Ok(Adapters {
            step_functions,
            event_rules,
            schedules: SchedulerSchedules::new(
                aws_sdk_scheduler::Client::new(sdk),
                &config.schedule_group,
                &config.scheduler_role_arn,
            ),
            job_definitions: BatchJobDefinitions::new(
                aws_sdk_batch::Client::new(sdk),
                config.api_key_secret_arn.clone(),
                config.batch_log_group.clone(),
                Some(region).filter(|r| !r.is_empty()),
            ),
            secrets: SsmSecrets::from_config(sdk, &config.secrets_prefix),
        })
    }
}
