//! Parsing and checking an ASL definition into the model ([`super::model`]), once, before it
//! runs: field names and types per state type, JSONPaths, payload templates, intrinsic calls,
//! choice rules, transitions (every `Next`/`Default` exists, every state is reachable,
//! non-terminal states have `Next` or `End`), and the Retry/Catch lists (one parser,
//! [`rules`]). Task resources are checked by the executor against its [`super::TaskResources`].
//! The rules are AWS's (Amazon States Language specification, states.language.json).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::choice::Rule;
use super::error::DefinitionError;
use super::intrinsics::Call;
use super::jsonpath::Path;
use super::model::*;
use super::template::Template;

fn invalid(at: &str, why: impl Into<String>) -> DefinitionError {
    DefinitionError::Invalid {
        at: at.to_string(),
        why: why.into(),
    }
}

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];

fn allowed(t: &str) -> &'static [&'static str] {
    match t {
        "Pass" => &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "Result",
            "ResultPath",
            "Next",
            "End",
            "Assign",
        ],
        "Task" => &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Next",
            "End",
            "Retry",
            "Catch",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Credentials",
        ],
        "Choice" => &["InputPath", "OutputPath", "Choices", "Default"],
        "Wait" => &[
            "InputPath",
            "OutputPath",
            "Next",
            "End",
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
        ],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Next",
            "End",
            "Retry",
            "Catch",
            "Branches",
        ],
        "Map" => &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "ItemSelector",
            "ResultSelector",
            "ResultPath",
            "Next",
            "End",
            "Retry",
            "Catch",
            "ItemsPath",
            "Iterator",
            "ItemProcessor",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ItemReader",
            "ItemBatcher",
            "ResultWriter",
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "Label",
        ],
        _ => &[],
    }
}

struct Fields<'a> {
    at: &'a str,
    m: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn get(&self, k: &str) -> Option<&'a Value> {
        self.m.get(k)
    }
    fn str(&self, k: &str) -> Result<Option<&'a str>, DefinitionError> {
        match self.m.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(self.at, format!("{k} must be a string"))),
        }
    }
    fn path(&self, k: &str) -> Result<Option<Path>, DefinitionError> {
        self.str(k)?
            .map(|s| Path::parse(s).map_err(|e| invalid(self.at, format!("{k}: {e}"))))
            .transpose()
    }
    /// A nullable path with default `$`: `None` when the field is `null`.
    fn nullable_path(&self, k: &str) -> Result<Option<Path>, DefinitionError> {
        match self.m.get(k) {
            None => Ok(Some(Path::parse("$").expect("root"))),
            Some(Value::Null) => Ok(None),
            Some(_) => self.path(k),
        }
    }
    fn number(&self, k: &str) -> Result<Option<f64>, DefinitionError> {
        match self.m.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|f| *f >= 0.0)
                .map(Some)
                .ok_or_else(|| invalid(self.at, format!("{k} must be a non-negative number"))),
        }
    }
    fn number_or_path(&self, k: &str) -> Result<Option<NumberOrPath>, DefinitionError> {
        let lit = self.number(k)?;
        let path = self.path(&format!("{k}Path"))?;
        match (lit, path) {
            (Some(_), Some(_)) => Err(invalid(
                self.at,
                format!("only one of {k} and {k}Path may be set"),
            )),
            (Some(n), None) => Ok(Some(NumberOrPath::Value(n))),
            (None, Some(p)) => Ok(Some(NumberOrPath::Path(p))),
            (None, None) => Ok(None),
        }
    }
    fn template(&self, k: &str) -> Result<Option<Template>, DefinitionError> {
        self.m
            .get(k)
            .map(|v| Template::compile(v).map_err(|e| invalid(self.at, format!("{k}: {e}"))))
            .transpose()
    }
    fn object(&self, k: &str) -> Result<Option<Fields<'a>>, DefinitionError> {
        match self.m.get(k) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Fields { at: self.at, m })),
            Some(_) => Err(invalid(self.at, format!("{k} must be an object"))),
        }
    }
}

impl StateMachine {
    /// Parse and check a definition (the JSON text AWS `CreateStateMachine` takes).
    pub fn parse(definition: &str) -> Result<StateMachine, DefinitionError> {
        let v: Value =
            serde_json::from_str(definition).map_err(|e| DefinitionError::Schema(e.to_string()))?;
        Self::from_value(&v, "", true)
    }

    fn from_value(v: &Value, at: &str, top: bool) -> Result<StateMachine, DefinitionError> {
        let m = v
            .as_object()
            .ok_or_else(|| invalid(at, "a state machine must be an object"))?;
        let f = Fields { at, m };
        for k in m.keys() {
            let ok = ["StartAt", "States", "Comment", "Version", "QueryLanguage"]
                .contains(&k.as_str())
                || (top && k == "TimeoutSeconds")
                || (!top && k == "ProcessorConfig");
            if !ok {
                return Err(invalid(at, format!("unexpected field {k:?}")));
            }
        }
        if let Some(q) = f.str("QueryLanguage")?
            && q != "JSONPath"
        {
            return Err(invalid(
                at,
                format!("QueryLanguage {q:?} is not supported (only JSONPath)"),
            ));
        }
        let start_at = f
            .str("StartAt")?
            .ok_or_else(|| invalid(at, "StartAt is required"))?
            .to_string();
        let states_v = f
            .get("States")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid(at, "States must be an object"))?;
        if states_v.is_empty() {
            return Err(invalid(at, "States is empty"));
        }
        let mut states = HashMap::new();
        for (name, sv) in states_v {
            if name.is_empty() || name.chars().count() > 80 {
                return Err(invalid(
                    at,
                    format!("state name {name:?} must have 1 to 80 characters"),
                ));
            }
            let here = if at.is_empty() {
                name.clone()
            } else {
                format!("{at}/{name}")
            };
            states.insert(name.clone(), State::from_value(sv, &here)?);
        }
        let timeout_seconds = f.number("TimeoutSeconds")?.map(|n| n as u64);
        let sm = StateMachine {
            start_at,
            states,
            timeout_seconds,
        };
        sm.check_transitions(at)?;
        Ok(sm)
    }

    fn check_transitions(&self, at: &str) -> Result<(), DefinitionError> {
        if !self.states.contains_key(&self.start_at) {
            return Err(invalid(
                at,
                format!("StartAt {:?} is not a state", self.start_at),
            ));
        }
        let mut seen = HashSet::new();
        let mut todo = vec![self.start_at.as_str()];
        while let Some(name) = todo.pop() {
            if !seen.insert(name) {
                continue;
            }
            let st = &self.states[name];
            let mut targets: Vec<&str> = st.catch.iter().map(|c| c.next.as_str()).collect();
            if let Transition::Next(n) = &st.transition {
                targets.push(n);
            }
            if let Kind::Choice { choices, default } = &st.kind {
                targets.extend(choices.iter().map(|c| c.1.as_str()));
                targets.extend(default.as_deref());
            }
            for t in targets {
                if !self.states.contains_key(t) {
                    let here = if at.is_empty() {
                        name.to_string()
                    } else {
                        format!("{at}/{name}")
                    };
                    return Err(invalid(
                        &here,
                        format!("transition to {t:?}, which is not a state here"),
                    ));
                }
                todo.push(t);
            }
        }
        if let Some(orphan) = self.states.keys().find(|k| !seen.contains(k.as_str())) {
            return Err(invalid(at, format!("state {orphan:?} is not reachable")));
        }
        Ok(())
    }
}

fn error_equals(v: Option<&Value>, at: &str, what: &str) -> Result<Vec<String>, DefinitionError> {
    let list: Vec<String> = v
        .and_then(Value::as_array)
        .ok_or_else(|| {
            invalid(
                at,
                format!("{what}: ErrorEquals must be a non-empty array of strings"),
            )
        })?
        .iter()
        .map(|e| e.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| invalid(at, format!("{what}: ErrorEquals must hold strings")))?;
    if list.is_empty() {
        return Err(invalid(at, format!("{what}: ErrorEquals is empty")));
    }
    if list.iter().any(|e| e == "States.ALL") && list.len() > 1 {
        return Err(invalid(
            at,
            format!("{what}: States.ALL must appear alone in ErrorEquals"),
        ));
    }
    Ok(list)
}

/// The `Retry` or `Catch` array `field` of a state (absent: none): each element an object with
/// only the `allowed` fields, read by `one` (given the element's fields and its name for
/// messages, `Retry[2]`).
fn rules<T>(
    f: &Fields<'_>,
    field: &str,
    allowed: &[&str],
    one: impl Fn(&Fields<'_>, &str) -> Result<T, DefinitionError>,
) -> Result<Vec<T>, DefinitionError> {
    let at = f.at;
    let Some(v) = f.get(field) else {
        return Ok(Vec::new());
    };
    let items = v
        .as_array()
        .ok_or_else(|| invalid(at, format!("{field} must be an array")))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let what = format!("{field}[{i}]");
        let m = item
            .as_object()
            .ok_or_else(|| invalid(at, format!("{what} must be an object")))?;
        if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(invalid(at, format!("{what}: unexpected field {k:?}")));
        }
        out.push(one(&Fields { at, m }, &what)?);
    }
    Ok(out)
}

/// One `Retry` element (AWS's defaults: interval 1 s, 3 attempts, backoff 2.0, no jitter).
fn retrier(rf: &Fields<'_>, what: &str) -> Result<Retrier, DefinitionError> {
    let at = rf.at;
    let backoff_rate = rf.number("BackoffRate")?.unwrap_or(2.0);
    if backoff_rate < 1.0 {
        return Err(invalid(
            at,
            format!("{what}: BackoffRate must be at least 1.0"),
        ));
    }
    let interval_seconds = rf.number("IntervalSeconds")?.unwrap_or(1.0);
    if interval_seconds < 1.0 {
        return Err(invalid(
            at,
            format!("{what}: IntervalSeconds must be at least 1"),
        ));
    }
    let jitter_full = match rf.str("JitterStrategy")? {
        None | Some("NONE") => false,
        Some("FULL") => true,
        Some(o) => {
            return Err(invalid(
                at,
                format!("{what}: JitterStrategy {o:?} (FULL or NONE)"),
            ));
        }
    };
    Ok(Retrier {
        error_equals: error_equals(rf.get("ErrorEquals"), at, what)?,
        interval_seconds,
        max_attempts: rf.number("MaxAttempts")?.map(|n| n as u32).unwrap_or(3),
        backoff_rate,
        max_delay_seconds: rf.number("MaxDelaySeconds")?,
        jitter_full,
    })
}

/// One `Catch` element.
fn catcher(cf: &Fields<'_>, what: &str) -> Result<Catcher, DefinitionError> {
    let at = cf.at;
    let result_path = cf.nullable_path("ResultPath")?;
    if result_path
        .as_ref()
        .is_some_and(|p| !p.is_reference() || p.context)
    {
        return Err(invalid(
            at,
            format!("{what}: ResultPath must be a reference path"),
        ));
    }
    Ok(Catcher {
        error_equals: error_equals(cf.get("ErrorEquals"), at, what)?,
        next: cf
            .str("Next")?
            .ok_or_else(|| invalid(at, format!("{what}: Next is required")))?
            .to_string(),
        result_path,
    })
}

fn check_all_last(lists: &[&Vec<String>], at: &str, what: &str) -> Result<(), DefinitionError> {
    if let Some(pos) = lists
        .iter()
        .position(|l| l.iter().any(|e| e == "States.ALL"))
        && pos + 1 != lists.len()
    {
        return Err(invalid(
            at,
            format!("{what}: the States.ALL entry must be the last one"),
        ));
    }
    Ok(())
}

impl State {
    fn from_value(v: &Value, at: &str) -> Result<State, DefinitionError> {
        let m = v
            .as_object()
            .ok_or_else(|| invalid(at, "a state must be an object"))?;
        let f = Fields { at, m };
        let t = f
            .str("Type")?
            .ok_or_else(|| invalid(at, "Type is required"))?;
        let type_name: &'static str = match t {
            "Pass" => "Pass",
            "Task" => "Task",
            "Choice" => "Choice",
            "Wait" => "Wait",
            "Succeed" => "Succeed",
            "Fail" => "Fail",
            "Parallel" => "Parallel",
            "Map" => "Map",
            other => return Err(invalid(at, format!("unknown state Type {other:?}"))),
        };
        let ok = allowed(type_name);
        if let Some(k) = m
            .keys()
            .find(|k| !COMMON.contains(&k.as_str()) && !ok.contains(&k.as_str()))
        {
            return Err(invalid(
                at,
                format!("field {k:?} is not allowed in a {type_name} state"),
            ));
        }
        if m.contains_key("Assign") {
            return Err(invalid(at, "Assign (variables) is not supported"));
        }

        let transition = match (f.str("Next")?, f.get("End")) {
            (Some(_), Some(Value::Bool(true))) => {
                return Err(invalid(at, "both Next and End are set"));
            }
            (Some(n), _) => Transition::Next(n.to_string()),
            (None, Some(Value::Bool(true))) => Transition::End,
            _ if matches!(type_name, "Choice" | "Succeed" | "Fail") => Transition::None,
            _ => return Err(invalid(at, "a non-terminal state needs Next or End: true")),
        };

        let retry = rules(
            &f,
            "Retry",
            &[
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ],
            retrier,
        )?;
        check_all_last(
            &retry.iter().map(|r| &r.error_equals).collect::<Vec<_>>(),
            at,
            "Retry",
        )?;
        let catch = rules(
            &f,
            "Catch",
            &["ErrorEquals", "Next", "ResultPath", "Comment"],
            catcher,
        )?;
        check_all_last(
            &catch.iter().map(|c| &c.error_equals).collect::<Vec<_>>(),
            at,
            "Catch",
        )?;

        let result_path = f.nullable_path("ResultPath")?;
        if result_path
            .as_ref()
            .is_some_and(|p| !p.is_reference() || p.context)
        {
            return Err(invalid(
                at,
                "ResultPath must be a reference path (names and indexes on $)",
            ));
        }
        let input_path = f.nullable_path("InputPath")?;
        let output_path = f.nullable_path("OutputPath")?;

        let kind = match type_name {
            "Pass" => Kind::Pass {
                result: f.get("Result").cloned(),
                parameters: f.template("Parameters")?,
            },
            "Task" => {
                let resource = f
                    .str("Resource")?
                    .ok_or_else(|| invalid(at, "Resource is required"))?
                    .to_string();
                Kind::Task {
                    resource,
                    parameters: f.template("Parameters")?,
                    result_selector: f.template("ResultSelector")?,
                    timeout: f.number_or_path("TimeoutSeconds")?,
                }
            }
            "Choice" => {
                let list = f
                    .get("Choices")
                    .and_then(Value::as_array)
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| invalid(at, "Choices must be a non-empty array"))?;
                let mut choices = Vec::new();
                for (i, c) in list.iter().enumerate() {
                    let rule = Rule::parse(c, true)
                        .map_err(|e| invalid(at, format!("Choices[{i}]: {e}")))?;
                    let next = c
                        .get("Next")
                        .and_then(Value::as_str)
                        .ok_or_else(|| invalid(at, format!("Choices[{i}]: Next is required")))?;
                    choices.push((rule, next.to_string()));
                }
                Kind::Choice {
                    choices,
                    default: f.str("Default")?.map(str::to_string),
                }
            }
            "Wait" => {
                let secs = f.number_or_path("Seconds")?;
                let ts = f.str("Timestamp")?;
                let tsp = f.path("TimestampPath")?;
                let n = secs.is_some() as u8 + ts.is_some() as u8 + tsp.is_some() as u8;
                if n != 1 {
                    return Err(invalid(
                        at,
                        "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
                    ));
                }
                Kind::Wait(match (secs, ts, tsp) {
                    (Some(s), _, _) => WaitFor::Seconds(s),
                    (_, Some(t), _) => WaitFor::Timestamp(
                        DateTime::parse_from_rfc3339(t)
                            .map_err(|e| invalid(at, format!("Timestamp {t:?}: {e}")))?
                            .with_timezone(&Utc),
                    ),
                    (_, _, Some(p)) => WaitFor::TimestampPath(p),
                    _ => unreachable!("exactly one is set"),
                })
            }
            "Succeed" => Kind::Succeed,
            "Fail" => {
                let sp = |k: &str| -> Result<Option<StringOrPath>, DefinitionError> {
                    let kp = format!("{k}Path");
                    let dynamic = match f.str(&kp)? {
                        None => None,
                        Some(p) if p.starts_with('$') => Some(StringOrPath::Path(
                            Path::parse(p).map_err(|e| invalid(at, format!("{kp}: {e}")))?,
                        )),
                        Some(c) => Some(StringOrPath::Call(
                            Call::parse(c).map_err(|e| invalid(at, format!("{kp}: {e}")))?,
                        )),
                    };
                    match (f.str(k)?, dynamic) {
                        (Some(_), Some(_)) => Err(invalid(
                            at,
                            format!("only one of {k} and {k}Path may be set"),
                        )),
                        (Some(s), None) => Ok(Some(StringOrPath::Value(s.to_string()))),
                        (None, Some(d)) => Ok(Some(d)),
                        (None, None) => Ok(None),
                    }
                };
                Kind::Fail {
                    error: sp("Error")?,
                    cause: sp("Cause")?,
                }
            }
            "Parallel" => {
                let list = f
                    .get("Branches")
                    .and_then(Value::as_array)
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| invalid(at, "Branches must be a non-empty array"))?;
                let branches = list
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        StateMachine::from_value(b, &format!("{at}/Branches[{i}]"), false)
                            .map(Arc::new)
                    })
                    .collect::<Result<_, _>>()?;
                Kind::Parallel {
                    branches,
                    parameters: f.template("Parameters")?,
                    result_selector: f.template("ResultSelector")?,
                }
            }
            "Map" => Kind::Map(Box::new(parse_map(&f, at)?)),
            _ => unreachable!("type checked above"),
        };
        Ok(State {
            type_name,
            kind,
            input_path,
            output_path,
            result_path,
            transition,
            retry,
            catch,
        })
    }
}

fn parse_map(f: &Fields<'_>, at: &str) -> Result<MapState, DefinitionError> {
    let proc_v = match (f.get("ItemProcessor"), f.get("Iterator")) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                at,
                "only one of ItemProcessor and Iterator may be set",
            ));
        }
        (Some(p), None) | (None, Some(p)) => p,
        (None, None) => return Err(invalid(at, "ItemProcessor is required")),
    };
    let mode = proc_v
        .get("ProcessorConfig")
        .and_then(|c| c.get("Mode"))
        .and_then(Value::as_str)
        .unwrap_or("INLINE");
    let distributed = match mode {
        "INLINE" => false,
        "DISTRIBUTED" => true,
        o => {
            return Err(invalid(
                at,
                format!("ProcessorConfig.Mode {o:?} (INLINE or DISTRIBUTED)"),
            ));
        }
    };
    if let Some(et) = proc_v
        .get("ProcessorConfig")
        .and_then(|c| c.get("ExecutionType"))
        .and_then(Value::as_str)
        && et != "STANDARD"
        && et != "EXPRESS"
    {
        return Err(invalid(at, format!("ProcessorConfig.ExecutionType {et:?}")));
    }
    let processor = Arc::new(StateMachine::from_value(
        proc_v,
        &format!("{at}/ItemProcessor"),
        false,
    )?);
    let item_selector = match (f.template("ItemSelector")?, f.template("Parameters")?) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                at,
                "only one of ItemSelector and Parameters may be set",
            ));
        }
        (a, b) => a.or(b),
    };
    let item_reader = match f.object("ItemReader")? {
        None => None,
        Some(r) => {
            let cfg = r.object("ReaderConfig")?;
            Some(ItemReader {
                resource: r
                    .str("Resource")?
                    .ok_or_else(|| invalid(at, "ItemReader.Resource is required"))?
                    .to_string(),
                parameters: r
                    .template("Parameters")?
                    .unwrap_or(Template::Object(vec![])),
                input_type: cfg
                    .as_ref()
                    .map(|c| c.str("InputType"))
                    .transpose()?
                    .flatten()
                    .map(str::to_string),
                max_items: cfg
                    .as_ref()
                    .map(|c| c.number_or_path("MaxItems"))
                    .transpose()?
                    .flatten(),
            })
        }
    };
    if item_reader.is_some() && f.get("ItemsPath").is_some() {
        return Err(invalid(at, "ItemsPath cannot be used with ItemReader"));
    }
    let item_batcher = match f.object("ItemBatcher")? {
        None => None,
        Some(b) => Some(ItemBatcher {
            max_items_per_batch: b.number_or_path("MaxItemsPerBatch")?,
            batch_input: b.template("BatchInput")?,
        }),
    };
    let result_writer = match f.object("ResultWriter")? {
        None => None,
        Some(w) => Some(ResultWriter {
            resource: w
                .str("Resource")?
                .ok_or_else(|| invalid(at, "ResultWriter.Resource is required"))?
                .to_string(),
            parameters: w
                .template("Parameters")?
                .unwrap_or(Template::Object(vec![])),
        }),
    };
    let distributed_only = item_reader.is_some()
        || item_batcher.is_some()
        || result_writer.is_some()
        || f.get("ToleratedFailurePercentage").is_some()
        || f.get("ToleratedFailureCount").is_some();
    if distributed_only && !distributed {
        return Err(invalid(
            at,
            "ItemReader, ItemBatcher, ResultWriter and ToleratedFailure* need ProcessorConfig.Mode DISTRIBUTED",
        ));
    }
    Ok(MapState {
        processor,
        distributed,
        items_path: f
            .path("ItemsPath")?
            .unwrap_or_else(|| Path::parse("$").expect("root")),
        item_selector,
        max_concurrency: f
            .number_or_path("MaxConcurrency")?
            .unwrap_or(NumberOrPath::Value(0.0)),
        item_reader,
        item_batcher,
        result_writer,
        tolerated_failure_percentage: f.number_or_path("ToleratedFailurePercentage")?,
        tolerated_failure_count: f.number_or_path("ToleratedFailureCount")?,
        result_selector: f.template("ResultSelector")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<StateMachine, DefinitionError> {
        StateMachine::parse(&v.to_string())
    }

    #[test]
    fn parses_a_compiled_looking_machine() {
        let sm = parse(json!({
            "StartAt": "start",
            "TimeoutSeconds": 60,
            "States": {
                "start": {"Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync",
                    "Parameters": {"JobName": "x", "Parameters": {"metaflow.run_id.$": "$$.Execution.Name"}},
                    "Retry": [{"ErrorEquals": ["Batch.AWSBatchException"], "BackoffRate": 2, "IntervalSeconds": 2,
                               "MaxDelaySeconds": 60, "MaxAttempts": 10, "JitterStrategy": "FULL"}],
                    "OutputPath": "$.['JobId', 'Parameters']", "Next": "#body"},
                "#body": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
                    "Parameters": {"TableName": "t", "Key": {"pk": {"S.$": "$.JobId"}, "sk": {"S": "foreach"}}},
                    "ResultPath": "$.Result", "Next": "*body"},
                "*body": {"Type": "Map", "ItemsPath": "$.Result.Item.for_each_cardinality.NS", "MaxConcurrency": 100,
                    "Parameters": {"Index.$": "$$.Map.Item.Value"},
                    "Iterator": {"StartAt": "body", "ProcessorConfig": {"Mode": "INLINE"},
                                 "States": {"body": {"Type": "Pass", "End": true}}},
                    "OutputPath": "$.[0]", "End": true}
            }
        }))
        .unwrap();
        assert_eq!(sm.timeout_seconds, Some(60));
        let mut res = sm.resources();
        res.sort();
        assert_eq!(res.len(), 2);
        assert_eq!(sm.states["start"].retry[0].max_attempts, 10);
        assert!(sm.states["start"].retry[0].jitter_full);
    }

    #[test]
    fn rejects_bad_definitions() {
        let bad = [
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}),
            json!({"StartAt": "X", "States": {"A": {"Type": "Pass", "End": true}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}, "B": {"Type": "Pass", "End": true}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Paralel", "End": true}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Succeed", "Next": "A"}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Resource": "x"}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "InputPath": "nope"}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "ResultPath": "$.a[*]"}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"a.$": "States.Nope()"}}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "End": true}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "End": true,
                "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Map", "End": true,
                "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "Out"}}}}, "Out": {"Type": "Succeed"}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Map", "End": true, "ItemReader": {"Resource": "arn:aws:states:::s3:getObject"},
                "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "StringEquals": "a"}]}}}),
        ];
        for b in bad {
            assert!(parse(b.clone()).is_err(), "{b}");
        }
        assert!(StateMachine::parse("{").is_err());
    }
}
