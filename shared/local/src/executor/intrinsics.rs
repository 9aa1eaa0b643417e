//! Intrinsic functions (`States.Format(...)` and friends) in `Parameters`/`ResultSelector`
//! values whose key ends in `.$`. Parsed once when the definition is validated, evaluated per
//! state entry.
//!
//! Semantics follow the AWS documentation: `States.Format` renders strings raw and other values
//! as JSON (objects and arrays in the Java `{k=v}` / `[a, b]` style AWS prints);
//! `States.ArrayRange` is inclusive and capped at 1,000 items; `States.StringSplit` splits on
//! any of the delimiter characters and drops empty parts; `States.MathRandom(start, end)`
//! draws an integer in `[start, end]` (both inclusive, as LocalStack/moto do); `States.Hash` gives lowercase hex for SHA-1, SHA-256,
//! SHA-384 and SHA-512 (MD5 answers `States.IntrinsicFailure`: no MD5 crate in the workspace).

use data_encoding::BASE64;
use serde_json::Value;
use sha2::Digest;

use super::context::Scope;
use super::error::StatesError;
use super::jsonpath::Path;

/// One argument of an intrinsic call.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A number, `true`, `false` or `null`.
    Literal(Value),
    /// A `'quoted string'`: the decoded text, and the text with `\{`/`\}` escapes kept (for
    /// `States.Format` templates).
    Str { value: String, template: String },
    /// A JSONPath (`$.x`, `$$.Execution.Name`).
    Path(Path),
    /// A nested call.
    Call(Call),
}

/// A parsed intrinsic call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function name without `States.`.
    pub name: String,
    /// Its arguments.
    pub args: Vec<Arg>,
}

const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("Format", 1, usize::MAX),
    ("StringToJson", 1, 1),
    ("JsonToString", 1, 1),
    ("Array", 0, usize::MAX),
    ("ArrayPartition", 2, 2),
    ("ArrayContains", 2, 2),
    ("ArrayRange", 3, 3),
    ("ArrayGetItem", 2, 2),
    ("ArrayLength", 1, 1),
    ("ArrayUnique", 1, 1),
    ("Base64Encode", 1, 1),
    ("Base64Decode", 1, 1),
    ("Hash", 2, 2),
    ("JsonMerge", 3, 3),
    ("MathRandom", 2, 3),
    ("MathAdd", 2, 2),
    ("StringSplit", 2, 2),
    ("UUID", 0, 0),
];

impl Call {
    /// Parse `States.Name(arg, ...)`; the whole string must be one call.
    pub fn parse(src: &str) -> Result<Call, String> {
        let chars: Vec<char> = src.chars().collect();
        let mut p = P { c: &chars, i: 0 };
        p.ws();
        let call = p.call()?;
        p.ws();
        if p.i != chars.len() {
            return Err(format!("unexpected text after the call in {src:?}"));
        }
        Ok(call)
    }

    /// Evaluate the call in `scope`.
    pub fn eval(&self, scope: &Scope<'_>) -> Result<Value, StatesError> {
        let mut args = Vec::with_capacity(self.args.len());
        for a in &self.args {
            args.push(match a {
                Arg::Literal(v) => v.clone(),
                Arg::Str { value, .. } => Value::String(value.clone()),
                Arg::Path(p) => scope.select(p).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "The JSONPath '{p}' specified in the function 'States.{}' could not be found in the input",
                        self.name
                    ))
                })?,
                Arg::Call(c) => c.eval(scope)?,
            });
        }
        let fail = |why: String| StatesError::intrinsic(format!("States.{}: {why}", self.name));
        apply(self, args).map_err(fail)
    }
}

struct P<'a> {
    c: &'a [char],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.c.len() && self.c[self.i].is_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }
    fn call(&mut self) -> Result<Call, String> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            self.i += 1;
        }
        let full: String = self.c[start..self.i].iter().collect();
        let name = full
            .strip_prefix("States.")
            .ok_or_else(|| format!("{full:?} is not an intrinsic function (States.*)"))?
            .to_string();
        let (_, min, max) = FUNCTIONS
            .iter()
            .find(|f| f.0 == name)
            .ok_or_else(|| format!("unknown intrinsic function States.{name}"))?;
        self.ws();
        if self.peek() != Some('(') {
            return Err(format!("expected '(' after States.{name}"));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.peek() == Some(')') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                args.push(self.arg()?);
                self.ws();
                match self.peek() {
                    Some(',') => self.i += 1,
                    Some(')') => {
                        self.i += 1;
                        break;
                    }
                    _ => {
                        return Err(format!(
                            "expected ',' or ')' in the arguments of States.{name}"
                        ));
                    }
                }
            }
        }
        if args.len() < *min || args.len() > *max {
            return Err(format!(
                "States.{name} takes {min}..{max} arguments, got {}",
                args.len()
            ));
        }
        Ok(Call { name, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        match self.peek() {
            Some('\'') => {
                self.i += 1;
                let mut value = String::new();
                let mut template = String::new();
                loop {
                    match self.peek() {
                        None => return Err("unterminated string literal".into()),
                        Some('\\') => {
                            let n = self
                                .c
                                .get(self.i + 1)
                                .copied()
                                .ok_or("unterminated escape")?;
                            if n == '{' || n == '}' {
                                template.push('\\');
                            }
                            template.push(n);
                            value.push(n);
                            self.i += 2;
                        }
                        Some('\'') => {
                            self.i += 1;
                            return Ok(Arg::Str { value, template });
                        }
                        Some(c) => {
                            value.push(c);
                            template.push(c);
                            self.i += 1;
                        }
                    }
                }
            }
            Some('$') => {
                let start = self.i;
                let mut depth = 0i32;
                let mut quote: Option<char> = None;
                while let Some(c) = self.peek() {
                    if let Some(q) = quote {
                        if c == q {
                            quote = None;
                        }
                    } else if c == '\'' || c == '"' {
                        quote = Some(c);
                    } else if c == '[' {
                        depth += 1;
                    } else if c == ']' {
                        depth -= 1;
                    } else if depth == 0 && (c == ',' || c == ')' || c.is_whitespace()) {
                        break;
                    }
                    self.i += 1;
                }
                let text: String = self.c[start..self.i].iter().collect();
                Path::parse(&text).map(Arg::Path).map_err(|e| e.to_string())
            }
            Some('S') => self.call().map(Arg::Call),
            Some(_) => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| !(c == ',' || c == ')' || c.is_whitespace()))
                {
                    self.i += 1;
                }
                let text: String = self.c[start..self.i].iter().collect();
                match serde_json::from_str::<Value>(&text) {
                    Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                        Ok(Arg::Literal(v))
                    }
                    _ => Err(format!("bad intrinsic argument {text:?}")),
                }
            }
            None => Err("missing argument".into()),
        }
    }
}

/// The text `States.Format` inserts for a value.
pub fn format_repr(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(format_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k}={}", format_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

fn int_arg(v: &Value, what: &str) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("{what} must be an integer, got {v}")),
        _ => Err(format!("{what} must be an integer, got {v}")),
    }
}

fn array_arg<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} must be an array, got {v}"))
}

fn str_arg<'a>(v: &'a Value, what: &str) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what} must be a string, got {v}"))
}

fn apply(call: &Call, mut args: Vec<Value>) -> Result<Value, String> {
    use Value::*;
    Ok(match call.name.as_str() {
        "Format" => {
            let template = match &call.args[0] {
                Arg::Str { template, .. } => template.clone(),
                _ => str_arg(&args[0], "the template")?.to_string(),
            };
            let mut out = std::string::String::new();
            let mut values = args[1..].iter();
            let mut chars = template.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            out.push(n);
                        }
                    }
                    '{' if chars.peek() == Some(&'}') => {
                        chars.next();
                        let v = values.next().ok_or("more placeholders than arguments")?;
                        out.push_str(&format_repr(v));
                    }
                    c => out.push(c),
                }
            }
            if values.next().is_some() {
                return Err("more arguments than placeholders".into());
            }
            String(out)
        }
        "StringToJson" => {
            let s = str_arg(&args[0], "the argument")?;
            serde_json::from_str(s).map_err(|e| format!("not JSON: {e}"))?
        }
        "JsonToString" => String(serde_json::to_string(&args[0]).map_err(|e| e.to_string())?),
        "Array" => Array(args),
        "ArrayPartition" => {
            let size = int_arg(&args[1], "the chunk size")?;
            if size <= 0 {
                return Err("the chunk size must be positive".into());
            }
            let arr = array_arg(&args[0], "the first argument")?;
            Array(
                arr.chunks(size as usize)
                    .map(|c| Array(c.to_vec()))
                    .collect(),
            )
        }
        "ArrayContains" => Bool(array_arg(&args[0], "the first argument")?.contains(&args[1])),
        "ArrayRange" => {
            let (a, b, s) = (
                int_arg(&args[0], "start")?,
                int_arg(&args[1], "end")?,
                int_arg(&args[2], "step")?,
            );
            if s == 0 {
                return Err("step must not be 0".into());
            }
            let mut out = Vec::new();
            let mut x = a;
            while (s > 0 && x <= b) || (s < 0 && x >= b) {
                if out.len() == 1000 {
                    return Err("arrays cannot contain more than 1000 items".into());
                }
                out.push(Value::from(x));
                x += s;
            }
            Array(out)
        }
        "ArrayGetItem" => {
            let i = int_arg(&args[1], "the index")?;
            let arr = array_arg(&args[0], "the first argument")?;
            usize::try_from(i)
                .ok()
                .and_then(|i| arr.get(i))
                .cloned()
                .ok_or_else(|| format!("index {i} is out of bounds"))?
        }
        "ArrayLength" => Value::from(array_arg(&args[0], "the argument")?.len()),
        "ArrayUnique" => {
            let arr = array_arg(&args[0], "the argument")?;
            let mut out: Vec<Value> = Vec::new();
            for v in arr {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Array(out)
        }
        "Base64Encode" => String(BASE64.encode(str_arg(&args[0], "the argument")?.as_bytes())),
        "Base64Decode" => {
            let bytes = BASE64
                .decode(str_arg(&args[0], "the argument")?.as_bytes())
                .map_err(|e| format!("not base64: {e}"))?;
            String(
                std::string::String::from_utf8(bytes).map_err(|_| "decoded bytes are not UTF-8")?,
            )
        }
        "Hash" => {
            let data = str_arg(&args[0], "the data")?.as_bytes();
            let alg = str_arg(&args[1], "the algorithm")?;
            String(match alg {
                "SHA-1" => hex::encode(sha1::Sha1::digest(data)),
                "SHA-256" => hex::encode(sha2::Sha256::digest(data)),
                "SHA-384" => hex::encode(sha2::Sha384::digest(data)),
                "SHA-512" => hex::encode(sha2::Sha512::digest(data)),
                other => {
                    return Err(format!(
                        "unsupported hash algorithm {other:?} (SHA-1, SHA-256, SHA-384, SHA-512)"
                    ));
                }
            })
        }
        "JsonMerge" => {
            if args[2] != Bool(false) {
                return Err("only shallow merges (false) are supported".into());
            }
            let b = args.pop().and(args.pop()).expect("arity checked");
            let a = args.pop().expect("arity checked");
            match (a, b) {
                (Object(mut a), Object(b)) => {
                    for (k, v) in b {
                        a.insert(k, v);
                    }
                    Object(a)
                }
                _ => return Err("both arguments must be objects".into()),
            }
        }
        "MathRandom" => {
            let (a, b) = (int_arg(&args[0], "start")?, int_arg(&args[1], "end")?);
            if a > b {
                return Err("start must not be greater than end".into());
            }
            use rand::{Rng, SeedableRng};
            let n = match args.get(2) {
                Some(seed) => rand::rngs::StdRng::seed_from_u64(int_arg(seed, "seed")? as u64)
                    .random_range(a..=b),
                None => rand::rng().random_range(a..=b),
            };
            Value::from(n)
        }
        "MathAdd" => {
            let (a, b) = (
                int_arg(&args[0], "the first argument")?,
                int_arg(&args[1], "the second argument")?,
            );
            Value::from(a.checked_add(b).ok_or("overflow")?)
        }
        "StringSplit" => {
            let s = str_arg(&args[0], "the string")?;
            let d = str_arg(&args[1], "the delimiter")?;
            Array(
                s.split(|c| d.contains(c))
                    .filter(|p| !p.is_empty())
                    .map(|p| String(p.to_string()))
                    .collect(),
            )
        }
        "UUID" => String(uuid::Uuid::new_v4().to_string()),
        other => return Err(format!("unknown function States.{other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::context::{Context, ExecInfo};
    use serde_json::json;
    use std::sync::Arc;

    fn ctx() -> Context {
        Context {
            exec: Arc::new(ExecInfo {
                id: "arn:exec".into(),
                name: "run-1".into(),
                input: json!({}),
                start_time: "t".into(),
                role_arn: "r".into(),
                state_machine_id: "sm".into(),
                state_machine_name: "m".into(),
            }),
            state_name: "S".into(),
            entered_time: "t".into(),
            retry_count: 0,
            map_item: None,
        }
    }

    fn ev(src: &str, input: Value) -> Result<Value, StatesError> {
        let c = ctx();
        Call::parse(src).unwrap().eval(&Scope {
            input: &input,
            ctx: &c,
        })
    }

    #[test]
    fn format() {
        assert_eq!(
            ev(
                "States.Format('Hello, {}! {} {}', $.n, $.i, $$.Execution.Name)",
                json!({"n": "W", "i": 3})
            )
            .unwrap(),
            json!("Hello, W! 3 run-1")
        );
        assert_eq!(
            ev(
                "States.Format('{}', $.o)",
                json!({"o": {"a": 1, "b": [1, "x"]}})
            )
            .unwrap(),
            json!("{a=1, b=[1, x]}")
        );
        assert_eq!(
            ev(r"States.Format('\{\} {} it\'s', 'x')", json!({})).unwrap(),
            json!("{} x it's")
        );
        assert!(ev("States.Format('{} {}', 'x')", json!({})).is_err());
    }

    #[test]
    fn json_round_trip() {
        assert_eq!(
            ev("States.StringToJson($.s)", json!({"s": "{\"a\":[1,2]}"})).unwrap(),
            json!({"a": [1, 2]})
        );
        assert_eq!(
            ev("States.JsonToString($.o)", json!({"o": {"a": [1, 2]}})).unwrap(),
            json!("{\"a\":[1,2]}")
        );
        assert_eq!(
            ev(
                "States.StringToJson(States.JsonToString($))",
                json!({"z": 1})
            )
            .unwrap(),
            json!({"z": 1})
        );
    }

    #[test]
    fn arrays() {
        assert_eq!(
            ev("States.Array(1, 'a', $.x, null, true)", json!({"x": [2]})).unwrap(),
            json!([1, "a", [2], null, true])
        );
        assert_eq!(
            ev(
                "States.ArrayPartition($.a, 2)",
                json!({"a": [1, 2, 3, 4, 5]})
            )
            .unwrap(),
            json!([[1, 2], [3, 4], [5]])
        );
        assert_eq!(
            ev("States.ArrayContains($.a, 3)", json!({"a": [1, 2, 3]})).unwrap(),
            json!(true)
        );
        assert_eq!(
            ev("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            ev("States.ArrayRange(0, 0, 1)", json!({})).unwrap(),
            json!([0])
        );
        assert!(ev("States.ArrayRange(0, 1000, 1)", json!({})).is_err());
        assert_eq!(
            ev("States.ArrayGetItem($.a, 1)", json!({"a": [1, 2, 3]})).unwrap(),
            json!(2)
        );
        assert!(ev("States.ArrayGetItem($.a, 5)", json!({"a": [1]})).is_err());
        assert_eq!(
            ev("States.ArrayLength($.a)", json!({"a": [1, 2, 3]})).unwrap(),
            json!(3)
        );
        assert_eq!(
            ev("States.ArrayUnique($.a)", json!({"a": [1, 2, 1, "x", "x"]})).unwrap(),
            json!([1, 2, "x"])
        );
    }

    #[test]
    fn encodings_and_hashes() {
        assert_eq!(
            ev("States.Base64Encode('Data to encode')", json!({})).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            ev("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})).unwrap(),
            json!("Data to encode")
        );
        assert_eq!(
            ev("States.Hash('abc', 'SHA-256')", json!({})).unwrap(),
            json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            ev("States.Hash('abc', 'SHA-1')", json!({})).unwrap(),
            json!("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
    }

    #[test]
    fn math_strings_merge_uuid() {
        assert_eq!(
            ev("States.MathAdd($.a, -3)", json!({"a": 10})).unwrap(),
            json!(7)
        );
        let r = ev("States.MathRandom(1, 5)", json!({}))
            .unwrap()
            .as_i64()
            .unwrap();
        assert!((1..=5).contains(&r));
        assert_eq!(ev("States.MathRandom(4, 4)", json!({})).unwrap(), json!(4));
        assert!(ev("States.MathRandom(5, 4)", json!({})).is_err());
        let seeded = ev("States.MathRandom(1, 1000, 7)", json!({})).unwrap();
        assert_eq!(
            seeded,
            ev("States.MathRandom(1, 1000, 7)", json!({})).unwrap()
        );
        assert_eq!(
            ev("States.StringSplit('a,b;;c', ',;')", json!({})).unwrap(),
            json!(["a", "b", "c"])
        );
        assert_eq!(
            ev(
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"x": 1, "y": {"z": 1}}, "b": {"y": 2}})
            )
            .unwrap(),
            json!({"x": 1, "y": 2})
        );
        let u = ev("States.UUID()", json!({})).unwrap();
        assert_eq!(u.as_str().unwrap().len(), 36);
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "States.Nope(1)",
            "States.Format(",
            "States.ArrayLength()",
            "Foo.Bar()",
            "States.Array(1) x",
            "States.MathAdd(1, abc)",
        ] {
            assert!(Call::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_path_is_runtime_error() {
        let e = ev("States.ArrayLength($.nope)", json!({})).unwrap_err();
        assert_eq!(e.error, "States.Runtime");
    }
}
