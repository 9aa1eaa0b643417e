//! With no limits and no latencies the model's counts are what the definition implies: every
//! state entered once per iteration, one `SubmitJob` per Batch Task per iteration. The
//! expected numbers are counted here from the definition itself, independently of the model.

use std::path::PathBuf;

use ferry_model::{AwsFigures, Scenario, simulate};
use serde_json::Value;

fn golden(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../compile/tests/golden")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["definition"].clone()
}

/// (transitions, SubmitJob calls, GetItem calls, child executions) of one pass over `states`
/// with every Map iterating `width` items.
fn count(states: &Value, width: u64) -> (u64, u64, u64, u64) {
    let mut c = (0, 0, 0, 0);
    for s in states.as_object().unwrap().values() {
        c.0 += 1;
        let resource = s["Resource"].as_str().unwrap_or("");
        match s["Type"].as_str().unwrap() {
            "Task" if resource.contains(":batch:submitJob") => c.1 += 1,
            "Task" if resource.ends_with(":dynamodb:getItem") => c.2 += 1,
            "Map" => {
                let inner = count(&s["ItemProcessor"]["States"], width);
                // An array-form chunk Map iterates once per 10,000 items (at least once).
                let width = if s["ItemsPath"] == ferry_model::CHUNKS_ITEMS_PATH {
                    width.div_ceil(10_000)
                } else {
                    width
                };
                let distributed = s["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED";
                c.0 += width * inner.0;
                c.1 += width * inner.1;
                c.2 += width * inner.2;
                c.3 += width * inner.3 + if distributed { width } else { 0 };
            }
            "Parallel" => {
                for b in s["Branches"].as_array().unwrap() {
                    let inner = count(&b["States"], width);
                    c = (c.0 + inner.0, c.1 + inner.1, c.2 + inner.2, c.3 + inner.3);
                }
            }
            _ => {}
        }
    }
    c
}

fn instant(width: u64) -> Scenario {
    Scenario {
        width,
        task_seconds: 0.0,
        trials: 1,
        seed: 7,
        max_running: None,
        figures: AwsFigures::instant(),
    }
}

#[test]
fn counts_match_the_definition_for_every_golden_shape() {
    for (file, width) in [
        ("linear.json", 3),
        ("foreach.json", 5),
        ("distributed_foreach.json", 7),
        ("nested_foreach.json", 3),
        ("split_join.json", 4),
        ("split_in_foreach.json", 4),
        ("decorators.json", 2),
        ("array_foreach.json", 5),
        ("array_chain.json", 5),
        ("array_chunked.json", 25_000),
        ("array_chunked.json", 1),
    ] {
        let def = golden(file);
        let plan = simulate(&def, &instant(width)).unwrap();
        let (transitions, submits, get_items, children) = count(&def["States"], width);
        assert_eq!(plan.state_transitions, transitions, "{file}");
        assert_eq!(plan.submit_job_calls(), submits, "{file}");
        let gets = plan
            .api_calls
            .get("dynamodb")
            .and_then(|d| d.get("GetItem"));
        assert_eq!(gets.copied().unwrap_or(0), get_items, "{file}");
        assert_eq!(plan.child_executions, children, "{file}");
        // Without latencies everything happens at time 0.
        assert_eq!(plan.completed.p90_s, 0.0, "{file}");
        assert!(
            (plan.cost.step_functions_usd - transitions as f64 * 0.000_025).abs() < 1e-12,
            "{file}"
        );
    }
}

#[test]
fn the_foreach_golden_counts_by_hand() {
    // start, fan, fan-cardinality, fan-map, join, end + 5 × body.
    let def = golden("foreach.json");
    let plan = simulate(&def, &instant(5)).unwrap();
    let names: Vec<&String> = def["States"].as_object().unwrap().keys().collect();
    assert_eq!(plan.state_transitions, names.len() as u64 + 5, "{names:?}");
    assert_eq!(plan.submit_job_calls(), names.len() as u64 - 2 + 5);
    assert_eq!(plan.api_calls["states"]["StartExecution"], 1);
}

#[test]
fn array_form_submits_one_job_per_chunk_and_body_step() {
    // start, fan, join, end + one array job per chunk: 25,000 items are 3 chunks.
    let plan = simulate(&golden("array_chunked.json"), &instant(25_000)).unwrap();
    assert_eq!(plan.submit_job_calls(), 4 + 3);
    assert_eq!(plan.containers, 4 + 25_000);
    // A three-step body: three array jobs per chunk, chained N_TO_N.
    let plan = simulate(&golden("array_chain.json"), &instant(20_001)).unwrap();
    assert_eq!(plan.submit_job_calls(), 4 + 3 * 3);
    // One item: an array of 2 whose second child is padding.
    let plan = simulate(&golden("array_foreach.json"), &instant(1)).unwrap();
    assert_eq!((plan.submit_job_calls(), plan.containers), (5, 4 + 2));
}

#[test]
fn chained_children_start_after_their_parents_end() {
    // Each body step runs 100 s; with three steps the run lasts at least 300 s more than
    // with one, and the first children start long before the last ones.
    let run = |file: &str| {
        simulate(
            &golden(file),
            &Scenario {
                width: 200,
                task_seconds: 100.0,
                trials: 3,
                seed: 5,
                max_running: None,
                figures: AwsFigures::ec2(),
            },
        )
        .unwrap()
    };
    let one = run("array_foreach.json");
    let three = run("array_chain.json");
    assert!(
        three.completed.p50_s >= one.completed.p50_s + 200.0,
        "{one:?} {three:?}"
    );
}

#[test]
fn seeded_runs_repeat_and_seeds_differ() {
    let def = golden("distributed_foreach.json");
    let s = Scenario {
        width: 500,
        task_seconds: 30.0,
        trials: 5,
        seed: 42,
        max_running: None,
        figures: AwsFigures::fargate(),
    };
    let a = simulate(&def, &s).unwrap();
    let b = simulate(&def, &s).unwrap();
    assert_eq!(a, b);
    let c = simulate(&def, &Scenario { seed: 43, ..s }).unwrap();
    assert_ne!(a.completed, c.completed);
    assert!(a.all_tasks_started.p50_s <= a.all_tasks_started.p90_s);
    assert!(a.all_tasks_started.p90_s < a.completed.p90_s);
}

#[test]
fn the_submit_job_quota_is_the_floor_of_a_wide_map() {
    // 10,000 SubmitJob calls at 50/s take at least 200 s - (burst 50) / 50 = 199 s.
    let def = golden("distributed_foreach.json");
    let plan = simulate(
        &def,
        &Scenario {
            width: 10_000,
            task_seconds: 60.0,
            trials: 1,
            seed: 1,
            max_running: None,
            figures: AwsFigures::ec2(),
        },
    )
    .unwrap();
    assert_eq!(plan.submit_job_calls(), 10_000 + 4);
    assert!(plan.all_tasks_started.p50_s >= 199.0, "{plan:?}");
    // Fargate's launch bucket (20/s) is slower still: 10,000 / 20 = 500 s.
    let fargate = simulate(
        &def,
        &Scenario {
            width: 10_000,
            task_seconds: 60.0,
            trials: 1,
            seed: 1,
            max_running: None,
            figures: AwsFigures::fargate(),
        },
    )
    .unwrap();
    assert!(fargate.all_tasks_started.p50_s >= 495.0, "{fargate:?}");
}

#[test]
fn a_bound_on_running_containers_makes_waves() {
    // 100 tasks of 100 s, 10 at a time, nothing else slow: 10 waves, at least 1,000 s.
    let def = golden("array_foreach.json");
    let mut s = instant(100);
    s.task_seconds = 100.0;
    s.max_running = Some(10);
    let plan = simulate(&def, &s).unwrap();
    // start and fan (100 s each), ten waves, join and end: 1,400 s; the last wave starts
    // 900 s after the fan-out.
    assert!((plan.completed.p50_s - 1_400.0).abs() < 1e-6, "{plan:?}");
    assert!(
        (plan.all_tasks_started.p50_s - 900.0).abs() < 1e-6,
        "{plan:?}"
    );
    s.max_running = None;
    let unbounded = simulate(&def, &s).unwrap();
    assert!(
        (unbounded.completed.p50_s - 500.0).abs() < 1e-6,
        "{unbounded:?}"
    );
}

#[test]
fn bad_scenarios_are_refused() {
    let def = golden("linear.json");
    let mut s = instant(1);
    s.trials = 0;
    assert!(simulate(&def, &s).is_err());
    let mut s = instant(1);
    s.task_seconds = -1.0;
    assert!(simulate(&def, &s).is_err());
    let bad = serde_json::json!({"StartAt": "a", "States": {"a": {"Type": "Wait", "Seconds": 1, "End": true}}});
    let e = simulate(&bad, &instant(1)).unwrap_err().to_string();
    assert!(e.contains("Wait"), "{e}");
}
