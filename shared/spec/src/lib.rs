//! The Ferry flow spec (`docs/flow-spec.md`): the DAG model ([`model`]), Metaflow's
//! graph-derived fields ([`graph`]), validation with one message per problem ([`mod@validate`]),
//! EventBridge cron parsing and fire times ([`aws_cron`]), the standard cron of `@trigger`
//! resets ([`standard_cron`]), parameter values as runs receive them ([`param_value`]), the
//! Metaflow exporter that reads a flow file with the real `metaflow` package ([`export`]), the
//! task description handed to every task ([`task`]), the resume section and clone plan of a
//! resumed run ([`resume`]), and the identity newtypes of deployments, executions and runs
//! ([`ids`]).

pub mod array_job;
pub mod aws_cron;
pub mod digest;
pub mod export;
pub mod graph;
pub mod ids;
pub mod model;
pub mod param_value;
pub mod resume;
pub mod standard_cron;
pub mod task;
pub mod trigger_rules;
pub mod validate;

pub use export::{ExportError, export_spec};
pub use graph::{FlowGraph, GraphError, Node};
pub use ids::{
    DeploymentName, DeploymentNameError, ExecutionName, ExecutionNameError, RunId, RunIdError,
};
pub use model::*;
pub use validate::{ValidationError, ValidationErrors, validate};
