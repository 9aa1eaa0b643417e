//! Artifact pointers: `T#<flow>#<run>#<task>` / `A#<attempt>#<name>`.

use ferry_store::{Condition, TableError};
use futures::{StreamExt, stream};

use super::{FANOUT, Repo, now_ms};
use crate::error::ApiResult;
use crate::layout;
use crate::model::{Artifact, Run, Task};

impl Repo {
    /// Insert artifacts; one already stored for the same attempt and name is skipped silently.
    /// Returns how many were created.
    pub async fn create_artifacts(
        &self,
        run: &Run,
        task: &Task,
        mut arts: Vec<Artifact>,
    ) -> ApiResult<usize> {
        let ts = now_ms();
        for a in &mut arts {
            a.ts_epoch = ts;
        }
        let futs: Vec<_> = arts
            .iter()
            .map(|a| self.table.put(a.to_item(run, task), Condition::NotExists))
            .collect();
        let results: Vec<Result<(), TableError>> =
            stream::iter(futs).buffer_unordered(FANOUT).collect().await;
        let mut created = 0;
        for r in results {
            match r {
                Ok(()) => created += 1,
                Err(TableError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(created)
    }

    /// Every artifact of a task (all attempts), by attempt then name.
    pub async fn list_artifacts(&self, run: &Run, task: &Task) -> ApiResult<Vec<Artifact>> {
        let pk = layout::task_pk(&run.flow_id, run.run_number, task.task_id);
        let items = self.query_all(&pk, layout::ARTIFACT_PREFIX).await?;
        Ok(items.iter().filter_map(Artifact::from_item).collect())
    }

    /// The artifacts of one attempt of a task.
    pub async fn list_attempt_artifacts(
        &self,
        run: &Run,
        task: &Task,
        attempt: u32,
    ) -> ApiResult<Vec<Artifact>> {
        let pk = layout::task_pk(&run.flow_id, run.run_number, task.task_id);
        let items = self
            .query_all(&pk, &layout::artifact_attempt_prefix(attempt))
            .await?;
        Ok(items.iter().filter_map(Artifact::from_item).collect())
    }

    /// One artifact of one attempt.
    pub async fn get_artifact(
        &self,
        run: &Run,
        task: &Task,
        name: &str,
        attempt: u32,
    ) -> ApiResult<Option<Artifact>> {
        let pk = layout::task_pk(&run.flow_id, run.run_number, task.task_id);
        let sk = layout::artifact_sk(attempt, name);
        Ok(self
            .table
            .get(&pk, &sk)
            .await?
            .as_ref()
            .and_then(Artifact::from_item))
    }
}
