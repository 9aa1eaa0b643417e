//! How a failed command ends, decided once at the binary's edge (`main.rs`): the message on
//! stderr, under `--json` one JSON object on stdout, and the exit code.
//!
//! The JSON object is `{"error": {"kind": KIND, "message": TEXT}}`, with the command's own
//! result beside it when it has one (`ferry deploy --json` refused: `{"error": …, "status":
//! "refused", "messages": […], …}`). `KIND` is one of [`ErrorKind`]'s names.

use std::process::ExitCode;

use serde_json::{Value, json};

/// What went wrong, as `--json` reports it in `error.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `usage`: a mistake in the command line (unknown flag, missing argument, a flow parameter
    /// that does not exist or parse, several flows and no `--flow`). Exit code 2.
    Usage,
    /// `not_found`: the deployment or run named does not exist. Exit code 1.
    NotFound,
    /// `refused`: the production token does not allow the change. Exit code 1.
    Refused,
    /// `unavailable`: no stack to talk to (`ferry up` not running, the stack does not answer).
    /// Exit code 1.
    Unavailable,
    /// `invalid_flow`: the flow file cannot be read, imported or deployed as it is. Exit code 1.
    InvalidFlow,
    /// `failed`: anything else (an AWS error, a compile failure reported by the deploy handler,
    /// a timeout…). Exit code 1.
    Failed,
}

impl ErrorKind {
    /// The name `--json` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Refused => "refused",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::InvalidFlow => "invalid_flow",
            ErrorKind::Failed => "failed",
        }
    }

    /// 2 for usage errors (as clap's own), 1 otherwise.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage => 2,
            _ => 1,
        }
    }
}

/// A mistake in the command line that clap cannot see (a flow parameter that does not exist or
/// does not parse): exit code 2, like clap's own usage errors.
#[derive(Debug)]
pub struct UsageError(pub anyhow::Error);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for UsageError {}

/// An error of a known kind. `result`: the command's own JSON result to print beside the error
/// under `--json`; `reported`: the command already told the user why (its messages), so the
/// text mode prints nothing more.
#[derive(Debug)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    pub result: Option<Value>,
    pub reported: bool,
}

impl Failure {
    /// A failure of `kind` saying `message`, as the `anyhow::Error` commands return.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            kind,
            message: message.into(),
            result: None,
            reported: false,
        })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The kind of `e`: the first cause that says, else [`ErrorKind::Failed`].
pub fn kind_of(e: &anyhow::Error) -> ErrorKind {
    use ferry_spec::export::ExportError;
    if e.downcast_ref::<UsageError>().is_some() {
        return ErrorKind::Usage;
    }
    if let Some(f) = failure_of(e) {
        return f.kind;
    }
    for cause in e.chain() {
        if cause.is::<UsageError>() {
            return ErrorKind::Usage;
        }
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return f.kind;
        }
        if let Some(x) = cause.downcast_ref::<ExportError>() {
            return match x {
                ExportError::Spawn { .. }
                | ExportError::Internal { .. }
                | ExportError::BadOutput { .. } => ErrorKind::Failed,
                _ => ErrorKind::InvalidFlow,
            };
        }
    }
    ErrorKind::Failed
}

/// The [`Failure`] in `e`, directly or as a context or cause.
fn failure_of(e: &anyhow::Error) -> Option<&Failure> {
    e.downcast_ref::<Failure>()
        .or_else(|| e.chain().find_map(|c| c.downcast_ref::<Failure>()))
}

/// The `--json` error object of `e` (see the module docs).
pub fn json_error(kind: ErrorKind, message: &str, result: Option<&Value>) -> Value {
    let mut out = match result {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => json!({}),
    };
    out["error"] = json!({"kind": kind.as_str(), "message": message});
    out
}

/// End the command that failed with `e`: `ferry: error: …` (with its causes) on stderr unless
/// the command reported it already, the JSON object on stdout under `--json`, and the exit code
/// of its kind.
pub fn report(e: &anyhow::Error, json: bool) -> ExitCode {
    let kind = kind_of(e);
    let failure = failure_of(e);
    let message = format!("{e:#}");
    if !failure.is_some_and(|f| f.reported) {
        eprintln!("ferry: error: {message}");
    }
    if json {
        let v = json_error(kind, &message, failure.and_then(|f| f.result.as_ref()));
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    ExitCode::from(kind.exit_code())
}

/// End on a command line clap refused: its text on stderr, under `--json` a `usage` error
/// object on stdout, exit 2. `--help` and `--version` print as usual.
pub fn report_clap(e: clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind as K;
    if matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
        e.exit();
    }
    let _ = e.print();
    if json {
        let text = e.render().to_string();
        let first = text.split("\n\n").next().unwrap_or("").trim();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        let v = json_error(ErrorKind::Usage, message, None);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    ExitCode::from(ErrorKind::Usage.exit_code())
}
