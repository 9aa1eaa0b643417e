//! The delivery log on the Ferry table: per deployment, the last [`DeliveryReport`] (what
//! `ferry describe` shows) and the PagerDuty incidents Ferry opened and has not resolved.
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `notify#deliveries` | `<deployment>` | `report` (S: [`DeliveryReport`] JSON), `updated_at` (N: epoch s), `open_incidents` (SS: PagerDuty dedup keys) |
//!
//! One partition for every deployment: one item write per finished run with notifications,
//! far below a partition's write limit. Two runs of one deployment ending at the same moment
//! may overwrite each other's report (the last one wins) and, rarely, keep an incident key
//! that was just resolved: resolving it again is harmless.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_store::{Attr, Condition, Table};

use crate::NotifyError;
use crate::notifier::DeliveryReport;

/// Partition key of the delivery log.
pub const DELIVERIES_PK: &str = "notify#deliveries";

/// The delivery log on a table.
#[derive(Clone)]
pub struct DeliveryLog {
    table: Arc<dyn Table>,
}

fn store(e: ferry_store::TableError) -> NotifyError {
    NotifyError::Store(e.to_string())
}

impl DeliveryLog {
    /// The log on `table` (the Ferry table: `<home>/ferry.db`, or the deployments table).
    pub fn new(table: Arc<dyn Table>) -> Self {
        DeliveryLog { table }
    }

    /// Keep `report` as its deployment's last delivery.
    pub async fn record(&self, report: &DeliveryReport) -> Result<(), NotifyError> {
        let json = serde_json::to_string(report).expect("a report serialises");
        let attrs = BTreeMap::from([
            ("report".to_string(), Attr::S(json)),
            (
                "updated_at".to_string(),
                Attr::N(report.sent_at.timestamp()),
            ),
        ]);
        self.table
            .set(DELIVERIES_PK, &report.deployment, attrs, Condition::None)
            .await
            .map_err(store)
    }

    /// The last delivery of `deployment`, if any.
    pub async fn last(&self, deployment: &str) -> Result<Option<DeliveryReport>, NotifyError> {
        let Some(item) = self
            .table
            .get(DELIVERIES_PK, deployment)
            .await
            .map_err(store)?
        else {
            return Ok(None);
        };
        match item.attrs.get("report") {
            Some(Attr::S(json)) => serde_json::from_str(json)
                .map(Some)
                .map_err(|e| NotifyError::Store(format!("corrupt delivery report: {e}"))),
            _ => Ok(None),
        }
    }

    /// The PagerDuty incidents opened for `deployment` and not resolved yet (dedup keys).
    pub async fn open_incidents(&self, deployment: &str) -> Result<Vec<String>, NotifyError> {
        let item = self
            .table
            .get(DELIVERIES_PK, deployment)
            .await
            .map_err(store)?;
        Ok(
            match item.as_ref().and_then(|i| i.attrs.get("open_incidents")) {
                Some(Attr::Ss(keys)) => {
                    let mut keys = keys.clone();
                    keys.sort();
                    keys
                }
                _ => Vec::new(),
            },
        )
    }

    /// Remember that incident `dedup_key` is open for `deployment`.
    pub async fn open_incident(
        &self,
        deployment: &str,
        dedup_key: &str,
    ) -> Result<(), NotifyError> {
        self.table
            .add_to_set(
                DELIVERIES_PK,
                deployment,
                "open_incidents",
                &[dedup_key.to_string()],
            )
            .await
            .map_err(store)
    }

    /// Forget the incidents `resolved` of `deployment`.
    pub async fn close_incidents(
        &self,
        deployment: &str,
        resolved: &[String],
    ) -> Result<(), NotifyError> {
        if resolved.is_empty() {
            return Ok(());
        }
        let left: Vec<String> = self
            .open_incidents(deployment)
            .await?
            .into_iter()
            .filter(|k| !resolved.contains(k))
            .collect();
        let attrs = BTreeMap::from([("open_incidents".to_string(), Attr::Ss(left))]);
        self.table
            .set(DELIVERIES_PK, deployment, attrs, Condition::None)
            .await
            .map_err(store)
    }

    /// Drop everything kept for `deployment` (when it is deleted).
    pub async fn forget(&self, deployment: &str) -> Result<(), NotifyError> {
        self.table
            .delete(DELIVERIES_PK, deployment, Condition::None)
            .await
            .map_err(store)
    }
}
