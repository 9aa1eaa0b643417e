//! One simulated execution of a state machine definition: a discrete-event run over the
//! states Ferry emits, drawing on the account's token buckets in time order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use ferry_spec::array_job::array_chunks;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use crate::bucket::Bucket;
use crate::figures::{AwsFigures, Latency};
use crate::{CHUNKS_ITEMS_PATH, ModelError};

/// What one execution did.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Outcome {
    /// API calls by (service, action).
    pub calls: BTreeMap<(String, String), u64>,
    /// State transitions, child executions included.
    pub transitions: u64,
    /// Distributed Map child executions.
    pub child_executions: u64,
    /// Batch jobs submitted (an array job counts once).
    pub batch_jobs: u64,
    /// Containers started (array children, padding included).
    pub containers: u64,
    /// Seconds from the first fan-out (a `Map` state starting) until the last foreach-body
    /// task started; for a flow without foreach, from the start until the last task started.
    pub all_started_s: f64,
    /// Seconds from the start until the execution ended.
    pub completed_s: f64,
}

/// The simulation's input that does not change between trials.
pub(crate) struct Setup<'d> {
    pub definition: &'d Value,
    pub width: u64,
    pub task_seconds: f64,
    pub max_running: Option<u64>,
    pub figures: &'d AwsFigures,
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    /// A state is entered (takes a transition token).
    Enter(usize),
    /// The transition is granted: do the state's work.
    Execute(usize),
    /// The state is done: follow `Next` or end the frame.
    Leave(usize),
    /// Array child (job, index) is runnable.
    ChildReady(usize, usize),
    /// Array child (job, index) ended.
    ChildEnd(usize, usize),
}

struct Queued {
    t: f64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    // Earliest first, then first queued (BinaryHeap is a max-heap).
    fn cmp(&self, o: &Self) -> Ordering {
        o.t.total_cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}

/// The chunk an array-form iteration runs.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    size: usize,
    count: usize,
}

enum Parent {
    Root,
    Map(usize),
    Parallel(usize),
}

/// A running list of states (the execution, a branch, a Map iteration).
struct Frame<'d> {
    states: &'d Map<String, Value>,
    state: &'d str,
    parent: Parent,
    chunk: Option<Chunk>,
    in_foreach: bool,
    /// The last array job this frame submitted (what `N_TO_N` depends on).
    last_job: Option<usize>,
}

struct MapRun<'d> {
    frame: usize,
    body: &'d Map<String, Value>,
    start_at: &'d str,
    distributed: bool,
    writes_results: bool,
    pending: VecDeque<Option<Chunk>>,
    running: usize,
    limit: usize,
    left: usize,
}

struct Join {
    frame: usize,
    left: usize,
}

struct Job {
    frame: usize,
    sync: bool,
    in_foreach: bool,
    submitted: f64,
    count: usize,
    ends: Vec<Option<f64>>,
    left: usize,
    depends_on: Option<usize>,
    dependents: Vec<usize>,
}

struct Sim<'d> {
    setup: &'d Setup<'d>,
    rng: StdRng,
    heap: BinaryHeap<Queued>,
    seq: u64,
    submit: Bucket,
    transitions: Bucket,
    child_starts: Bucket,
    launches: Bucket,
    frames: Vec<Frame<'d>>,
    maps: Vec<MapRun<'d>>,
    joins: Vec<Join>,
    jobs: Vec<Job>,
    out: Outcome,
    last_foreach_start: Option<f64>,
    first_fanout: Option<f64>,
    last_start: f64,
    ended: Option<f64>,
    /// Containers running, and runnable children waiting for a slot.
    running: u64,
    runnable: VecDeque<(usize, usize)>,
}

/// Run one execution of `setup` with random stream `seed`.
pub(crate) fn run(setup: &Setup<'_>, seed: u64) -> Result<Outcome, ModelError> {
    let f = setup.figures;
    let root_states = obj(setup.definition.get("States"), "the definition's States")?;
    let start_at = str_of(setup.definition.get("StartAt"), "the definition's StartAt")?;
    let mut sim = Sim {
        setup,
        rng: StdRng::seed_from_u64(seed),
        heap: BinaryHeap::new(),
        seq: 0,
        submit: Bucket::new(f.submit_job),
        transitions: Bucket::new(f.state_transitions),
        child_starts: Bucket::new(f.child_execution_starts),
        launches: Bucket::new(f.task_launches),
        frames: Vec::new(),
        maps: Vec::new(),
        joins: Vec::new(),
        jobs: Vec::new(),
        out: Outcome::default(),
        last_foreach_start: None,
        first_fanout: None,
        last_start: 0.0,
        ended: None,
        running: 0,
        runnable: VecDeque::new(),
    };
    sim.call("states", "StartExecution");
    sim.frames.push(Frame {
        states: root_states,
        state: start_at,
        parent: Parent::Root,
        chunk: None,
        in_foreach: false,
        last_job: None,
    });
    sim.push(0.0, Ev::Enter(0));
    while let Some(Queued { t, ev, .. }) = sim.heap.pop() {
        sim.step(t, ev)?;
    }
    let completed = sim.ended.ok_or_else(|| {
        ModelError::Definition("the execution never ended (a state waits forever)".into())
    })?;
    sim.out.completed_s = completed;
    sim.out.all_started_s = match (sim.last_foreach_start, sim.first_fanout) {
        (Some(last), Some(first)) => last - first,
        _ => sim.last_start,
    };
    Ok(sim.out)
}

impl<'d> Sim<'d> {
    fn push(&mut self, t: f64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Queued {
            t,
            seq: self.seq,
            ev,
        });
    }

    fn call(&mut self, service: &str, action: &str) {
        *self
            .out
            .calls
            .entry((service.to_string(), action.to_string()))
            .or_default() += 1;
    }

    /// A log-normal draw (Box-Muller); always the same number of draws per call so a trial's
    /// stream does not depend on which latencies are zero.
    fn sample(&mut self, l: Latency) -> f64 {
        let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.rng.random();
        if l.median_s <= 0.0 {
            return 0.0;
        }
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        // z of the 90th percentile of the standard normal.
        let sigma = (l.p90_s.max(l.median_s) / l.median_s).ln() / 1.281_551_565_5;
        l.median_s * (sigma * z).exp()
    }

    fn state(&self, f: usize) -> Result<&'d Map<String, Value>, ModelError> {
        let fr = &self.frames[f];
        obj(fr.states.get(fr.state), &format!("state {}", fr.state))
    }

    fn step(&mut self, now: f64, ev: Ev) -> Result<(), ModelError> {
        match ev {
            Ev::Enter(f) => {
                self.out.transitions += 1;
                let t = self.transitions.take(now);
                self.push(t, Ev::Execute(f));
            }
            Ev::Execute(f) => self.execute(now, f)?,
            Ev::Leave(f) => {
                let s = self.state(f)?;
                let ty = s.get("Type").and_then(Value::as_str).unwrap_or("");
                if s.get("End") == Some(&Value::Bool(true)) || ty == "Succeed" || ty == "Fail" {
                    self.finish_frame(now, f)?;
                } else {
                    let next = str_of(s.get("Next"), "Next")?;
                    self.frames[f].state = next;
                    self.push(now, Ev::Enter(f));
                }
            }
            Ev::ChildReady(j, i) => {
                if self.setup.max_running.is_some_and(|m| self.running >= m) {
                    self.runnable.push_back((j, i));
                } else {
                    self.launch(now, j, i);
                }
            }
            Ev::ChildEnd(j, i) => {
                self.running -= 1;
                if let Some((wj, wi)) = self.runnable.pop_front() {
                    self.launch(now, wj, wi);
                }
                self.jobs[j].ends[i] = Some(now);
                self.jobs[j].left -= 1;
                for d in self.jobs[j].dependents.clone() {
                    let ready = now.max(self.jobs[d].submitted);
                    let t = ready + self.sample(self.setup.figures.batch_dispatch);
                    self.push(t, Ev::ChildReady(d, i));
                }
                if self.jobs[j].left == 0 && self.jobs[j].sync {
                    let t = now + self.sample(self.setup.figures.sync_notice);
                    let f = self.jobs[j].frame;
                    self.push(t, Ev::Leave(f));
                }
            }
        }
        Ok(())
    }

    /// Child (job `j`, index `i`) takes a running slot and a launch token and starts.
    fn launch(&mut self, now: f64, j: usize, i: usize) {
        self.running += 1;
        let t = self.launches.take(now);
        let start = t + self.sample(self.setup.figures.container_start);
        let job = &self.jobs[j];
        let real = i < job.count;
        if real {
            self.last_start = self.last_start.max(start);
            if job.in_foreach {
                self.last_foreach_start = Some(self.last_foreach_start.unwrap_or(0.0).max(start));
            }
        }
        let run = if real { self.setup.task_seconds } else { 0.0 };
        self.push(start + run, Ev::ChildEnd(j, i));
    }

    fn execute(&mut self, now: f64, f: usize) -> Result<(), ModelError> {
        let s = self.state(f)?;
        let name = self.frames[f].state;
        match s.get("Type").and_then(Value::as_str) {
            Some("Task") => self.task(now, f, s),
            Some("Map") => self.map(now, f, s),
            Some("Parallel") => {
                let branches = s
                    .get("Branches")
                    .and_then(Value::as_array)
                    .ok_or_else(|| ModelError::Definition(format!("{name}: no Branches")))?;
                let j = self.joins.len();
                self.joins.push(Join {
                    frame: f,
                    left: branches.len(),
                });
                if branches.is_empty() {
                    self.push(now, Ev::Leave(f));
                }
                for b in branches {
                    let states = obj(b.get("States"), &format!("{name}: a branch's States"))?;
                    let start = str_of(b.get("StartAt"), &format!("{name}: a branch's StartAt"))?;
                    let child = self.new_frame(states, start, Parent::Parallel(j), f, None);
                    self.push(now, Ev::Enter(child));
                }
                Ok(())
            }
            Some("Pass") | Some("Succeed") | Some("Fail") => {
                self.push(now, Ev::Leave(f));
                Ok(())
            }
            other => Err(ModelError::Unsupported(format!(
                "state {name} has Type {other:?}; the model knows Task, Map, Parallel, Pass, \
                 Succeed and Fail"
            ))),
        }
    }

    fn new_frame(
        &mut self,
        states: &'d Map<String, Value>,
        start: &'d str,
        parent: Parent,
        from: usize,
        chunk: Option<Chunk>,
    ) -> usize {
        let in_foreach = self.frames[from].in_foreach || matches!(parent, Parent::Map(_));
        self.frames.push(Frame {
            states,
            state: start,
            parent,
            chunk,
            in_foreach,
            last_job: None,
        });
        self.frames.len() - 1
    }

    fn task(&mut self, now: f64, f: usize, s: &'d Map<String, Value>) -> Result<(), ModelError> {
        let name = self.frames[f].state;
        let resource = str_of(s.get("Resource"), &format!("{name}: Resource"))?;
        let api = self.setup.figures.api_call;
        if resource.ends_with(":batch:submitJob.sync") || resource.ends_with(":batch:submitJob") {
            let sync = resource.ends_with(".sync");
            let params = s.get("Parameters");
            let chunk = self.frames[f].chunk;
            let (size, count) = match params.and_then(|p| p.get("ArrayProperties")) {
                None => (1, 1),
                Some(a) if a.get("Size.$").is_some() => {
                    let c = chunk.ok_or_else(|| {
                        ModelError::Definition(format!(
                            "{name}: ArrayProperties.Size.$ outside an array-form chunk Map"
                        ))
                    })?;
                    (c.size, c.count)
                }
                Some(a) => {
                    let n = a.get("Size").and_then(Value::as_u64).ok_or_else(|| {
                        ModelError::Definition(format!("{name}: ArrayProperties without Size"))
                    })? as usize;
                    (n, n)
                }
            };
            let n_to_n = params
                .and_then(|p| p.get("DependsOn"))
                .and_then(Value::as_array)
                .is_some_and(|d| {
                    d.iter()
                        .any(|x| x.get("Type").and_then(Value::as_str) == Some("N_TO_N"))
                });
            let depends_on = if n_to_n {
                let d = self.frames[f].last_job.ok_or_else(|| {
                    ModelError::Definition(format!("{name}: N_TO_N with no earlier array job"))
                })?;
                if self.jobs[d].ends.len() != size {
                    return Err(ModelError::Definition(format!(
                        "{name}: N_TO_N between arrays of different sizes"
                    )));
                }
                Some(d)
            } else {
                None
            };
            self.call("batch", "SubmitJob");
            self.out.batch_jobs += 1;
            self.out.containers += size as u64;
            let t = self.submit.take(now);
            let submitted = t + self.sample(api);
            let j = self.jobs.len();
            self.jobs.push(Job {
                frame: f,
                sync,
                in_foreach: self.frames[f].in_foreach,
                submitted,
                count,
                ends: vec![None; size],
                left: size,
                depends_on,
                dependents: Vec::new(),
            });
            if let Some(d) = depends_on {
                self.jobs[d].dependents.push(j);
            }
            for i in 0..size {
                let dep_end = match self.jobs[j].depends_on {
                    Some(d) => match self.jobs[d].ends[i] {
                        Some(e) => Some(e),
                        // Scheduled when the dependency's child ends.
                        None => continue,
                    },
                    None => None,
                };
                let ready = dep_end.map_or(submitted, |e| e.max(submitted));
                let t = ready + self.sample(self.setup.figures.batch_dispatch);
                self.push(t, Ev::ChildReady(j, i));
            }
            self.frames[f].last_job = Some(j);
            if !sync {
                self.push(submitted, Ev::Leave(f));
            }
            Ok(())
        } else if resource.ends_with(":dynamodb:getItem") {
            self.call("dynamodb", "GetItem");
            let t = now + self.sample(api);
            self.push(t, Ev::Leave(f));
            Ok(())
        } else {
            Err(ModelError::Unsupported(format!(
                "{name}: resource {resource} (the model knows batch:submitJob[.sync] and \
                 dynamodb:getItem)"
            )))
        }
    }

    fn map(&mut self, now: f64, f: usize, s: &'d Map<String, Value>) -> Result<(), ModelError> {
        let name = self.frames[f].state;
        self.first_fanout.get_or_insert(now);
        let processor = obj(s.get("ItemProcessor"), &format!("{name}: ItemProcessor"))?;
        let body = obj(
            processor.get("States"),
            &format!("{name}: ItemProcessor.States"),
        )?;
        let start_at = str_of(processor.get("StartAt"), &format!("{name}: StartAt"))?;
        let distributed = processor
            .get("ProcessorConfig")
            .and_then(|c| c.get("Mode"))
            .and_then(Value::as_str)
            == Some("DISTRIBUTED");
        let items: VecDeque<Option<Chunk>> =
            if s.get("ItemsPath").and_then(Value::as_str) == Some(CHUNKS_ITEMS_PATH) {
                array_chunks(self.setup.width)
                    .into_iter()
                    .map(|c| {
                        Some(Chunk {
                            size: c.size as usize,
                            count: c.count.parse().unwrap_or(0),
                        })
                    })
                    .collect()
            } else {
                (0..self.setup.width).map(|_| None).collect()
            };
        let mut start = now;
        if s.get("ItemReader").is_some() {
            self.call("s3", "GetObject");
            start += self.sample(self.setup.figures.api_call);
        }
        // Inline Maps run at most 40 iterations at once, distributed ones 10,000 children.
        let cap = if distributed { 10_000 } else { 40 };
        let limit = match s.get("MaxConcurrency").and_then(Value::as_u64) {
            Some(0) | None => cap,
            Some(n) => (n as usize).min(cap),
        };
        let m = self.maps.len();
        let left = items.len();
        self.maps.push(MapRun {
            frame: f,
            body,
            start_at,
            distributed,
            writes_results: s.get("ResultWriter").is_some(),
            pending: items,
            running: 0,
            limit,
            left,
        });
        if left == 0 {
            return self.map_done(start, m);
        }
        self.fill(start, m);
        Ok(())
    }

    /// Start iterations of Map `m` up to its concurrency.
    fn fill(&mut self, now: f64, m: usize) {
        while self.maps[m].running < self.maps[m].limit {
            let Some(chunk) = self.maps[m].pending.pop_front() else {
                break;
            };
            self.maps[m].running += 1;
            let (body, start_at, from) =
                (self.maps[m].body, self.maps[m].start_at, self.maps[m].frame);
            let child = self.new_frame(body, start_at, Parent::Map(m), from, chunk);
            let t = if self.maps[m].distributed {
                self.out.child_executions += 1;
                self.child_starts.take(now)
            } else {
                now
            };
            self.push(t, Ev::Enter(child));
        }
    }

    fn map_done(&mut self, now: f64, m: usize) -> Result<(), ModelError> {
        let mut t = now;
        if self.maps[m].writes_results {
            // The manifest and one results file (all children succeeded).
            self.call("s3", "PutObject");
            self.call("s3", "PutObject");
            t += self.sample(self.setup.figures.api_call);
        }
        let f = self.maps[m].frame;
        self.push(t, Ev::Leave(f));
        Ok(())
    }

    fn finish_frame(&mut self, now: f64, f: usize) -> Result<(), ModelError> {
        match self.frames[f].parent {
            Parent::Root => {
                self.ended = Some(now);
                Ok(())
            }
            Parent::Map(m) => {
                self.maps[m].running -= 1;
                self.maps[m].left -= 1;
                if self.maps[m].left == 0 {
                    self.map_done(now, m)
                } else {
                    self.fill(now, m);
                    Ok(())
                }
            }
            Parent::Parallel(j) => {
                self.joins[j].left -= 1;
                if self.joins[j].left == 0 {
                    let p = self.joins[j].frame;
                    self.push(now, Ev::Leave(p));
                }
                Ok(())
            }
        }
    }
}

fn obj<'d>(v: Option<&'d Value>, what: &str) -> Result<&'d Map<String, Value>, ModelError> {
    v.and_then(Value::as_object)
        .ok_or_else(|| ModelError::Definition(format!("{what} is missing or not an object")))
}

fn str_of<'d>(v: Option<&'d Value>, what: &str) -> Result<&'d str, ModelError> {
    v.and_then(Value::as_str)
        .ok_or_else(|| ModelError::Definition(format!("{what} is missing or not a string")))
}
