//! The task wrapper's logic: task description, code package, running a step, logs, foreach fan-out state.
