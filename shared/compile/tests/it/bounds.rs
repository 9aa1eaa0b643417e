//! Deploy-time bounds the compiler enforces (so the deploy handler refuses them too): the
//! workflow timeout, run tags and AWS tag values, and each step's vCPUs, memory and GPUs against
//! AWS Batch (EC2 and Fargate). Every refusal names the value and what to change.

use crate::common;

use std::collections::BTreeMap;

use common::*;
use ferry_compile::options::Platform;
use ferry_compile::{CompileError, CompileOptions, compile, limits};
use ferry_spec::FlowGraph;
use ferry_spec::model::*;

fn hello() -> FlowSpec {
    flow(
        "HelloFlow",
        vec![
            step("start", StepType::Start, &["end"]),
            step("end", StepType::End, &[]),
        ],
    )
}

fn try_compile(spec: &FlowSpec, o: &CompileOptions) -> Result<(), String> {
    compile(spec, &FlowGraph::new(spec).unwrap(), o)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `@resources(cpu, memory, gpu)`.
type Resized = (Option<f64>, Option<u64>, Option<u32>);

fn with_resources(cpu: Option<f64>, memory: Option<u64>, gpu: Option<u32>) -> FlowSpec {
    let mut spec = hello();
    spec.steps[0].decorators.resources = Some(Resources {
        cpu,
        memory,
        gpu,
        ..Default::default()
    });
    spec
}

#[test]
fn workflow_timeout_is_one_second_to_one_year() {
    let spec = hello();
    let o = aws_options("HelloFlow");
    for ok in [1, 3600, limits::MAX_WORKFLOW_TIMEOUT_SECONDS] {
        let opts = CompileOptions {
            workflow_timeout_seconds: Some(ok),
            ..o.clone()
        };
        try_compile(&spec, &opts).unwrap();
    }
    for bad in [0, limits::MAX_WORKFLOW_TIMEOUT_SECONDS + 1, u64::MAX] {
        let opts = CompileOptions {
            workflow_timeout_seconds: Some(bad),
            ..o.clone()
        };
        let e = try_compile(&spec, &opts).unwrap_err();
        assert!(e.contains(&format!("--workflow-timeout {bad}")), "{e}");
        assert!(e.contains("1 to 31536000 seconds"), "{e}");
    }
}

#[test]
fn tags_follow_metaflow_and_aws_limits() {
    let spec = hello();
    let o = aws_options("HelloFlow");
    let with = |f: &dyn Fn(&mut CompileOptions)| {
        let mut opts = o.clone();
        f(&mut opts);
        try_compile(&spec, &opts)
    };
    with(&|o| o.tags = vec!["é".repeat(500), "team:fraud".into()]).unwrap();
    let e = with(&|o| o.tags = vec!["x".repeat(501)]).unwrap_err();
    assert!(
        e.contains("is 501 characters") && e.contains("1 to 500"),
        "{e}"
    );
    let e = with(&|o| o.tags = vec![String::new()]).unwrap_err();
    assert!(e.contains("1 to 500"), "{e}");
    let e = with(&|o| o.tags = (0..51).map(|i| format!("t{i}")).collect()).unwrap_err();
    assert!(
        e.contains("51 --tag values") && e.contains("at most 50"),
        "{e}"
    );
    let e = with(&|o| o.owner = "u".repeat(257)).unwrap_err();
    assert!(e.contains("METAFLOW_USER") && e.contains("256"), "{e}");
    let e =
        with(&|o| o.batch_tags = BTreeMap::from([("team".into(), "v".repeat(257))])).unwrap_err();
    assert!(e.contains("\"team\"") && e.contains("256"), "{e}");
    let e = with(&|o| o.batch_tags = BTreeMap::from([("k".repeat(129), "v".into())])).unwrap_err();
    assert!(e.contains("1 to 128"), "{e}");
    let mut long = hello();
    long.flow = "F".repeat(257);
    let e = try_compile(&long, &o).unwrap_err();
    assert!(e.contains("rename the class"), "{e}");
}

#[test]
fn step_resources_stay_within_aws_batch() {
    let o = aws_options("HelloFlow");
    for (cpu, memory, gpu) in [
        (Some(0.5), Some(4), None),
        (Some(96.0), Some(768 * 1024), Some(8)),
        (None, Some(limits::MAX_MEMORY_MIB), None),
    ] {
        try_compile(&with_resources(cpu, memory, gpu), &o).unwrap();
    }
    let cases: [(Resized, &str); 5] = [
        (
            (None, Some(0), None),
            "memory=0) is below AWS Batch's minimum of 4 MiB",
        ),
        ((None, Some(3), None), "memory= is in MiB"),
        (
            (None, Some(16 * 1024 * 1024 * 1024), None),
            "is more than any AWS Batch instance has",
        ),
        ((Some(10_000.0), None, None), "lower cpu="),
        ((None, None, Some(64)), "lower gpu="),
    ];
    for ((cpu, memory, gpu), want) in cases {
        let e = try_compile(&with_resources(cpu, memory, gpu), &o).unwrap_err();
        assert!(e.starts_with("Step *start*: @resources("), "{e}");
        assert!(e.contains(want), "{e}");
    }
    // @batch is checked the same way.
    let mut spec = hello();
    spec.steps[1].decorators.batch = Some(Batch {
        memory: Some(1),
        ..Default::default()
    });
    let e = try_compile(&spec, &o).unwrap_err();
    assert!(e.starts_with("Step *end*: @batch(memory=1)"), "{e}");
    // Non-positive cpu was refused before; it still is.
    assert!(matches!(
        compile(
            &with_resources(Some(0.0), None, None),
            &FlowGraph::new(&hello()).unwrap(),
            &o
        ),
        Err(CompileError::Step { .. })
    ));
}

#[test]
fn fargate_takes_its_task_sizes_only() {
    let o = CompileOptions {
        platform: Platform::Fargate,
        ..aws_options("HelloFlow")
    };
    // The defaults (1 vCPU, 4,096 MiB) and listed sizes compile.
    try_compile(&hello(), &o).unwrap();
    try_compile(&with_resources(Some(2.0), Some(16384), None), &o).unwrap();
    try_compile(&with_resources(Some(16.0), Some(122880), None), &o).unwrap();
    for (cpu, memory, gpu, want) in [
        (
            Some(3.0),
            None,
            None,
            "0.25, 0.5, 1, 2, 4, 8 or 16 vCPUs, not 3",
        ),
        (Some(1.0), Some(9000), None, "1 vCPU with 2048 to 8192 MiB"),
        (Some(8.0), Some(18000), None, "in steps of 4096 MiB"),
        (
            None,
            None,
            Some(1),
            "GPUs are not available on Fargate, where this stack runs every task (the largest task Fargate runs is cpu=16, memory=122880, without GPUs): remove gpu=",
        ),
        (
            None,
            Some(200_000),
            None,
            "200000 MiB of memory is more than a Fargate task has: the largest task Fargate runs is cpu=16, memory=122880",
        ),
        (
            Some(32.0),
            Some(122_880),
            None,
            "32 vCPUs are more than a Fargate task has: the largest task Fargate runs is cpu=16",
        ),
    ] {
        let e = try_compile(&with_resources(cpu, memory, gpu), &o).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
    assert_eq!(limits::fargate_size_problem(0.25, 2048), None);
    assert!(limits::fargate_size_problem(0.25, 1536).is_some());
}

#[test]
fn one_machine_warns_about_what_it_cannot_give() {
    let machine = |gpus, not_enforced: Option<&str>| CompileOptions {
        machine: Some(limits::MachineCapacity {
            memory_mib: 16_000,
            gpus,
            memory_not_enforced: not_enforced.map(str::to_string),
        }),
        ..aws_options("HelloFlow")
    };
    let warnings = |spec: &FlowSpec, o: &CompileOptions| {
        compile(spec, &FlowGraph::new(spec).unwrap(), o)
            .unwrap()
            .warnings
    };
    // What fits says nothing; neither do the defaults (4,096 MiB) nor AWS (no machine).
    assert!(warnings(&with_resources(None, Some(16_000), None), &machine(0, None)).is_empty());
    assert!(warnings(&hello(), &machine(0, None)).is_empty());
    assert!(
        warnings(
            &with_resources(None, Some(200_000), Some(1)),
            &aws_options("HelloFlow")
        )
        .is_empty()
    );

    let w = warnings(
        &with_resources(None, Some(200_000), Some(1)),
        &machine(0, None),
    );
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with(
            "Step *start* asks for 200000 MiB of memory, more than this machine has (16000 MiB)"
        ),
        "{w:?}"
    );
    assert!(
        w[0].contains("The largest memory= this machine can give is 16000."),
        "{w:?}"
    );
    assert!(
        w[1].contains("asks for 1 GPU(s) (gpu=1); this machine has none"),
        "{w:?}"
    );
    // A machine with the GPU: only the memory warning.
    assert_eq!(
        warnings(
            &with_resources(None, Some(200_000), Some(1)),
            &machine(1, None)
        )
        .len(),
        1
    );
    // Unenforced memory is said once per deploy, with why.
    let w = warnings(&hello(), &machine(0, Some("turned off")));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("Memory limits are not enforced on this machine (turned off)"),
        "{w:?}"
    );
}

#[test]
fn resources_follow_metaflow_a_smaller_memory_is_not_raised_to_the_default() {
    // Metaflow's compute_resource_attributes: the defaults (1 vCPU, 4,096 MiB) apply only when
    // neither @resources nor @batch names a value; both named: the larger.
    let requirements = |spec: &FlowSpec| {
        let c = compile(
            spec,
            &FlowGraph::new(spec).unwrap(),
            &aws_options("HelloFlow"),
        )
        .unwrap();
        c.definition["States"]["start"]["Parameters"]["ContainerOverrides"]["ResourceRequirements"]
            .clone()
    };
    assert_eq!(
        requirements(&with_resources(Some(0.25), Some(256), None)),
        serde_json::json!([{"Type": "VCPU", "Value": "0.25"}, {"Type": "MEMORY", "Value": "256"}])
    );
    let mut both = with_resources(None, Some(256), None);
    both.steps[0].decorators.batch = Some(Batch {
        memory: Some(1024),
        ..Default::default()
    });
    assert_eq!(
        requirements(&both),
        serde_json::json!([{"Type": "MEMORY", "Value": "1024"}])
    );
    // Neither: the job definition's defaults, no override.
    assert!(requirements(&hello()).is_null());
}
