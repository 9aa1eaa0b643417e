//! Server-side id allocation.
//!
//! - Run numbers: one atomic counter per flow (`ADD 1`), so runs of different flows never touch
//!   the same item and numbers never repeat within a flow.
//! - Task ids and metadata row ids: global and unique, handed out from blocks. A process takes a
//!   block of [`BLOCK`] ids with one `ADD 100` and hands them out locally, so 1,000 task
//!   creations cost 10 counter writes, and the counter is not a hot key. Ids from different
//!   processes interleave; they are unique, not ordered in time.

use std::sync::Arc;

use ferry_store::Table;
use tokio::sync::Mutex;

use crate::error::ApiResult;
use crate::layout;

/// Ids per block.
pub const BLOCK: i64 = 100;

/// A block allocator for one kind of id (`"task"`, `"metadata"`).
pub struct BlockIds {
    kind: &'static str,
    next_and_end: Mutex<(i64, i64)>,
}

impl BlockIds {
    /// An allocator with no block yet.
    pub fn new(kind: &'static str) -> Self {
        BlockIds {
            kind,
            next_and_end: Mutex::new((0, 0)),
        }
    }

    /// The next id (≥ 1). Takes a new block from the store when the current one is used up.
    pub async fn next(&self, table: &Arc<dyn Table>) -> ApiResult<i64> {
        let mut guard = self.next_and_end.lock().await;
        let (next, end) = *guard;
        if next < end {
            *guard = (next + 1, end);
            return Ok(next);
        }
        let (pk, sk) = layout::seq(self.kind);
        let hi = table.add(&pk, &sk, "n", BLOCK).await?;
        let first = hi - BLOCK + 1;
        *guard = (first + 1, hi + 1);
        Ok(first)
    }
}

/// The next run number of a flow.
pub async fn next_run_number(table: &Arc<dyn Table>, flow: &str) -> ApiResult<i64> {
    let pk = layout::flow_pk(flow);
    Ok(table.add(&pk, layout::RUN_SEQ_SK, "n", 1).await?)
}
