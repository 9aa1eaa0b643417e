//! Graph derivation and validation never panic, whatever the spec: random step names, types,
//! transitions (unknown targets, cycles, self-loops, duplicates) and decorators.

use ferry_spec::graph::FlowGraph;
use ferry_spec::model::{
    FlowDecorators, FlowSpec, SPEC_VERSION, Step, StepDecorators, StepType, Timeout,
};
use ferry_spec::validate::validate;
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "start", "end", "a", "b", "c", "join", "j2", "Bad Name", "", "input",
];
const TYPES: &[StepType] = &[
    StepType::Start,
    StepType::Linear,
    StepType::Split,
    StepType::Foreach,
    StepType::Join,
    StepType::End,
    StepType::Switch,
];

fn arb_step() -> impl Strategy<Value = Step> {
    (
        0..NAMES.len(),
        0..TYPES.len(),
        prop::collection::vec(0..NAMES.len() + 1, 0..4),
        any::<bool>(),
        prop::option::of(0u64..200),
    )
        .prop_map(|(name, ty, next, foreach, timeout)| Step {
            name: NAMES[name].to_string(),
            ty: TYPES[ty],
            next: next
                .into_iter()
                .map(|i| NAMES.get(i).copied().unwrap_or("ghost").to_string())
                .collect(),
            foreach: foreach.then(|| "items".to_string()),
            num_parallel: None,
            decorators: StepDecorators {
                timeout: timeout.map(|seconds| Timeout { seconds }),
                ..StepDecorators::default()
            },
            command: None,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn no_spec_makes_graph_or_validation_panic(steps in prop::collection::vec(arb_step(), 0..9)) {
        let spec = FlowSpec {
            spec_version: SPEC_VERSION,
            flow: "FuzzFlow".into(),
            file: "fuzz.py".into(),
            metaflow_version: None,
            parameters: vec![],
            decorators: FlowDecorators::default(),
            steps,
        };
        let graph = FlowGraph::check(&spec);
        let validated = validate(&spec);
        // Both agree on whether the graph is sound, and a sound graph is fully derived.
        if let Ok(g) = &graph {
            prop_assert_eq!(g.sorted_names().len(), spec.steps.len());
            prop_assert_eq!(g.sorted_names()[0], "start");
            for node in g.nodes() {
                let _ = (g.enclosing_foreaches(node.name()), g.is_foreach_body_tail(node.name()), g.parent_of_join(node.name()));
            }
        } else {
            prop_assert!(validated.is_err());
        }
        if let Err(errors) = &validated {
            prop_assert!(!errors.errors().is_empty());
            let _ = errors.to_string();
        }
    }
}
