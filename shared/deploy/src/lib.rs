//! The deploy use case: request -> token check -> compile -> state machine -> schedule -> record -> result.
