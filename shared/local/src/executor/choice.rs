//! Choice rules: comparison operators (with their `*Path` variants), type tests, `And`/`Or`/`Not`.
//!
//! A comparison between values of the wrong types is false (as on AWS). A `Variable` that
//! matches nothing is `States.Runtime`, except under `IsPresent`. `StringMatches` supports `*`
//! wildcards, with `\*` and `\\` escapes. Timestamps are RFC 3339.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use super::context::Scope;
use super::error::StatesError;
use super::jsonpath::Path;

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

/// What kind of values an operator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A literal.
    Value(Value),
    /// A `*Path` variant: the value at this path.
    Path(Path),
}

/// A type/presence test (the operator names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
pub enum Test {
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

/// A rule (without its `Next`).
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    /// `Variable` compared with an operand.
    Compare {
        var: Path,
        kind: Kind,
        op: Op,
        rhs: Operand,
    },
    /// `StringMatches` with a `*` pattern.
    Matches {
        var: Path,
        pattern: String,
    },
    /// `IsNull`, `IsPresent`, ...: `expect` is the operator's boolean value.
    Test {
        var: Path,
        test: Test,
        expect: bool,
    },
}

const COMPARISONS: &[(&str, Kind, Op)] = &[
    ("StringEquals", Kind::String, Op::Eq),
    ("StringLessThan", Kind::String, Op::Lt),
    ("StringGreaterThan", Kind::String, Op::Gt),
    ("StringLessThanEquals", Kind::String, Op::Le),
    ("StringGreaterThanEquals", Kind::String, Op::Ge),
    ("NumericEquals", Kind::Numeric, Op::Eq),
    ("NumericLessThan", Kind::Numeric, Op::Lt),
    ("NumericGreaterThan", Kind::Numeric, Op::Gt),
    ("NumericLessThanEquals", Kind::Numeric, Op::Le),
    ("NumericGreaterThanEquals", Kind::Numeric, Op::Ge),
    ("BooleanEquals", Kind::Boolean, Op::Eq),
    ("TimestampEquals", Kind::Timestamp, Op::Eq),
    ("TimestampLessThan", Kind::Timestamp, Op::Lt),
    ("TimestampGreaterThan", Kind::Timestamp, Op::Gt),
    ("TimestampLessThanEquals", Kind::Timestamp, Op::Le),
    ("TimestampGreaterThanEquals", Kind::Timestamp, Op::Ge),
];

const TESTS: &[(&str, Test)] = &[
    ("IsNull", Test::IsNull),
    ("IsPresent", Test::IsPresent),
    ("IsNumeric", Test::IsNumeric),
    ("IsString", Test::IsString),
    ("IsBoolean", Test::IsBoolean),
    ("IsTimestamp", Test::IsTimestamp),
];

impl Rule {
    /// Parse one rule object. `top` rules may carry `Next` (and `Comment`), nested ones not.
    pub fn parse(v: &Value, top: bool) -> Result<Rule, String> {
        let m = v.as_object().ok_or("a choice rule must be an object")?;
        let allowed_extra = |k: &str| k == "Comment" || (top && k == "Next");
        if let Some(list) = m.get("And").or_else(|| m.get("Or")) {
            let is_and = m.contains_key("And");
            let rules = list
                .as_array()
                .ok_or("And/Or takes an array of rules")?
                .iter()
                .map(|r| Rule::parse(r, false))
                .collect::<Result<Vec<_>, _>>()?;
            if rules.is_empty() {
                return Err("And/Or needs at least one rule".into());
            }
            check_only(m, &["And", "Or"], allowed_extra)?;
            return Ok(if is_and {
                Rule::And(rules)
            } else {
                Rule::Or(rules)
            });
        }
        if let Some(inner) = m.get("Not") {
            check_only(m, &["Not"], allowed_extra)?;
            return Ok(Rule::Not(Box::new(Rule::parse(inner, false)?)));
        }
        let var = m
            .get("Variable")
            .and_then(Value::as_str)
            .ok_or("a choice rule needs a Variable (or And/Or/Not)")?;
        let var = Path::parse(var).map_err(|e| e.to_string())?;
        let ops: Vec<&String> = m
            .keys()
            .filter(|k| *k != "Variable" && !allowed_extra(k))
            .collect();
        let [op] = ops.as_slice() else {
            return Err(format!(
                "a choice rule needs exactly one comparison operator, found {ops:?}"
            ));
        };
        let arg = &m[op.as_str()];
        if op.as_str() == "StringMatches" {
            let pattern = arg
                .as_str()
                .ok_or("StringMatches takes a string")?
                .to_string();
            return Ok(Rule::Matches { var, pattern });
        }
        if let Some((_, test)) = TESTS.iter().find(|t| t.0 == op.as_str()) {
            let expect = arg
                .as_bool()
                .ok_or_else(|| format!("{op} takes true or false"))?;
            return Ok(Rule::Test {
                var,
                test: *test,
                expect,
            });
        }
        let (base, is_path) = match op.strip_suffix("Path") {
            Some(b) => (b, true),
            None => (op.as_str(), false),
        };
        let (_, kind, cmp) = COMPARISONS
            .iter()
            .find(|c| c.0 == base)
            .ok_or_else(|| format!("unknown choice operator {op}"))?;
        let rhs = if is_path {
            let p = arg.as_str().ok_or_else(|| format!("{op} takes a path"))?;
            Operand::Path(Path::parse(p).map_err(|e| e.to_string())?)
        } else {
            let ok = match kind {
                Kind::String | Kind::Timestamp => arg.is_string(),
                Kind::Numeric => arg.is_number(),
                Kind::Boolean => arg.is_boolean(),
            };
            if !ok || (*kind == Kind::Timestamp && parse_ts(arg).is_none()) {
                return Err(format!("{op} has a value of the wrong type: {arg}"));
            }
            Operand::Value(arg.clone())
        };
        Ok(Rule::Compare {
            var,
            kind: *kind,
            op: *cmp,
            rhs,
        })
    }

    /// Evaluate the rule.
    pub fn eval(&self, scope: &Scope<'_>) -> Result<bool, StatesError> {
        let lookup = |p: &Path| {
            scope.select(p).ok_or_else(|| {
                StatesError::runtime(format!("Invalid path '{p}': The choice state's condition path references an invalid value."))
            })
        };
        Ok(match self {
            Rule::And(rs) => {
                for r in rs {
                    if !r.eval(scope)? {
                        return Ok(false);
                    }
                }
                true
            }
            Rule::Or(rs) => {
                for r in rs {
                    if r.eval(scope)? {
                        return Ok(true);
                    }
                }
                false
            }
            Rule::Not(r) => !r.eval(scope)?,
            Rule::Test { var, test, expect } => {
                let v = scope.select(var);
                if *test != Test::IsPresent && v.is_none() {
                    return Err(lookup(var).unwrap_err());
                }
                let got = match (test, &v) {
                    (Test::IsPresent, v) => v.is_some(),
                    (Test::IsNull, Some(v)) => v.is_null(),
                    (Test::IsNumeric, Some(v)) => v.is_number(),
                    (Test::IsString, Some(v)) => v.is_string(),
                    (Test::IsBoolean, Some(v)) => v.is_boolean(),
                    (Test::IsTimestamp, Some(v)) => parse_ts(v).is_some(),
                    (_, None) => false,
                };
                got == *expect
            }
            Rule::Matches { var, pattern } => match lookup(var)? {
                Value::String(s) => string_matches(&s, pattern),
                _ => false,
            },
            Rule::Compare { var, kind, op, rhs } => {
                let l = lookup(var)?;
                let r = match rhs {
                    Operand::Value(v) => v.clone(),
                    Operand::Path(p) => lookup(p)?,
                };
                compare(&l, &r, *kind).is_some_and(|ord| match op {
                    Op::Eq => ord.is_eq(),
                    Op::Lt => ord.is_lt(),
                    Op::Gt => ord.is_gt(),
                    Op::Le => ord.is_le(),
                    Op::Ge => ord.is_ge(),
                })
            }
        })
    }
}

fn check_only(
    m: &serde_json::Map<String, Value>,
    keys: &[&str],
    extra: impl Fn(&str) -> bool,
) -> Result<(), String> {
    match m.keys().find(|k| !keys.contains(&k.as_str()) && !extra(k)) {
        Some(k) => Err(format!("unexpected field {k:?} in a choice rule")),
        None => Ok(()),
    }
}

fn parse_ts(v: &Value) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(v.as_str()?).ok()
}

fn compare(l: &Value, r: &Value, kind: Kind) -> Option<std::cmp::Ordering> {
    match kind {
        Kind::String => Some(l.as_str()?.cmp(r.as_str()?)),
        Kind::Numeric => {
            if let (Some(a), Some(b)) = (l.as_i64(), r.as_i64()) {
                return Some(a.cmp(&b));
            }
            l.as_f64()?.partial_cmp(&r.as_f64()?)
        }
        Kind::Boolean => Some(l.as_bool()?.cmp(&r.as_bool()?)),
        Kind::Timestamp => Some(parse_ts(l)?.cmp(&parse_ts(r)?)),
    }
}

/// `StringMatches`: `*` matches any run of characters; `\*` is a literal star, `\\` a backslash.
pub fn string_matches(s: &str, pattern: &str) -> bool {
    // Tokens: Some(c) a literal char, None a wildcard.
    let mut toks: Vec<Option<char>> = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => toks.push(Some(it.next().unwrap_or('\\'))),
            '*' => toks.push(None),
            c => toks.push(Some(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    // Classic greedy matcher with backtracking to the last star.
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if j < toks.len() && toks[j] == Some(s[i]) {
            i += 1;
            j += 1;
        } else if j < toks.len() && toks[j].is_none() {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    while j < toks.len() && toks[j].is_none() {
        j += 1;
    }
    j == toks.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::context::{Context, ExecInfo};
    use serde_json::json;
    use std::sync::Arc;

    fn check(rule: Value, input: Value) -> Result<bool, StatesError> {
        let ctx = Context {
            exec: Arc::new(ExecInfo {
                id: "i".into(),
                name: "n".into(),
                input: json!({}),
                start_time: "t".into(),
                role_arn: "r".into(),
                state_machine_id: "s".into(),
                state_machine_name: "m".into(),
            }),
            state_name: "C".into(),
            entered_time: "t".into(),
            retry_count: 0,
            map_item: None,
        };
        Rule::parse(&rule, true).unwrap().eval(&Scope {
            input: &input,
            ctx: &ctx,
        })
    }

    #[test]
    fn comparisons() {
        let i = json!({"s": "b", "n": 5, "f": 2.5, "b": true, "t": "2026-01-02T00:00:00Z", "s2": "b", "n2": 6});
        let cases = [
            (json!({"Variable": "$.s", "StringEquals": "b"}), true),
            (json!({"Variable": "$.s", "StringLessThan": "c"}), true),
            (json!({"Variable": "$.s", "StringGreaterThan": "c"}), false),
            (
                json!({"Variable": "$.s", "StringLessThanEquals": "b"}),
                true,
            ),
            (
                json!({"Variable": "$.s", "StringGreaterThanEquals": "a"}),
                true,
            ),
            (json!({"Variable": "$.s", "StringEqualsPath": "$.s2"}), true),
            (json!({"Variable": "$.n", "NumericEquals": 5}), true),
            (json!({"Variable": "$.n", "NumericEquals": 5.0}), true),
            (json!({"Variable": "$.f", "NumericLessThan": 3}), true),
            (
                json!({"Variable": "$.n", "NumericGreaterThanPath": "$.n2"}),
                false,
            ),
            (
                json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.n2"}),
                true,
            ),
            (
                json!({"Variable": "$.n", "NumericGreaterThanEquals": 5}),
                true,
            ),
            (json!({"Variable": "$.b", "BooleanEquals": true}), true),
            (
                json!({"Variable": "$.t", "TimestampLessThan": "2026-01-02T00:00:01Z"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampEquals": "2026-01-02T01:00:00+01:00"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.t"}),
                true,
            ),
            (json!({"Variable": "$.s", "NumericEquals": 5}), false),
            (json!({"Variable": "$.n", "StringEquals": "5"}), false),
            (json!({"Variable": "$.s", "StringMatches": "*"}), true),
            (json!({"Variable": "$.missing", "IsPresent": false}), true),
            (json!({"Variable": "$.s", "IsPresent": true}), true),
            (json!({"Variable": "$.n", "IsNumeric": true}), true),
            (json!({"Variable": "$.s", "IsString": true}), true),
            (json!({"Variable": "$.b", "IsBoolean": true}), true),
            (json!({"Variable": "$.t", "IsTimestamp": true}), true),
            (json!({"Variable": "$.s", "IsTimestamp": true}), false),
            (json!({"Variable": "$.s", "IsNull": false}), true),
            (
                json!({"And": [{"Variable": "$.n", "NumericEquals": 5}, {"Not": {"Variable": "$.b", "BooleanEquals": false}}]}),
                true,
            ),
            (
                json!({"Or": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$.s", "StringEquals": "x"}]}),
                false,
            ),
        ];
        for (rule, want) in cases {
            assert_eq!(check(rule.clone(), i.clone()).unwrap(), want, "{rule}");
        }
        assert!(
            check(
                json!({"Variable": "$.z", "IsNull": true}),
                json!({"z": null})
            )
            .unwrap()
        );
    }

    #[test]
    fn missing_variable_is_runtime_error() {
        let e = check(
            json!({"Variable": "$.nope", "StringEquals": "x"}),
            json!({}),
        )
        .unwrap_err();
        assert_eq!(e.error, "States.Runtime");
    }

    #[test]
    fn string_matching() {
        assert!(string_matches("log-2026.txt", "log-*.txt"));
        assert!(string_matches("abc", "*"));
        assert!(string_matches("", "*"));
        assert!(!string_matches("abc", "a*d"));
        assert!(string_matches("a*c", r"a\*c"));
        assert!(!string_matches("abc", r"a\*c"));
        assert!(string_matches("aXbYc", "a*b*c"));
        assert!(string_matches("mississippi", "*sip*"));
    }

    #[test]
    fn rejects_bad_rules() {
        for bad in [
            json!({"Variable": "$.a"}),
            json!({"Variable": "$.a", "StringEquals": 1}),
            json!({"Variable": "$.a", "Nope": 1}),
            json!({"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1}),
            json!({"And": []}),
            json!({"Variable": "$.a", "TimestampEquals": "yesterday"}),
        ] {
            assert!(Rule::parse(&bad, true).is_err(), "{bad}");
        }
    }
}
