//! Flows: `FLOWS` / `<flow>`.

use ferry_store::{Condition, TableError};

use super::Repo;
use crate::error::{ApiError, ApiResult};
use crate::layout;
use crate::model::Flow;

impl Repo {
    /// Create a flow; 409 when it exists.
    pub async fn create_flow(&self, flow: &Flow) -> ApiResult<()> {
        match self.table.put(flow.to_item(), Condition::NotExists).await {
            Ok(()) => Ok(()),
            Err(TableError::ConditionFailed { .. }) => Err(ApiError::Conflict(format!(
                "flow {} already exists",
                flow.flow_id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// One flow.
    pub async fn get_flow(&self, flow: &str) -> ApiResult<Option<Flow>> {
        let (pk, sk) = layout::flow(flow);
        Ok(self
            .table
            .get(&pk, &sk)
            .await?
            .as_ref()
            .and_then(Flow::from_item))
    }

    /// Every flow.
    pub async fn list_flows(&self) -> ApiResult<Vec<Flow>> {
        let items = self.query_all(layout::FLOWS_PK, "").await?;
        Ok(items.iter().filter_map(Flow::from_item).collect())
    }
}
