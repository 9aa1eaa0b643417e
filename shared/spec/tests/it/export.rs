//! The exporter against the real `metaflow` package in the tools venv: every example in
//! `examples/` exports and validates, and the edge cases in `tests/flows/` give the spec or the
//! error a user should see.

use std::path::{Path, PathBuf};

use ferry_spec::export::{ExportError, export_spec, export_unvalidated, export_validated};
use ferry_spec::validate::{ValidationError, validate};
use ferry_spec::{
    FlowSpec, GraphError, ParamType, ResetAt, ScheduleKind, StepType, TriggerEvent, UpstreamFlow,
};
use ferry_testkit::{python, workspace_root};
use serde_json::json;

fn example(name: &str) -> PathBuf {
    workspace_root().join("examples").join(name)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/flows")
        .join(name)
}

fn export(path: &Path) -> FlowSpec {
    export_spec(&python(), path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn step<'a>(spec: &'a FlowSpec, name: &str) -> &'a ferry_spec::Step {
    spec.steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name}"))
}

fn shape(spec: &FlowSpec) -> Vec<(String, StepType, Vec<String>)> {
    spec.steps
        .iter()
        .map(|s| (s.name.clone(), s.ty, s.next.clone()))
        .collect()
}

fn s(name: &str, ty: StepType, next: &[&str]) -> (String, StepType, Vec<String>) {
    (
        name.to_string(),
        ty,
        next.iter().map(|n| n.to_string()).collect(),
    )
}

/// Every example exports, validates, and its steps come in Metaflow's `sorted_nodes` order,
/// which the Rust graph's own order must reproduce.
#[test]
fn every_example_exports_and_validates() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    names.sort();
    assert!(names.len() >= 12, "examples: {names:?}");
    for path in names {
        let (spec, graph) = export_validated(&python(), &path, None)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let exported: Vec<&str> = spec.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(graph.sorted_names(), exported, "{}", path.display());
        assert_eq!(spec.file, path.file_name().unwrap().to_str().unwrap());
        assert_eq!(spec.metaflow_version.as_deref(), Some("2.19.39"));
        // The JSON round-trips through the model unchanged.
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<FlowSpec>(&text).unwrap(), spec);
    }
}

#[test]
fn parameters_of_every_type() {
    let spec = export(&example("params_flow.py"));
    assert_eq!(spec.flow, "LoanScoringFlow");
    let got: Vec<_> = spec
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.ty, p.default.clone(), p.required))
        .collect();
    assert_eq!(
        got,
        [
            ("region", ParamType::Str, None, true),
            ("model-name", ParamType::Str, Some(json!("rules-v2")), false),
            ("sample-size", ParamType::Int, Some(json!(5)), false),
            ("threshold", ParamType::Float, Some(json!(0.6)), false),
            ("strict", ParamType::Bool, Some(json!(false)), false),
            (
                "weights",
                ParamType::Json,
                Some(json!({"income": 0.5, "history": 0.3, "tenure": 0.2})),
                false
            ),
        ]
    );
    assert_eq!(
        spec.parameters[0].help.as_deref(),
        Some("Which branch office's applications to score")
    );
    assert!(spec.decorators.schedule.is_none());
}

#[test]
fn split_and_foreach_shapes() {
    use StepType::*;
    let split = export(&example("split_flow.py"));
    assert_eq!(
        shape(&split),
        [
            s("start", Split, &["price_features", "volume_features"]),
            s("price_features", Linear, &["merge"]),
            s("volume_features", Linear, &["merge"]),
            s("merge", Join, &["end"]),
            s("end", End, &[]),
        ]
    );
    let foreach = export(&example("foreach_flow.py"));
    assert_eq!(step(&foreach, "start").ty, Foreach);
    assert_eq!(step(&foreach, "start").foreach.as_deref(), Some("regions"));
    let nested = export(&example("nested_foreach_flow.py"));
    assert_eq!(
        shape(&nested),
        [
            s("start", Foreach, &["family"]),
            s("family", Foreach, &["evaluate"]),
            s("evaluate", Linear, &["best_penalty"]),
            s("best_penalty", Join, &["best_family"]),
            s("best_family", Join, &["end"]),
            s("end", End, &[]),
        ]
    );
    let graph = validate(&nested).unwrap();
    assert_eq!(graph.enclosing_foreaches("evaluate"), ["start", "family"]);
    assert!(graph.is_foreach_body_tail("best_penalty"));
    let inner = export(&example("split_in_foreach_flow.py"));
    assert_eq!(
        shape(&inner),
        [
            s("start", Foreach, &["load"]),
            s("load", Split, &["profile_train", "profile_test"]),
            s("profile_train", Linear, &["combine"]),
            s("profile_test", Linear, &["combine"]),
            s("combine", Join, &["report"]),
            s("report", Join, &["end"]),
            s("end", End, &[]),
        ]
    );
    let graph = validate(&inner).unwrap();
    assert!(graph.is_static_join("combine") && graph.is_foreach_body_tail("combine"));
    assert!(graph.is_foreach_join("report"));
}

#[test]
fn step_decorators() {
    let resilient = export(&example("resilient_flow.py"));
    let fetch = &step(&resilient, "fetch").decorators;
    assert_eq!(
        fetch
            .retry
            .as_ref()
            .map(|r| (r.times, r.minutes_between_retries)),
        Some((1, 0))
    );
    let enrich = &step(&resilient, "enrich").decorators;
    let catch = enrich.catch.as_ref().unwrap();
    assert_eq!(catch.var.as_deref(), Some("enrich_error"));
    assert!(!catch.print_exception);
    let convert = &step(&resilient, "convert").decorators;
    assert_eq!(convert.timeout.as_ref().map(|t| t.seconds), Some(90));

    let compute = export(&example("compute_flow.py"));
    let train = step(&compute, "train")
        .decorators
        .resources
        .clone()
        .unwrap();
    assert_eq!(
        (train.cpu, train.memory, train.gpu),
        (Some(2.0), Some(4096), None)
    );
    let forecast = &step(&compute, "forecast").decorators;
    let vars = &forecast.environment.as_ref().unwrap().vars;
    assert_eq!(vars.get("FORECAST_HORIZON").map(String::as_str), Some("3"));
    assert_eq!(
        vars.get("FORECAST_UNITS").map(String::as_str),
        Some("crates")
    );

    let batch = export(&example("batch_flow.py"));
    let b = step(&batch, "score").decorators.batch.clone().unwrap();
    assert_eq!(b.image.as_deref(), Some("python:3.11-slim"));
    assert_eq!(b.queue.as_deref(), Some("ferry-spot"));
    assert_eq!(
        (b.cpu, b.memory, b.shared_memory, b.gpu, b.iam_role),
        (Some(2.0), Some(4096), Some(256), None, None)
    );
}

#[test]
fn schedules_and_projects() {
    let cron = export(&example("schedule_cron_flow.py"));
    let schedule = cron.decorators.schedule.unwrap();
    assert_eq!(
        schedule.every,
        ScheduleKind::Cron {
            cron: "30 7 ? * MON-FRI *".into()
        }
    );
    assert_eq!(schedule.timezone.as_deref(), Some("Europe/Paris"));
    let daily = export(&example("schedule_daily_flow.py"));
    assert_eq!(
        daily.decorators.schedule.unwrap().every,
        ScheduleKind::Daily
    );
    for file in ["project_train_flow.py", "project_score_flow.py"] {
        let p = export(&example(file)).decorators.project.unwrap();
        assert_eq!(
            (p.name.as_str(), p.branch, p.production),
            ("churn", None, false)
        );
    }
    let branch = export(&fixture("project_branch_flow.py"));
    let p = branch.decorators.project.unwrap();
    assert_eq!(
        (p.name.as_str(), p.branch.as_deref(), p.production),
        ("fraud_model", Some("feature_x"), true)
    );
    let weekly = branch.decorators.schedule.unwrap();
    assert_eq!(
        (weekly.every, weekly.timezone),
        (ScheduleKind::Weekly, None)
    );
}

#[test]
fn environments_and_unsupported_decorators() {
    let path = fixture("environments_flow.py");
    let spec = export_unvalidated(&python(), &path, None).unwrap();
    let base = spec.decorators.conda_base.clone().unwrap();
    assert_eq!(
        base.packages.get("numpy").map(String::as_str),
        Some("1.26.4")
    );
    assert_eq!(base.python.as_deref(), Some("3.11.9"));
    assert_eq!(spec.decorators.unsupported, ["airflow_s3_key_sensor"]);
    let start = &step(&spec, "start").decorators;
    let pypi = start.pypi.clone().unwrap();
    assert_eq!(
        pypi.packages.get("requests").map(String::as_str),
        Some("2.32.5")
    );
    assert_eq!(pypi.python.as_deref(), Some("3.11"));
    assert!(!pypi.disabled);
    assert_eq!(start.timeout.as_ref().map(|t| t.seconds), Some(3723));
    assert!(start.unsupported.is_empty(), "@card runs inside the task");
    let middle = &step(&spec, "middle").decorators;
    assert!(middle.conda.as_ref().unwrap().disabled);
    assert_eq!(middle.unsupported, ["kubernetes"]);
    let errors = validate(&spec).unwrap_err();
    let text = errors.to_string();
    assert_eq!(errors.errors().len(), 2, "{text}");
    assert!(
        text.contains("The flow uses @airflow_s3_key_sensor"),
        "{text}"
    );
    assert!(text.contains("Step *middle* uses @kubernetes"), "{text}");
    // And export_spec refuses it with the same errors.
    assert!(matches!(
        export_spec(&python(), &path),
        Err(ExportError::Invalid(e)) if e == errors
    ));
}

#[test]
fn exit_hooks_are_merged_by_function_name() {
    let spec = export(&fixture("exit_hook_flow.py"));
    let hook = spec.decorators.exit_hook.clone().unwrap();
    assert_eq!(hook.on_success, ["notify_team"]);
    // Metaflow lists the decorators bottom-up; functions keep their order in each.
    assert_eq!(
        hook.on_error,
        ["also_on_error", "page_oncall", "os.path.join"]
    );
    assert_eq!(hook.image.as_deref(), Some("python:3.12"));
    assert!(spec.decorators.unsupported.is_empty());

    let err = export_unvalidated(&python(), &fixture("exit_hook_missing_fn.py"), None).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("@exit_hook on_error names nowhere_to_be_found, which exit_hook_missing_fn.py does not define as a function"),
        "{text}"
    );
}

#[test]
fn switch_and_parallel_are_marked_then_rejected() {
    let switch = export_unvalidated(&python(), &fixture("switch_flow.py"), None).unwrap();
    assert_eq!(step(&switch, "start").ty, StepType::Switch);
    assert_eq!(step(&switch, "start").next, ["quick", "careful"]);
    let err = export_spec(&python(), &fixture("switch_flow.py")).unwrap_err();
    assert!(
        err.to_string().contains(
            "Step *start* is a switch (a conditional self.next({...}, condition=...)). Ferry cannot deploy switch steps"
        ),
        "{err}"
    );

    let parallel = export_unvalidated(&python(), &fixture("parallel_flow.py"), None).unwrap();
    assert_eq!(step(&parallel, "start").num_parallel, Some(4));
    assert!(step(&parallel, "train").decorators.unsupported.is_empty());
    let ExportError::Invalid(errors) =
        export_spec(&python(), &fixture("parallel_flow.py")).unwrap_err()
    else {
        panic!("expected validation errors")
    };
    assert_eq!(
        errors.errors(),
        [ValidationError::Parallel {
            step: "start".into()
        }]
    );
}

#[test]
fn a_join_that_splits_is_rejected() {
    let err = export_spec(&python(), &fixture("join_split_flow.py")).unwrap_err();
    let ExportError::Invalid(errors) = err else {
        panic!("{err}")
    };
    assert_eq!(
        errors.errors()[0],
        ValidationError::Graph(GraphError::JoinAndSplit {
            step: "join".into()
        })
    );
}

#[test]
fn import_errors_show_the_users_traceback() {
    let err = export_spec(&python(), &fixture("broken_import.py")).unwrap_err();
    let ExportError::Import { message } = &err else {
        panic!("{err}")
    };
    assert!(message.starts_with("importing "), "{message}");
    assert!(
        message.contains("broken_import.py\", line 5, in <module>"),
        "{message}"
    );
    assert!(
        message.contains("helpers_broken.py\", line 2, in load_settings"),
        "{message}"
    );
    assert!(
        message.trim_end().ends_with("KeyError: 'treshold'"),
        "{message}"
    );
    assert!(!message.contains("importlib"), "{message}");
    assert!(!message.contains("exec_module"), "{message}");
}

#[test]
fn exporting_runs_no_step_and_no_main_block() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("side_effects_flow.py");
    std::fs::copy(fixture("side_effects_flow.py"), &flow).unwrap();
    let spec = export(&flow);
    assert_eq!(spec.flow, "SideEffectFlow");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["side_effects_flow.py"], "no marker, no __pycache__");
}

#[test]
fn syntax_errors_point_at_the_users_line() {
    let err = export_spec(&python(), &fixture("syntax_error.py")).unwrap_err();
    let ExportError::Import { message } = &err else {
        panic!("{err}")
    };
    assert!(message.contains("syntax_error.py\", line 7"), "{message}");
    assert!(message.contains("SyntaxError"), "{message}");
    assert!(!message.contains("importlib"), "{message}");
}

#[test]
fn flow_class_selection() {
    // Two flows, the main block starts one by name: that one, which is what the tasks run.
    let (second, _) = export_validated(&python(), &fixture("two_flows.py"), None).unwrap();
    assert_eq!(second.flow, "SecondFlow");
    let (second, _) =
        export_validated(&python(), &fixture("two_flows.py"), Some("SecondFlow")).unwrap();
    assert_eq!(second.flow, "SecondFlow");
    let err = export_validated(&python(), &fixture("two_flows.py"), Some("FirstFlow")).unwrap_err();
    assert!(matches!(err, ExportError::Unsupported { .. }), "{err}");
    assert!(
        err.to_string().contains(
            "block starts SecondFlow, so the deployed tasks would run that flow, not FirstFlow"
        ),
        "{err}"
    );
    let err = export_validated(&python(), &fixture("two_flows.py"), Some("ThirdFlow")).unwrap_err();
    assert!(
        err.to_string()
            .contains("defines no flow class named ThirdFlow (it defines: FirstFlow, SecondFlow)"),
        "{err}"
    );

    // The main block picks a flow at run time: the class must be named. A base class without
    // steps is not a flow.
    let err = export_spec(&python(), &fixture("two_flows_dispatch.py")).unwrap_err();
    let ExportError::NoFlow { classes, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(classes, &["FirstFlow", "SecondFlow"]);
    assert!(
        err.to_string()
            .ends_with("defines several flows (FirstFlow, SecondFlow): name the one to export"),
        "{err}"
    );
    let (first, _) = export_validated(
        &python(),
        &fixture("two_flows_dispatch.py"),
        Some("FirstFlow"),
    )
    .unwrap();
    assert_eq!(first.flow, "FirstFlow");

    let err = export_spec(&python(), &fixture("no_flow.py")).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("defines no flow: add a class that inherits from metaflow.FlowSpec"),
        "{err}"
    );
}

#[test]
fn a_flow_file_without_a_main_block_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("solo.py");
    std::fs::write(
        &file,
        "from metaflow import FlowSpec, step\n\nclass SoloFlow(FlowSpec):\n    @step\n    def start(self):\n        self.next(self.end)\n\n    @step\n    def end(self):\n        pass\n",
    )
    .unwrap();
    let err = export_spec(&python(), &file).unwrap_err();
    assert!(matches!(err, ExportError::Unsupported { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("has no `if __name__ == \"__main__\":` block")
            && err.to_string().contains("    SoloFlow()"),
        "{err}"
    );
}

#[test]
fn unsupported_parameters_and_bad_paths() {
    let err = export_spec(&python(), &fixture("deploy_time_default.py")).unwrap_err();
    assert!(matches!(err, ExportError::Unsupported { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("parameter day has a default computed at deploy time"),
        "{err}"
    );

    let err = export_spec(&python(), &fixture("missing_flow.py")).unwrap_err();
    assert!(matches!(err, ExportError::FlowFile { .. }), "{err}");

    let err =
        export_spec(Path::new("/nonexistent/python3"), &example("split_flow.py")).unwrap_err();
    assert!(matches!(err, ExportError::Spawn { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("cannot run Python at /nonexistent/python3"),
        "{err}"
    );
}

/// A flow file whose class body declares `decl` (e.g. `name = Parameter("name")`).
fn flow_with_parameter(dir: &Path, decl: &str) -> PathBuf {
    let file = dir.join("named.py");
    std::fs::write(
        &file,
        format!(
            "from metaflow import FlowSpec, Parameter, step\n\nclass NamedFlow(FlowSpec):\n    {decl}\n\n    @step\n    def start(self):\n        self.next(self.end)\n\n    @step\n    def end(self):\n        pass\n\nif __name__ == \"__main__\":\n    NamedFlow()\n"
        ),
    )
    .unwrap();
    file
}

#[test]
fn a_parameter_in_an_attribute_metaflow_never_sets_is_refused() {
    // Metaflow skips these attributes when it collects parameters (`FlowSpec._NON_PARAMETERS`):
    // the run would never set them, and `self.name` stays the flow's name.
    let dir = tempfile::tempdir().unwrap();
    for (decl, attr) in [
        (r#"name = Parameter("name", default="ada")"#, "name"),
        (r#"name = Parameter("who", default="ada")"#, "name"),
        (r#"input = Parameter("input", default=1)"#, "input"),
        (r#"index = Parameter("index", default=1)"#, "index"),
        (r#"cmd = Parameter("cmd", default="x")"#, "cmd"),
    ] {
        let err = export_spec(&python(), &flow_with_parameter(dir.path(), decl)).unwrap_err();
        assert!(
            matches!(err, ExportError::Unsupported { .. }),
            "{decl}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("the flow attribute `{attr}`"))
                && msg.contains("Metaflow never sets")
                && msg.contains("assign the Parameter to another attribute"),
            "{decl}: {msg}"
        );
    }
    // The parameter's own name may be `name` (Metaflow runs it as `--name`).
    let spec = export(&flow_with_parameter(
        dir.path(),
        r#"who = Parameter("name", default="ada")"#,
    ));
    assert_eq!(spec.parameters[0].name, "name");
}

fn mapping(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `@trigger` with one event: the mapping given as a list of names and pairs becomes one map;
/// the spec is version 2 (a flow without triggers stays version 1).
#[test]
fn trigger_with_one_event_and_a_list_mapping() {
    let spec = export(&fixture("trigger_flow.py"));
    assert_eq!(spec.spec_version, 2);
    let trigger = spec.decorators.trigger.clone().unwrap();
    assert_eq!(
        trigger.events,
        [TriggerEvent {
            name: "data_ready".into(),
            namespace_prefix: None,
            parameters: mapping(&[("day", "day"), ("Region", "area")]),
        }]
    );
    assert!(trigger.options.is_empty());
    assert_eq!(export(&example("hello.py")).spec_version, 1);
}

/// Several events, `namespaced_event_name`, a dict mapping and `reset_at`.
#[test]
fn trigger_with_events_namespaces_and_reset_at() {
    let spec = export(&fixture("trigger_events_flow.py"));
    let trigger = spec.decorators.trigger.unwrap();
    assert_eq!(
        trigger.events,
        [
            TriggerEvent {
                name: "table_loaded".into(),
                namespace_prefix: None,
                parameters: mapping(&[]),
            },
            TriggerEvent {
                name: "model_ready".into(),
                namespace_prefix: Some("mfns".into()),
                parameters: mapping(&[("version", "model_version")]),
            },
        ]
    );
    assert_eq!(
        trigger.options.reset_at,
        Some(ResetAt {
            cron: "0 0 * * *".into(),
            timezone: Some("Europe/Paris".into()),
        })
    );
}

/// `@trigger_on_finish`: a plain name, a fully qualified name and a dict, parsed as Metaflow
/// parses them (project and branch left empty when the flow's own apply).
#[test]
fn trigger_on_finish_upstreams() {
    let spec = export(&fixture("trigger_on_finish_flow.py"));
    let up = |flow: &str, project: Option<&str>, branch: Option<&str>| UpstreamFlow {
        flow: flow.into(),
        project: project.map(Into::into),
        branch: branch.map(Into::into),
    };
    assert_eq!(
        spec.decorators.trigger_on_finish.unwrap().flows,
        [
            up("IngestFlow", None, None),
            up("CleanFlow", Some("other"), Some("prod")),
            up("ScoreFlow", None, Some("test.exp")),
        ]
    );
}

/// What the exporter refuses (with Metaflow's words where it has them) and what validation
/// refuses, all listed.
#[test]
fn trigger_mistakes() {
    let file = fixture("trigger_bad_flow.py");
    let unsupported = |flow: &str| match export_unvalidated(&python(), &file, Some(flow)) {
        Err(ExportError::Unsupported { message }) => message,
        other => panic!("{flow}: {other:?}"),
    };
    assert_eq!(
        unsupported("TypoFlow"),
        "The event 'a' of @trigger has the key(s) parameter, which Metaflow does not read; an event has only 'name' and 'parameters'."
    );
    assert!(
        unsupported("FunctionFlow").contains("is a function evaluated at deploy time"),
        "{}",
        unsupported("FunctionFlow")
    );
    assert!(
        unsupported("OneDotFlow")
            .starts_with("Incorrect format for *flow* in *@trigger_on_finish*"),
        "{}",
        unsupported("OneDotFlow")
    );
    let spec = export_unvalidated(&python(), &file, Some("BadNameFlow")).unwrap();
    let text = validate(&spec).unwrap_err().to_string();
    for expected in [
        "The @trigger event name \"bad name!\" cannot be used: only letters, digits, '_', '-' and '.' are allowed in event names (Metaflow's rule), not ' '.",
        "@trigger has options={'retries': ...}, which Ferry does not know.",
        "The parameter *alpha* is required and has no default, but no event of @trigger sets it.",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
