//! Classifying SDK errors: the service's error code, or a transport failure worth a retry.

use aws_sdk_sfn::error::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What an SDK call's failure was.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The service answered with this error code (e.g. `StateMachineDoesNotExist`) and message.
    Service { code: String, message: String },
    /// Throttling, a timeout, a connection failure or a 5xx: a retry may help.
    Transient(String),
    /// Anything else (construction failures, unparseable answers).
    Other(String),
}

const THROTTLING: [&str; 4] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ServiceUnavailable",
];

/// Classify `e`.
pub(crate) fn classify<E, R>(e: &SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = DisplayErrorContext(e).to_string();
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let code = err.code().unwrap_or_default().to_string();
            let message = err.message().unwrap_or_default().to_string();
            if THROTTLING.contains(&code.as_str()) || code.starts_with("InternalServer") {
                Failure::Transient(text)
            } else if code.is_empty() {
                Failure::Other(text)
            } else {
                Failure::Service { code, message }
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Transient(text)
        }
        _ => Failure::Other(text),
    }
}
