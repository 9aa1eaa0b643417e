//! The deployment records and the flow specs they name, as the UI reads them.
//!
//! Records come from the deployment table (`ferry_deploy::record`); a record's compiled event
//! triggers are listed one object per event. Specs are read from the deploy blobs at the
//! record's `spec_key` and kept in memory by their sha256 (a deployed spec never changes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferry_deploy::DeploymentRecord;
use ferry_deploy::record::{RECORDS_PK, decode_record};
use ferry_spec::FlowSpec;
use ferry_store::{Blobs, Table};
use serde_json::Value;

use crate::error::{UiError, UiResult};

/// A deployment record, as the UI shows it.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The record.
    pub record: DeploymentRecord,
}

impl Deployment {
    /// The events that start runs, one `{"type": "event" | "run", "name", "flow"}` each (`flow`:
    /// the upstream flow of a `@trigger_on_finish`, else null); empty without triggers.
    pub fn triggers(&self) -> Vec<Value> {
        self.record
            .triggers
            .iter()
            .flat_map(|t| {
                t.events.iter().map(move |e| {
                    serde_json::json!({
                        "type": t.kind.as_str(),
                        "name": e.name,
                        "flow": e.upstream.as_ref().map(|u| &u.flow),
                    })
                })
            })
            .collect()
    }
}

/// Every deployment record of `table`, by deployment name. Unreadable items are skipped (and
/// logged): one corrupt record does not hide the others.
pub async fn deployments(table: &Arc<dyn Table>) -> UiResult<Vec<Deployment>> {
    let items = table.query_all(RECORDS_PK, "").await?;
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let record = match decode_record(item) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("skipping a deployment record: {e}");
                continue;
            }
        };
        out.push(Deployment { record });
    }
    Ok(out)
}

/// The flow specs of deployments, cached by sha256.
#[derive(Clone)]
pub struct Specs {
    blobs: Option<Arc<dyn Blobs>>,
    cache: Arc<Mutex<HashMap<String, Arc<FlowSpec>>>>,
}

/// Specs kept in memory at most (each a few KB).
const CACHE_MAX: usize = 256;

impl Specs {
    /// Over the deploy blobs, if any.
    pub fn new(blobs: Option<Arc<dyn Blobs>>) -> Self {
        Specs {
            blobs,
            cache: Arc::default(),
        }
    }

    /// The spec `record` deployed, `None` when there are no blobs or it is gone (deploy
    /// requests expire on AWS after 30 days).
    pub async fn of(&self, record: &DeploymentRecord) -> UiResult<Option<Arc<FlowSpec>>> {
        let Some(blobs) = &self.blobs else {
            return Ok(None);
        };
        let sha = &record.spec_sha256;
        if let Some(s) = self.cached(sha) {
            return Ok(Some(s));
        }
        let Some(bytes) = blobs.get(&record.spec_key).await? else {
            return Ok(None);
        };
        let spec: FlowSpec = serde_json::from_slice(&bytes).map_err(|e| {
            UiError::Store(format!(
                "the spec of {} ({}) does not parse: {e}",
                record.deployment, record.spec_key
            ))
        })?;
        let spec = Arc::new(spec);
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(sha.clone(), spec.clone());
        Ok(Some(spec))
    }

    fn cached(&self, sha: &str) -> Option<Arc<FlowSpec>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(sha)
            .cloned()
    }
}
