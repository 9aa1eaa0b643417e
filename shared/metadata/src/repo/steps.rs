//! Steps: `R#<flow>#<run>` / `S#<step>`.

use ferry_store::{Condition, TableError};

use super::Repo;
use crate::error::{ApiError, ApiResult};
use crate::layout;
use crate::model::{Run, Step};

impl Repo {
    /// Create a step of an existing run; 409 when it exists.
    pub async fn create_step(&self, run: &Run, step: &Step) -> ApiResult<()> {
        match self
            .table
            .put(step.to_item(run), Condition::NotExists)
            .await
        {
            Ok(()) => Ok(()),
            Err(TableError::ConditionFailed { .. }) => Err(ApiError::Conflict(format!(
                "step {} of run {} already exists",
                step.step_name,
                run.exposed_str()
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a step exists (cached once seen: steps are never deleted).
    pub async fn step_exists(&self, run: &Run, step: &str) -> ApiResult<bool> {
        let key = layout::step(&run.flow_id, run.run_number, step);
        if super::recall(&self.known_steps, &key).is_some() {
            return Ok(true);
        }
        let found = self.table.get(&key.0, &key.1).await?.is_some();
        if found {
            super::remember(&self.known_steps, key, ());
        }
        Ok(found)
    }

    /// One step.
    pub async fn get_step(&self, run: &Run, step: &str) -> ApiResult<Option<Step>> {
        let (pk, sk) = layout::step(&run.flow_id, run.run_number, step);
        Ok(self
            .table
            .get(&pk, &sk)
            .await?
            .as_ref()
            .and_then(Step::from_item))
    }

    /// Every step of a run.
    pub async fn list_steps(&self, run: &Run) -> ApiResult<Vec<Step>> {
        let pk = layout::run_pk(&run.flow_id, run.run_number);
        let items = self.query_all(&pk, layout::STEP_PREFIX).await?;
        Ok(items.iter().filter_map(Step::from_item).collect())
    }
}
