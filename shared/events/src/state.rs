//! The engine's items on the [`Table`] (the state table on AWS, whose `ttl` attribute DynamoDB
//! expires; the embedded stack's SQLite table). Readers treat an item past its `ttl` as absent,
//! since DynamoDB deletes expired items only eventually and SQLite never.
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `events#deployment#<deployment>` | `delivery#<sha256 of event id>` | `outcome` (S: the [`Outcome`] JSON of the first delivery), `event` (S: name), `at` (N), `ttl` (N) |
//! | `events#deployment#<deployment>` | `pending` | `events` (S: JSON of the events a several-event trigger holds, by event name), `fingerprint` (S: the trigger they were kept for), `version` (N: the optimistic lock), `ttl` (N) |
//! | `events#log#<YYYY-MM-DD>` | `<RFC 3339 receipt time, ms>#<8 hex>` | `entry` (S: a [`LogEntry`] JSON), `ttl` (N) |
//!
//! A deployment's items share a partition (one per deployment); the log has one partition a
//! day. Keys hash event ids, so any id fits DynamoDB's key limits.

use std::collections::BTreeMap;

use ferry_store::{Attr, Item};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::engine::Outcome;
use crate::error::EventsError;
use crate::event::EventSummary;
use crate::log::LogEntry;

/// The expiry attribute (the state table's DynamoDB TTL attribute), epoch seconds.
pub const TTL: &str = "ttl";
/// Sort key of a deployment's several-event state.
pub const PENDING_SK: &str = "pending";

/// Partition of a deployment's deliveries and several-event state.
pub fn deployment_pk(deployment: &str) -> String {
    format!("events#deployment#{deployment}")
}

/// Sort key of the delivery record of event `id`.
pub fn delivery_sk(id: &str) -> String {
    format!("delivery#{}", hex::encode(Sha256::digest(id.as_bytes())))
}

/// Partition of the log of day `day` (`YYYY-MM-DD`, UTC).
pub fn log_pk(day: &str) -> String {
    format!("events#log#{day}")
}

/// The `ttl` of an item, if it has one.
pub fn ttl_of(item: &Item) -> Option<i64> {
    match item.attrs.get(TTL) {
        Some(Attr::N(t)) => Some(*t),
        _ => None,
    }
}

/// Whether `item` has expired at `now` (epoch seconds).
pub fn expired(item: &Item, now: i64) -> bool {
    ttl_of(item).is_some_and(|t| t <= now)
}

/// An event a several-event trigger holds while it waits for the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEvent {
    /// The event.
    pub event: EventSummary,
    /// When it arrived, epoch seconds.
    pub received_at: i64,
    /// The parameters its payload sets (checked on arrival).
    pub parameters: Map<String, Value>,
}

/// A deployment's several-event state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pending {
    /// The optimistic lock; `None`: no item yet.
    pub version: Option<i64>,
    /// The trigger the events were kept for ([`fingerprint`]).
    pub fingerprint: String,
    /// By event name.
    pub events: BTreeMap<String, PendingEvent>,
}

/// A short hash identifying a trigger: events kept for another trigger (before a redeploy
/// changed it) are dropped.
pub fn fingerprint(trigger: &ferry_compile::triggers::TriggerSpec) -> String {
    let text = serde_json::to_string(trigger).expect("a trigger serialises");
    hex::encode(Sha256::digest(text.as_bytes()))[..16].to_string()
}

/// Read a pending item.
pub fn decode_pending(item: &Item) -> Result<Pending, EventsError> {
    let corrupt = |why: &str| EventsError::Corrupt(format!("{}/{}: {why}", item.pk, item.sk));
    let version = match item.attrs.get("version") {
        Some(Attr::N(v)) => *v,
        _ => return Err(corrupt("no version")),
    };
    let fingerprint = match item.attrs.get("fingerprint") {
        Some(Attr::S(f)) => f.clone(),
        _ => String::new(),
    };
    let events = match item.attrs.get("events") {
        Some(Attr::S(json)) => serde_json::from_str(json).map_err(|e| corrupt(&e.to_string()))?,
        _ => BTreeMap::new(),
    };
    Ok(Pending {
        version: Some(version),
        fingerprint,
        events,
    })
}

/// The pending item of `deployment` holding `events` at `version`, expiring at `ttl`.
pub fn encode_pending(
    deployment: &str,
    fingerprint: &str,
    events: &BTreeMap<String, PendingEvent>,
    version: i64,
    ttl: i64,
) -> Item {
    let mut attrs = BTreeMap::new();
    attrs.insert("version".into(), Attr::N(version));
    attrs.insert("fingerprint".into(), Attr::S(fingerprint.to_string()));
    attrs.insert(
        "events".into(),
        Attr::S(serde_json::to_string(events).expect("pending events serialise")),
    );
    attrs.insert(TTL.into(), Attr::N(ttl));
    Item {
        pk: deployment_pk(deployment),
        sk: PENDING_SK.to_string(),
        attrs,
    }
}

/// The delivery record of `event` for `deployment`.
pub fn encode_delivery(
    deployment: &str,
    event: &EventSummary,
    outcome: &Outcome,
    at: i64,
    ttl: i64,
) -> Item {
    let mut attrs = BTreeMap::new();
    attrs.insert(
        "outcome".into(),
        Attr::S(serde_json::to_string(outcome).expect("an outcome serialises")),
    );
    attrs.insert("event".into(), Attr::S(event.name.clone()));
    attrs.insert("at".into(), Attr::N(at));
    attrs.insert(TTL.into(), Attr::N(ttl));
    Item {
        pk: deployment_pk(deployment),
        sk: delivery_sk(&event.id),
        attrs,
    }
}

/// The outcome a delivery record holds.
pub fn decode_delivery(item: &Item) -> Result<Outcome, EventsError> {
    match item.attrs.get("outcome") {
        Some(Attr::S(json)) => serde_json::from_str(json)
            .map_err(|e| EventsError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk))),
        _ => Err(EventsError::Corrupt(format!(
            "{}/{}: no outcome",
            item.pk, item.sk
        ))),
    }
}

/// The log item of `entry`, expiring at `ttl`.
pub fn encode_log(entry: &LogEntry, ttl: i64) -> Item {
    let at = entry.received_at;
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let mut attrs = BTreeMap::new();
    attrs.insert(
        "entry".into(),
        Attr::S(serde_json::to_string(entry).expect("a log entry serialises")),
    );
    attrs.insert(TTL.into(), Attr::N(ttl));
    Item {
        pk: log_pk(&at.format("%Y-%m-%d").to_string()),
        sk: format!(
            "{}#{suffix}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ),
        attrs,
    }
}

/// The entry a log item holds.
pub fn decode_log(item: &Item) -> Result<LogEntry, EventsError> {
    match item.attrs.get("entry") {
        Some(Attr::S(json)) => serde_json::from_str(json)
            .map_err(|e| EventsError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk))),
        _ => Err(EventsError::Corrupt(format!(
            "{}/{}: no entry",
            item.pk, item.sk
        ))),
    }
}
