//! The context object `$$` and the scope (input + context) paths and templates are evaluated in.

use std::sync::Arc;

use serde_json::{Value, json};

use super::jsonpath::{Path, Segment};

/// Facts about one execution, shared by all its states (`$$.Execution`, `$$.StateMachine`).
#[derive(Debug, Clone)]
pub struct ExecInfo {
    /// `$$.Execution.Id`: `arn:aws:states:<region>:<account>:execution:<machine>:<name>`.
    pub id: String,
    /// `$$.Execution.Name`.
    pub name: String,
    /// `$$.Execution.Input`.
    pub input: Value,
    /// `$$.Execution.StartTime`, RFC 3339 with milliseconds (`2026-11-30T04:30:00.000Z`).
    pub start_time: String,
    /// `$$.Execution.RoleArn`.
    pub role_arn: String,
    /// `$$.StateMachine.Id` (the state machine ARN).
    pub state_machine_id: String,
    /// `$$.StateMachine.Name`.
    pub state_machine_name: String,
}

/// The context of one state evaluation: built lazily into the `$$` object.
#[derive(Debug, Clone)]
pub struct Context {
    /// The execution (or Map child execution).
    pub exec: Arc<ExecInfo>,
    /// `$$.State.Name`.
    pub state_name: String,
    /// `$$.State.EnteredTime`.
    pub entered_time: String,
    /// `$$.State.RetryCount`.
    pub retry_count: u32,
    /// `$$.Map.Item.Index` and `.Value`, inside a Map's `ItemSelector`/`Parameters`.
    pub map_item: Option<(usize, Value)>,
}

impl Context {
    /// Select `path` (a `$$` path) without building more of the context than it needs: the
    /// execution input in particular is never copied unless the path selects it whole.
    pub fn select(&self, path: &Path) -> Option<Value> {
        let field = |i: usize| match path.segments.get(i) {
            Some(Segment::Field(f)) => Some(f.as_str()),
            _ => None,
        };
        let e = &self.exec;
        let sub = match field(0) {
            Some("Execution") if field(1) == Some("Input") => {
                return path.select_after(2, &e.input);
            }
            Some("Execution") if path.segments.len() >= 2 => json!({
                "Id": e.id, "Name": e.name, "StartTime": e.start_time, "RoleArn": e.role_arn, "RedriveCount": 0,
            }),
            Some("Map") if field(1) == Some("Item") => match (&self.map_item, field(2)) {
                (Some((_, v)), Some("Value")) => return path.select_after(3, v),
                (Some((i, _)), Some("Index")) => return path.select_after(3, &json!(i)),
                _ => return path.select(&self.to_value()),
            },
            Some("State") => {
                json!({"Name": self.state_name, "EnteredTime": self.entered_time, "RetryCount": self.retry_count})
            }
            Some("StateMachine") => json!({"Id": e.state_machine_id, "Name": e.state_machine_name}),
            _ => return path.select(&self.to_value()),
        };
        path.select_after(1, &sub)
    }

    /// The `$$` object.
    pub fn to_value(&self) -> Value {
        let e = &self.exec;
        let mut v = json!({
            "Execution": {
                "Id": e.id, "Name": e.name, "Input": e.input, "StartTime": e.start_time,
                "RoleArn": e.role_arn, "RedriveCount": 0,
            },
            "State": {"Name": self.state_name, "EnteredTime": self.entered_time, "RetryCount": self.retry_count},
            "StateMachine": {"Id": e.state_machine_id, "Name": e.state_machine_name},
        });
        if let Some((i, item)) = &self.map_item {
            v["Map"] = json!({"Item": {"Index": i, "Value": item}});
        }
        v
    }
}

/// Where paths are evaluated: `$` is `input`, `$$` the context.
pub struct Scope<'a> {
    /// The value `$` refers to.
    pub input: &'a Value,
    /// The value `$$` refers to.
    pub ctx: &'a Context,
}

impl Scope<'_> {
    /// Select `path` in the input or the context. `None`: a definite path matched nothing.
    pub fn select(&self, path: &Path) -> Option<Value> {
        if path.context {
            self.ctx.select(path)
        } else {
            path.select(self.input)
        }
    }
}
