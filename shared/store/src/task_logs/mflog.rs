//! Metaflow's structured log line format (`metaflow/mflog/mflog.py`):
//! `[MFLOG|0|<UTC %Y-%m-%dT%H:%M:%S.%6f>Z|<source>|<line id>]<line>`. The client parses these
//! lines to merge and print `Task.stdout`/`Task.stderr`. The task wrapper decorates its step's
//! output with [`LineDecorator`]; readers strip the prefixes with [`strip_mflog`].

use chrono::{DateTime, Utc};

/// The log source of task output.
pub const TASK_SOURCE: &str = "task";

/// Append one decorated line to `out`. `line` is the raw line without or with its `\n`; the
/// decorated line always ends with `\n`.
pub fn decorate_into(out: &mut Vec<u8>, source: &str, now: DateTime<Utc>, id: u64, line: &[u8]) {
    out.extend_from_slice(b"[MFLOG|0|");
    out.extend_from_slice(now.format("%Y-%m-%dT%H:%M:%S%.6f").to_string().as_bytes());
    out.extend_from_slice(b"Z|");
    out.extend_from_slice(source.as_bytes());
    out.extend_from_slice(b"|");
    // Zero-padded so that lines with equal timestamps keep their order when the client sorts them.
    out.extend_from_slice(format!("{id:016}").as_bytes());
    out.extend_from_slice(b"]");
    out.extend_from_slice(line);
    if !line.ends_with(b"\n") {
        out.push(b'\n');
    }
}

/// Longest line kept whole (bytes); longer ones are split.
pub const MAX_LINE: usize = 1 << 20;

/// Splits a byte stream into lines and decorates each complete one.
#[derive(Debug, Default)]
pub struct LineDecorator {
    partial: Vec<u8>,
    next_id: u64,
}

impl LineDecorator {
    /// Feed a chunk; returns the decorated complete lines it finished.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let now = Utc::now();
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = rest.split_at(pos + 1);
            if self.partial.is_empty() {
                decorate_into(&mut out, TASK_SOURCE, now, self.id(), line);
            } else {
                self.partial.extend_from_slice(line);
                let full = std::mem::take(&mut self.partial);
                decorate_into(&mut out, TASK_SOURCE, now, self.id(), &full);
            }
            rest = tail;
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() >= MAX_LINE {
            // A line this long (or output without newlines) is cut rather than held in memory.
            let full = std::mem::take(&mut self.partial);
            let id = self.id();
            decorate_into(&mut out, TASK_SOURCE, now, id, &full);
        }
        out
    }

    /// The decorated unterminated last line, if any.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.partial.is_empty() {
            let full = std::mem::take(&mut self.partial);
            let id = self.id();
            decorate_into(&mut out, TASK_SOURCE, Utc::now(), id, &full);
        }
        out
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// Strip the `[MFLOG|0|<time>|<source>|<id>]` prefix of each line (lines without it are kept).
pub fn strip_mflog(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line
            .strip_prefix("[MFLOG|")
            .and_then(|rest| {
                // Four `|`-separated fields, then `]`.
                let mut idx = 0;
                for _ in 0..3 {
                    idx += rest[idx..].find('|')? + 1;
                }
                let close = rest[idx..].find(']')?;
                Some(&rest[idx + close + 1..])
            })
            .unwrap_or(line);
        out.push_str(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mflog_prefixes_are_stripped() {
        let text = "[MFLOG|0|2026-11-30T04:00:00.000000Z|task|abc]hello\n[MFLOG|0|2026-11-30T04:00:00.100000Z|task|abd]a]b|c\nplain\n";
        assert_eq!(strip_mflog(text), "hello\na]b|c\nplain\n");
    }

    #[test]
    fn decorates_lines_and_partials() {
        let mut d = LineDecorator::default();
        let a = d.feed(b"hello\nwor");
        let b = d.feed(b"ld\nx");
        let c = d.finish();
        let all = String::from_utf8([a, b, c].concat()).unwrap();
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(lines.len(), 3);
        let long = d.feed(&vec![b'x'; MAX_LINE + 10]);
        assert_eq!(
            long.iter().filter(|b| **b == b'\n').count(),
            1,
            "an over-long line is cut"
        );
        for (l, want) in lines.iter().zip(["hello", "world", "x"]) {
            assert!(l.starts_with("[MFLOG|0|"), "{l}");
            assert!(l.ends_with(&format!("]{want}")), "{l}");
            let ts = &l[9..l.find("Z|").unwrap()];
            assert!(
                chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.6f").is_ok(),
                "{ts}"
            );
            assert_eq!(ts.len(), 26);
        }
    }
}
