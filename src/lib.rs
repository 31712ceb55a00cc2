//! A production-grade Kafka consumer in pure Rust, built on [`rskafka`]'s protocol layer.
//!
//! This crate adds what rskafka lacks for real consumers. Today it offers the cluster layer:
//! connections with bootstrap failover, connect and request timeouts, and cluster metadata.
//!
//! ```no_run
//! use rskafka_consumer::{ClientConfig, Cluster};
//!
//! # #[tokio::main] async fn main() -> Result<(), rskafka_consumer::Error> {
//! let mut config = ClientConfig::new("127.0.0.1:9092,127.0.0.1:9093")?;
//! config.set("socket.connection.setup.timeout.ms", "5000")?;
//! let cluster = Cluster::connect(config).await?;
//! let metadata = cluster.metadata(None).await?;
//! println!("{} brokers, {} topics", metadata.brokers.len(), metadata.topics.len());
//! # Ok(()) }
//! ```

pub mod cluster;
pub mod config;
pub mod consumer;
pub mod error;
mod fetch;
pub mod group;
pub mod record;
pub mod runner;
pub mod wire;

pub use cluster::{Cluster, ClusterMetadata};
pub use config::{ClientConfig, ConfigError, ConsumerConfig, IsolationLevel, OffsetReset};
pub use consumer::{Consumer, Event, Message, Offset, TopicPartition, Watermarks};
pub use error::{Error, KafkaCode, Result};
