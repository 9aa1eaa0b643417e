//! AWS adapters for the deploy ports: Step Functions, EventBridge Scheduler, Batch.
