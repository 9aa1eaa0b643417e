//! Why a task failed, in words, for `ferry status` and `ferry trigger --wait`: the Python
//! exception the task's stderr ends with ([`step_exception`]) and what its exit code says
//! ([`exit_meaning`]: a signal by name, a SIGKILL as the out-of-memory kill it usually is, with
//! the memory the step asked for).
//!
//! What Metaflow writes on a failed step (`metaflow/cli.py`, `print_unknown_exception` and
//! `print_metaflow_exception`): for an exception of the step's code, `<flow F step s> failed:`,
//! `    Internal error`, then Python's traceback ending in `Type: message`; for a Metaflow
//! exception, `<flow F step s> failed:`, its headline on the next line and its message
//! indented below, without a traceback.

use serde::Serialize;

/// Frames of the traceback kept (the innermost: usually the step's own code).
pub const TRACEBACK_FRAMES: usize = 2;

/// The exception a failed task's stderr ends with.
///
/// JSON: `{"type": "ValueError", "message": "…", "traceback": ["  File \"flow.py\", line 9, in
/// boom", "    raise ValueError(…)"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepException {
    /// The exception's type (`ValueError`, `metaflow.exception.MetaflowException`), or a
    /// Metaflow failure's headline (`Step failure`).
    #[serde(rename = "type")]
    pub type_name: String,
    /// Its message (several lines for a multi-line message); empty when it has none.
    pub message: String,
    /// The last [`TRACEBACK_FRAMES`] frames of the traceback, as printed (`File …` and the source
    /// line), without Python's `^^^^` markers; empty for a Metaflow failure.
    pub traceback: Vec<String>,
}

/// The last exception in `stderr` (mflog prefixes already stripped), `None` when it shows none.
pub fn step_exception(stderr: &str) -> Option<StepException> {
    let lines: Vec<&str> = stderr.lines().collect();
    match lines
        .iter()
        .rposition(|l| l.trim_end() == "Traceback (most recent call last):")
    {
        Some(at) => from_traceback(&lines[at + 1..]),
        None => from_metaflow_failure(&lines),
    }
}

/// The frames and the `Type: message` line(s) after a `Traceback` header.
fn from_traceback(after: &[&str]) -> Option<StepException> {
    // Frames are indented; the exception is the first line that is not.
    let end = after.iter().position(|l| !l.starts_with(' '))?;
    let (type_name, first) = match after[end].split_once(": ") {
        Some((t, m)) => (t.trim(), m.to_string()),
        None => (after[end].trim_end_matches(':').trim(), String::new()),
    };
    if !is_type_name(type_name) {
        return None;
    }
    let mut message = vec![first];
    message.extend(
        after[end + 1..]
            .iter()
            .take_while(|l| !l.trim().is_empty())
            .map(|l| l.to_string()),
    );
    let frames: Vec<&[&str]> = split_frames(&after[..end]);
    let traceback = frames
        .iter()
        .rev()
        .take(TRACEBACK_FRAMES)
        .rev()
        .flat_map(|f| f.iter())
        .filter(|l| !l.trim().chars().all(|c| c == '^' || c == '~'))
        .map(|l| l.to_string())
        .collect();
    Some(StepException {
        type_name: type_name.to_string(),
        message: message.join("\n").trim().to_string(),
        traceback,
    })
}

/// Traceback lines grouped into frames, each starting at its `  File …` line.
fn split_frames<'a>(lines: &'a [&'a str]) -> Vec<&'a [&'a str]> {
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("File "))
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| &lines[s..starts.get(k + 1).copied().unwrap_or(lines.len())])
        .collect()
}

/// A dotted Python identifier (`ValueError`, `metaflow.exception.MetaflowException`).
fn is_type_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// `<flow F step s> failed:`, the headline, the indented message (Metaflow's own exceptions).
fn from_metaflow_failure(lines: &[&str]) -> Option<StepException> {
    let at = lines
        .iter()
        .rposition(|l| l.starts_with("<flow ") && l.trim_end().ends_with("failed:"))?;
    let mut rest = lines[at + 1..].iter().map(|l| l.trim());
    let headline = rest.find(|l| !l.is_empty())?.to_string();
    let message: Vec<&str> = rest.take_while(|l| !l.is_empty()).collect();
    Some(StepException {
        type_name: headline,
        message: message.join("\n"),
        traceback: Vec::new(),
    })
}

/// What an exit code says beyond "it failed": for 128 + N, the signal N by name (`killed by
/// SIGKILL`), and for a SIGKILL or Batch's `OutOfMemoryError` reason, the memory the step asked
/// for (`memory_mib`, from the job's resources), since that is what kills a task most often.
/// `None` for a plain non-zero exit (the exception says more).
pub fn exit_meaning(code: i64, reason: Option<&str>, memory_mib: Option<u64>) -> Option<String> {
    let asked = match memory_mib {
        Some(m) => {
            format!("the step asked for {m} MiB; raise @resources(memory=…) if it needs more")
        }
        None => "raise @resources(memory=…) if the step needs more".to_string(),
    };
    if reason.is_some_and(|r| r.starts_with("OutOfMemoryError")) {
        return Some(format!("out of memory: {asked}"));
    }
    let signal = i32::try_from(code - 128)
        .ok()
        .filter(|_| code > 128)
        .and_then(|n| nix::sys::signal::Signal::try_from(n).ok())?;
    Some(match signal {
        nix::sys::signal::Signal::SIGKILL => {
            format!("killed by SIGKILL: out of memory? {asked}")
        }
        other => format!("killed by {}", other.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Metaflow 2.19 printed for a step raising `ValueError` (paths shortened).
    const UNKNOWN: &str = r#"<flow FailFlow step boom> failed:
    Internal error
Traceback (most recent call last):
  File "/venv/metaflow/cli.py", line 739, in main
    start(auto_envvar_prefix="METAFLOW", obj=state)
  File "/venv/metaflow/task.py", line 113, in _exec_step_function
    step_function()
  File "/tmp/fail.py", line 9, in boom
    raise ValueError("the input table is empty")
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
ValueError: the input table is empty

Task failed.
"#;

    #[test]
    fn the_last_exception_and_its_innermost_frames_are_found() {
        let e = step_exception(UNKNOWN).unwrap();
        assert_eq!(e.type_name, "ValueError");
        assert_eq!(e.message, "the input table is empty");
        assert_eq!(
            e.traceback,
            [
                "  File \"/venv/metaflow/task.py\", line 113, in _exec_step_function",
                "    step_function()",
                "  File \"/tmp/fail.py\", line 9, in boom",
                "    raise ValueError(\"the input table is empty\")",
            ]
        );
        // A chained exception: the last one is the one that ended the task.
        let chained = "Traceback (most recent call last):\n  File \"a.py\", line 1, in f\n    g()\nKeyError: 'x'\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"a.py\", line 3, in f\n    raise RuntimeError('no x')\nRuntimeError: no x\n";
        let e = step_exception(chained).unwrap();
        assert_eq!(
            (e.type_name.as_str(), e.message.as_str()),
            ("RuntimeError", "no x")
        );
        // A bare exception type, and a message over several lines.
        let bare =
            "Traceback (most recent call last):\n  File \"a.py\", line 1, in f\nMemoryError\n";
        assert_eq!(step_exception(bare).unwrap().type_name, "MemoryError");
        let multi = "Traceback (most recent call last):\n  File \"a.py\", line 1, in f\nmetaflow.exception.MetaflowException: line one\nline two\n\nafter\n";
        let e = step_exception(multi).unwrap();
        assert_eq!(e.type_name, "metaflow.exception.MetaflowException");
        assert_eq!(e.message, "line one\nline two");
    }

    #[test]
    fn a_metaflow_failure_without_traceback_gives_its_headline_and_message() {
        let text =
            "<flow F step start> failed:\n    Step failure:\n    The artifact x is missing.\n\n";
        let e = step_exception(text).unwrap();
        assert_eq!(e.type_name, "Step failure:");
        assert_eq!(e.message, "The artifact x is missing.");
        assert!(e.traceback.is_empty());
        assert_eq!(step_exception("hello\nworld\n"), None);
    }

    #[test]
    fn exit_codes_by_signal_are_named_and_sigkill_points_at_memory() {
        assert_eq!(
            exit_meaning(137, None, Some(512)).unwrap(),
            "killed by SIGKILL: out of memory? the step asked for 512 MiB; raise @resources(memory=…) if it needs more"
        );
        assert_eq!(
            exit_meaning(143, None, Some(512)).unwrap(),
            "killed by SIGTERM"
        );
        assert_eq!(exit_meaning(1, None, Some(512)), None);
        assert_eq!(exit_meaning(255, None, None), None);
        let oom = exit_meaning(1, Some("OutOfMemoryError: Container killed"), Some(256)).unwrap();
        assert!(
            oom.starts_with("out of memory: the step asked for 256 MiB"),
            "{oom}"
        );
    }
}
