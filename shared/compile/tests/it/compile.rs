//! Behaviour of the compiler: what readers, the wrapper and the executor rely on, and every
//! error a user can hit.

use crate::common;

use std::collections::BTreeMap;

use common::*;
use ferry_compile::canonical::sha256_hex;
use ferry_compile::{CompileError, CompileOptions, MapMode, compile};
use ferry_spec::FlowGraph;
use ferry_spec::model::*;
use ferry_spec::task::{ProjectOptions, StepInputs, TaskDescription};
use serde_json::{Value, json};

fn foreach_flow() -> FlowSpec {
    use StepType::*;
    flow(
        "FeFlow",
        vec![
            step("start", Start, &["fan"]),
            step("fan", Foreach, &["body"]),
            step("body", Linear, &["join"]),
            step("join", Join, &["end"]),
            step("end", End, &[]),
        ],
    )
}

fn nested_flow() -> FlowSpec {
    use StepType::*;
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
    )
}

/// Every state (any depth) by name.
fn all_states(def: &Value) -> BTreeMap<String, Value> {
    fn walk(scope: &Value, out: &mut BTreeMap<String, Value>) {
        for (name, st) in scope["States"].as_object().unwrap() {
            out.insert(name.clone(), st.clone());
            for b in st["Branches"].as_array().into_iter().flatten() {
                walk(b, out);
            }
            if st.get("ItemProcessor").is_some() {
                walk(&st["ItemProcessor"], out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(def, &mut out);
    out
}

fn env_of(state: &Value) -> BTreeMap<String, String> {
    state["Parameters"]["ContainerOverrides"]["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["Name"].as_str()?.to_string(),
                e["Value.$"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn try_compile(
    spec: &FlowSpec,
    o: &CompileOptions,
) -> Result<ferry_compile::Compiled, CompileError> {
    compile(spec, &FlowGraph::new(spec).unwrap(), o)
}

#[test]
fn start_state_exposes_owner_and_token_for_deployment_readers() {
    let c = compile_ok(&foreach_flow(), &aws_options("FeFlow"));
    let def = &c.definition;
    let start = def["StartAt"].as_str().unwrap();
    let p = &def["States"][start]["Parameters"]["Parameters"];
    assert_eq!(p["metaflow.owner"], "alice");
    assert_eq!(p["metaflow.production_token"], "feflow-0-abcd");
    assert_eq!(p["metaflow.run_id.$"], "$$.Execution.Name");
}

#[test]
fn start_reads_the_trigger_input_with_or_without_flow_parameters() {
    // The trigger's run tags travel in `Parameters` (`ferry.tags`): a flow without `Parameter`s
    // needs them at its start task too, and only there.
    let c = compile_ok(&foreach_flow(), &aws_options("FeFlow"));
    let s = all_states(&c.definition);
    assert!(
        c.task_descriptions
            .iter()
            .all(|t| t.description.default_parameters.is_empty())
    );
    assert_eq!(env_of(&s["start"])["FERRY_PARAMETERS"], "$.Parameters");
    for other in ["fan", "body", "join", "end"] {
        assert!(
            !env_of(&s[other]).contains_key("FERRY_PARAMETERS"),
            "{other}"
        );
    }
}

#[test]
fn commands_are_the_wrapper_and_a_content_addressed_description() {
    let mut spec = foreach_flow();
    spec.steps[2].command = Some(vec!["sh".into(), "-c".into(), "echo $(id) `x`".into()]);
    spec.steps[2].decorators.environment = Some(Environment {
        vars: BTreeMap::from([("EVIL".into(), "$(rm -rf /); `boom`".into())]),
    });
    let c = compile_ok(&spec, &aws_options("FeFlow"));
    let text = c.definition_json();
    assert!(
        !text.contains("rm -rf") && !text.contains("echo $(id)"),
        "user values leaked into the definition"
    );
    let by_key: BTreeMap<&str, &ferry_compile::TaskDescriptionBlob> = c
        .task_descriptions
        .iter()
        .map(|t| (t.key.as_str(), t))
        .collect();
    let tasks: Vec<(String, Value)> = all_states(&c.definition)
        .into_iter()
        .filter(|(_, s)| {
            s["Resource"]
                .as_str()
                .is_some_and(|r| r.ends_with("batch:submitJob.sync"))
        })
        .collect();
    assert_eq!(tasks.len(), spec.steps.len());
    for (name, st) in tasks {
        let cmd: Vec<&str> = st["Parameters"]["ContainerOverrides"]["Command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(&cmd[..3], ["task-wrapper", "run", "--task"], "{name}");
        assert_eq!(cmd.len(), 4);
        let key = cmd[3]
            .strip_prefix("s3://ferry-test/ferry/")
            .expect("blob URL");
        let blob = by_key.get(key).expect("description for the URL");
        assert_eq!(
            blob.step,
            st["Parameters"]["Parameters"]["step_name"]
                .as_str()
                .unwrap()
        );
        assert_eq!(key, format!("tasks/{}.json", sha256_hex(&blob.bytes)));
        let back: TaskDescription = serde_json::from_slice(&blob.bytes).unwrap();
        assert_eq!(back, blob.description);
    }
}

#[test]
fn output_is_deterministic() {
    let spec = wide_split(20, 30);
    let a = compile_ok(&spec, &aws_options("WideFlow"));
    let b = compile_ok(&spec, &aws_options("WideFlow"));
    assert_eq!(a.definition_json(), b.definition_json());
    assert_eq!(a.task_descriptions, b.task_descriptions);
    assert_eq!(a.job_definitions, b.job_definitions);
}

fn map_modes(c: &ferry_compile::Compiled) -> BTreeMap<String, String> {
    all_states(&c.definition)
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Map")
        .map(|(n, s)| {
            (
                n,
                s["ItemProcessor"]["ProcessorConfig"]["Mode"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn map_mode_follows_max_workers_hints_and_nesting() {
    let spec = foreach_flow();
    let at = |w: u32| CompileOptions {
        max_workers: w,
        ..aws_options("FeFlow")
    };
    assert_eq!(map_modes(&compile_ok(&spec, &at(40)))["fan-map"], "INLINE");
    assert_eq!(
        map_modes(&compile_ok(&spec, &at(41)))["fan-map"],
        "DISTRIBUTED"
    );
    assert_eq!(
        map_modes(&compile_ok(&spec, &at(100)))["fan-map"],
        "DISTRIBUTED"
    );
    let hinted = CompileOptions {
        foreach_width_hints: BTreeMap::from([("fan".into(), 100_000)]),
        ..at(10)
    };
    let c = compile_ok(&spec, &hinted);
    assert_eq!(map_modes(&c)["fan-map"], "DISTRIBUTED");
    let fan = c
        .task_descriptions
        .iter()
        .find(|t| t.step == "fan")
        .unwrap();
    assert!(fan.description.fanout.foreach && fan.description.fanout.items_object);
    // A distributed inner foreach makes the outer one distributed too.
    let nested = CompileOptions {
        foreach_width_hints: BTreeMap::from([("outer".into(), 50_000)]),
        ..at(10)
    };
    let modes = map_modes(&compile_ok(&nested_flow(), &nested));
    assert_eq!(modes["outer-map"], "DISTRIBUTED");
    assert_eq!(modes["start-map"], "DISTRIBUTED");
    let huge = compile_ok(&spec, &at(20_000));
    assert_eq!(
        all_states(&huge.definition)["fan-map"]["MaxConcurrency"],
        10_000
    );
    let forced = CompileOptions {
        map_mode: MapMode::Inline,
        ..at(500)
    };
    assert!(
        map_modes(&compile_ok(&nested_flow(), &forced))
            .values()
            .all(|m| m == "INLINE")
    );
}

#[test]
fn distributed_map_reads_the_foreach_blob_and_keeps_output_small() {
    let c = compile_ok(&foreach_flow(), &aws_options("FeFlow"));
    let states = all_states(&c.definition);
    let map = &states["fan-map"];
    assert_eq!(map["ItemReader"]["Parameters"]["Bucket"], "ferry-test");
    assert_eq!(
        map["ItemReader"]["Parameters"]["Key.$"],
        "States.Format('ferry/foreach/{}.json', $.JobId)"
    );
    assert_eq!(map["ResultPath"], Value::Null);
    assert!(map.get("ResultWriter").is_some());
    assert!(!states.contains_key("fan-cardinality"));
    assert_eq!(states["body"]["OutputPath"], Value::Null);
    let local = compile_ok(&foreach_flow(), &local_options("FeFlow"));
    let map = &all_states(&local.definition)["fan-map"];
    assert_eq!(
        map["ItemReader"]["Parameters"]["Bucket"],
        "ferry-local-blobs"
    );
    assert_eq!(
        map["ItemReader"]["Parameters"]["Key.$"],
        "States.Format('foreach/{}.json', $.JobId)"
    );
}

#[test]
fn static_join_reads_branches_in_split_order() {
    use StepType::*;
    let spec = flow(
        "S",
        vec![
            step("start", Split, &["zeta", "alpha"]),
            step("zeta", Linear, &["zeta2"]),
            step("zeta2", Linear, &["join"]),
            step("alpha", Linear, &["join"]),
            step("join", Join, &["end"]),
            step("end", End, &[]),
        ],
    );
    let c = compile_ok(&spec, &aws_options("S"));
    let join = c
        .task_descriptions
        .iter()
        .find(|t| t.step == "join")
        .unwrap();
    assert_eq!(
        join.description.inputs,
        StepInputs::StaticJoin {
            steps: vec!["zeta2".into(), "alpha".into()]
        }
    );
    let states = all_states(&c.definition);
    let env = env_of(&states["join"]);
    assert_eq!(env["FERRY_PARENT_0_TASK_ID"], "$[0].JobId");
    assert_eq!(env["FERRY_PARENT_1_TASK_ID"], "$[1].JobId");
    assert_eq!(env["FERRY_RUN_ID"], "$[0].Parameters['metaflow.run_id']");
    let par = &c.definition["States"]
        [ferry_compile::naming::parallel_state_name(&["zeta".into(), "alpha".into()])];
    assert_eq!(par["Branches"][0]["StartAt"], "zeta");
    assert_eq!(par["Next"], "join");
}

#[test]
fn nested_foreach_carries_split_parents_and_separates_join_from_tail() {
    let c = compile_ok(
        &nested_flow(),
        &CompileOptions {
            max_workers: 4,
            ..aws_options("NestedFlow")
        },
    );
    let s = all_states(&c.definition);
    let inner = &s["inner"];
    let p = &inner["Parameters"]["Parameters"];
    assert_eq!(p["split_parent_task_id_outer.$"], "$.JobId");
    assert_eq!(p["split_index_outer.$"], "$.Index");
    assert_eq!(
        p["split_parent_task_id_start.$"],
        "$.Parameters.split_parent_task_id_start"
    );
    let env = env_of(&s["join_inner"]);
    assert_eq!(env["FERRY_SPLIT_PARENT_TASK_ID"], "$.JobId");
    assert_eq!(
        env["FERRY_TAIL_SPLIT_PARENT_TASK_ID"],
        "$.Parameters.split_parent_task_id_start"
    );
    assert_eq!(env["FERRY_FOREACH_INDEX"], "$.Parameters.split_index_start");
    let env = env_of(&s["join_outer"]);
    assert_eq!(env["FERRY_SPLIT_PARENT_TASK_ID"], "$.JobId");
    assert!(!env.contains_key("FERRY_TAIL_SPLIT_PARENT_TASK_ID"));
    let d = |step: &str| {
        c.task_descriptions
            .iter()
            .find(|t| t.step == step)
            .unwrap()
            .description
            .clone()
    };
    assert_eq!(
        d("join_inner").inputs,
        StepInputs::ForeachJoin {
            step: "inner".into()
        }
    );
    assert!(d("join_inner").fanout.join_parent && d("inner").fanout.join_parent);
    assert!(!d("join_outer").fanout.join_parent);
    assert!(d("start").fanout.foreach && d("outer").fanout.foreach);
    assert_eq!(
        s["start-cardinality"]["Parameters"]["Key"],
        json!({"pk": {"S.$": "$.JobId"}, "sk": {"S": "foreach"}})
    );
}

#[test]
fn retries_timeouts_and_project_options() {
    let mut spec = foreach_flow();
    spec.steps[2].decorators.retry = Some(Retry {
        times: 2,
        minutes_between_retries: 0,
    });
    spec.steps[2].decorators.catch = Some(Catch::default());
    spec.steps[2].decorators.timeout = Some(Timeout { seconds: 600 });
    spec.steps[3].decorators.retry = Some(Retry {
        times: 1,
        minutes_between_retries: 5,
    });
    spec.parameters = vec![Parameter {
        name: "n".into(),
        ty: ParamType::Int,
        default: Some(json!(3)),
        required: false,
        help: None,
    }];
    let o = CompileOptions {
        project: Some(ProjectOptions {
            branch: Some("feature_x".into()),
            production: false,
        }),
        workflow_timeout_seconds: Some(3600),
        ..aws_options("FeFlow")
    };
    let c = compile_ok(&spec, &o);
    let s = all_states(&c.definition);
    assert_eq!(s["body"]["Parameters"]["RetryStrategy"]["Attempts"], 6);
    assert_eq!(
        s["body"]["Parameters"]["Timeout"]["AttemptDurationSeconds"],
        600
    );
    assert_eq!(s["body"]["Retry"].as_array().unwrap().len(), 1);
    // A delayed retry is a Batch attempt of the same job (one task id), whose wrapper waits
    // first: no Step Functions retry of the Task, and Batch's limit makes room for the wait.
    assert_eq!(s["join"]["Parameters"]["RetryStrategy"]["Attempts"], 2);
    assert_eq!(s["join"]["Retry"].as_array().unwrap().len(), 1);
    assert_eq!(
        s["join"]["Retry"][0]["ErrorEquals"],
        json!(["Batch.AWSBatchException"])
    );
    assert_eq!(
        s["join"]["Parameters"]["Timeout"]["AttemptDurationSeconds"],
        432_000 + 300
    );
    assert!(!env_of(&s["join"]).contains_key("FERRY_RETRY_COUNT"));
    assert!(
        all_states(&c.definition)
            .values()
            .all(|st| !st.to_string().contains("RetryCount")),
        "nothing reads $$.State.RetryCount"
    );
    assert_eq!(s["start"]["Retry"][0]["JitterStrategy"], "FULL");
    assert_eq!(c.definition["TimeoutSeconds"], 3600);
    assert_eq!(env_of(&s["start"])["FERRY_PARAMETERS"], "$.Parameters");
    let d = |step: &str| {
        c.task_descriptions
            .iter()
            .find(|t| t.step == step)
            .unwrap()
            .description
            .clone()
    };
    assert_eq!(d("body").retries.max_user_code_retries, 2);
    assert_eq!(d("body").retries.total_attempts, 6);
    assert_eq!(d("body").retries.minutes_between_retries, 0);
    assert_eq!(d("join").retries.total_attempts, 2);
    assert_eq!(d("join").retries.minutes_between_retries, 5);
    assert_eq!(d("start").default_parameters["n"], json!(3));
    assert!(d("end").default_parameters.is_empty());
    assert_eq!(
        d("end").project.unwrap().branch.as_deref(),
        Some("feature_x")
    );
    assert_eq!(d("end").state_ttl_seconds, 3600 + 90 * 24 * 3600);
}

#[test]
fn schedule_with_time_zone_and_long_names() {
    let mut spec = foreach_flow();
    spec.decorators.schedule = Some(Schedule {
        every: ScheduleKind::Daily,
        timezone: Some("America/New_York".into()),
    });
    let name = format!("fraud_model.test.{}.FeFlow", "b".repeat(70));
    let o = aws_options(&name[..80]);
    let c = compile_ok(&spec, &o);
    let s = c.schedule.unwrap();
    assert_eq!(s.expression, "cron(0 0 * * ? *)");
    assert_eq!(s.timezone, "America/New_York");
    assert_eq!(s.input, r#"{"Parameters": "{}"}"#);
    assert_eq!(s.name.len(), 64);
    let input: Value = serde_json::from_str(&s.input).unwrap();
    assert_eq!(input["Parameters"], "{}");
}

#[test]
fn errors_say_what_is_wrong() {
    let o = aws_options("FeFlow");
    let err = |f: &dyn Fn(&mut FlowSpec)| {
        let mut spec = foreach_flow();
        f(&mut spec);
        try_compile(&spec, &o).unwrap_err()
    };
    assert!(matches!(
        err(&|s| s.steps[2].decorators.timeout = Some(Timeout { seconds: 30 })),
        CompileError::Step { .. }
    ));
    assert!(matches!(
        err(&|s| {
            s.steps[2].decorators.retry = Some(Retry {
                times: 7,
                minutes_between_retries: 0,
            });
            s.steps[2].decorators.catch = Some(Catch::default());
        }),
        CompileError::Step { .. }
    ));
    assert!(matches!(
        err(&|s| s.steps[1].decorators.catch = Some(Catch::default())),
        CompileError::Step { .. }
    ));
    assert!(matches!(
        err(&|s| s.decorators.unsupported = vec!["trigger".into()]),
        CompileError::Unsupported(_)
    ));
    assert!(matches!(
        err(&|s| s.steps[2].decorators.unsupported = vec!["slurm".into()]),
        CompileError::Unsupported(_)
    ));
    assert!(matches!(
        err(&|s| s.decorators.schedule = Some(Schedule {
            every: ScheduleKind::Cron {
                cron: "0 10 * * * *".into()
            },
            timezone: None
        })),
        CompileError::Schedule(_)
    ));
    assert!(matches!(
        err(&|s| s.decorators.schedule = Some(Schedule {
            every: ScheduleKind::Daily,
            timezone: Some("Mars/Olympus".into())
        })),
        CompileError::Schedule(_)
    ));
    assert!(matches!(
        err(&|s| {
            s.decorators.schedule = Some(Schedule {
                every: ScheduleKind::Daily,
                timezone: None,
            });
            s.parameters = vec![Parameter {
                name: "x".into(),
                ty: ParamType::Str,
                default: None,
                required: true,
                help: None,
            }];
        }),
        CompileError::Parameter(_)
    ));
    assert!(matches!(
        err(&|s| s.parameters = vec![
            Parameter {
                name: "Alpha".into(),
                ty: ParamType::Str,
                default: None,
                required: false,
                help: None
            },
            Parameter {
                name: "alpha".into(),
                ty: ParamType::Str,
                default: None,
                required: false,
                help: None
            },
        ]),
        CompileError::Parameter(_)
    ));
    assert!(matches!(
        err(&|s| s.steps[2].decorators.environment = Some(Environment {
            vars: BTreeMap::from([("FERRY_RUN_ID".into(), "x".into())])
        })),
        CompileError::Step { .. }
    ));
    assert!(matches!(
        err(&|s| s.steps[2].decorators.resources = Some(Resources {
            cpu: Some(f64::NAN),
            ..Default::default()
        })),
        CompileError::Step { .. }
    ));
    let spec = foreach_flow();
    for bad in [
        CompileOptions {
            state_machine_name: "has space".into(),
            ..o.clone()
        },
        CompileOptions {
            state_machine_name: "x".repeat(81),
            ..o.clone()
        },
        CompileOptions {
            job_queue: String::new(),
            ..o.clone()
        },
        CompileOptions {
            production_token: String::new(),
            ..o.clone()
        },
        CompileOptions {
            max_workers: 0,
            ..o.clone()
        },
        CompileOptions {
            partition: "mars".into(),
            ..o.clone()
        },
    ] {
        assert!(
            try_compile(&spec, &bad).is_err(),
            "{:?}",
            bad.state_machine_name
        );
    }
    let huge = CompileOptions {
        wrapper_command: vec!["w".repeat(9000)],
        ..o.clone()
    };
    assert!(matches!(
        try_compile(&spec, &huge),
        Err(CompileError::OverridesTooLarge { .. })
    ));
}

#[test]
fn definitions_over_one_megabyte_are_refused() {
    let spec = linear(1_300, 78);
    match try_compile(&spec, &aws_options("LinearFlow")) {
        Err(CompileError::DefinitionTooLarge { bytes, limit }) => assert!(bytes > limit),
        other => panic!(
            "expected DefinitionTooLarge, got {:?}",
            other.map(|c| c.definition_json().len())
        ),
    }
    // 1,000 steps with short names fit.
    let c = compile_ok(&linear(1_000, 10), &aws_options("LinearFlow"));
    assert!(c.definition_json().len() < ferry_compile::limits::MAX_DEFINITION_BYTES);
}

#[test]
fn wide_static_splits_join_through_the_state_table() {
    use StepType::*;
    let n = ferry_compile::asl::MAX_ENV_JOIN_BRANCHES + 6;
    let mut spec = wide_split(n, 12);
    // One branch holds two steps, another a foreach (its join is the branch's last step).
    let b0 = spec.steps[1].name.clone();
    spec.steps[1].next = vec!["extra".into()];
    spec.steps.push(step("extra", Linear, &["join"]));
    let b1 = spec.steps[2].name.clone();
    spec.steps[2].ty = Foreach;
    spec.steps[2].foreach = Some("items".into());
    spec.steps[2].next = vec!["fe_body".into()];
    spec.steps.push(step("fe_body", Linear, &["fe_join"]));
    spec.steps.push(step("fe_join", Join, &["join"]));
    let c = compile_ok(
        &spec,
        &CompileOptions {
            max_workers: 8,
            ..aws_options("WideFlow")
        },
    );
    assert!(ferry_compile::limits::check_definition(&c.definition).is_empty());
    let s = all_states(&c.definition);
    let d = |step: &str| {
        c.task_descriptions
            .iter()
            .find(|t| t.step == step)
            .unwrap()
            .description
            .clone()
    };
    let join_env = env_of(&s["join"]);
    assert_eq!(
        join_env["FERRY_SPLIT_PARENT_TASK_ID"],
        "$[0].Parameters.split_parent_task_id_start"
    );
    assert!(!join_env.contains_key("FERRY_PARENT_0_TASK_ID"));
    match d("join").inputs {
        StepInputs::StaticJoin { steps } => {
            assert_eq!(steps.len(), n);
            assert_eq!(steps[0], "extra");
            assert_eq!(steps[1], "fe_join");
        }
        other => panic!("{other:?}"),
    }
    // The first step of a branch records the split's task id in its Batch parameters.
    assert_eq!(
        s[&b0]["Parameters"]["Parameters"]["split_parent_task_id_start.$"],
        "$.JobId"
    );
    assert!(!d(&b0).fanout.join_parent);
    // Branch tails record themselves with their (static) branch index.
    let fixed = |st: &Value, name: &str| -> Option<String> {
        st["Parameters"]["ContainerOverrides"]["Environment"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["Name"] == name)
            .and_then(|e| e["Value"].as_str().map(str::to_string))
    };
    assert!(d("extra").fanout.join_parent);
    assert_eq!(
        env_of(&s["extra"])["FERRY_TAIL_SPLIT_PARENT_TASK_ID"],
        "$.Parameters.split_parent_task_id_start"
    );
    assert_eq!(
        fixed(&s["extra"], "FERRY_FOREACH_INDEX").as_deref(),
        Some("0")
    );
    let last = spec.steps[n].name.clone();
    assert_eq!(
        env_of(&s[&last])["FERRY_TAIL_SPLIT_PARENT_TASK_ID"],
        "$.JobId"
    );
    assert_eq!(
        fixed(&s[&last], "FERRY_FOREACH_INDEX"),
        Some((n - 1).to_string())
    );
    // A foreach join that ends a branch reads its own split parent and records the branch's.
    let fe_join = env_of(&s["fe_join"]);
    assert_eq!(fe_join["FERRY_SPLIT_PARENT_TASK_ID"], "$.JobId");
    assert_eq!(
        fe_join["FERRY_TAIL_SPLIT_PARENT_TASK_ID"],
        "$.Parameters.split_parent_task_id_start"
    );
    assert_eq!(
        fixed(&s["fe_join"], "FERRY_FOREACH_INDEX").as_deref(),
        Some("1")
    );
    assert_eq!(
        s["fe_body"]["Parameters"]["Parameters"]["split_parent_task_id_start.$"],
        "$.Parameters.split_parent_task_id_start"
    );
    let _ = b1;
    // 300 branches stay far under the overrides limit.
    let c = compile_ok(&wide_split(300, 78), &aws_options("WideFlow"));
    let join = &all_states(&c.definition)["join"];
    assert!(
        ferry_compile::limits::overrides_upper_bound(&join["Parameters"]["ContainerOverrides"])
            < 1_000
    );
}
