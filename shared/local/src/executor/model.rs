//! The ASL model: what a definition is once parsed and checked ([`super::parse`] builds it
//! with `StateMachine::parse`): states, transitions, Retry/Catch rules, Map settings.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::choice::Rule;
use super::intrinsics::Call;
use super::jsonpath::Path;
use super::template::Template;

/// A parsed state machine (the top level, a Parallel branch or a Map processor).
#[derive(Debug, Clone)]
pub struct StateMachine {
    /// `StartAt`.
    pub start_at: String,
    /// `States`, by name.
    pub states: HashMap<String, State>,
    /// Top-level `TimeoutSeconds` (only meaningful on the top level).
    pub timeout_seconds: Option<u64>,
}

/// Where a state's output goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// `Next`.
    Next(String),
    /// `End: true`.
    End,
    /// Choice/Succeed/Fail: decided by the state itself.
    None,
}

/// A Retry entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    /// `ErrorEquals`.
    pub error_equals: Vec<String>,
    /// `IntervalSeconds` (default 1).
    pub interval_seconds: f64,
    /// `MaxAttempts` (default 3; 0 never retries).
    pub max_attempts: u32,
    /// `BackoffRate` (default 2.0).
    pub backoff_rate: f64,
    /// `MaxDelaySeconds`.
    pub max_delay_seconds: Option<f64>,
    /// `JitterStrategy: FULL`.
    pub jitter_full: bool,
}

/// A Catch entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    /// `ErrorEquals`.
    pub error_equals: Vec<String>,
    /// `Next`.
    pub next: String,
    /// `ResultPath` (`None`: `null`, discard the error output). Default `$`.
    pub result_path: Option<Path>,
}

/// A number given literally or by a path (`TimeoutSeconds`/`TimeoutSecondsPath`...).
#[derive(Debug, Clone, PartialEq)]
pub enum NumberOrPath {
    Value(f64),
    Path(Path),
}

/// How a Wait state waits.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitFor {
    Seconds(NumberOrPath),
    Timestamp(DateTime<Utc>),
    TimestampPath(Path),
}

/// A string given literally or by a path (Fail `Error`/`ErrorPath`).
#[derive(Debug, Clone, PartialEq)]
pub enum StringOrPath {
    Value(String),
    Path(Path),
    /// An intrinsic function (`ErrorPath`/`CausePath` accept them).
    Call(Call),
}

/// A distributed Map's `ItemReader`.
#[derive(Debug, Clone)]
pub struct ItemReader {
    /// `arn:aws:states:::s3:getObject` or `arn:aws:states:::s3:listObjectsV2`.
    pub resource: String,
    /// `Parameters` (`Bucket`, `Key` or `Prefix`).
    pub parameters: Template,
    /// `ReaderConfig.InputType` (`JSON`, `CSV`...) for `getObject`.
    pub input_type: Option<String>,
    /// `ReaderConfig.MaxItems`/`MaxItemsPath`.
    pub max_items: Option<NumberOrPath>,
}

/// A distributed Map's `ItemBatcher`.
#[derive(Debug, Clone)]
pub struct ItemBatcher {
    /// `MaxItemsPerBatch`/`MaxItemsPerBatchPath`.
    pub max_items_per_batch: Option<NumberOrPath>,
    /// `BatchInput`: merged into every batch object.
    pub batch_input: Option<Template>,
}

/// A distributed Map's `ResultWriter`.
#[derive(Debug, Clone)]
pub struct ResultWriter {
    /// `arn:aws:states:::s3:putObject`.
    pub resource: String,
    /// `Parameters` (`Bucket`, `Prefix`).
    pub parameters: Template,
}

/// A Map state.
#[derive(Debug, Clone)]
pub struct MapState {
    /// `ItemProcessor` or the legacy `Iterator`.
    pub processor: Arc<StateMachine>,
    /// `ProcessorConfig.Mode == DISTRIBUTED`.
    pub distributed: bool,
    /// `ItemsPath` (default `$`).
    pub items_path: Path,
    /// `ItemSelector` or the legacy `Parameters`.
    pub item_selector: Option<Template>,
    /// `MaxConcurrency`/`MaxConcurrencyPath` (0 = unbounded).
    pub max_concurrency: NumberOrPath,
    /// `ItemReader`.
    pub item_reader: Option<ItemReader>,
    /// `ItemBatcher`.
    pub item_batcher: Option<ItemBatcher>,
    /// `ResultWriter`.
    pub result_writer: Option<ResultWriter>,
    /// `ToleratedFailurePercentage`(`Path`).
    pub tolerated_failure_percentage: Option<NumberOrPath>,
    /// `ToleratedFailureCount`(`Path`).
    pub tolerated_failure_count: Option<NumberOrPath>,
    /// `ResultSelector`.
    pub result_selector: Option<Template>,
}

/// What a state does.
#[derive(Debug, Clone)]
pub enum Kind {
    Pass {
        result: Option<Value>,
        parameters: Option<Template>,
    },
    Task {
        resource: String,
        parameters: Option<Template>,
        result_selector: Option<Template>,
        timeout: Option<NumberOrPath>,
    },
    Choice {
        choices: Vec<(Rule, String)>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<StringOrPath>,
        cause: Option<StringOrPath>,
    },
    Parallel {
        branches: Vec<Arc<StateMachine>>,
        parameters: Option<Template>,
        result_selector: Option<Template>,
    },
    Map(Box<MapState>),
}

/// One state.
#[derive(Debug, Clone)]
pub struct State {
    /// `Type`, e.g. `Task`.
    pub type_name: &'static str,
    /// The type-specific part.
    pub kind: Kind,
    /// `InputPath` (`None`: `null`, the input becomes `{}`). Default `$`.
    pub input_path: Option<Path>,
    /// `OutputPath` (`None`: `null`, the output becomes `{}`). Default `$`.
    pub output_path: Option<Path>,
    /// `ResultPath` (`None`: `null`, the result is discarded). Default `$`.
    pub result_path: Option<Path>,
    /// `Next`/`End`.
    pub transition: Transition,
    /// `Retry`.
    pub retry: Vec<Retrier>,
    /// `Catch`.
    pub catch: Vec<Catcher>,
}

impl StateMachine {
    /// Every Task resource ARN used, including nested branches and processors, with the
    /// ItemReader/ResultWriter resources of distributed Maps.
    pub fn resources(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.collect_resources("", &mut out);
        out
    }

    fn collect_resources(&self, at: &str, out: &mut Vec<(String, String)>) {
        for (name, st) in &self.states {
            let here = if at.is_empty() {
                name.clone()
            } else {
                format!("{at}/{name}")
            };
            match &st.kind {
                Kind::Task { resource, .. } => out.push((here, resource.clone())),
                Kind::Parallel { branches, .. } => {
                    for (i, b) in branches.iter().enumerate() {
                        b.collect_resources(&format!("{here}/Branches[{i}]"), out);
                    }
                }
                Kind::Map(m) => {
                    if let Some(r) = &m.item_reader {
                        out.push((here.clone(), r.resource.clone()));
                    }
                    if let Some(w) = &m.result_writer {
                        out.push((here.clone(), w.resource.clone()));
                    }
                    m.processor
                        .collect_resources(&format!("{here}/ItemProcessor"), out);
                }
                _ => {}
            }
        }
    }
}
