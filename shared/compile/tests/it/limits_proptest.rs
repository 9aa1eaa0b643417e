//! Random valid DAGs (up to 200 steps, nested splits and foreaches, long names, any Map mode,
//! S3 or directory blobs) compile to definitions that respect every AWS limit, with every
//! state reachable and every `Next` resolving; a sample also passes `asl-validator`.

use crate::common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use ferry_compile::{CompileOptions, MapMode, limits, naming};
use ferry_spec::FlowGraph;
use ferry_spec::model::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

#[derive(Debug, Clone)]
enum Block {
    Linear,
    Split(Vec<Vec<Block>>),
    Foreach(Vec<Block>),
}

fn block() -> impl Strategy<Value = Block> {
    Just(Block::Linear).prop_recursive(6, 160, 5, |inner| {
        prop_oneof![
            3 => Just(Block::Linear),
            2 => prop::collection::vec(prop::collection::vec(inner.clone(), 1..3), 2..5).prop_map(Block::Split),
            2 => prop::collection::vec(inner, 1..3).prop_map(Block::Foreach),
        ]
    })
}

struct Builder {
    steps: Vec<Step>,
    name_len: usize,
    count: usize,
}

impl Builder {
    fn name(&mut self, kind: &str) -> String {
        self.count += 1;
        let base = format!("{kind}{}_", self.count);
        format!(
            "{base}{}",
            "n".repeat(self.name_len.saturating_sub(base.len()))
        )
    }

    /// Append `blocks` after step index `prev`; returns the index of the last step added.
    fn seq(&mut self, blocks: &[Block], mut prev: usize) -> usize {
        for b in blocks {
            prev = self.block(b, prev);
        }
        prev
    }

    fn add(&mut self, prev: usize, name: String, ty: StepType) -> usize {
        self.steps[prev].next.push(name.clone());
        self.steps.push(step(&name, ty, &[]));
        self.steps.len() - 1
    }

    fn block(&mut self, b: &Block, prev: usize) -> usize {
        match b {
            Block::Linear => {
                let n = self.name("l");
                self.add(prev, n, StepType::Linear)
            }
            Block::Split(branches) => {
                let n = self.name("s");
                let split = self.add(prev, n, StepType::Split);
                let join_name = self.name("j");
                let mut tails = Vec::new();
                for br in branches {
                    let first = self.name("b");
                    let first = self.add(split, first, StepType::Linear);
                    tails.push(self.seq(br, first));
                }
                self.steps.push(step(&join_name, StepType::Join, &[]));
                let join = self.steps.len() - 1;
                for t in tails {
                    self.steps[t].next.push(join_name.clone());
                }
                join
            }
            Block::Foreach(body) => {
                let n = self.name("f");
                let fe = self.add(prev, n, StepType::Foreach);
                let first = self.name("e");
                let first = self.add(fe, first, StepType::Linear);
                let tail = self.seq(body, first);
                let j = self.name("k");
                self.add(tail, j, StepType::Join)
            }
        }
    }
}

fn build(blocks: &[Block], name_len: usize) -> FlowSpec {
    let mut b = Builder {
        steps: vec![step("start", StepType::Start, &[])],
        name_len,
        count: 0,
    };
    let last = b.seq(blocks, 0);
    b.steps[last].next.push("end".into());
    b.steps.push(step("end", StepType::End, &[]));
    flow("PropFlow", b.steps)
}

fn count(def: &Value, ty: &str) -> usize {
    fn walk(scope: &Value, ty: &str) -> usize {
        scope["States"]
            .as_object()
            .unwrap()
            .values()
            .map(|st| {
                let mut n = usize::from(st["Type"] == ty);
                for b in st["Branches"].as_array().into_iter().flatten() {
                    n += walk(b, ty);
                }
                if st.get("ItemProcessor").is_some() {
                    n += walk(&st["ItemProcessor"], ty);
                }
                n
            })
            .sum()
    }
    walk(def, ty)
}

#[test]
fn random_flows_respect_every_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let samples: RefCell<Vec<PathBuf>> = RefCell::new(Vec::new());
    let strategy = (
        prop::collection::vec(block(), 1..14),
        1usize..100,
        1u32..300,
        prop_oneof![
            Just(MapMode::Auto),
            Just(MapMode::Inline),
            Just(MapMode::Distributed)
        ],
        any::<bool>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    runner
        .run(
            &strategy,
            |(blocks, name_len, max_workers, map_mode, local)| {
                let spec = build(&blocks, name_len);
                prop_assume!(spec.steps.len() <= 200);
                if std::env::var_os("FERRY_PROPTEST_STATS").is_some() {
                    eprintln!("steps={}", spec.steps.len());
                }
                let graph = FlowGraph::new(&spec)
                    .map_err(|e| TestCaseError::fail(format!("fixture graph: {e}")))?;
                let base = if local {
                    local_options("PropFlow")
                } else {
                    aws_options("PropFlow")
                };
                let o = CompileOptions {
                    max_workers,
                    map_mode,
                    ..base
                };
                let c = ferry_compile::compile(&spec, &graph, &o)
                    .map_err(|e| TestCaseError::fail(format!("compile: {e}")))?;
                let problems = limits::check_definition(&c.definition);
                prop_assert!(problems.is_empty(), "{:#?}", problems);
                prop_assert!(c.definition_json().len() <= limits::MAX_DEFINITION_BYTES);
                prop_assert_eq!(c.task_descriptions.len(), spec.steps.len());
                prop_assert_eq!(
                    count(&c.definition, "Task"),
                    spec.steps.len()
                        + if map_mode == MapMode::Inline
                            || (map_mode == MapMode::Auto && max_workers <= 40)
                        {
                            spec.steps
                                .iter()
                                .filter(|s| s.ty == StepType::Foreach)
                                .count()
                        } else {
                            0
                        }
                );
                prop_assert_eq!(
                    count(&c.definition, "Parallel"),
                    spec.steps
                        .iter()
                        .filter(|s| s.ty == StepType::Split)
                        .count()
                );
                prop_assert_eq!(
                    count(&c.definition, "Map"),
                    spec.steps
                        .iter()
                        .filter(|s| s.ty == StepType::Foreach)
                        .count()
                );
                for j in &c.job_definitions {
                    prop_assert!(naming::is_valid_batch_name(&j.name));
                }
                let keys: BTreeMap<_, _> = c
                    .task_descriptions
                    .iter()
                    .map(|t| (t.key.clone(), ()))
                    .collect();
                prop_assert!(keys.len() <= c.task_descriptions.len());
                let mut s = samples.borrow_mut();
                if s.len() < 24 {
                    let path = tmp.path().join(format!("case{}.json", s.len()));
                    std::fs::write(&path, c.definition_json()).unwrap();
                    s.push(path);
                }
                Ok(())
            },
        )
        .unwrap();
    let samples = samples.into_inner();
    assert!(!samples.is_empty());
    let refs: Vec<&std::path::Path> = samples.iter().map(PathBuf::as_path).collect();
    ferry_testkit::asl_validate(&refs).unwrap_or_else(|e| panic!("asl-validator: {e}"));
}
