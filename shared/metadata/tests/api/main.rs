//! HTTP tests of the metadata service: a real server on 127.0.0.1, reqwest, and every test on
//! both store adapters (SQLite, and DynamoDB on moto).

mod bad_requests;
mod concurrency;
mod conformance;
mod run_execution_status;
mod support;
mod task_states;
