//! Metadata rows: `T#<flow>#<run>#<task>` / `M#<ts_epoch>#<id>`.

use ferry_store::{Condition, WriteOp};

use super::{Repo, now_ms};
use crate::error::ApiResult;
use crate::layout;
use crate::model::{Metadata, Run, Task};

/// Most writes per store transaction.
const TX_MAX: usize = 100;

impl Repo {
    /// Insert metadata rows (duplicates allowed). Ids and `ts_epoch` are set here; each batch
    /// of up to 100 rows is written atomically. Returns how many rows were created.
    pub async fn create_metadata(
        &self,
        run: &Run,
        task: &Task,
        mut rows: Vec<Metadata>,
    ) -> ApiResult<usize> {
        let ts = now_ms();
        for row in &mut rows {
            row.id = self.metadata_ids.next(&self.table).await?;
            row.ts_epoch = ts;
        }
        for chunk in rows.chunks(TX_MAX) {
            let ops = chunk
                .iter()
                .map(|m| WriteOp::Put {
                    item: m.to_item(run, task),
                    condition: Condition::None,
                })
                .collect();
            self.write_all(ops).await?;
        }
        Ok(rows.len())
    }

    /// The metadata rows of the task with id `task_id`, newest first (`ts_epoch DESC, id DESC`).
    pub async fn list_metadata(&self, run: &Run, task_id: i64) -> ApiResult<Vec<Metadata>> {
        let pk = layout::task_pk(&run.flow_id, run.run_number, task_id);
        let items = self.query_all(&pk, layout::METADATA_PREFIX).await?;
        let mut rows: Vec<Metadata> = items.iter().filter_map(Metadata::from_item).collect();
        rows.sort_by_key(|m| std::cmp::Reverse((m.ts_epoch, m.id)));
        Ok(rows)
    }
}
