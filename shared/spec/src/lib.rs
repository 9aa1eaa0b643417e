//! The Ferry flow spec v1: the DAG model ([`model`]), the task description handed to every task
//! ([`task`]), and (added by their owners) graph derivation, validation and the Metaflow exporter.

pub mod aws_cron;
pub mod export;
pub mod graph;
pub mod model;
pub mod task;
pub mod validate;

pub use export::{ExportError, export_spec};
pub use graph::{FlowGraph, GraphError, Node};
pub use model::*;
pub use validate::{ValidationError, ValidationErrors, validate};
