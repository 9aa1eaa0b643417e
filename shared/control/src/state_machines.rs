//! The state machines port: what a deploy puts, reads and deletes.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_spec::DeploymentName;
use serde::{Deserialize, Serialize};

use crate::ControlError;

/// A deployed state machine's identity.
///
/// JSON: `{"name", "id"}` (stored in deployment records and schedules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMachineRef {
    /// The state machine name (= the deployment name).
    pub name: DeploymentName,
    /// Its ARN on AWS (`arn:aws:states:<region>:<account>:stateMachine:<name>`); an adapter id
    /// on the embedded stack (`local:stateMachine:<name>`).
    pub id: String,
}

/// A state machine as stored (`DescribeStateMachine` + `ListTagsForResource`).
///
/// JSON: `{"name", "id", "definition", "tags": {..}, "created_at"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMachine {
    /// The state machine name.
    pub name: DeploymentName,
    /// ARN on AWS, adapter id on the embedded stack (see [`StateMachineRef::id`]).
    pub id: String,
    /// The Amazon States Language definition, as the JSON text that was put.
    pub definition: String,
    /// Resource tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// When it was created (`creationDate`), if the adapter knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

impl StateMachine {
    /// Its identity.
    pub fn reference(&self) -> StateMachineRef {
        StateMachineRef {
            name: self.name.clone(),
            id: self.id.clone(),
        }
    }
}

/// State machines by name: Step Functions on AWS (`ferry_aws::StepFunctions`), the embedded
/// stack's in-process orchestrator (`ferry_local::orchestrator::LocalOrchestrator`).
/// The deploy use case is their one caller.
#[async_trait]
pub trait StateMachines: Send + Sync + 'static {
    /// Create the state machine `name`, or update its definition and tags when it exists
    /// (`CreateStateMachine`, else `UpdateStateMachine` + `TagResource`). `definition` is Amazon
    /// States Language JSON text. Running executions keep the definition they started with.
    /// Errors: [`ControlError::Deleting`] while a deletion is in flight,
    /// [`ControlError::Invalid`] for a rejected definition.
    async fn put(
        &self,
        name: &DeploymentName,
        definition: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<StateMachineRef, ControlError>;

    /// The state machine `name`, or `None` when it does not exist (or is being deleted).
    async fn get(&self, name: &DeploymentName) -> Result<Option<StateMachine>, ControlError>;

    /// Delete the state machine `name`. Returns whether it existed; deleting one that does not
    /// exist, or whose deletion is in flight, is `Ok(false)`. Running executions are not
    /// stopped.
    async fn delete(&self, name: &DeploymentName) -> Result<bool, ControlError>;
}
