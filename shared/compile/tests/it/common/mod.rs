//! Spec fixtures built in Rust, and the options of a test deployment.
#![allow(dead_code)] // benches/compile.rs uses a part of it

use ferry_compile::{CompileOptions, Compiled, compile};
use ferry_spec::FlowGraph;
use ferry_spec::model::*;
use ferry_spec::task::{BlobStoreRef, DatastoreSettings, MetadataSettings, PackageRef, TableRef};

pub fn step(name: &str, ty: StepType, next: &[&str]) -> Step {
    Step {
        name: name.to_string(),
        ty,
        next: next.iter().map(|s| s.to_string()).collect(),
        foreach: (ty == StepType::Foreach).then(|| "items".to_string()),
        num_parallel: None,
        decorators: StepDecorators::default(),
        command: None,
    }
}

pub fn flow(name: &str, steps: Vec<Step>) -> FlowSpec {
    FlowSpec {
        spec_version: SPEC_VERSION,
        flow: name.to_string(),
        file: "flow.py".to_string(),
        metaflow_version: Some("2.19.39".to_string()),
        parameters: vec![],
        decorators: FlowDecorators::default(),
        steps,
    }
}

/// An AWS-like target: S3 blobs, a DynamoDB state table, a Batch queue.
pub fn aws_options(state_machine: &str) -> CompileOptions {
    CompileOptions {
        state_machine_name: state_machine.to_string(),
        blobs: BlobStoreRef::S3 {
            bucket: "ferry-test".into(),
            prefix: "ferry".into(),
        },
        state_table_name: "ferry-state".into(),
        state_table: TableRef::Dynamodb {
            table: "ferry-state".into(),
        },
        job_queue: "ferry-queue".into(),
        default_image: "python:3.12".into(),
        job_role_arn: Some("arn:aws:iam::123456789012:role/ferry-task".into()),
        code_package: PackageRef {
            key: format!("code/{}.tgz", "0".repeat(64)),
            sha256: "0".repeat(64),
        },
        metadata: MetadataSettings {
            kind: "service".into(),
            url: Some("https://api.example.com/".into()),
        },
        datastore: DatastoreSettings {
            kind: "s3".into(),
            root: "s3://ferry-test/metaflow".into(),
        },
        owner: "alice".into(),
        production_token: format!("{}-0-abcd", state_machine.to_lowercase()),
        ..Default::default()
    }
}

/// The embedded-stack target: a blob directory and the SQLite state table.
pub fn local_options(state_machine: &str) -> CompileOptions {
    CompileOptions {
        blobs: BlobStoreRef::Dir {
            path: "/var/ferry/blobs".into(),
        },
        state_table: TableRef::Sqlite {
            path: "/var/ferry/state.sqlite".into(),
        },
        datastore: DatastoreSettings {
            kind: "local".into(),
            root: "/var/ferry/datastore".into(),
        },
        metadata: MetadataSettings {
            kind: "service".into(),
            url: Some("http://127.0.0.1:8080/".into()),
        },
        job_queue: "local".into(),
        ..aws_options(state_machine)
    }
}

pub fn compile_ok(spec: &FlowSpec, options: &CompileOptions) -> Compiled {
    let graph = FlowGraph::new(spec).expect("valid graph");
    compile(spec, &graph, options).expect("compiles")
}

pub fn linear(n: usize, name_len: usize) -> FlowSpec {
    let names: Vec<String> = (0..n)
        .map(|i| {
            let base = format!("step_{i}_");
            format!("{base}{}", "x".repeat(name_len.saturating_sub(base.len())))
        })
        .collect();
    let mut steps = vec![step("start", StepType::Start, &[&names[0]])];
    for i in 0..n {
        let next = if i + 1 < n {
            names[i + 1].as_str()
        } else {
            "end"
        };
        steps.push(step(&names[i], StepType::Linear, &[next]));
    }
    steps.push(step("end", StepType::End, &[]));
    flow("LinearFlow", steps)
}

pub fn wide_split(n: usize, name_len: usize) -> FlowSpec {
    let names: Vec<String> = (0..n)
        .map(|i| {
            let base = format!("branch_{i}_");
            format!("{base}{}", "y".repeat(name_len.saturating_sub(base.len())))
        })
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut steps = vec![step("start", StepType::Split, &refs)];
    for b in &names {
        steps.push(step(b, StepType::Linear, &["join"]));
    }
    steps.push(step("join", StepType::Join, &["end"]));
    steps.push(step("end", StepType::End, &[]));
    flow("WideFlow", steps)
}
