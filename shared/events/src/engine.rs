//! The one matching engine, for AWS and the embedded stack alike: an event in, "start these
//! executions with these inputs" out. It starts nothing itself.
//!
//! For each deployment whose trigger waits for the event ([`crate::mapping::matches`]):
//! 1. **Dedupe.** A delivery of an event id the deployment has seen returns
//!    [`Outcome::Duplicate`] with the first delivery's start decision, if any (the same execution
//!    name, so starting it again cannot start a second run). At-least-once delivery (EventBridge,
//!    a publisher's retries) never starts a run twice. A refused delivery uses nothing up: the
//!    same id is evaluated again (a publisher may correct the payload and resend it).
//! 2. **Mapping.** The payload sets the mapped parameters, typed; an event that cannot (a
//!    wrong-typed value, a missing required field) starts nothing: [`Outcome::Refused`] with the
//!    reason. It does not count towards a several-event trigger either.
//! 3. **One event:** [`Outcome::Start`].
//! 4. **Several events** (Argo Events' AND of dependencies): the event is kept in the
//!    deployment's pending state (the latest event of each name replaces an earlier one); when
//!    every name has an event, the run starts with all their parameters and the kept events are
//!    consumed, so the next run needs every event again. Kept events are forgotten at each
//!    `reset_at` fire time, after [`EngineSettings::pending_ttl_secs`], and when a redeploy
//!    changes the trigger. State changes are optimistic transactions, so concurrent deliveries
//!    of the events a run needs start it exactly once.
//!
//! Every delivery is recorded, with its outcome, in the deployment's partition (the dedupe
//! record) and in the recent-events log.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferry_compile::triggers::TriggerSpec;
use ferry_spec::standard_cron::StandardCron;
use ferry_store::{Condition, Query, Table, TableError, WriteOp};
use serde::{Deserialize, Serialize};

use crate::error::EventsError;
use crate::event::{Event, EventSummary};
use crate::log::{LogEntry, LoggedOutcome};
use crate::mapping::{map_parameters, matches};
use crate::start::{StartDecision, TriggerRecord, start_decision};
use crate::state::{
    self, Pending, PendingEvent, decode_delivery, decode_pending, deployment_pk, encode_delivery,
    encode_pending, expired,
};

/// How long the engine keeps things, in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    /// Delivery records (dedupe): redeliveries within this window are recognised. Default 7
    /// days (EventBridge retries a delivery for up to 24 hours).
    pub delivery_ttl_secs: i64,
    /// An event of a several-event trigger waits at most this long for the others (refreshed
    /// by every new event of the trigger). Default 30 days.
    pub pending_ttl_secs: i64,
    /// Log entries. Default 14 days.
    pub log_ttl_secs: i64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            delivery_ttl_secs: 7 * 86_400,
            pending_ttl_secs: 30 * 86_400,
            log_ttl_secs: 14 * 86_400,
        }
    }
}

/// A deployment with a trigger, as the engine sees it (from its deployment record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The deployment (state machine) name.
    pub deployment: String,
    /// Its trigger.
    pub trigger: TriggerSpec,
}

/// What a deployment does with an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Start this run.
    Start {
        /// The run to start.
        start: StartDecision,
    },
    /// Kept; the run starts once these events have arrived too.
    Waiting {
        /// The event names still missing.
        missing: Vec<String>,
    },
    /// This event starts no run.
    Refused {
        /// Why.
        reason: String,
    },
    /// This event id was delivered to the deployment before.
    Duplicate {
        /// The first delivery's outcome kind (`started`, `waiting`, `refused`).
        first: String,
        /// The first delivery's start decision, if it started a run: starting it again is
        /// harmless (same execution name) and completes a start a crash interrupted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<StartDecision>,
    },
    /// The event was addressed to a deployment that no longer exists (e.g. a rule that
    /// outlived a delete).
    NoDeployment {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// `started`, `waiting`, `refused`, `duplicate` or `no_deployment`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Start { .. } => "started",
            Outcome::Waiting { .. } => "waiting",
            Outcome::Refused { .. } => "refused",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::NoDeployment { .. } => "no_deployment",
        }
    }
}

/// One deployment's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentOutcome {
    /// The deployment.
    pub deployment: String,
    /// What it does with the event.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The engine's answer for one delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// The event.
    pub event: EventSummary,
    /// When it was processed.
    pub received_at: DateTime<Utc>,
    /// One per deployment whose trigger waits for the event (empty: it matched none).
    pub deployments: Vec<DeploymentOutcome>,
}

impl Receipt {
    /// The runs to start: new starts, and the starts of duplicates (idempotent by name).
    pub fn starts(&self) -> Vec<&StartDecision> {
        self.deployments
            .iter()
            .filter_map(|d| match &d.outcome {
                Outcome::Start { start } => Some(start),
                Outcome::Duplicate { start, .. } => start.as_ref(),
                _ => None,
            })
            .collect()
    }
}

/// The engine over a [`Table`].
#[derive(Clone)]
pub struct Engine {
    table: Arc<dyn Table>,
    settings: EngineSettings,
}

/// Attempts at a contended several-event state before [`EventsError::Contention`].
const MAX_ATTEMPTS: usize = 16;

impl Engine {
    /// An engine keeping its state in `table`, with the default [`EngineSettings`].
    pub fn new(table: Arc<dyn Table>) -> Engine {
        Engine::with_settings(table, EngineSettings::default())
    }

    /// An engine with explicit settings.
    pub fn with_settings(table: Arc<dyn Table>, settings: EngineSettings) -> Engine {
        Engine { table, settings }
    }

    /// Process one delivery of `event` against every deployment of `subscriptions` (the
    /// embedded stack passes all its triggered deployments), at `now`; log it.
    pub async fn receive(
        &self,
        event: &Event,
        subscriptions: &[Subscription],
        now: DateTime<Utc>,
    ) -> Result<Receipt, EventsError> {
        let mut deployments = Vec::new();
        for sub in subscriptions {
            if let Some(outcome) = self.process(sub, event, now).await? {
                deployments.push(DeploymentOutcome {
                    deployment: sub.deployment.clone(),
                    outcome,
                });
            }
        }
        self.finish(event, deployments, now).await
    }

    /// Process one delivery of `event` addressed to `deployment` (on AWS, an EventBridge rule
    /// targets one deployment); `subscription` is its current trigger, `None` when it has been
    /// deleted or no longer has a trigger.
    pub async fn receive_for(
        &self,
        event: &Event,
        deployment: &str,
        subscription: Option<&Subscription>,
        now: DateTime<Utc>,
    ) -> Result<Receipt, EventsError> {
        let outcome = match subscription {
            Some(sub) => self.process(sub, event, now).await?,
            None => Some(Outcome::NoDeployment {
                reason: format!(
                    "the deployment {deployment} does not exist any more or has no trigger (deleted or redeployed); the event started nothing"
                ),
            }),
        };
        let deployments = outcome
            .map(|outcome| DeploymentOutcome {
                deployment: deployment.to_string(),
                outcome,
            })
            .into_iter()
            .collect();
        self.finish(event, deployments, now).await
    }

    /// The most recent log entries, newest first, at most `limit`, looking back as far as the
    /// log keeps entries.
    pub async fn recent(
        &self,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<LogEntry>, EventsError> {
        let mut out = Vec::new();
        let days = self.settings.log_ttl_secs / 86_400 + 1;
        for back in 0..=days {
            if out.len() >= limit {
                break;
            }
            let day = (now - chrono::Duration::days(back)).format("%Y-%m-%d");
            let pk = state::log_pk(&day.to_string());
            let mut after = None;
            loop {
                let page = self
                    .table
                    .query(
                        &pk,
                        Query {
                            descending: true,
                            limit: Some(limit - out.len()),
                            after,
                            ..Query::default()
                        },
                    )
                    .await?;
                for item in &page.items {
                    if !expired(item, now.timestamp()) {
                        out.push(state::decode_log(item)?);
                    }
                }
                match page.next {
                    Some(n) if out.len() < limit => after = Some(n),
                    _ => break,
                }
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn finish(
        &self,
        event: &Event,
        deployments: Vec<DeploymentOutcome>,
        now: DateTime<Utc>,
    ) -> Result<Receipt, EventsError> {
        let entry = LogEntry {
            received_at: now,
            event: event.summary(),
            deployments: deployments.iter().map(LoggedOutcome::from).collect(),
        };
        let ttl = now.timestamp() + self.settings.log_ttl_secs;
        self.table
            .put(state::encode_log(&entry, ttl), Condition::None)
            .await?;
        Ok(Receipt {
            event: event.summary(),
            received_at: now,
            deployments,
        })
    }

    /// The outcome of `event` for `sub`, or `None` when its trigger does not wait for it.
    async fn process(
        &self,
        sub: &Subscription,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<Option<Outcome>, EventsError> {
        let trigger = &sub.trigger;
        let Some(dependency) = trigger
            .events
            .iter()
            .find(|d| matches(trigger.kind, d, event))
        else {
            return Ok(None);
        };
        let at = now.timestamp();
        let pk = deployment_pk(&sub.deployment);
        let sk = state::delivery_sk(&event.id);
        // 1. Dedupe.
        // A refused delivery used nothing up: the same id is evaluated again, so a publisher
        // can correct the payload and resend under the id it keeps for its retries.
        let replace = |item: &ferry_store::Item| match state::ttl_of(item) {
            Some(t) => Condition::AttrEquals(state::TTL.into(), ferry_store::Attr::N(t)),
            None => Condition::None,
        };
        let delivery_condition = match self.table.get(&pk, &sk).await? {
            Some(item) if !expired(&item, at) => match decode_delivery(&item)? {
                Outcome::Refused { .. } => replace(&item),
                first => return Ok(Some(duplicate_of(first))),
            },
            Some(item) => replace(&item),
            None => Condition::NotExists,
        };
        let summary = event.summary();
        let record = TriggerRecord::of(&summary, trigger.kind);
        let delivery_ttl = at + self.settings.delivery_ttl_secs;
        // 2. Mapping.
        let parameters = match map_parameters(dependency, event) {
            Ok(p) => p,
            Err(reason) => {
                let outcome = Outcome::Refused { reason };
                return self
                    .record_single(sub, &summary, outcome, at, delivery_ttl, delivery_condition)
                    .await
                    .map(Some);
            }
        };
        // 3. One event.
        if trigger.events.len() == 1 {
            let outcome = match start_decision(&sub.deployment, parameters, vec![record]) {
                Ok(start) => Outcome::Start { start },
                Err(reason) => Outcome::Refused { reason },
            };
            return self
                .record_single(sub, &summary, outcome, at, delivery_ttl, delivery_condition)
                .await
                .map(Some);
        }
        // A run whose input could never fit is refused now rather than after the others arrive.
        if let Err(reason) = start_decision(&sub.deployment, parameters.clone(), vec![record]) {
            let outcome = Outcome::Refused { reason };
            return self
                .record_single(sub, &summary, outcome, at, delivery_ttl, delivery_condition)
                .await
                .map(Some);
        }
        // 4. Several events.
        let kept = PendingEvent {
            event: summary.clone(),
            received_at: at,
            parameters,
        };
        self.add_pending(sub, &dependency.name, kept, now, delivery_condition)
            .await
            .map(Some)
    }

    /// Record the outcome of a delivery that touches no pending state.
    async fn record_single(
        &self,
        sub: &Subscription,
        event: &EventSummary,
        outcome: Outcome,
        at: i64,
        ttl: i64,
        condition: Condition,
    ) -> Result<Outcome, EventsError> {
        let item = encode_delivery(&sub.deployment, event, &outcome, at, ttl);
        match self.table.put(item, condition).await {
            Ok(()) => Ok(outcome),
            Err(TableError::ConditionFailed { .. }) => self.concurrent_duplicate(sub, event).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Another delivery of the same event won the race to record it: answer as a duplicate.
    async fn concurrent_duplicate(
        &self,
        sub: &Subscription,
        event: &EventSummary,
    ) -> Result<Outcome, EventsError> {
        let pk = deployment_pk(&sub.deployment);
        match self.table.get(&pk, &state::delivery_sk(&event.id)).await? {
            Some(item) => Ok(duplicate_of(decode_delivery(&item)?)),
            None => Err(EventsError::Contention(sub.deployment.clone())),
        }
    }

    /// Add an event to a several-event trigger's state; start the run when it completes it.
    async fn add_pending(
        &self,
        sub: &Subscription,
        name: &str,
        kept: PendingEvent,
        now: DateTime<Utc>,
        delivery_condition: Condition,
    ) -> Result<Outcome, EventsError> {
        let trigger = &sub.trigger;
        let fingerprint = state::fingerprint(trigger);
        let at = now.timestamp();
        let reset = trigger
            .reset_at
            .as_ref()
            .and_then(|r| StandardCron::parse(&r.cron, r.timezone.as_deref()).ok());
        let pk = deployment_pk(&sub.deployment);
        for _ in 0..MAX_ATTEMPTS {
            let current = match self.table.get(&pk, state::PENDING_SK).await? {
                Some(item) => {
                    let mut p = decode_pending(&item)?;
                    if expired(&item, at) {
                        p.events.clear();
                    }
                    p
                }
                None => Pending::default(),
            };
            let mut events: BTreeMap<String, PendingEvent> = if current.fingerprint == fingerprint {
                current.events
            } else {
                BTreeMap::new()
            };
            events.retain(|_, e| {
                e.received_at + self.settings.pending_ttl_secs > at
                    && !reset.as_ref().is_some_and(|r| {
                        DateTime::from_timestamp(e.received_at, 0)
                            .is_some_and(|from| r.fires_between(from, now))
                    })
            });
            events.insert(name.to_string(), kept.clone());
            let missing: Vec<String> = trigger
                .events
                .iter()
                .filter(|d| !events.contains_key(&d.name))
                .map(|d| d.name.clone())
                .collect();
            let outcome = if missing.is_empty() {
                let mut parameters = serde_json::Map::new();
                let mut records = Vec::new();
                for d in &trigger.events {
                    let e = &events[&d.name];
                    parameters.extend(e.parameters.clone());
                    records.push(TriggerRecord::of(&e.event, trigger.kind));
                }
                events.clear();
                match start_decision(&sub.deployment, parameters, records) {
                    Ok(start) => Outcome::Start { start },
                    Err(reason) => Outcome::Refused { reason },
                }
            } else {
                Outcome::Waiting { missing }
            };
            let version = current.version.unwrap_or(0) + 1;
            let pending_condition = match current.version {
                Some(v) => Condition::AttrEquals("version".into(), ferry_store::Attr::N(v)),
                None => Condition::NotExists,
            };
            let ops = vec![
                WriteOp::Put {
                    item: encode_pending(
                        &sub.deployment,
                        &fingerprint,
                        &events,
                        version,
                        at + self.settings.pending_ttl_secs,
                    ),
                    condition: pending_condition,
                },
                WriteOp::Put {
                    item: encode_delivery(
                        &sub.deployment,
                        &kept.event,
                        &outcome,
                        at,
                        at + self.settings.delivery_ttl_secs,
                    ),
                    condition: delivery_condition.clone(),
                },
            ];
            match self.table.transact(ops).await {
                Ok(()) => return Ok(outcome),
                Err(TableError::ConditionFailed { .. }) | Err(TableError::Transient(_)) => {
                    // A concurrent delivery of this event recorded it: a duplicate. Otherwise
                    // another event changed the state: read it again.
                    if let Some(item) = self
                        .table
                        .get(&pk, &state::delivery_sk(&kept.event.id))
                        .await?
                        && !expired(&item, at)
                    {
                        return Ok(duplicate_of(decode_delivery(&item)?));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(EventsError::Contention(sub.deployment.clone()))
    }
}

/// The answer to a redelivery whose first delivery had `first`.
fn duplicate_of(first: Outcome) -> Outcome {
    match first {
        Outcome::Start { start } => Outcome::Duplicate {
            first: "started".into(),
            start: Some(start),
        },
        Outcome::Duplicate { first, start } => Outcome::Duplicate { first, start },
        other => Outcome::Duplicate {
            first: other.kind().to_string(),
            start: None,
        },
    }
}
