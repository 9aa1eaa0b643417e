//! The embedded stack's [`Schedules`]: `@schedule` rules stored on the Ferry table and fired by
//! an in-process loop while the stack runs, on an injectable clock ([`crate::time::Time`]).
//!
//! Table layout: pk `local#schedules`, sk `<schedule name>`, attribute `record` (S:
//! [`ScheduleSpec`] JSON). Expressions are EventBridge 6-field crons evaluated by
//! [`ferry_spec::aws_cron`] in the schedule's IANA time zone (DST as EventBridge Scheduler: a
//! time in the spring-forward gap is skipped, a repeated one fires once).
//!
//! Each firing starts the target state machine with the schedule's input (`{"Parameters": "{}"}`:
//! the deploy-time defaults apply). Fire times are counted from when the loop first sees the
//! schedule; times missed while the stack was down are not caught up (as EventBridge does not
//! fire for a disabled target).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_control::Executions;
use ferry_deploy::{ScheduleError, ScheduleSpec, Schedules};
use ferry_store::{Attr, Condition, Item, Table};
use tokio::sync::{Notify, watch};

use crate::time::Time;

/// Partition of the schedules.
pub const SCHEDULES_PK: &str = "local#schedules";

/// Environment variable that speeds the stack's clock up (a number > 1; for tests: `60` makes a
/// per-minute cron fire every real second, and a task's one-minute retry wait last a second).
pub use ferry_spec::task::ENV_CLOCK_SPEEDUP;

/// Longest real time the loop sleeps before looking at the table again.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Most firings of one schedule caught up in one pass (a suspended laptop must not start a burst).
const MAX_CATCH_UP: usize = 3;

/// The local schedules: storage plus the firing loop ([`LocalSchedules::run`]). Cheap to clone.
#[derive(Clone)]
pub struct LocalSchedules {
    table: Arc<dyn Table>,
    changed: Arc<Notify>,
}

/// A firing of a schedule, as the loop reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// The schedule name.
    pub schedule: String,
    /// The (virtual) time it was due.
    pub due: DateTime<Utc>,
    /// The execution started, or the error starting it.
    pub execution: Result<String, String>,
}

impl LocalSchedules {
    /// Schedules stored on `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        LocalSchedules {
            table,
            changed: Arc::new(Notify::new()),
        }
    }

    /// Every stored schedule.
    pub async fn list(&self) -> Result<Vec<ScheduleSpec>, ScheduleError> {
        let mut out = Vec::new();
        for item in self.table.query_all(SCHEDULES_PK, "").await? {
            match item.json::<ScheduleSpec>("record") {
                Ok(spec) => out.push(spec),
                Err(e) => tracing::warn!("skipping a stored schedule: {e}"),
            }
        }
        Ok(out)
    }

    /// Fire schedules until `shutdown` turns `true`: each due time starts an execution of the
    /// target through `executions`. `on_fire` sees every firing (logging, tests).
    pub async fn run(
        &self,
        executions: Arc<dyn Executions>,
        clock: Arc<dyn Time>,
        mut shutdown: watch::Receiver<bool>,
        on_fire: impl Fn(&Firing) + Send + Sync,
    ) {
        // Per schedule: its expression (to notice a changed rule) and the time fires count from.
        let mut cursor: HashMap<String, (String, Option<String>, DateTime<Utc>)> = HashMap::new();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let now = clock.now();
            let specs = match self.list().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("reading schedules: {e}");
                    Vec::new()
                }
            };
            let mut next_due: Option<DateTime<Utc>> = None;
            let mut seen = Vec::new();
            for spec in specs {
                seen.push(spec.name.clone());
                let entry = cursor
                    .entry(spec.name.clone())
                    .or_insert_with(|| (spec.expression.clone(), spec.timezone.clone(), now));
                if entry.0 != spec.expression || entry.1 != spec.timezone {
                    *entry = (spec.expression.clone(), spec.timezone.clone(), now);
                }
                let times = match ferry_spec::aws_cron::next_fire_times(
                    &spec.expression,
                    spec.timezone.as_deref(),
                    entry.2,
                    MAX_CATCH_UP + 1,
                ) {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!(schedule = %spec.name, "invalid schedule: {e}");
                        continue;
                    }
                };
                let mut waiting = false;
                for due in times {
                    if due > now {
                        next_due = Some(next_due.map_or(due, |n| n.min(due)));
                        waiting = true;
                        break;
                    }
                    entry.2 = due;
                    let execution = executions
                        .start(&spec.target.name, None, &spec.input)
                        .await
                        .map(|e| e.name.to_string())
                        .map_err(|e| e.to_string());
                    match &execution {
                        Ok(name) => {
                            tracing::info!(schedule = %spec.name, execution = %name, "schedule fired")
                        }
                        Err(e) => {
                            tracing::warn!(schedule = %spec.name, "schedule fired but the start failed: {e}")
                        }
                    }
                    on_fire(&Firing {
                        schedule: spec.name.clone(),
                        due,
                        execution,
                    });
                }
                // Missed more than MAX_CATCH_UP: resume from now.
                if !waiting {
                    entry.2 = now;
                    if let Ok(t) = ferry_spec::aws_cron::next_fire_times(
                        &spec.expression,
                        spec.timezone.as_deref(),
                        now,
                        1,
                    ) && let Some(due) = t.first()
                    {
                        next_due = Some(next_due.map_or(*due, |n| n.min(*due)));
                    }
                }
            }
            cursor.retain(|k, _| seen.contains(k));
            let wake = next_due.unwrap_or_else(|| now + chrono::Duration::days(1));
            let sleep = clock.sleep_until(wake);
            tokio::select! {
                _ = sleep => {}
                _ = tokio::time::sleep(MAX_SLEEP) => {}
                _ = self.changed.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[async_trait]
impl Schedules for LocalSchedules {
    async fn put(&self, spec: &ScheduleSpec) -> Result<(), ScheduleError> {
        if spec.name.is_empty() || spec.name.len() > 64 {
            return Err(ScheduleError::Invalid(format!(
                "schedule name {:?} must be 1 to 64 characters",
                spec.name
            )));
        }
        ferry_spec::aws_cron::next_fire_times(
            &spec.expression,
            spec.timezone.as_deref(),
            Utc::now(),
            1,
        )
        .map_err(|e| ScheduleError::Invalid(e.to_string()))?;
        serde_json::from_str::<serde_json::Value>(&spec.input)
            .map_err(|e| ScheduleError::Invalid(format!("the schedule input is not JSON: {e}")))?;
        let mut attrs = BTreeMap::new();
        attrs.insert(
            "record".to_string(),
            Attr::S(serde_json::to_string(spec).map_err(|e| ScheduleError::Other(e.to_string()))?),
        );
        self.table
            .put(
                Item {
                    pk: SCHEDULES_PK.to_string(),
                    sk: spec.name.clone(),
                    attrs,
                },
                Condition::None,
            )
            .await?;
        self.changed.notify_waiters();
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<bool, ScheduleError> {
        let existed = self.table.get(SCHEDULES_PK, name).await?.is_some();
        self.table
            .delete(SCHEDULES_PK, name, Condition::None)
            .await?;
        self.changed.notify_waiters();
        Ok(existed)
    }

    async fn get(&self, name: &str) -> Result<Option<ScheduleSpec>, ScheduleError> {
        Ok(self
            .table
            .get(SCHEDULES_PK, name)
            .await?
            .and_then(|item| item.json("record").ok()))
    }
}
