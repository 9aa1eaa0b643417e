//! [`Secrets`] on SSM Parameter Store: one `SecureString` parameter per secret, named
//! `<prefix><secret name>` (the stack's prefix is `/ferry/<stack name>/`), encrypted with the
//! account's `aws/ssm` key. Standard parameters cost nothing while idle (Secrets Manager bills
//! each secret monthly), hold up to 4 KiB, and IAM scopes who reads them to the prefix.
//! Calls: put = `PutParameter` (`Overwrite`), get = `GetParameter` with decryption, exists =
//! `GetParameter` without decryption, delete = `DeleteParameter`.

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterType;
use ferry_deploy::secrets::{SecretName, Secrets, SecretsError};

use crate::errors::{Failure, classify};

/// SSM Parameter Store as the secrets port. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SsmSecrets {
    client: Client,
    prefix: String,
}

fn port_error(f: Failure) -> SecretsError {
    match f {
        Failure::Service { code, message } => match code.as_str() {
            "AccessDeniedException" => SecretsError::Denied(message),
            "ValidationException"
            | "ParameterMaxVersionLimitExceeded"
            | "ParameterPatternMismatchException"
            | "ParameterLimitExceeded"
            | "HierarchyLevelLimitExceededException"
            | "HierarchyTypeMismatchException"
            | "UnsupportedParameterType" => SecretsError::Invalid(format!("{code}: {message}")),
            _ => SecretsError::Other(format!("{code}: {message}")),
        },
        Failure::Transient(m) => SecretsError::Transient(m),
        Failure::Other(m) => SecretsError::Other(m),
    }
}

fn not_found(f: &Failure) -> bool {
    matches!(f, Failure::Service { code, .. } if code == "ParameterNotFound")
}

/// The stack's parameter prefix when none is configured.
pub const DEFAULT_PREFIX: &str = "/ferry/";

impl SsmSecrets {
    /// Secrets under `prefix` (`/ferry/<stack>/`; a missing leading or trailing `/` is added).
    pub fn new(client: Client, prefix: &str) -> Self {
        let mut prefix = prefix.trim().to_string();
        if !prefix.starts_with('/') {
            prefix.insert(0, '/');
        }
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        SsmSecrets { client, prefix }
    }

    /// [`SsmSecrets::new`] with a client built from `sdk`.
    pub fn from_config(sdk: &aws_config::SdkConfig, prefix: &str) -> Self {
        Self::new(Client::new(sdk), prefix)
    }

    /// The parameter name of `name`.
    pub fn parameter_name(&self, name: &SecretName) -> String {
        format!("{}{}", self.prefix, name.as_str())
    }

    async fn read(
        &self,
        name: &SecretName,
        decrypt: bool,
    ) -> Result<Option<Option<String>>, SecretsError> {
        match self
            .client
            .get_parameter()
            .name(self.parameter_name(name))
            .with_decryption(decrypt)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.parameter.and_then(|p| p.value))),
            Err(e) => {
                let f = classify(&e);
                if not_found(&f) {
                    Ok(None)
                } else {
                    Err(port_error(f))
                }
            }
        }
    }
}

#[async_trait]
impl Secrets for SsmSecrets {
    async fn put(&self, name: &SecretName, value: &str) -> Result<(), SecretsError> {
        self.client
            .put_parameter()
            .name(self.parameter_name(name))
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .description("Ferry: notification secrets of one deploy request")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error(classify(&e)))
    }

    async fn get(&self, name: &SecretName) -> Result<Option<String>, SecretsError> {
        Ok(self.read(name, true).await?.flatten())
    }

    async fn exists(&self, name: &SecretName) -> Result<bool, SecretsError> {
        Ok(self.read(name, false).await?.is_some())
    }

    async fn delete(&self, name: &SecretName) -> Result<bool, SecretsError> {
        match self
            .client
            .delete_parameter()
            .name(self.parameter_name(name))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let f = classify(&e);
                if not_found(&f) {
                    Ok(false)
                } else {
                    Err(port_error(f))
                }
            }
        }
    }

    fn location(&self, name: &SecretName) -> String {
        format!("ssm:{}", self.parameter_name(name))
    }
}
