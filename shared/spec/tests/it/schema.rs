//! `docs/flow-spec.schema.json` stays in sync with the model: every exported example (and the
//! exporter's edge cases) validates against it with Python's `jsonschema` (Draft 2020-12), and
//! documents the model refuses are refused by the schema too.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_spec::FlowSpec;
use ferry_spec::export::export_unvalidated;
use ferry_testkit::{python, workspace_root};
use serde_json::{Value, json};

const CHECK: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
report = {}
for path in sys.argv[2:]:
    doc = json.load(open(path))
    report[path] = sorted(
        "%s: %s" % ("/".join(map(str, e.absolute_path)), e.message)
        for e in validator.iter_errors(doc)
    )
print(json.dumps(report))
"#;

/// Schema errors per document (empty: valid).
fn schema_errors(docs: &[(String, Value)]) -> Vec<(String, Vec<String>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, (_, doc)) in docs.iter().enumerate() {
        let p = dir.path().join(format!("{i}.json"));
        std::fs::write(&p, serde_json::to_vec(doc).unwrap()).unwrap();
        paths.push(p);
    }
    let out = Command::new(python())
        .arg("-c")
        .arg(CHECK)
        .arg(workspace_root().join("docs/flow-spec.schema.json"))
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Map<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    docs.iter()
        .zip(&paths)
        .map(|((name, _), p)| {
            let errs = report[p.to_str().unwrap()]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
                .collect();
            (name.clone(), errs)
        })
        .collect()
}

fn py_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_exported_spec_matches_the_schema() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flows");
    let mut docs = Vec::new();
    let candidates = py_files(&workspace_root().join("examples"))
        .into_iter()
        .chain(py_files(&fixtures));
    for path in candidates {
        // Fixtures that do not export (broken imports, no flow...) have no spec to check.
        if let Ok(spec) = export_unvalidated(&python(), &path, None) {
            docs.push((
                path.display().to_string(),
                serde_json::to_value(&spec).unwrap(),
            ));
        }
    }
    assert!(docs.len() >= 17, "exported only {} flows", docs.len());
    let bad: Vec<_> = schema_errors(&docs)
        .into_iter()
        .filter(|(_, e)| !e.is_empty())
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Documents the Rust model refuses must be refused by the schema, and the other way round.
#[test]
fn schema_and_model_agree_on_hand_written_documents() {
    let valid = json!({
        "spec_version": 1, "flow": "F", "file": "f.py",
        "parameters": [{"name": "n", "type": "int", "default": 3}],
        "decorators": {"schedule": {"kind": "cron", "cron": "0 10 * * ? *", "timezone": "UTC"}},
        "steps": [
            {"name": "start", "type": "start", "next": ["end"],
             "decorators": {"retry": {"times": 1}, "catch": {}, "timeout": {"seconds": 60}}},
            {"name": "end", "type": "end", "command": ["echo", "done"]}
        ]
    });
    let mut triggered = valid.clone();
    triggered["spec_version"] = json!(2);
    triggered["decorators"]["trigger"] = json!({
        "events": [
            {"name": "a", "parameters": {"n": "count"}},
            {"name": "b", "namespace_prefix": "mfns"}
        ],
        "options": {"reset_at": {"cron": "0 0 * * *", "timezone": "Europe/Paris"}}
    });
    let mut on_finish = valid.clone();
    on_finish["spec_version"] = json!(2);
    on_finish["decorators"]["trigger_on_finish"] =
        json!({"flows": [{"flow": "Up"}, {"flow": "Other", "project": "p", "branch": "prod"}]});
    let mut cases = vec![
        ("valid".to_string(), valid.clone(), true),
        ("valid trigger".to_string(), triggered, true),
        ("valid trigger_on_finish".to_string(), on_finish, true),
    ];
    let mut bad = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut v = valid.clone();
        edit(&mut v);
        cases.push((name.to_string(), v, false));
    };
    bad("unknown top-level field", &|v| v["extra"] = json!(1));
    bad("missing steps", &|v| {
        v.as_object_mut().unwrap().remove("steps");
    });
    bad("unknown step type", &|v| {
        v["steps"][0]["type"] = json!("loop")
    });
    bad("unknown step field", &|v| {
        v["steps"][0]["when"] = json!("now")
    });
    bad("unknown decorator field", &|v| {
        v["steps"][0]["decorators"]["retry"]["delay"] = json!(1)
    });
    bad("cron kind without cron", &|v| {
        v["decorators"]["schedule"] = json!({"kind": "cron"})
    });
    bad("unknown schedule kind", &|v| {
        v["decorators"]["schedule"] = json!({"kind": "yearly"})
    });
    bad("negative timeout", &|v| {
        v["steps"][0]["decorators"]["timeout"]["seconds"] = json!(-1)
    });
    bad("unknown parameter type", &|v| {
        v["parameters"][0]["type"] = json!("date")
    });
    bad("version 3", &|v| v["spec_version"] = json!(3));
    bad("trigger without events", &|v| {
        v["spec_version"] = json!(2);
        v["decorators"]["trigger"] = json!({"options": {}});
    });
    bad("unknown trigger event field", &|v| {
        v["spec_version"] = json!(2);
        v["decorators"]["trigger"] = json!({"events": [{"name": "a", "params": {}}]});
    });
    bad("upstream without a flow", &|v| {
        v["spec_version"] = json!(2);
        v["decorators"]["trigger_on_finish"] = json!({"flows": [{"project": "p"}]});
    });
    bad("reset_at without cron", &|v| {
        v["spec_version"] = json!(2);
        v["decorators"]["trigger"] =
            json!({"events": [{"name": "a"}], "options": {"reset_at": {"timezone": "UTC"}}});
    });

    let docs: Vec<(String, Value)> = cases
        .iter()
        .map(|(n, v, _)| (n.clone(), v.clone()))
        .collect();
    let results = schema_errors(&docs);
    for ((name, doc, want_valid), (_, errors)) in cases.iter().zip(results) {
        assert_eq!(
            errors.is_empty(),
            *want_valid,
            "schema on {name}: {errors:?}"
        );
        // The model parses what the schema accepts; for the structural refusals it refuses too.
        let model_ok = serde_json::from_value::<FlowSpec>(doc.clone()).is_ok();
        if *want_valid {
            assert!(model_ok, "model refuses {name}");
        } else if name != "version 3" {
            assert!(!model_ok, "model accepts {name}");
        }
    }
}
