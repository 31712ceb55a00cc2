//! Observability built on [`crate::hooks`]: an [`Observer`] that records what the consumer
//! and the runner report, [`Statistics`] snapshots (librdkafka's `statistics.interval.ms`),
//! a Prometheus/OpenMetrics exposition ([`Metrics`]), liveness and readiness ([`probes`]), a
//! status page ([`page`]) and an HTTP endpoint serving them ([`server`]).
//! Alert rules and their evaluator are in [`alerts`], the alert webhook in [`webhook`].
//!
//! Invariants:
//! - The [`Observer`] is the one source of truth: statistics, the exposition and the probes
//!   (and a status page or alert evaluator) all read its snapshot; none keeps numbers of its
//!   own.
//! - Nothing here runs in the consumer's data path: the data path calls hooks, and
//!   everything else happens when someone reads (a scrape, a probe, a statistics tick).
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//! use rskafka_consumer::observe::{Metrics, Observer, server};
//!
//! # async fn demo(config: rskafka_consumer::runner::RunnerConfig,
//! #               handler: impl rskafka_consumer::runner::Handler) -> Result<(), Box<dyn std::error::Error>> {
//! let observer = Arc::new(Observer::new());
//! let runner = rskafka_consumer::runner::Runner::builder(config)
//!     .handler(handler)
//!     .hooks(Arc::clone(&observer))
//!     .build()?;
//! let state = server::ServerState {
//!     metrics: Arc::new(Metrics::new(Arc::clone(&observer))),
//!     observer,
//!     startup_grace: Duration::ZERO,
//! };
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:9464").await?;
//! tokio::spawn(server::serve(listener, server::router(state), std::future::pending()));
//! runner.run().await?;
//! # Ok(()) }
//! ```

mod alert_board;
pub mod alerts;
mod errors;
mod observer;
pub mod page;
pub mod probes;
pub mod prometheus;
pub mod server;
mod statistics;
pub mod webhook;

pub use alert_board::ALERT_METRIC_NAMES;
pub use alerts::{AlertBoard, AlertEvaluator, AlertRule, AlertTransition, AlertingConfig};
pub use errors::{ERROR_RING, ErrorEvent, MAX_ERROR_TEXT};
pub use observer::Observer;
pub use probes::Probe;
pub use prometheus::{METRIC_NAMES, Metrics};
pub use statistics::{
    BrokerStatistics, BufferStatistics, CommitStatistics, FiringAlert, GroupState, GroupStatistics,
    RunnerStatistics, Statistics, TopicStatistics,
};
#[cfg(test)]
mod tests;
