//! Execution history: event counts (always) and the first [`KEPT_EVENTS`] events (so a
//! 10,000-item Map keeps counters, not 40,000 event records), plus distributed Map runs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::time::Time;
use serde::Serialize;

/// How many events are kept in full.
pub const KEPT_EVENTS: usize = 1000;

/// One history event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEvent {
    /// 1-based sequence number.
    pub id: u64,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// `ExecutionStarted`, `TaskStateEntered`, `TaskScheduled`, `MapIterationStarted`...
    pub kind: String,
    /// The state it concerns, if any.
    pub state: Option<String>,
}

/// A distributed Map run (its child executions are counted, not kept).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapRun {
    /// The Map state's name.
    pub state: String,
    /// The map run ARN (also in the ResultWriter manifest).
    pub map_run_arn: String,
    /// Child executions started.
    pub total: usize,
    /// Child executions that succeeded.
    pub succeeded: usize,
    /// Child executions that failed.
    pub failed: usize,
}

/// The history of one execution.
pub struct History {
    time: Arc<dyn Time>,
    count: AtomicU64,
    kept: Mutex<Vec<HistoryEvent>>,
    by_kind: Mutex<BTreeMap<String, u64>>,
    map_runs: Mutex<Vec<MapRun>>,
}

impl History {
    /// An empty history whose events are stamped by `time`.
    pub fn new(time: Arc<dyn Time>) -> Self {
        History {
            time,
            count: AtomicU64::new(0),
            kept: Mutex::default(),
            by_kind: Mutex::default(),
            map_runs: Mutex::default(),
        }
    }
    /// Record an event.
    pub fn event(&self, kind: &str, state: Option<&str>) {
        let id = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        *self
            .by_kind
            .lock()
            .expect("history lock")
            .entry(kind.to_string())
            .or_default() += 1;
        let mut kept = self.kept.lock().expect("history lock");
        if kept.len() < KEPT_EVENTS {
            kept.push(HistoryEvent {
                id,
                timestamp: self.time.now(),
                kind: kind.to_string(),
                state: state.map(str::to_string),
            });
        }
    }
    /// Record a finished distributed Map run.
    pub fn map_run(&self, state: &str, arn: &str, total: usize, succeeded: usize, failed: usize) {
        self.map_runs.lock().expect("history lock").push(MapRun {
            state: state.to_string(),
            map_run_arn: arn.to_string(),
            total,
            succeeded,
            failed,
        });
    }
    /// Number of events so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
    /// Events counted by kind.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.by_kind.lock().expect("history lock").clone()
    }
    /// The first [`KEPT_EVENTS`] events.
    pub fn events(&self) -> Vec<HistoryEvent> {
        self.kept.lock().expect("history lock").clone()
    }
    /// Distributed Map runs so far.
    pub fn map_runs(&self) -> Vec<MapRun> {
        self.map_runs.lock().expect("history lock").clone()
    }
}
