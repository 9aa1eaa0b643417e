//! The run page's graph: the deployed spec's steps laid out in layers (a step's layer is the
//! longest path to it from `start`, so joins sit below every branch they close), left to right
//! in the order a depth-first walk along `next` meets them. The page draws it as SVG.

use std::collections::{HashMap, HashSet, VecDeque};

use ferry_spec::{FlowGraph, FlowSpec, StepType};
use serde::Serialize;

/// One step of the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DagNode {
    /// Step name.
    pub name: String,
    /// `start`, `linear`, `split`, `foreach`, `join`, `end`, or `unknown` (a step the run has
    /// but the deployed spec lacks).
    #[serde(rename = "type")]
    pub ty: &'static str,
    /// For a foreach step: the artifact it iterates over.
    pub foreach: Option<String>,
    /// Whether the step runs once per foreach item (inside a foreach).
    pub inside_foreach: bool,
    /// Row, from 0 (`start`).
    pub layer: usize,
    /// Position in its row, from 0.
    pub col: usize,
    /// How many steps its row has.
    pub cols: usize,
}

/// The graph: steps and `next` edges `[from, to]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Dag {
    /// Steps.
    pub nodes: Vec<DagNode>,
    /// Edges, `[from, to]`.
    pub edges: Vec<[String; 2]>,
}

fn type_name(t: StepType) -> &'static str {
    match t {
        StepType::Start => "start",
        StepType::Linear => "linear",
        StepType::Split => "split",
        StepType::Foreach => "foreach",
        StepType::Join => "join",
        StepType::End => "end",
        StepType::Switch => "switch",
    }
}

impl Dag {
    /// The graph of a spec, plus `extra` steps (a run's steps the spec lacks, from an earlier
    /// version of the deployment) in a last row.
    pub fn of_spec(spec: &FlowSpec, extra: &[String]) -> Dag {
        let names: Vec<&str> = spec.steps.iter().map(|s| s.name.as_str()).collect();
        let known: HashSet<&str> = names.iter().copied().collect();
        let next: HashMap<&str, Vec<&str>> = spec
            .steps
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.next
                        .iter()
                        .map(String::as_str)
                        .filter(|n| known.contains(n))
                        .collect(),
                )
            })
            .collect();
        let start = names.first().copied().unwrap_or("start");
        // Longest path from start, in topological order (Kahn); steps left over (a cycle the
        // validation would refuse) keep layer 0.
        let mut indegree: HashMap<&str, usize> = names.iter().map(|n| (*n, 0)).collect();
        for targets in next.values() {
            for t in targets {
                *indegree.entry(t).or_default() += 1;
            }
        }
        let mut layer: HashMap<&str, usize> = names.iter().map(|n| (*n, 0)).collect();
        let mut queue: VecDeque<&str> =
            names.iter().copied().filter(|n| indegree[n] == 0).collect();
        while let Some(n) = queue.pop_front() {
            for t in &next[n] {
                let l = layer[n] + 1;
                if layer[t] < l {
                    layer.insert(t, l);
                }
                let d = indegree.get_mut(t).expect("every target is a step");
                *d -= 1;
                if *d == 0 {
                    queue.push_back(t);
                }
            }
        }
        // Left-to-right order: first meeting in a depth-first walk from start.
        let mut order: HashMap<&str, usize> = HashMap::new();
        let mut stack = vec![start];
        while let Some(n) = stack.pop() {
            if order.contains_key(n) {
                continue;
            }
            order.insert(n, order.len());
            for t in next.get(n).into_iter().flatten().rev() {
                stack.push(t);
            }
        }
        let graph = FlowGraph::new(spec).ok();
        let mut nodes: Vec<DagNode> = spec
            .steps
            .iter()
            .map(|s| DagNode {
                name: s.name.clone(),
                ty: type_name(s.ty),
                foreach: s.foreach.clone(),
                inside_foreach: graph
                    .as_ref()
                    .and_then(|g| g.node(&s.name))
                    .is_some_and(|n| n.is_inside_foreach),
                layer: layer[s.name.as_str()],
                col: 0,
                cols: 0,
            })
            .collect();
        let last = nodes.iter().map(|n| n.layer + 1).max().unwrap_or(0);
        for (i, name) in extra.iter().enumerate() {
            if !known.contains(name.as_str()) {
                nodes.push(DagNode {
                    name: name.clone(),
                    ty: "unknown",
                    foreach: None,
                    inside_foreach: false,
                    layer: last + i,
                    col: 0,
                    cols: 0,
                });
            }
        }
        let rank = |n: &DagNode| order.get(n.name.as_str()).copied().unwrap_or(usize::MAX);
        nodes.sort_by_key(|n| (n.layer, rank(n)));
        place(&mut nodes);
        let edges = spec
            .steps
            .iter()
            .flat_map(|s| {
                next[s.name.as_str()]
                    .iter()
                    .map(|t| [s.name.clone(), (*t).to_string()])
            })
            .collect();
        Dag { nodes, edges }
    }

    /// A graph without a spec (a run no deployment record describes): its steps in one
    /// column, in the order given, without edges.
    pub fn of_steps(steps: &[String]) -> Dag {
        let mut nodes: Vec<DagNode> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| DagNode {
                name: s.clone(),
                ty: match s.as_str() {
                    "start" => "start",
                    "end" => "end",
                    _ => "unknown",
                },
                foreach: None,
                inside_foreach: false,
                layer: i,
                col: 0,
                cols: 0,
            })
            .collect();
        place(&mut nodes);
        Dag {
            nodes,
            edges: Vec::new(),
        }
    }

    /// The steps right after `step`.
    pub fn successors<'a>(&'a self, step: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.edges
            .iter()
            .filter(move |[from, _]| from == step)
            .map(|[_, to]| to.as_str())
    }
}

/// Number the nodes of each layer (they are sorted by layer, then left to right).
fn place(nodes: &mut [DagNode]) {
    let mut counts: HashMap<usize, usize> = HashMap::new();
    for n in nodes.iter_mut() {
        let c = counts.entry(n.layer).or_default();
        n.col = *c;
        *c += 1;
    }
    for n in nodes.iter_mut() {
        n.cols = counts[&n.layer];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> FlowSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn joins_sit_below_every_branch_and_branches_keep_their_order() {
        let s = spec(serde_json::json!({
            "spec_version": 1, "flow": "F", "file": "f.py",
            "steps": [
                {"name": "start", "type": "split", "next": ["a", "b"]},
                {"name": "a", "type": "linear", "next": ["a2"]},
                {"name": "a2", "type": "linear", "next": ["join"]},
                {"name": "b", "type": "foreach", "foreach": "items", "next": ["body"]},
                {"name": "body", "type": "linear", "next": ["inner_join"]},
                {"name": "inner_join", "type": "join", "next": ["join"]},
                {"name": "join", "type": "join", "next": ["end"]},
                {"name": "end", "type": "end"}
            ]
        }));
        let d = Dag::of_spec(&s, &["old_step".to_string()]);
        let at = |n: &str| {
            let x = d.nodes.iter().find(|x| x.name == n).unwrap();
            (x.layer, x.col, x.cols)
        };
        assert_eq!(at("start"), (0, 0, 1));
        assert_eq!(at("a"), (1, 0, 2));
        assert_eq!(at("b"), (1, 1, 2));
        assert_eq!(at("join"), (4, 0, 1), "below the longest branch");
        assert_eq!(at("end"), (5, 0, 1));
        assert_eq!(at("old_step"), (6, 0, 1));
        let body = d.nodes.iter().find(|x| x.name == "body").unwrap();
        assert!(body.inside_foreach);
        assert_eq!(
            d.nodes
                .iter()
                .find(|x| x.name == "b")
                .unwrap()
                .foreach
                .as_deref(),
            Some("items")
        );
        assert_eq!(d.edges.len(), 8);
        assert_eq!(d.successors("start").collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn without_a_spec_steps_stack_up() {
        let d = Dag::of_steps(&["start".into(), "x".into(), "end".into()]);
        assert_eq!(
            d.nodes.iter().map(|n| (n.layer, n.ty)).collect::<Vec<_>>(),
            [(0, "start"), (1, "unknown"), (2, "end")]
        );
        assert!(d.edges.is_empty());
    }
}
