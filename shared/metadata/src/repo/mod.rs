//! Data access over the [`Table`] port, one module per resource; see [`crate::layout`] for keys.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ferry_store::{Item, Table, TableError, WriteOp};

use crate::error::ApiResult;
use crate::ids::BlockIds;

mod artifacts;
mod flows;
mod heartbeats;
mod metadata;
mod run_executions;
pub mod runs;
mod steps;
mod tasks;

pub use heartbeats::COPY_EVERY_S;

/// The metadata store: the table plus this process's id blocks and small caches of facts that
/// never change once true (a step exists) or only need to be approximately fresh (when this
/// process last refreshed a run's heartbeat).
pub struct Repo {
    table: Arc<dyn Table>,
    task_ids: BlockIds,
    metadata_ids: BlockIds,
    known_steps: Cache<()>,
    run_refreshed: Cache<i64>,
    tag_locks: Vec<tokio::sync::Mutex<()>>,
}

/// Entries kept in each cache before it is cleared.
const CACHE_MAX: usize = 100_000;

/// A small in-process cache, cleared when it reaches [`CACHE_MAX`] entries.
type Cache<V> = std::sync::Mutex<HashMap<(String, String), V>>;

/// A cached value.
fn recall<V: Copy>(cache: &Cache<V>, k: &(String, String)) -> Option<V> {
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(k)
        .copied()
}

/// Cache a value.
fn remember<V>(cache: &Cache<V>, k: (String, String), v: V) {
    let mut g = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if g.len() >= CACHE_MAX {
        g.clear();
    }
    g.insert(k, v);
}

impl Repo {
    /// A repository over a table.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Repo {
            table,
            task_ids: BlockIds::new("task"),
            metadata_ids: BlockIds::new("metadata"),
            known_steps: Cache::default(),
            run_refreshed: Cache::default(),
            tag_locks: (0..TAG_LOCKS)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    /// The underlying table.
    pub fn table(&self) -> &Arc<dyn Table> {
        &self.table
    }

    /// Every item of a partition whose sort key starts with `prefix`, in sort-key order.
    async fn query_all(&self, pk: &str, prefix: &str) -> ApiResult<Vec<Item>> {
        Ok(self.table.query_all(pk, prefix).await?)
    }

    /// Write all operations atomically: one conditional put when there is just one (cheaper than
    /// a transaction on DynamoDB, which bills transactional writes twice), else a transaction.
    async fn write_all(&self, mut ops: Vec<WriteOp>) -> Result<(), TableError> {
        if ops.len() == 1
            && let Some(WriteOp::Put { item, condition }) = ops.pop()
        {
            return self.table.put(item, condition).await;
        }
        self.table.transact(ops).await
    }
}

/// Milliseconds since the epoch (`ts_epoch`).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Seconds since the epoch (`last_heartbeat_ts`).
pub fn now_s() -> i64 {
    now_ms() / 1000
}

/// Stripes of the in-process tag-mutation lock.
const TAG_LOCKS: usize = 64;

/// How many store reads one listing runs at once.
pub(crate) const FANOUT: usize = 16;
