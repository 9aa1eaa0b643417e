//! The Metaflow metadata HTTP API (metaflow-service 2.5.1 wire contract) as an axum Router over the Table port.
