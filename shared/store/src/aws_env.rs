//! AWS SDK configuration from the environment, shared by the factories.

use crate::open::AwsClientSettings;

/// The SDK configuration from the environment, with the endpoint and region of `settings`
/// (when given) over the environment's.
pub async fn sdk_config_with(settings: &AwsClientSettings) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    loader.load().await
}

/// Whether S3 clients use path-style addressing: `FERRY_S3_PATH_STYLE` (`1`/`true`/`0`/`false`)
/// when set, else whenever an endpoint override (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`) is set,
/// since local S3 emulators such as moto serve buckets by path.
/// An explicit endpoint (`explicit_endpoint`, e.g. [`AwsClientSettings::endpoint_url`]) counts as
/// an override too.
pub(crate) fn s3_path_style(explicit_endpoint: bool) -> bool {
    match std::env::var("FERRY_S3_PATH_STYLE") {
        Ok(v) => matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"),
        Err(_) => {
            explicit_endpoint
                || std::env::var_os("AWS_ENDPOINT_URL").is_some()
                || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        }
    }
}
