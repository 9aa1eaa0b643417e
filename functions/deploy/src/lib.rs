//! The deploy Lambda's library: the S3 event it receives ([`event`]), the handler that runs the
//! deploy use case for each request key in it ([`handler`]), and the wiring from the Lambda's
//! environment to the use case's context ([`wiring`]). `main.rs` is the Lambda entry point only;
//! `tests/moto.rs` drives [`handler::handle_event`] against moto.

pub mod event;
pub mod handler;
pub mod wiring;
