//! [`JobDefinitions`] on AWS Batch: `RegisterJobDefinition` of a `container` definition named by
//! its content hash (`ferry-<hash>`, computed by `ferry-compile`), skipped when an ACTIVE
//! revision of that name exists. Installation-wide settings are added here: the
//! `METAFLOW_SERVICE_AUTH_KEY` secret (`<secret arn>:apikey::`), awslogs to the Batch log group
//! and, on Fargate, a public IP (the stack's subnets are public, without NAT) and the latest
//! platform version. Calls: `DescribeJobDefinitions` (+ `RegisterJobDefinition` the first time).

use async_trait::async_trait;
use aws_sdk_batch::Client;
use aws_sdk_batch::types::{
    AssignPublicIp, ContainerProperties, FargatePlatformConfiguration, JobDefinitionType,
    LinuxParameters, LogConfiguration, LogDriver, NetworkConfiguration, PlatformCapability,
    ResourceRequirement, ResourceType, Secret,
};
use ferry_compile::Platform;
use ferry_deploy::{JobDefinitionError, JobDefinitionSpec, JobDefinitions};

use crate::errors::{Failure, classify};

/// The environment variable the API-key secret is mapped to.
pub const AUTH_KEY_VAR: &str = "METAFLOW_SERVICE_AUTH_KEY";

/// Batch as the job definitions port. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BatchJobDefinitions {
    client: Client,
    api_key_secret_arn: Option<String>,
    log_group: Option<String>,
    region: Option<String>,
}

fn port_error(f: Failure) -> JobDefinitionError {
    match f {
        Failure::Service { code, message } if code == "ClientException" => {
            JobDefinitionError::Invalid(message)
        }
        Failure::Service { code, message } => {
            JobDefinitionError::Other(format!("{code}: {message}"))
        }
        Failure::Transient(m) => JobDefinitionError::Transient(m),
        Failure::Other(m) => JobDefinitionError::Other(m),
    }
}

impl BatchJobDefinitions {
    /// Job definitions whose jobs get `METAFLOW_SERVICE_AUTH_KEY` from `api_key_secret_arn`
    /// (JSON key `apikey`) and log to `log_group` in `region` (both optional).
    pub fn new(
        client: Client,
        api_key_secret_arn: Option<String>,
        log_group: Option<String>,
        region: Option<String>,
    ) -> Self {
        BatchJobDefinitions {
            client,
            api_key_secret_arn,
            log_group,
            region,
        }
    }

    /// The container properties of `spec` with the installation's settings.
    pub fn container_properties(&self, spec: &JobDefinitionSpec) -> ContainerProperties {
        let fargate = spec.platform == Platform::Fargate;
        let mut c = ContainerProperties::builder()
            .image(&spec.image)
            .set_job_role_arn(spec.job_role_arn.clone())
            .set_execution_role_arn(spec.execution_role_arn.clone())
            .resource_requirements(
                ResourceRequirement::builder()
                    .r#type(ResourceType::Vcpu)
                    .value(&spec.vcpus)
                    .build(),
            )
            .resource_requirements(
                ResourceRequirement::builder()
                    .r#type(ResourceType::Memory)
                    .value(spec.memory_mib.to_string())
                    .build(),
            );
        if let Some(secret) = &self.api_key_secret_arn {
            c = c.secrets(
                Secret::builder()
                    .name(AUTH_KEY_VAR)
                    .value_from(format!("{secret}:apikey::"))
                    .build(),
            );
        }
        if let Some(group) = &self.log_group {
            let mut log = LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", group)
                .options("awslogs-stream-prefix", "ferry");
            if let Some(region) = &self.region {
                log = log.options("awslogs-region", region);
            }
            c = c.log_configuration(log.build());
        }
        if fargate {
            c = c
                .network_configuration(
                    NetworkConfiguration::builder()
                        .assign_public_ip(AssignPublicIp::Enabled)
                        .build(),
                )
                .fargate_platform_configuration(
                    FargatePlatformConfiguration::builder()
                        .platform_version("LATEST")
                        .build(),
                );
        } else if let Some(shm) = spec.shared_memory_mib {
            c = c.linux_parameters(
                LinuxParameters::builder()
                    .shared_memory_size(i32::try_from(shm).unwrap_or(i32::MAX))
                    .build(),
            );
        }
        c.build()
    }

    /// The ARN of the newest ACTIVE revision named `name`, if any.
    async fn active(&self, name: &str) -> Result<Option<String>, JobDefinitionError> {
        let out = self
            .client
            .describe_job_definitions()
            .job_definition_name(name)
            .status("ACTIVE")
            .send()
            .await
            .map_err(|e| port_error(classify(&e)))?;
        Ok(out
            .job_definitions()
            .iter()
            .filter(|d| d.status() == Some("ACTIVE"))
            .max_by_key(|d| d.revision())
            .and_then(|d| d.job_definition_arn().map(str::to_string)))
    }
}

#[async_trait]
impl JobDefinitions for BatchJobDefinitions {
    async fn ensure(&self, spec: &JobDefinitionSpec) -> Result<String, JobDefinitionError> {
        if let Some(arn) = self.active(&spec.name).await? {
            return Ok(arn);
        }
        let capability = match spec.platform {
            Platform::Fargate => PlatformCapability::Fargate,
            Platform::Ec2 => PlatformCapability::Ec2,
        };
        let out = self
            .client
            .register_job_definition()
            .job_definition_name(&spec.name)
            .r#type(JobDefinitionType::Container)
            .platform_capabilities(capability)
            .container_properties(self.container_properties(spec))
            .propagate_tags(true)
            .tags("ferry:job-definition", &spec.name)
            .send()
            .await
            .map_err(|e| port_error(classify(&e)))?;
        let arn = out
            .job_definition_arn()
            .map(str::to_string)
            .unwrap_or_else(|| spec.name.clone());
        tracing::info!(name = %spec.name, arn = %arn, "registered job definition");
        Ok(arn)
    }
}
