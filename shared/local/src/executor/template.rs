//! Payload templates: `Parameters`, `ItemSelector`, `ResultSelector` and the Task-resource
//! parameters. A key ending in `.$` takes its value from a path (`$...` on the input, `$$...`
//! on the context) or an intrinsic function; the suffix is dropped from the output key.
//! Objects nest, and arrays of objects are walked too.

use serde_json::{Map, Value};

use super::context::Scope;
use super::error::StatesError;
use super::intrinsics::Call;
use super::jsonpath::Path;

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// A value copied as is.
    Literal(Value),
    /// An object whose members are templates.
    Object(Vec<(String, Template)>),
    /// An array whose elements are templates.
    Array(Vec<Template>),
    /// `"key.$": "$.path"`: the value at the path (the key keeps its original spelling for errors).
    Path { key: String, path: Path },
    /// `"key.$": "States.Fn(...)"`.
    Call(Call),
}

impl Template {
    /// Compile a template; `Err` names the offending key.
    pub fn compile(v: &Value) -> Result<Template, String> {
        Ok(match v {
            Value::Object(m) => {
                let mut members = Vec::with_capacity(m.len());
                for (k, v) in m {
                    if let Some(name) = k.strip_suffix(".$") {
                        let s = v.as_str().ok_or_else(|| {
                            format!(
                                "the value of {k:?} must be a string (a path or intrinsic function)"
                            )
                        })?;
                        let t = if s.starts_with('$') {
                            Template::Path {
                                key: k.clone(),
                                path: Path::parse(s).map_err(|e| format!("{k:?}: {e}"))?,
                            }
                        } else {
                            Template::Call(Call::parse(s).map_err(|e| format!("{k:?}: {e}"))?)
                        };
                        members.push((name.to_string(), t));
                    } else {
                        members.push((k.clone(), Template::compile(v)?));
                    }
                }
                Template::Object(members)
            }
            Value::Array(a) => {
                Template::Array(a.iter().map(Template::compile).collect::<Result<_, _>>()?)
            }
            other => Template::Literal(other.clone()),
        })
    }

    /// Evaluate against `scope`. A path that matches nothing is `States.Runtime`.
    pub fn eval(&self, scope: &Scope<'_>) -> Result<Value, StatesError> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Object(members) => {
                let mut m = Map::with_capacity(members.len());
                for (k, t) in members {
                    m.insert(k.clone(), t.eval(scope)?);
                }
                Value::Object(m)
            }
            Template::Array(items) => Value::Array(items.iter().map(|t| t.eval(scope)).collect::<Result<_, _>>()?),
            Template::Path { key, path } => scope.select(path).ok_or_else(|| {
                StatesError::runtime(format!(
                    "The JSONPath '{path}' specified for the field '{key}' could not be found in the input '{}'",
                    if path.context { "<context object>".to_string() } else { scope.input.to_string() }
                ))
            })?,
            Template::Call(c) => c.eval(scope)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::context::{Context, ExecInfo};
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn nested_templates_with_paths_context_and_intrinsics() {
        let ctx = Context {
            exec: Arc::new(ExecInfo {
                id: "id".into(),
                name: "exec-7".into(),
                input: json!({}),
                start_time: "t".into(),
                role_arn: "r".into(),
                state_machine_id: "sm".into(),
                state_machine_name: "m".into(),
            }),
            state_name: "S".into(),
            entered_time: "t".into(),
            retry_count: 0,
            map_item: Some((2, json!("2"))),
        };
        let t = Template::compile(&json!({
            "Static": {"a": [1, {"b.$": "$.x"}]},
            "Run.$": "$$.Execution.Name",
            "Index.$": "$$.Map.Item.Value",
            "Pos.$": "$$.Map.Item.Index",
            "Msg.$": "States.Format('x={}', $.x)",
            "Env": [{"Name": "A", "Value.$": "$.x"}]
        }))
        .unwrap();
        let input = json!({"x": 5});
        let out = t
            .eval(&Scope {
                input: &input,
                ctx: &ctx,
            })
            .unwrap();
        assert_eq!(
            out,
            json!({"Static": {"a": [1, {"b": 5}]}, "Run": "exec-7", "Index": "2", "Pos": 2, "Msg": "x=5",
                   "Env": [{"Name": "A", "Value": 5}]})
        );
        let missing = Template::compile(&json!({"y.$": "$.nope"})).unwrap();
        assert_eq!(
            missing
                .eval(&Scope {
                    input: &input,
                    ctx: &ctx
                })
                .unwrap_err()
                .error,
            "States.Runtime"
        );
        assert!(Template::compile(&json!({"y.$": 3})).is_err());
        assert!(Template::compile(&json!({"y.$": "States.Nope()"})).is_err());
    }
}
