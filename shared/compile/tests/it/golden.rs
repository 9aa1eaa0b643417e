//! Golden files: each fixture's compiled output is compared with
//! `tests/golden/<name>.json` (regenerate with `FERRY_BLESS=1 cargo test -p ferry-compile --test it golden::`
//! and review the diff), and every definition passes `asl-validator` and the crate's own checker.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use ferry_compile::{CompileOptions, Compiled, ForeachMode, MapMode};
use ferry_spec::model::*;
use serde_json::{Value, json};

fn fixtures() -> Vec<(&'static str, FlowSpec, CompileOptions)> {
    use StepType::*;
    let mut out = Vec::new();

    let mut linear = flow(
        "LinearFlow",
        vec![
            step("start", Start, &["a"]),
            step("a", Linear, &["end"]),
            step("end", End, &[]),
        ],
    );
    linear.parameters = vec![
        Parameter {
            name: "alpha".into(),
            ty: ParamType::Float,
            default: Some(json!(0.5)),
            required: false,
            help: None,
        },
        Parameter {
            name: "name".into(),
            ty: ParamType::Str,
            default: None,
            required: false,
            help: None,
        },
    ];
    out.push(("linear", linear, aws_options("LinearFlow")));

    out.push((
        "split_join",
        flow(
            "SplitFlow",
            vec![
                step("start", Split, &["a", "b"]),
                step("a", Linear, &["a2"]),
                step("a2", Linear, &["join"]),
                step("b", Linear, &["join"]),
                step("join", Join, &["end"]),
                step("end", End, &[]),
            ],
        ),
        aws_options("SplitFlow"),
    ));

    let inline = CompileOptions {
        max_workers: 16,
        ..aws_options("ForeachFlow")
    };
    out.push((
        "foreach",
        flow(
            "ForeachFlow",
            vec![
                step("start", Start, &["fan"]),
                step("fan", Foreach, &["body"]),
                step("body", Linear, &["join"]),
                step("join", Join, &["end"]),
                step("end", End, &[]),
            ],
        ),
        inline,
    ));

    let inline = CompileOptions {
        max_workers: 8,
        ..local_options("NestedFlow")
    };
    out.push((
        "nested_foreach",
        flow(
            "NestedFlow",
            vec![
                step("start", Foreach, &["outer"]),
                step("outer", Foreach, &["inner"]),
                step("inner", Linear, &["join_inner"]),
                step("join_inner", Join, &["join_outer"]),
                step("join_outer", Join, &["end"]),
                step("end", End, &[]),
            ],
        ),
        inline,
    ));

    let inline = CompileOptions {
        max_workers: 4,
        ..aws_options("SplitInForeachFlow")
    };
    out.push((
        "split_in_foreach",
        flow(
            "SplitInForeachFlow",
            vec![
                step("start", Start, &["fe"]),
                step("fe", Foreach, &["s"]),
                step("s", Split, &["x", "y"]),
                step("x", Linear, &["jxy"]),
                step("y", Linear, &["jxy"]),
                step("jxy", Join, &["join_fe"]),
                step("join_fe", Join, &["end"]),
                step("end", End, &[]),
            ],
        ),
        inline,
    ));

    out.push((
        "wide_split_long_names",
        wide_split(50, 78),
        aws_options("WideFlow"),
    ));

    let mut deco = flow(
        "DecoratedFlow",
        vec![
            step("start", Start, &["flaky"]),
            step("flaky", Linear, &["patient"]),
            step("patient", Linear, &["guarded"]),
            step("guarded", Linear, &["generic"]),
            step("generic", Linear, &["end"]),
            step("end", End, &[]),
        ],
    );
    deco.steps[1].decorators.retry = Some(Retry {
        times: 2,
        minutes_between_retries: 0,
    });
    deco.steps[1].decorators.timeout = Some(Timeout { seconds: 300 });
    deco.steps[1].decorators.resources = Some(Resources {
        cpu: Some(0.5),
        gpu: Some(1),
        memory: Some(8192),
        shared_memory: None,
    });
    deco.steps[2].decorators.retry = Some(Retry {
        times: 3,
        minutes_between_retries: 2,
    });
    deco.steps[3].decorators.catch = Some(Catch {
        var: Some("error".into()),
        print_exception: true,
    });
    deco.steps[3].decorators.batch = Some(Batch {
        image: Some("custom:1".into()),
        queue: Some("gpu-queue".into()),
        shared_memory: Some(1024),
        ..Default::default()
    });
    deco.steps[3].decorators.environment = Some(Environment {
        vars: BTreeMap::from([("GREETING".into(), "$HOME `x` café".into())]),
    });
    deco.steps[4].command = Some(vec!["echo".into(), "$(rm -rf /)".into()]);
    deco.decorators.schedule = Some(Schedule {
        every: ScheduleKind::Cron {
            cron: "0 10 ? * MON-FRI *".into(),
        },
        timezone: Some("Europe/Paris".into()),
    });
    let deco_opts = CompileOptions {
        workflow_timeout_seconds: Some(7200),
        batch_tags: BTreeMap::from([("team".into(), "fraud".into())]),
        tags: vec!["nightly".into()],
        ..aws_options("DecoratedFlow")
    };
    out.push(("decorators", deco, deco_opts));

    out.push((
        "distributed_foreach",
        flow(
            "WideForeachFlow",
            vec![
                step("start", Start, &["fan"]),
                step("fan", Foreach, &["body"]),
                step("body", Linear, &["join"]),
                step("join", Join, &["end"]),
                step("end", End, &[]),
            ],
        ),
        aws_options("WideForeachFlow"),
    ));

    let local_dist = CompileOptions {
        map_mode: MapMode::Distributed,
        ..local_options("LocalWideFlow")
    };
    out.push((
        "distributed_foreach_local",
        flow(
            "LocalWideFlow",
            vec![
                step("start", Start, &["fan"]),
                step("fan", Foreach, &["body"]),
                step("body", Linear, &["join"]),
                step("join", Join, &["end"]),
                step("end", End, &[]),
            ],
        ),
        local_dist,
    ));

    // @exit_hook: every top-level state (Task, Parallel, Map, the cardinality read) catches
    // into the on_error hook; `end` goes on to the on_success hook.
    let mut hooked = flow(
        "HookedFlow",
        vec![
            step("start", Split, &["a", "b"]),
            step("a", Linear, &["join"]),
            step("b", Linear, &["join"]),
            step("join", Join, &["fan"]),
            step("fan", Foreach, &["body"]),
            step("body", Linear, &["join_fan"]),
            step("join_fan", Join, &["end"]),
            step("end", End, &[]),
        ],
    );
    hooked.decorators.exit_hook = Some(ExitHook {
        on_success: vec!["notify_team".into()],
        on_error: vec!["page_oncall".into(), "ops.alerts.page".into()],
        image: Some("hooks:1".into()),
    });
    let hooked_opts = CompileOptions {
        max_workers: 8,
        batch_tags: BTreeMap::from([("team".into(), "fraud".into())]),
        ..aws_options("HookedFlow")
    };
    out.push(("exit_hook", hooked, hooked_opts));

    // Batch array jobs: one body step; a three-step chained body with a retried step; a
    // foreach expected 25,000 wide (three chunks at run time; the definition is the same).
    out.push((
        "array_foreach",
        flow(
            "ArrayFlow",
            vec![
                step("start", Start, &["fan"]),
                step("fan", Foreach, &["body"]),
                step("body", Linear, &["join"]),
                step("join", Join, &["end"]),
                step("end", End, &[]),
            ],
        ),
        CompileOptions {
            foreach_mode: ForeachMode::Array,
            ..aws_options("ArrayFlow")
        },
    ));
    let mut chain = flow(
        "ArrayChainFlow",
        vec![
            step("start", Start, &["fan"]),
            step("fan", Foreach, &["prep"]),
            step("prep", Linear, &["train"]),
            step("train", Linear, &["score"]),
            step("score", Linear, &["join"]),
            step("join", Join, &["end"]),
            step("end", End, &[]),
        ],
    );
    chain.steps[3].decorators.retry = Some(Retry {
        times: 2,
        minutes_between_retries: 0,
    });
    out.push((
        "array_chain",
        chain,
        CompileOptions {
            foreach_mode: ForeachMode::Auto,
            ..aws_options("ArrayChainFlow")
        },
    ));
    out.push((
        "array_chunked",
        flow(
            "ArrayWideFlow",
            vec![
                step("start", Start, &["fan"]),
                step("fan", Foreach, &["body"]),
                step("body", Linear, &["join"]),
                step("join", Join, &["end"]),
                step("end", End, &[]),
            ],
        ),
        CompileOptions {
            foreach_mode: ForeachMode::Array,
            foreach_width_hints: BTreeMap::from([("fan".into(), 25_000)]),
            ..aws_options("ArrayWideFlow")
        },
    ));
    out
}

/// What a golden file holds: the definition plus the parts of the other outputs worth reviewing.
fn golden_view(c: &Compiled) -> Value {
    let tasks: serde_json::Map<String, Value> = c
        .task_descriptions
        .iter()
        .map(|t| {
            // The two exit hook tasks share a step name: tell them apart by their functions.
            let name = match &t.description.command {
                ferry_spec::task::StepCommand::ExitHook { functions, .. } => {
                    format!("{} {}", t.step, functions.join(","))
                }
                _ => t.step.clone(),
            };
            (
                name,
                json!({
                    "key": t.key,
                    "inputs": t.description.inputs,
                    "fanout": t.description.fanout,
                    "retries": t.description.retries,
                    "environment": t.description.environment,
                    "command": t.description.command,
                }),
            )
        })
        .collect();
    json!({
        "definition": c.definition,
        "tasks": tasks,
        "job_definitions": c.job_definitions,
        "schedule": c.schedule,
    })
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn golden_files_match_and_validate() {
    let bless = std::env::var_os("FERRY_BLESS").is_some();
    let tmp = tempfile::tempdir().unwrap();
    let mut defs = Vec::new();
    let mut mismatches = Vec::new();
    for (name, spec, options) in fixtures() {
        let compiled = compile_ok(&spec, &options);
        let problems = ferry_compile::limits::check_definition(&compiled.definition);
        assert!(problems.is_empty(), "{name}: {problems:#?}");
        let text = serde_json::to_string_pretty(&golden_view(&compiled)).unwrap() + "\n";
        let path = golden_dir().join(format!("{name}.json"));
        if bless {
            std::fs::write(&path, &text).unwrap();
        } else {
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("{} missing: run with FERRY_BLESS=1", path.display()));
            if want != text {
                mismatches.push(name);
            }
        }
        let def = tmp.path().join(format!("{name}.asl.json"));
        std::fs::write(&def, compiled.definition_json()).unwrap();
        defs.push(def);
    }
    let refs: Vec<&std::path::Path> = defs.iter().map(PathBuf::as_path).collect();
    ferry_testkit::asl_validate(&refs).unwrap_or_else(|e| panic!("asl-validator: {e}"));
    assert!(
        mismatches.is_empty(),
        "golden files differ (FERRY_BLESS=1 to regenerate, then review): {mismatches:?}"
    );
}
