//! Production tokens and project prefixes against the real thing: Metaflow's own
//! `production_token.new_token` (and CPython's `random`) in the tools venv.

use std::io::Write;
use std::process::{Command, Stdio};

use ferry_compile::naming::project_token_prefix;
use ferry_compile::token::{new_token, next_token, token_at};

/// A deterministic spread of prefixes: state machine names lower-cased (letters, digits, `_`,
/// `-`, `.`) of 1-90 characters, and `mfprj-` prefixes.
fn prefixes(n: usize) -> Vec<String> {
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789_-.".chars().collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            if i % 10 == 0 {
                return project_token_prefix("proj", &format!("user.u{i}"));
            }
            let len = 1 + (next() % 90) as usize;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect()
        })
        .collect()
}

fn python(script: &str, input: &str) -> String {
    let mut child = Command::new(ferry_testkit::python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tokens_match_metaflow_for_hundreds_of_prefixes() {
    let prefixes = prefixes(400);
    // Metaflow's own functions: the first token, and the token after it.
    let script = r#"
import json, sys
from metaflow.plugins.aws.step_functions.production_token import new_token
out = []
for p in json.load(sys.stdin):
    first = new_token(p)
    out.append([first, new_token(p, first)])
print(json.dumps(out))
"#;
    let got: Vec<(String, String)> =
        serde_json::from_str(&python(script, &serde_json::to_string(&prefixes).unwrap())).unwrap();
    assert_eq!(got.len(), prefixes.len());
    for (p, (first, second)) in prefixes.iter().zip(got) {
        assert_eq!(new_token(p), first, "prefix {p:?}");
        assert_eq!(
            next_token(p, &first).as_deref(),
            Some(second.as_str()),
            "prefix {p:?}"
        );
    }
}

#[test]
fn token_positions_match_cpython_random() {
    // Deeper positions of the sequence, straight from CPython's random module.
    let pairs: Vec<(String, u32)> = prefixes(60)
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, (i as u32 * 977) % 10_000))
        .collect();
    let script = r#"
import json, random, string, sys, zlib
out = []
for p, i in json.load(sys.stdin):
    s = "%s-%d-" % (p, i)
    random.seed(zlib.adler32(s.encode("utf-8")))
    out.append(s + "".join(random.sample(string.ascii_lowercase, 4)))
print(json.dumps(out))
"#;
    let got: Vec<String> =
        serde_json::from_str(&python(script, &serde_json::to_string(&pairs).unwrap())).unwrap();
    for ((p, i), want) in pairs.iter().zip(got) {
        assert_eq!(token_at(p, *i), want);
    }
}

#[test]
fn project_prefixes_match_metaflow_hashing() {
    let branches = [
        "user.alice",
        "test.feature_x",
        "prod",
        "prod.b2",
        "user.bob",
    ];
    let script = r#"
import base64, json, sys
from hashlib import sha1
out = []
for project, branch in json.load(sys.stdin):
    h = base64.b32encode(sha1(("%s.%s" % (project, branch)).encode()).digest()).decode()[:16]
    out.append(("mfprj-%s" % h).lower())
print(json.dumps(out))
"#;
    let pairs: Vec<(&str, &str)> = branches.iter().map(|b| ("fraud_model", *b)).collect();
    let got: Vec<String> =
        serde_json::from_str(&python(script, &serde_json::to_string(&pairs).unwrap())).unwrap();
    for ((project, branch), want) in pairs.iter().zip(got) {
        assert_eq!(project_token_prefix(project, branch), want);
    }
    assert_eq!(
        project_token_prefix("fraud_model", "user.alice"),
        "mfprj-xpeo6bwux6q4e6rd"
    );
}
