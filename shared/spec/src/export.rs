//! The Metaflow exporter: run the user's Python on the embedded [`EXPORTER_PY`] script to
//! import a flow file with the real `metaflow` package and read its spec, then validate it.
//!
//! The script runs as `PYTHON -c <script> <flow file> [<flow class>]` (argv only, never a
//! shell) with the flow's folder as working directory, so imports next to the flow work as
//! they do under `python flow.py`. No step runs; only the module body executes. The script
//! writes one JSON document on stdout (`{"spec": ...}` or `{"error": ...}`); whatever the
//! user's module prints goes to stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::graph::FlowGraph;
use crate::model::FlowSpec;
use crate::validate::{ValidationErrors, validate};

/// The exporter script (Python 3.8+, needs `metaflow` importable by the given interpreter).
pub const EXPORTER_PY: &str = include_str!("exporter.py");

/// Why a flow could not be exported. `Display` is the message a user sees.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The flow file does not exist or is not a file.
    #[error("cannot read the flow file {}: {reason}", path.display())]
    FlowFile { path: PathBuf, reason: String },
    /// The Python interpreter could not be started.
    #[error(
        "cannot run Python at {}: {source}. Point Ferry at the Python that has metaflow installed.",
        python.display()
    )]
    Spawn {
        python: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Importing the flow failed; `message` carries the traceback of the user's code.
    #[error("{message}")]
    Import { message: String },
    /// The file defines no flow class, several and none was named, or none of the given name.
    /// `classes`: the flow classes the file defines (sorted), so a caller can suggest one.
    #[error("{message}")]
    NoFlow {
        message: String,
        classes: Vec<String>,
    },
    /// The flow uses something the spec cannot express (e.g. a deploy-time parameter default).
    #[error("{message}")]
    Unsupported { message: String },
    /// The exporter itself failed (a bug, or a `metaflow` it does not understand).
    #[error("{message}\n{detail}")]
    Internal { message: String, detail: String },
    /// The exporter's output was not a spec (e.g. Python crashed before printing).
    #[error("the Ferry exporter did not print a flow spec ({reason}); Python said:\n{stderr}")]
    BadOutput { reason: String, stderr: String },
    /// The exported flow breaks one or more rules.
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
}

#[derive(Deserialize)]
struct Output {
    #[serde(default)]
    spec: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<ErrorDoc>,
}

#[derive(Deserialize)]
struct ErrorDoc {
    kind: String,
    message: String,
    #[serde(default)]
    traceback: Option<String>,
    /// The flow classes the file defines (`no_flow`, `several_flows`).
    #[serde(default)]
    classes: Vec<String>,
}

/// Export the only flow in `flow_file` with interpreter `python`, and validate it.
///
/// Errors: [`ExportError::Import`] with the user's traceback when the module fails to import,
/// [`ExportError::NoFlow`] when it defines no flow or several, [`ExportError::Invalid`] with
/// every rule the flow breaks.
pub fn export_spec(python: &Path, flow_file: &Path) -> Result<FlowSpec, ExportError> {
    export_validated(python, flow_file, None).map(|(spec, _)| spec)
}

/// Like [`export_spec`], choosing the flow class by name when `flow` is given, and returning
/// the derived graph too.
pub fn export_validated(
    python: &Path,
    flow_file: &Path,
    flow: Option<&str>,
) -> Result<(FlowSpec, FlowGraph), ExportError> {
    let spec = export_unvalidated(python, flow_file, flow)?;
    let graph = validate(&spec)?;
    Ok((spec, graph))
}

/// Export without validating: the spec exactly as the flow file says it (switch steps,
/// `@parallel` and unknown decorators marked, not rejected).
pub fn export_unvalidated(
    python: &Path,
    flow_file: &Path,
    flow: Option<&str>,
) -> Result<FlowSpec, ExportError> {
    let file_error = |reason: String| ExportError::FlowFile {
        path: flow_file.to_path_buf(),
        reason,
    };
    let path = flow_file
        .canonicalize()
        .map_err(|e| file_error(e.to_string()))?;
    if !path.is_file() {
        return Err(file_error("not a file".into()));
    }
    let folder = path
        .parent()
        .ok_or_else(|| file_error("it has no parent folder".into()))?;
    let out = Command::new(python)
        .arg("-c")
        .arg(EXPORTER_PY)
        .arg(&path)
        .arg(flow.unwrap_or(""))
        .current_dir(folder)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ExportError::Spawn {
            python: python.to_path_buf(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Output = match stdout.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(line) => serde_json::from_str(line).map_err(|e| ExportError::BadOutput {
            reason: e.to_string(),
            stderr: stderr.clone(),
        })?,
        None => {
            return Err(ExportError::BadOutput {
                reason: format!("no output, exit status {}", out.status),
                stderr,
            });
        }
    };
    if let Some(err) = doc.error {
        return Err(match err.kind.as_str() {
            "import" => ExportError::Import {
                message: err.message,
            },
            "no_flow" | "several_flows" => ExportError::NoFlow {
                message: err.message,
                classes: err.classes,
            },
            "unsupported" => ExportError::Unsupported {
                message: err.message,
            },
            _ => ExportError::Internal {
                message: err.message,
                detail: [err.traceback.unwrap_or_default(), stderr]
                    .join("\n")
                    .trim()
                    .to_string(),
            },
        });
    }
    let value = doc.spec.ok_or_else(|| ExportError::BadOutput {
        reason: "neither spec nor error in the output".into(),
        stderr: stderr.clone(),
    })?;
    serde_json::from_value(value).map_err(|e| ExportError::BadOutput {
        reason: format!("the spec does not match the v1 model: {e}"),
        stderr,
    })
}
