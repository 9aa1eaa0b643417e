//! AWS SDK configuration from the environment, shared by the factories.

/// The SDK configuration from the environment (credentials, region, `AWS_ENDPOINT_URL`).
pub(crate) async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Whether S3 clients use path-style addressing: `FERRY_S3_PATH_STYLE` (`1`/`true`/`0`/`false`)
/// when set, else whenever an endpoint override (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`) is set,
/// since local S3 emulators such as moto serve buckets by path.
pub(crate) fn s3_path_style() -> bool {
    match std::env::var("FERRY_S3_PATH_STYLE") {
        Ok(v) => matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"),
        Err(_) => {
            std::env::var_os("AWS_ENDPOINT_URL").is_some()
                || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        }
    }
}
