//! A production-grade Kafka consumer in pure Rust, built on [`rskafka`]'s protocol layer.
//!
//! This crate adds what rskafka lacks for real consumers:
//!
//! - a [`Consumer`] with explicit assignment ([`Consumer::assign`]) or consumer-group
//!   membership ([`Consumer::subscribe`]: range, round-robin and cooperative-sticky
//!   assignors, static membership, auto or manual commits), `poll`/`poll_event`/`stream`,
//!   seek, pause and resume, watermarks and lag;
//! - a fetcher with one fetch loop per leader broker, incremental fetch sessions, a memory
//!   bound (`queued.max.messages.kbytes`), and read_committed filtering of aborted
//!   transactions;
//! - the cluster layer ([`Cluster`]): connections with bootstrap failover, connect and request
//!   timeouts, and cluster metadata; group administration in [`group::admin`];
//! - configuration by librdkafka's property names ([`ConsumerConfig::set`]) and one
//!   [`Error`] type, with named Kafka error codes ([`KafkaCode`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use rskafka_consumer::{Consumer, ConsumerConfig, Event};
//!
//! # #[tokio::main] async fn main() -> Result<(), rskafka_consumer::Error> {
//! let mut config = ConsumerConfig::new("127.0.0.1:9092")?;
//! config.set("group.id", "billing")?;
//! let consumer = Consumer::new(config).await?;
//! consumer.subscribe(&["orders"])?;
//! while let Some(event) = consumer.poll_event(Duration::from_secs(1)).await {
//!     match event {
//!         Ok(Event::Message(m)) => println!("{} [{}] @ {}", m.topic, m.partition, m.offset),
//!         Ok(Event::Assigned(partitions)) => println!("assigned {partitions:?}"),
//!         Ok(_) => {}
//!         Err(e) => eprintln!("{e}"),
//!     }
//! }
//! consumer.close().await;
//! # Ok(()) }
//! ```
//!
//! The layers, each importing only from those below it: [`types`], [`hooks`], [`config`],
//! [`error`] < [`wire`], [`record`] < [`cluster`] < `state` (partition table and delivery
//! buffer) < `fetch`, [`group`] < [`consumer`] (the facade) < [`observe`] (metrics,
//! statistics, probes) < [`runner`].
//!
//! Observability: the fetcher, the group member, commits and the runner report to the
//! [`hooks::Hooks`] installed in [`ConsumerConfig::hooks`] (none by default);
//! [`observe::Observer`] implements them and serves statistics, a Prometheus exposition and
//! health probes.

#![deny(unsafe_code, rust_2018_idioms)]
#![warn(missing_docs, unreachable_pub)]

pub mod cluster;
pub mod config;
pub mod consumer;
pub mod error;
mod fetch;
pub mod group;
pub mod hooks;
pub mod observe;
pub mod produce;
pub mod record;
pub mod runner;
mod state;
pub mod types;
pub mod wire;

pub use cluster::{Cluster, ClusterMetadata};
pub use config::{ClientConfig, ConfigError, ConsumerConfig, IsolationLevel, OffsetReset};
pub use consumer::{Batch, Consumer};
pub use error::{Error, KafkaCode, Result};
pub use types::{Event, Header, Message, Offset, TimestampType, TopicPartition, Watermarks};

/// Compiles the Rust examples of README.md as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
