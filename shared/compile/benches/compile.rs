//! Compile time of big flows (target: < 20 ms each) and their definition sizes against Step
//! Functions' 1 MB limit. Run with `bench/compile.sh` (or `cargo bench -p ferry-compile`).

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::*;
use criterion::{Criterion, criterion_group, criterion_main};
use ferry_compile::{CompileOptions, compile, limits};
use ferry_spec::FlowGraph;
use ferry_spec::model::FlowSpec;

fn case(c: &mut Criterion, label: &str, spec: FlowSpec, options: CompileOptions) {
    let graph = FlowGraph::new(&spec).expect("valid graph");
    let compiled = compile(&spec, &graph, &options).expect("compiles");
    let size = compiled.definition_json().len();
    eprintln!(
        "{label}: {} steps, definition {size} bytes = {:.1}% of the {} byte limit, {} task descriptions",
        spec.steps.len(),
        100.0 * size as f64 / limits::MAX_DEFINITION_BYTES as f64,
        limits::MAX_DEFINITION_BYTES,
        compiled.task_descriptions.len(),
    );
    // CPU time of this thread per compile: the machine may be shared, and wall time with it.
    let rounds = 30;
    let before = thread_cpu_seconds();
    for _ in 0..rounds {
        black_box(compile(&spec, &graph, &options).unwrap());
    }
    if let (Some(a), Some(b)) = (before, thread_cpu_seconds()) {
        eprintln!(
            "{label}: {:.1} ms CPU per compile (mean of {rounds})",
            (b - a) * 1000.0 / rounds as f64
        );
    }
    c.bench_function(label, |b| {
        b.iter(|| compile(black_box(&spec), black_box(&graph), black_box(&options)).unwrap())
    });
}

/// User + system CPU seconds of the calling thread (Linux `/proc/thread-self/stat`, 100 Hz ticks).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn benches(c: &mut Criterion) {
    case(
        c,
        "linear_1000_steps",
        linear(1_000, 12),
        aws_options("LinearFlow"),
    );
    case(
        c,
        "split_300_branches",
        wide_split(300, 12),
        aws_options("WideFlow"),
    );
    case(
        c,
        "split_300_branches_long_names",
        wide_split(300, 78),
        aws_options("WideFlow"),
    );
}

criterion_group!(compile_benches, benches);
criterion_main!(compile_benches);
