//! The runner: a `process_message` handler made fault-tolerant (retries, dead-lettering,
//! idempotency, backpressure, graceful shutdown).

pub mod dlq;
