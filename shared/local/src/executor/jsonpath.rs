//! The JSONPath subset Step Functions (JSONPath query language) uses, with the semantics of the
//! Jayway implementation AWS runs:
//!
//! - `$` the input, `$$` the context object;
//! - `.name`, `['name']` / `["name"]` (any characters, e.g. dots), `[n]` and `[-n]`;
//! - `.*` / `[*]`, `[a:b]` / `[a:b:c]` slices, `[0,2]` index unions, `..name` deep scan;
//! - a final `['a','b']` property union selects those properties into a new object (missing
//!   ones omitted), like Jayway's "multi-property" leaf: `$.['JobId', 'Parameters']`.
//!
//! A *definite* path (only names and indexes, or a final property union) yields one value or
//! nothing; an indefinite path yields an array of every match (possibly empty). Filters
//! (`[?(...)]`) are not supported and are rejected by [`Path::parse`].

use std::fmt;

use serde_json::{Map, Value};

/// A parse error: the path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid JSONPath {path:?}: {why}")]
pub struct PathError {
    /// The path as written.
    pub path: String,
    /// What is wrong.
    pub why: String,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// `.name` or `['name']`.
    Field(String),
    /// `[n]`; negative counts from the end.
    Index(i64),
    /// `.*` or `[*]`: every member of an object or element of an array.
    Wildcard,
    /// `['a','b']` (two or more names).
    Fields(Vec<String>),
    /// `[0,2]` (two or more indexes).
    Indexes(Vec<i64>),
    /// `[start:end:step]`.
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `..name` (or `..*` with `None`): this name at any depth.
    Deep(Option<String>),
}

/// A parsed JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// `$$`: the path applies to the context object.
    pub context: bool,
    /// The steps after the root.
    pub segments: Vec<Segment>,
    source: String,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Path {
    /// Parse a path starting with `$` or `$$`.
    pub fn parse(src: &str) -> Result<Path, PathError> {
        Parser {
            src,
            chars: src.char_indices().collect(),
            pos: 0,
        }
        .parse()
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the path is exactly `$` (or `$$`).
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// A reference path: only names and non-negative indexes (what `ResultPath` accepts).
    pub fn is_reference(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Field(_)) || matches!(s, Segment::Index(i) if *i >= 0))
    }

    /// A definite path: yields at most one value.
    pub fn is_definite(&self) -> bool {
        definite(&self.segments)
    }

    /// Select from `root`. `None` when a definite path matches nothing; an indefinite path
    /// always answers an array of its matches.
    pub fn select(&self, root: &Value) -> Option<Value> {
        select_segments(&self.segments, root)
    }

    /// Like [`Path::select`], skipping the first `skip` segments (they were resolved by the caller).
    pub fn select_after(&self, skip: usize, root: &Value) -> Option<Value> {
        select_segments(self.segments.get(skip..).unwrap_or(&[]), root)
    }

    /// Write `value` at this reference path inside `target` (ResultPath semantics): missing
    /// intermediate objects are created; `$` replaces the whole target.
    pub fn set(&self, target: Value, value: Value) -> Result<Value, String> {
        if self.segments.is_empty() {
            return Ok(value);
        }
        let mut target = target;
        set_in(&mut target, &self.segments, value)
            .map_err(|why| format!("Unable to apply ResultPath '{}': {why}", self.source))?;
        Ok(target)
    }
}

fn definite(segments: &[Segment]) -> bool {
    let n = segments.len();
    segments.iter().enumerate().all(|(i, s)| match s {
        Segment::Field(_) | Segment::Index(_) => true,
        Segment::Fields(_) => i + 1 == n,
        _ => false,
    })
}

fn select_segments(segments: &[Segment], root: &Value) -> Option<Value> {
    if definite(segments) {
        let (last_fields, prefix) = match segments.last() {
            Some(Segment::Fields(names)) => (Some(names), &segments[..segments.len() - 1]),
            _ => (None, segments),
        };

        let mut cur = root;
        for seg in prefix {
            cur = step_definite(cur, seg)?;
        }
        match last_fields {
            None => Some(cur.clone()),
            Some(names) => {
                let obj = cur.as_object()?;
                let mut out = Map::new();
                for n in names {
                    if let Some(v) = obj.get(n) {
                        out.insert(n.clone(), v.clone());
                    }
                }
                Some(Value::Object(out))
            }
        }
    } else {
        let mut nodes = vec![root];
        for seg in segments {
            let mut next = Vec::new();
            for n in nodes {
                step_all(n, seg, &mut next);
            }
            nodes = next;
        }
        Some(Value::Array(nodes.into_iter().cloned().collect()))
    }
}

fn set_in(cur: &mut Value, segs: &[Segment], value: Value) -> Result<(), String> {
    let (first, rest) = segs.split_first().expect("non-empty");
    match first {
        Segment::Field(name) => {
            let obj = cur
                .as_object_mut()
                .ok_or_else(|| format!("cannot set field '{name}' on a non-object"))?;
            if rest.is_empty() {
                obj.insert(name.clone(), value);
                return Ok(());
            }
            let child = obj
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if child.is_null() {
                *child = Value::Object(Map::new());
            }
            set_in(child, rest, value)
        }
        Segment::Index(i) => {
            let arr = cur
                .as_array_mut()
                .ok_or_else(|| format!("cannot index [{i}] on a non-array"))?;
            let idx = usize::try_from(*i).map_err(|_| "negative index".to_string())?;
            let slot = arr
                .get_mut(idx)
                .ok_or_else(|| format!("index [{i}] is out of bounds"))?;
            if rest.is_empty() {
                *slot = value;
                Ok(())
            } else {
                set_in(slot, rest, value)
            }
        }
        _ => Err("only names and indexes may be written".into()),
    }
}

fn norm_index(i: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let j = if i < 0 { len + i } else { i };
    if (0..len).contains(&j) {
        usize::try_from(j).ok()
    } else {
        None
    }
}

fn step_definite<'a>(v: &'a Value, seg: &Segment) -> Option<&'a Value> {
    match seg {
        Segment::Field(n) => v.as_object()?.get(n),
        Segment::Index(i) => {
            let a = v.as_array()?;
            a.get(norm_index(*i, a.len())?)
        }
        _ => None,
    }
}

fn step_all<'a>(v: &'a Value, seg: &Segment, out: &mut Vec<&'a Value>) {
    match seg {
        Segment::Field(_) | Segment::Index(_) => out.extend(step_definite(v, seg)),
        Segment::Wildcard => match v {
            Value::Object(m) => out.extend(m.values()),
            Value::Array(a) => out.extend(a.iter()),
            _ => {}
        },
        Segment::Fields(names) => {
            if let Some(m) = v.as_object() {
                out.extend(names.iter().filter_map(|n| m.get(n)));
            }
        }
        Segment::Indexes(idx) => {
            if let Some(a) = v.as_array() {
                out.extend(idx.iter().filter_map(|i| a.get(norm_index(*i, a.len())?)));
            }
        }
        Segment::Slice(start, end, step) => {
            if let Some(a) = v.as_array() {
                let len = a.len() as i64;
                let clamp = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                let s = clamp(start.unwrap_or(0));
                let e = clamp(end.unwrap_or(len));
                let st = step.unwrap_or(1).max(1);
                let mut i = s;
                while i < e {
                    out.push(&a[i as usize]);
                    i += st;
                }
            }
        }
        Segment::Deep(name) => deep(v, name.as_deref(), out),
    }
}

fn deep<'a>(v: &'a Value, name: Option<&str>, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if name.is_none_or(|n| n == k) {
                    out.push(child);
                }
                deep(child, name, out);
            }
        }
        Value::Array(a) => {
            for child in a {
                if name.is_none() {
                    out.push(child);
                }
                deep(child, name, out);
            }
        }
        _ => {}
    }
}

struct Parser<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl Parser<'_> {
    fn err<T>(&self, why: impl Into<String>) -> Result<T, PathError> {
        Err(PathError {
            path: self.src.to_string(),
            why: why.into(),
        })
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|c| c.1)
    }
    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.pos + k).map(|c| c.1)
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }
    fn expect(&mut self, c: char) -> Result<(), PathError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(format!("expected '{c}' at offset {}", self.pos))
        }
    }

    fn parse(mut self) -> Result<Path, PathError> {
        if self.peek() != Some('$') {
            return self.err("must start with '$'");
        }
        self.pos += 1;
        let context = if self.peek() == Some('$') {
            self.pos += 1;
            true
        } else {
            false
        };
        let mut segments = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '.' if self.peek_at(1) == Some('.') => {
                    self.pos += 2;
                    if self.peek() == Some('*') {
                        self.pos += 1;
                        segments.push(Segment::Deep(None));
                    } else {
                        let name = self.name()?;
                        segments.push(Segment::Deep(Some(name)));
                    }
                }
                '.' => {
                    self.pos += 1;
                    match self.peek() {
                        Some('[') => {} // `$.[0]`, `$.['a']`: the bracket follows
                        Some('*') => {
                            self.pos += 1;
                            segments.push(Segment::Wildcard);
                        }
                        _ => segments.push(Segment::Field(self.name()?)),
                    }
                }
                '[' => {
                    self.pos += 1;
                    segments.push(self.bracket()?);
                }
                _ => return self.err(format!("unexpected '{c}' at offset {}", self.pos)),
            }
        }
        Ok(Path {
            context,
            segments,
            source: self.src.to_string(),
        })
    }

    fn name(&mut self) -> Result<String, PathError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == '.' || c == '[' {
                break;
            }
            if c.is_whitespace()
                || c == ']'
                || c == '('
                || c == ')'
                || c == ','
                || c == '\''
                || c == '"'
            {
                return self.err(format!("unexpected '{c}' in a name at offset {}", self.pos));
            }
            self.pos += 1;
        }
        if self.pos == start {
            return self.err(format!("empty name at offset {start}"));
        }
        Ok(self.chars[start..self.pos].iter().map(|c| c.1).collect())
    }

    fn quoted(&mut self) -> Result<String, PathError> {
        let q = self.peek().expect("quote");
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return self.err("unterminated quoted name"),
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => s.push(c),
                        None => return self.err("unterminated quoted name"),
                    }
                    self.pos += 1;
                }
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn int(&mut self) -> Result<Option<i64>, PathError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == start {
            return Ok(None);
        }
        let text: String = self.chars[start..self.pos].iter().map(|c| c.1).collect();
        match text.parse() {
            Ok(n) => Ok(Some(n)),
            Err(_) => self.err(format!("bad index {text:?}")),
        }
    }

    fn bracket(&mut self) -> Result<Segment, PathError> {
        self.skip_ws();
        match self.peek() {
            Some('\'') | Some('"') => {
                let mut names = vec![self.quoted()?];
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(',') => {
                            self.pos += 1;
                            self.skip_ws();
                            if !matches!(self.peek(), Some('\'') | Some('"')) {
                                return self.err("expected a quoted name after ','");
                            }
                            names.push(self.quoted()?);
                        }
                        Some(']') => {
                            self.pos += 1;
                            break;
                        }
                        _ => return self.err("expected ',' or ']' after a quoted name"),
                    }
                }
                if names.len() == 1 {
                    Ok(Segment::Field(names.pop().expect("one")))
                } else {
                    Ok(Segment::Fields(names))
                }
            }
            Some('*') => {
                self.pos += 1;
                self.expect(']')?;
                Ok(Segment::Wildcard)
            }
            Some('?') | Some('(') => self.err("filter and script expressions are not supported"),
            _ => {
                let first = self.int()?;
                self.skip_ws();
                match self.peek() {
                    Some(']') => {
                        self.pos += 1;
                        match first {
                            Some(i) => Ok(Segment::Index(i)),
                            None => self.err("empty brackets"),
                        }
                    }
                    Some(',') => {
                        let mut idx = vec![match first {
                            Some(i) => i,
                            None => return self.err("expected an index before ','"),
                        }];
                        while self.peek() == Some(',') {
                            self.pos += 1;
                            match self.int()? {
                                Some(i) => idx.push(i),
                                None => return self.err("expected an index after ','"),
                            }
                            self.skip_ws();
                        }
                        self.expect(']')?;
                        Ok(Segment::Indexes(idx))
                    }
                    Some(':') => {
                        self.pos += 1;
                        let end = self.int()?;
                        self.skip_ws();
                        let step = if self.peek() == Some(':') {
                            self.pos += 1;
                            self.int()?
                        } else {
                            None
                        };
                        self.expect(']')?;
                        Ok(Segment::Slice(first, end, step))
                    }
                    _ => self.err(format!(
                        "unexpected character in brackets at offset {}",
                        self.pos
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(p: &str, v: &Value) -> Option<Value> {
        Path::parse(p).unwrap().select(v)
    }

    #[test]
    fn definite_paths() {
        let v = json!({"a": {"b": [10, 20, {"c": "x"}]}, "d.e": 1, "arr": [1, 2, 3]});
        assert_eq!(sel("$", &v), Some(v.clone()));
        assert_eq!(sel("$.a.b[1]", &v), Some(json!(20)));
        assert_eq!(sel("$.a.b[-1].c", &v), Some(json!("x")));
        assert_eq!(sel("$['d.e']", &v), Some(json!(1)));
        assert_eq!(sel("$.[\"d.e\"]", &v), Some(json!(1)));
        assert_eq!(sel("$.a.missing", &v), None);
        assert_eq!(sel("$.arr[3]", &v), None);
        assert_eq!(sel("$.arr.x", &v), None);
        assert_eq!(sel("$[0]", &json!([7, 8])), Some(json!(7)));
        assert_eq!(
            sel("$.[0].JobId", &json!([{"JobId": "j"}])),
            Some(json!("j"))
        );
    }

    #[test]
    fn property_union_at_the_end_makes_an_object() {
        let v = json!({"JobId": "1", "Parameters": {"k": "v"}, "Status": "SUCCEEDED"});
        assert_eq!(
            sel(
                "$.['JobId', 'Parameters', 'Index', 'SplitParentTaskId']",
                &v
            ),
            Some(json!({"JobId": "1", "Parameters": {"k": "v"}}))
        );
        assert!(Path::parse("$.['a','b']").unwrap().is_definite());
    }

    #[test]
    fn indefinite_paths() {
        let v = json!({"xs": [{"n": 1}, {"n": 2}, {"m": 3}], "o": {"p": {"n": 4}}});
        assert_eq!(sel("$.xs[*].n", &v), Some(json!([1, 2])));
        assert_eq!(sel("$.xs[0:2]", &v), Some(json!([{"n": 1}, {"n": 2}])));
        assert_eq!(sel("$.xs[0,2]", &v), Some(json!([{"n": 1}, {"m": 3}])));
        assert_eq!(sel("$..n", &v), Some(json!([1, 2, 4])));
        assert_eq!(sel("$.nothing[*]", &v), Some(json!([])));
        assert_eq!(sel("$.xs[::2]", &v), Some(json!([{"n": 1}, {"m": 3}])));
    }

    #[test]
    fn context_paths() {
        let p = Path::parse("$$.Map.Item.Value").unwrap();
        assert!(p.context);
        assert_eq!(p.segments.len(), 3);
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in [
            "",
            "a.b",
            "$.",
            "$..",
            "$[",
            "$['a'",
            "$[?(@.a)]",
            "$.a b",
            "$[]",
            "$.a]",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn set_result_paths() {
        let p = Path::parse("$.a.b").unwrap();
        assert_eq!(
            p.set(json!({"x": 1}), json!(2)).unwrap(),
            json!({"x": 1, "a": {"b": 2}})
        );
        let p = Path::parse("$").unwrap();
        assert_eq!(p.set(json!({"x": 1}), json!(2)).unwrap(), json!(2));
        let p = Path::parse("$.x.y").unwrap();
        assert!(p.set(json!({"x": 1}), json!(2)).is_err());
        assert!(p.set(json!("str"), json!(2)).is_err());
        let p = Path::parse("$.l[1]").unwrap();
        assert_eq!(
            p.set(json!({"l": [0, 0]}), json!(5)).unwrap(),
            json!({"l": [0, 5]})
        );
        assert!(
            Path::parse("$.l[*]")
                .unwrap()
                .set(json!({}), json!(1))
                .is_err()
        );
    }
}
