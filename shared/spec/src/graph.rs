//! Graph derivation: the fields Metaflow's `metaflow/graph.py` (`FlowGraph._traverse_graph` and
//! `_postprocess`) computes for every step, derived here from a [`FlowSpec`] alone.
//!
//! Per step ([`Node`]): `in_funcs` (sorted), `split_parents` (the stack of open split/foreach
//! step names, outermost first; for a join it still includes the split it closes, so
//! `split_parents.last()` is the matching split), `matching_join` (on split and foreach steps)
//! and `is_inside_foreach`. The graph also has a `sorted` order: a topological order that walks
//! `next` depth-first, in `self.next(...)` order, and emits a step once all its parents are
//! emitted (for well-formed flows this is Metaflow's `sorted_nodes`).
//!
//! [`FlowGraph::new`] refuses malformed graphs (unknown `next` targets, cycles, unreachable
//! steps, unbalanced splits and joins...) with a [`GraphError`]; it never panics.
//! [`FlowGraph::check`] returns every structural error it can find at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{FlowSpec, Step, StepType};

/// The name Metaflow gives the first step.
pub const START: &str = "start";
/// The name Metaflow gives the last step.
pub const END: &str = "end";

/// A structural problem with a flow's graph. `Display` is the message a user sees: it names
/// the step and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Two steps share a name.
    #[error("Step *{step}* is defined more than once. Give every step a unique name.")]
    DuplicateStep { step: String },
    /// No step named `start`.
    #[error("The flow has no *start* step. Add a step named start: it is where every run begins.")]
    NoStart,
    /// No step named `end`.
    #[error("The flow has no *end* step. Add a step named end: every run must finish there.")]
    NoEnd,
    /// `next` names a step that does not exist.
    #[error(
        "Step *{step}* transitions to an unknown step *{target}*. Check the name in its self.next(...) call, or define step {target}."
    )]
    UnknownNext { step: String, target: String },
    /// `next` names the same step twice.
    #[error(
        "Step *{step}* lists step *{target}* more than once in self.next(...). Name each step once."
    )]
    DuplicateNext { step: String, target: String },
    /// The `end` step goes somewhere.
    #[error(
        "The *end* step transitions to {next:?}, but end must be the last step. Remove its self.next(...)."
    )]
    EndHasNext { next: Vec<String> },
    /// The `end` step has another type (e.g. takes `inputs`).
    #[error(
        "The *end* step is a {ty} step, but it must be a plain end step. If it takes inputs, add a separate join step before end."
    )]
    EndNotEnd { ty: String },
    /// The `start` step takes `inputs`.
    #[error(
        "The *start* step takes inputs (it is a join), but nothing runs before start. Remove the inputs argument from start."
    )]
    StartHasInputs,
    /// A step other than `start`/`end` is typed `start`/`end`.
    #[error(
        "Step *{step}* has type {ty}, but only the step named {ty} may have that type. Rename the step or change its type."
    )]
    MisplacedTerminal { step: String, ty: String },
    /// A non-end step has no `next`.
    #[error(
        "Step *{step}* has no transition to a next step. End it with self.next(self.<step>); only the end step has none."
    )]
    MissingNext { step: String },
    /// A linear step (or the start step) lists several `next` steps without being a split.
    #[error(
        "Step *{step}* is a {ty} step but transitions to {count} steps. A step that fans out must be a split (self.next(self.a, self.b))."
    )]
    TooManyNext {
        step: String,
        ty: String,
        count: usize,
    },
    /// A split with fewer than two branches.
    #[error(
        "Step *{step}* is a split with only one branch. A split needs at least two: self.next(self.a, self.b); otherwise make it a linear step."
    )]
    SplitTooNarrow { step: String },
    /// A foreach with not exactly one `next` or without its artifact.
    #[error(
        "Step *{step}* is a foreach but {problem}. Write self.next(self.<body>, foreach=\"<artifact>\") with exactly one body step."
    )]
    BadForeach { step: String, problem: String },
    /// A step takes `inputs` and also fans out.
    #[error(
        "Step *{step}* is both a join step (it takes inputs) and a split step (it fans out). Add a new step so that the join and the split are separate steps."
    )]
    JoinAndSplit { step: String },
    /// A conditional `self.next({...}, condition=...)`.
    #[error(
        "Step *{step}* is a switch (a conditional self.next({{...}}, condition=...)). Ferry cannot deploy switch steps to Step Functions yet; branch with a split and decide inside the branches instead."
    )]
    Switch { step: String },
    /// A cycle through `next`.
    #[error(
        "The flow has a cycle: {}. Flows must be acyclic: remove one of these transitions.",
        cycle_text(steps)
    )]
    Cycle { steps: Vec<String> },
    /// A step that no path from `start` reaches.
    #[error(
        "Step *{step}* can never run: no path from start leads to it. Call self.next(self.{step}) from another step, or delete it."
    )]
    Unreachable { step: String },
    /// A step with several parents that does not take `inputs`.
    #[error(
        "Step *{step}* has {count} incoming steps ({parents}) but does not take inputs. Make it a join step: def {step}(self, inputs)."
    )]
    NotAJoin {
        step: String,
        count: usize,
        parents: String,
    },
    /// A join that closes no split.
    #[error(
        "Step *{step}* is a join step (it takes inputs) but no split or foreach is open before it. Remove its inputs argument, or add a matching split."
    )]
    JoinWithoutSplit { step: String },
    /// A join whose parents sit in different splits.
    #[error(
        "Step *{step}* joins steps from unrelated splits: {detail}. Every split and every foreach needs its own join; close the inner one first."
    )]
    UnrelatedJoin { step: String, detail: String },
    /// A join that does not receive every branch of the split it closes.
    #[error(
        "Step *{step}* joins split *{split}* but receives only branch(es) {got:?} of {expected:?}. Every branch of a split must lead to the same join."
    )]
    JoinMissesBranches {
        step: String,
        split: String,
        expected: Vec<String>,
        got: Vec<String>,
    },
    /// Two joins close the same split.
    #[error(
        "Split *{split}* is closed by two joins, *{first}* and *{second}*. All branches of a split must meet in one join step."
    )]
    SplitJoinedTwice {
        split: String,
        first: String,
        second: String,
    },
    /// A split or foreach left open when the flow ends.
    #[error(
        "Split *{split}* is never joined: step *{step}* is reached while it is still open. Add a join step (def join(self, inputs)) that all its branches lead to, before {step}."
    )]
    SplitNeverJoined { split: String, step: String },
    /// A split or foreach with a branch that goes straight to a join.
    #[error(
        "Step *{split}* fans out directly into the join *{join}*, leaving a branch with no step. Add at least one step between the split and the join."
    )]
    EmptyBranch { split: String, join: String },
}

fn cycle_text(steps: &[String]) -> String {
    let mut s = steps.join(" -> ");
    if let Some(first) = steps.first() {
        s.push_str(" -> ");
        s.push_str(first);
    }
    s
}

fn type_name(ty: StepType) -> &'static str {
    match ty {
        StepType::Start => "start",
        StepType::Linear => "linear",
        StepType::Split => "split",
        StepType::Foreach => "foreach",
        StepType::Join => "join",
        StepType::End => "end",
        StepType::Switch => "switch",
    }
}

/// One step with its graph-derived fields (Metaflow's `DAGNode`).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The step as the spec gives it (name, type, `next` = Metaflow's `out_funcs`, decorators).
    pub step: Step,
    /// Steps that transition here, sorted by name.
    pub in_funcs: Vec<String>,
    /// Open split/foreach steps around this step, outermost first. For a join: includes the
    /// split it closes (last).
    pub split_parents: Vec<String>,
    /// For split and foreach steps: the join that closes them.
    pub matching_join: Option<String>,
    /// True when a foreach in `split_parents` is still open at this step (not closed by it).
    pub is_inside_foreach: bool,
}

impl Node {
    /// The step name.
    pub fn name(&self) -> &str {
        &self.step.name
    }
    /// The step type.
    pub fn ty(&self) -> StepType {
        self.step.ty
    }
    /// Out-functions, in `self.next(...)` order.
    pub fn next(&self) -> &[String] {
        &self.step.next
    }
    /// True for split and foreach steps (the ones with a `matching_join`).
    pub fn is_fan_out(&self) -> bool {
        matches!(self.step.ty, StepType::Split | StepType::Foreach)
    }
}

/// A validated flow graph with Metaflow's derived fields. Built by [`FlowGraph::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct FlowGraph {
    /// Nodes in the spec's step order.
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    /// Indices into `nodes`, topological (see the module docs).
    sorted: Vec<usize>,
    start: usize,
    end: usize,
}

impl FlowGraph {
    /// Derive the graph of `spec`; the first structural error if it is malformed.
    pub fn new(spec: &FlowSpec) -> Result<FlowGraph, GraphError> {
        Self::check(spec).map_err(|mut errors| errors.swap_remove(0))
    }

    /// Derive the graph of `spec`, or every structural error found (never empty). Errors of
    /// later phases (split/join balance) are only looked for when earlier ones (names,
    /// transitions, cycles, reachability) pass.
    pub fn check(spec: &FlowSpec) -> Result<FlowGraph, Vec<GraphError>> {
        Builder::new(spec).build()
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// The `start` node.
    pub fn start(&self) -> &Node {
        &self.nodes[self.start]
    }

    /// The `end` node.
    pub fn end(&self) -> &Node {
        &self.nodes[self.end]
    }

    /// Every node, in the spec's step order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter()
    }

    /// Every node in topological (Metaflow `sorted_nodes`) order, `start` first, `end` last.
    pub fn sorted(&self) -> impl Iterator<Item = &Node> {
        self.sorted.iter().map(|&i| &self.nodes[i])
    }

    /// Step names in [`FlowGraph::sorted`] order.
    pub fn sorted_names(&self) -> Vec<&str> {
        self.sorted().map(Node::name).collect()
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a graph has at least `start` and `end`.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn is_type(&self, name: &str, ty: StepType) -> bool {
        self.node(name).is_some_and(|n| n.ty() == ty)
    }

    /// The foreach steps still open at `step` (not closed by it), outermost first. Empty for
    /// unknown steps and steps outside any foreach.
    pub fn enclosing_foreaches(&self, step: &str) -> Vec<&str> {
        let Some(node) = self.node(step) else {
            return Vec::new();
        };
        let closes = self.parent_of_join(step).map(Node::name);
        node.split_parents
            .iter()
            .map(String::as_str)
            .filter(|p| self.is_type(p, StepType::Foreach) && Some(*p) != closes)
            .collect()
    }

    /// The innermost foreach still open at `step`.
    pub fn innermost_foreach(&self, step: &str) -> Option<&str> {
        self.enclosing_foreaches(step).last().copied()
    }

    /// For a join: the split or foreach step it closes (`split_parents.last()`).
    pub fn parent_of_join(&self, join: &str) -> Option<&Node> {
        let node = self.node(join)?;
        if node.ty() != StepType::Join {
            return None;
        }
        self.node(node.split_parents.last()?)
    }

    /// True for a join that closes a foreach (its input paths come from the fan-out record).
    pub fn is_foreach_join(&self, step: &str) -> bool {
        self.parent_of_join(step)
            .is_some_and(|p| p.ty() == StepType::Foreach)
    }

    /// True for a join that closes a static split (its inputs are the Parallel's branches).
    pub fn is_static_join(&self, step: &str) -> bool {
        self.parent_of_join(step)
            .is_some_and(|p| p.ty() == StepType::Split)
    }

    /// True for the last step of a foreach body: inside a foreach, and one of its `next` is
    /// that foreach's join. It records its task id for the join.
    pub fn is_foreach_body_tail(&self, step: &str) -> bool {
        self.foreach_of_body_tail(step).is_some()
    }

    /// For a foreach body tail: the foreach whose join follows it.
    pub fn foreach_of_body_tail(&self, step: &str) -> Option<&Node> {
        let node = self.node(step)?;
        if !node.is_inside_foreach {
            return None;
        }
        node.next().iter().find_map(|n| {
            self.parent_of_join(n)
                .filter(|p| p.ty() == StepType::Foreach)
        })
    }

    /// For the first step of a foreach body (the one child of a foreach step): that foreach.
    pub fn foreach_of_child(&self, step: &str) -> Option<&Node> {
        let node = self.node(step)?;
        match node.in_funcs.as_slice() {
            [parent] => self.node(parent).filter(|p| p.ty() == StepType::Foreach),
            _ => None,
        }
    }
}

struct Builder<'a> {
    spec: &'a FlowSpec,
    /// name -> first index in spec.steps
    index: HashMap<&'a str, usize>,
    errors: Vec<GraphError>,
}

impl<'a> Builder<'a> {
    fn new(spec: &'a FlowSpec) -> Self {
        Builder {
            spec,
            index: HashMap::new(),
            errors: Vec::new(),
        }
    }

    fn step(&self, i: usize) -> &'a Step {
        &self.spec.steps[i]
    }

    /// Targets of step `i` that exist, in `next` order, without duplicates.
    fn children(&self, i: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for t in &self.step(i).next {
            if let Some(&j) = self.index.get(t.as_str())
                && !out.contains(&j)
            {
                out.push(j);
            }
        }
        out
    }

    fn build(mut self) -> Result<FlowGraph, Vec<GraphError>> {
        let steps = &self.spec.steps;
        // Phase 1: names, transitions, per-step shape.
        let mut live: Vec<usize> = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            if self.index.contains_key(s.name.as_str()) {
                self.errors.push(GraphError::DuplicateStep {
                    step: s.name.clone(),
                });
            } else {
                self.index.insert(s.name.as_str(), i);
                live.push(i);
            }
        }
        let start = self.index.get(START).copied();
        let end = self.index.get(END).copied();
        if start.is_none() {
            self.errors.push(GraphError::NoStart);
        }
        if end.is_none() {
            self.errors.push(GraphError::NoEnd);
        }
        for &i in &live {
            self.check_shape(i);
        }
        let (Some(start), Some(end)) = (start, end) else {
            return Err(self.errors);
        };

        // Phase 2: cycles and reachability (over the known targets).
        self.find_cycles(&live, start);
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let order = self.topological(start);
        let reached: BTreeSet<usize> = order.iter().copied().collect();
        for &i in &live {
            if !reached.contains(&i) {
                self.errors.push(GraphError::Unreachable {
                    step: self.step(i).name.clone(),
                });
            }
        }
        if !self.errors.is_empty() {
            return Err(self.errors);
        }

        // Phase 3: split parents, matching joins, balance.
        let nodes = self.derive(&order, end);
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let index = self
            .index
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect();
        Ok(FlowGraph {
            nodes,
            index,
            sorted: order,
            start,
            end,
        })
    }

    fn check_shape(&mut self, i: usize) {
        let s = self.step(i);
        let name = s.name.clone();
        let mut seen = BTreeSet::new();
        for t in &s.next {
            if !self.index.contains_key(t.as_str()) {
                self.errors.push(GraphError::UnknownNext {
                    step: name.clone(),
                    target: t.clone(),
                });
            } else if !seen.insert(t.as_str()) {
                self.errors.push(GraphError::DuplicateNext {
                    step: name.clone(),
                    target: t.clone(),
                });
            }
        }
        let n = s.next.len();
        if name == END {
            if s.ty != StepType::End {
                self.errors.push(GraphError::EndNotEnd {
                    ty: type_name(s.ty).to_string(),
                });
            }
            if n > 0 {
                self.errors.push(GraphError::EndHasNext {
                    next: s.next.clone(),
                });
            }
            return;
        }
        if name == START && s.ty == StepType::Join {
            self.errors.push(GraphError::StartHasInputs);
        }
        let misplaced = match s.ty {
            StepType::End => true,
            StepType::Start => name != START,
            _ => false,
        };
        if misplaced {
            self.errors.push(GraphError::MisplacedTerminal {
                step: name,
                ty: type_name(s.ty).to_string(),
            });
            return;
        }
        match s.ty {
            StepType::Switch => self.errors.push(GraphError::Switch { step: name }),
            _ if n == 0 => self.errors.push(GraphError::MissingNext { step: name }),
            StepType::Join if n > 1 || s.foreach.is_some() => {
                self.errors.push(GraphError::JoinAndSplit { step: name })
            }
            StepType::Start | StepType::Linear | StepType::Join if n > 1 => {
                self.errors.push(GraphError::TooManyNext {
                    step: name,
                    ty: type_name(s.ty).to_string(),
                    count: n,
                })
            }
            StepType::Split if n < 2 => self.errors.push(GraphError::SplitTooNarrow { step: name }),
            StepType::Foreach if n != 1 => self.errors.push(GraphError::BadForeach {
                step: name,
                problem: format!("it transitions to {n} steps"),
            }),
            // A `@parallel` fan-out (num_parallel) has no artifact; validation rejects it.
            StepType::Foreach
                if s.num_parallel.is_none() && s.foreach.as_deref().is_none_or(str::is_empty) =>
            {
                self.errors.push(GraphError::BadForeach {
                    step: name,
                    problem: "it names no artifact to iterate over".to_string(),
                })
            }
            _ => {}
        }
    }

    /// Report one cycle per back edge found by a depth-first walk (start first, then every
    /// other step in spec order, so cycles among unreachable steps are found too).
    fn find_cycles(&mut self, live: &[usize], start: usize) {
        #[derive(Clone, Copy, PartialEq)]
        enum Color {
            White,
            Grey,
            Black,
        }
        let mut color = vec![Color::White; self.spec.steps.len()];
        let roots = std::iter::once(start).chain(live.iter().copied().filter(|&i| i != start));
        let mut cycles: Vec<Vec<String>> = Vec::new();
        for root in roots.collect::<Vec<_>>() {
            if color[root] != Color::White {
                continue;
            }
            // Explicit stack of (node, its children, next child position).
            let mut stack: Vec<(usize, Vec<usize>, usize)> = vec![(root, self.children(root), 0)];
            color[root] = Color::Grey;
            while let Some(top) = stack.last_mut() {
                if top.2 < top.1.len() {
                    let child = top.1[top.2];
                    top.2 += 1;
                    match color[child] {
                        Color::White => {
                            color[child] = Color::Grey;
                            let kids = self.children(child);
                            stack.push((child, kids, 0));
                        }
                        Color::Grey => {
                            let from = stack.iter().position(|f| f.0 == child).unwrap_or(0);
                            cycles.push(
                                stack[from..]
                                    .iter()
                                    .map(|f| self.step(f.0).name.clone())
                                    .collect(),
                            );
                        }
                        Color::Black => {}
                    }
                } else {
                    color[top.0] = Color::Black;
                    stack.pop();
                }
            }
        }
        self.errors
            .extend(cycles.into_iter().map(|steps| GraphError::Cycle { steps }));
    }

    /// Steps reachable from `start` in topological order: a depth-first walk in `next` order
    /// that enters a step once all its (reachable) parents have been entered. Assumes no cycle.
    fn topological(&self, start: usize) -> Vec<usize> {
        let n = self.spec.steps.len();
        // Reachability first, to count only reachable parents.
        let mut reach = vec![false; n];
        let mut todo = vec![start];
        reach[start] = true;
        while let Some(i) = todo.pop() {
            for c in self.children(i) {
                if !reach[c] {
                    reach[c] = true;
                    todo.push(c);
                }
            }
        }
        let mut waiting = vec![0usize; n];
        for i in (0..n).filter(|&i| reach[i]) {
            for c in self.children(i) {
                waiting[c] += 1;
            }
        }
        let mut order = Vec::new();
        let mut stack: Vec<(usize, Vec<usize>, usize)> = vec![(start, self.children(start), 0)];
        order.push(start);
        while let Some(top) = stack.last_mut() {
            if top.2 < top.1.len() {
                let child = top.1[top.2];
                top.2 += 1;
                waiting[child] = waiting[child].saturating_sub(1);
                if waiting[child] == 0 {
                    order.push(child);
                    let kids = self.children(child);
                    stack.push((child, kids, 0));
                }
            } else {
                stack.pop();
            }
        }
        order
    }

    /// Compute in_funcs, split_parents, matching_join, is_inside_foreach over a topological
    /// order of an acyclic, fully reachable graph; record balance errors.
    fn derive(&mut self, order: &[usize], end: usize) -> Vec<Node> {
        let steps = &self.spec.steps;
        let n = steps.len();
        let mut in_funcs: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n];
        for &i in order {
            for c in self.children(i) {
                in_funcs[c].insert(steps[i].name.clone());
            }
        }
        // What each step sees coming in: (split stack, branch stack), per parent.
        let mut parents_of: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &i in order {
            for c in self.children(i) {
                parents_of[c].push(i);
            }
        }
        let mut split_parents: Vec<Vec<String>> = vec![Vec::new(); n];
        let mut branches: Vec<Vec<String>> = vec![Vec::new(); n];
        let mut matching_join: Vec<Option<String>> = vec![None; n];
        let outgoing = |i: usize, child: &str, sp: &[Vec<String>], br: &[Vec<String>]| {
            let s = &steps[i];
            match s.ty {
                StepType::Split | StepType::Foreach => {
                    let mut stack = sp[i].clone();
                    stack.push(s.name.clone());
                    let mut b = br[i].clone();
                    b.push(child.to_string());
                    (stack, b)
                }
                StepType::Join => {
                    let mut stack = sp[i].clone();
                    stack.pop();
                    (stack, br[i].clone())
                }
                _ => (sp[i].clone(), br[i].clone()),
            }
        };
        for &i in order {
            let name = steps[i].name.clone();
            let parents = &parents_of[i];
            if parents.is_empty() {
                continue; // start
            }
            let incoming: Vec<(usize, Vec<String>, Vec<String>)> = parents
                .iter()
                .map(|&p| {
                    let (s, b) = outgoing(p, &name, &split_parents, &branches);
                    (p, s, b)
                })
                .collect();
            let is_join = steps[i].ty == StepType::Join;
            if !is_join && incoming.len() > 1 {
                let mut names: Vec<&str> =
                    parents.iter().map(|&p| steps[p].name.as_str()).collect();
                names.sort_unstable();
                self.errors.push(GraphError::NotAJoin {
                    step: name.clone(),
                    count: names.len(),
                    parents: names.join(", "),
                });
            }
            let (_, stack, first_branches) = &incoming[0];
            if let Some((p, other, _)) = incoming.iter().find(|(_, s, _)| s != stack) {
                let detail = format!(
                    "{} is {} but {} is {}",
                    steps[incoming[0].0].name,
                    self.describe(stack),
                    steps[*p].name,
                    self.describe(other)
                );
                self.errors.push(GraphError::UnrelatedJoin {
                    step: name.clone(),
                    detail,
                });
                continue;
            }
            split_parents[i] = stack.clone();
            branches[i] = first_branches.clone();
            if is_join {
                let Some(split) = stack.last() else {
                    self.errors
                        .push(GraphError::JoinWithoutSplit { step: name.clone() });
                    continue;
                };
                let Some(&si) = self.index.get(split.as_str()) else {
                    continue;
                };
                if parents.contains(&si) {
                    self.errors.push(GraphError::EmptyBranch {
                        split: split.clone(),
                        join: name.clone(),
                    });
                }
                match &matching_join[si] {
                    Some(first) if *first != name => {
                        self.errors.push(GraphError::SplitJoinedTwice {
                            split: split.clone(),
                            first: first.clone(),
                            second: name.clone(),
                        });
                    }
                    _ => matching_join[si] = Some(name.clone()),
                }
                let got: BTreeSet<&str> = incoming
                    .iter()
                    .filter_map(|(_, _, b)| b.last().map(String::as_str))
                    .collect();
                let expected: BTreeSet<&str> = steps[si].next.iter().map(String::as_str).collect();
                if got != expected && !parents.contains(&si) {
                    self.errors.push(GraphError::JoinMissesBranches {
                        step: name.clone(),
                        split: split.clone(),
                        expected: steps[si].next.clone(),
                        got: got.into_iter().map(str::to_string).collect(),
                    });
                }
                branches[i].pop();
            } else if i == end
                && let Some(open) = stack.last()
            {
                self.errors.push(GraphError::SplitNeverJoined {
                    split: open.clone(),
                    step: name.clone(),
                });
            }
        }
        // A fan-out whose branches never meet (e.g. each ends separately) and was not
        // reported at `end` already.
        if self.errors.is_empty() {
            for &i in order {
                if matches!(steps[i].ty, StepType::Split | StepType::Foreach)
                    && matching_join[i].is_none()
                {
                    self.errors.push(GraphError::SplitNeverJoined {
                        split: steps[i].name.clone(),
                        step: steps[end].name.clone(),
                    });
                }
            }
        }
        let foreach_join: BTreeMap<usize, Option<String>> = (0..n)
            .filter(|&i| steps[i].ty == StepType::Foreach)
            .map(|i| (i, matching_join[i].clone()))
            .collect();
        (0..n)
            .map(|i| {
                let is_inside_foreach = split_parents[i].iter().any(|p| {
                    self.index.get(p.as_str()).is_some_and(|pi| {
                        foreach_join
                            .get(pi)
                            .is_some_and(|j| j.as_deref() != Some(steps[i].name.as_str()))
                    })
                });
                Node {
                    step: steps[i].clone(),
                    in_funcs: in_funcs[i].iter().cloned().collect(),
                    split_parents: split_parents[i].clone(),
                    matching_join: matching_join[i].clone(),
                    is_inside_foreach,
                }
            })
            .collect()
    }

    fn describe(&self, stack: &[String]) -> String {
        match stack.last() {
            None => "outside any split".to_string(),
            Some(s) => {
                let kind = self
                    .index
                    .get(s.as_str())
                    .map(|&i| type_name(self.step(i).ty))
                    .unwrap_or("split");
                format!("inside {kind} {s}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FlowDecorators, SPEC_VERSION, StepDecorators};

    fn step(name: &str, ty: StepType, next: &[&str]) -> Step {
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

    fn flow(steps: Vec<Step>) -> FlowSpec {
        FlowSpec {
            spec_version: SPEC_VERSION,
            flow: "TestFlow".to_string(),
            file: "test.py".to_string(),
            metaflow_version: None,
            parameters: vec![],
            decorators: FlowDecorators::default(),
            steps,
        }
    }

    /// The contract's GraphFlow (§8.3) with the values verified against metaflow's FlowGraph.
    #[test]
    fn graph_flow_matches_metaflow() {
        use StepType::*;
        let spec = flow(vec![
            step("start", Split, &["a", "b"]),
            step("a", Linear, &["join"]),
            step("b", Linear, &["join"]),
            step("join", Join, &["mid"]),
            step("mid", Foreach, &["body"]),
            step("body", Linear, &["join_fe"]),
            step("join_fe", Join, &["end"]),
            step("end", End, &[]),
        ]);
        let g = FlowGraph::new(&spec).unwrap();
        assert_eq!(
            g.sorted_names(),
            ["start", "a", "b", "join", "mid", "body", "join_fe", "end"]
        );
        let n = |s: &str| g.node(s).unwrap();
        assert!(n("start").in_funcs.is_empty());
        assert_eq!(n("start").matching_join.as_deref(), Some("join"));
        assert_eq!(n("a").split_parents, ["start"]);
        assert_eq!(n("b").split_parents, ["start"]);
        assert_eq!(n("join").in_funcs, ["a", "b"]);
        assert_eq!(n("join").split_parents, ["start"]);
        assert!(n("mid").split_parents.is_empty());
        assert_eq!(n("mid").matching_join.as_deref(), Some("join_fe"));
        assert_eq!(n("body").split_parents, ["mid"]);
        assert!(n("body").is_inside_foreach);
        assert_eq!(n("join_fe").split_parents, ["mid"]);
        assert!(!n("join_fe").is_inside_foreach);
        assert!(!n("join").is_inside_foreach);
        assert!(g.is_static_join("join"));
        assert!(g.is_foreach_join("join_fe"));
        assert!(g.is_foreach_body_tail("body"));
        assert!(!g.is_foreach_body_tail("b"));
        assert_eq!(g.foreach_of_child("body").map(Node::name), Some("mid"));
        assert_eq!(g.enclosing_foreaches("body"), ["mid"]);
        assert!(g.enclosing_foreaches("join_fe").is_empty());
        assert_eq!(g.parent_of_join("join_fe").map(Node::name), Some("mid"));
    }

    #[test]
    fn nested_foreach_and_split_inside_foreach() {
        use StepType::*;
        let spec = flow(vec![
            step("start", Foreach, &["outer"]),
            step("outer", Foreach, &["inner"]),
            step("inner", Split, &["x", "y"]),
            step("x", Linear, &["join_xy"]),
            step("y", Linear, &["join_xy"]),
            step("join_xy", Join, &["join_inner"]),
            step("join_inner", Join, &["join_outer"]),
            step("join_outer", Join, &["end"]),
            step("end", End, &[]),
        ]);
        let g = FlowGraph::new(&spec).unwrap();
        let n = |s: &str| g.node(s).unwrap();
        assert_eq!(n("x").split_parents, ["start", "outer", "inner"]);
        assert_eq!(n("join_xy").split_parents, ["start", "outer", "inner"]);
        assert_eq!(n("join_inner").split_parents, ["start", "outer"]);
        assert_eq!(n("join_outer").split_parents, ["start"]);
        assert!(n("join_inner").is_inside_foreach);
        assert!(!n("join_outer").is_inside_foreach);
        assert_eq!(g.enclosing_foreaches("x"), ["start", "outer"]);
        assert_eq!(g.enclosing_foreaches("join_inner"), ["start"]);
        assert!(g.is_foreach_body_tail("join_xy"));
        assert_eq!(
            g.foreach_of_body_tail("join_xy").map(Node::name),
            Some("outer")
        );
        assert_eq!(
            g.foreach_of_body_tail("join_inner").map(Node::name),
            Some("start")
        );
        assert!(g.is_static_join("join_xy"));
        assert_eq!(g.innermost_foreach("y"), Some("outer"));
        assert_eq!(g.sorted_names().first(), Some(&"start"));
        assert_eq!(g.sorted_names().last(), Some(&"end"));
    }

    #[test]
    fn malformed_graphs_are_errors_not_panics() {
        use StepType::*;
        let cases: Vec<(Vec<Step>, GraphError)> = vec![
            (
                vec![step("start", Linear, &["nope"]), step("end", End, &[])],
                GraphError::UnknownNext {
                    step: "start".into(),
                    target: "nope".into(),
                },
            ),
            (
                vec![
                    step("start", Linear, &["a"]),
                    step("a", Linear, &["b"]),
                    step("b", Linear, &["a"]),
                    step("end", End, &[]),
                ],
                GraphError::Cycle {
                    steps: vec!["a".into(), "b".into()],
                },
            ),
            (vec![step("end", End, &[])], GraphError::NoStart),
            (
                vec![
                    step("start", Split, &["a", "b"]),
                    step("a", Linear, &["end"]),
                    step("b", Linear, &["end"]),
                    step("end", End, &[]),
                ],
                GraphError::NotAJoin {
                    step: "end".into(),
                    count: 2,
                    parents: "a, b".into(),
                },
            ),
        ];
        for (steps, want) in cases {
            assert_eq!(FlowGraph::new(&flow(steps)).unwrap_err(), want);
        }
    }
}
