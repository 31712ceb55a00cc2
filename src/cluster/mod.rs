//! Broker connections and cluster metadata.
//!
//! Owns: the bootstrap list and its failover, the connection used for cluster-wide requests,
//! and metadata snapshots. Invariant: a connection that failed is never reused; the next
//! request connects again through the bootstrap list.

mod bootstrap;
pub(crate) mod connection;
mod metadata;
pub(crate) mod pool;

pub use metadata::{BrokerInfo, ClusterMetadata, PartitionInfo, TopicInfo};

use tokio::sync::Mutex;

use crate::{config::ClientConfig, error::Result, wire::metadata::MetadataRequest};

use connection::BrokerConnection;

/// A handle on a Kafka cluster, reached through `bootstrap.servers`.
///
/// ```no_run
/// # async fn demo() -> Result<(), rskafka_consumer::Error> {
/// use rskafka_consumer::{ClientConfig, Cluster};
///
/// let cluster = Cluster::connect(ClientConfig::new("127.0.0.1:9092")?).await?;
/// let metadata = cluster.metadata(None).await?;
/// for topic in &metadata.topics {
///     println!("{} has {} partitions", topic.topic, topic.partitions.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Cluster {
    config: ClientConfig,
    bootstrap: Mutex<Option<BrokerConnection>>,
}

impl Cluster {
    /// Connects to the first bootstrap broker that answers.
    pub async fn connect(config: ClientConfig) -> Result<Self> {
        let conn = bootstrap::connect_any(&config.bootstrap_servers, &config).await?;
        Ok(Self {
            config,
            bootstrap: Mutex::new(Some(conn)),
        })
    }

    /// The configuration this handle was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Fetches metadata for `topics`, or for every topic when `None`. Topics that do not exist
    /// are reported with their error, not created.
    ///
    /// If the current connection fails, it is dropped and the request is sent once more over a
    /// fresh connection from the bootstrap list.
    pub async fn metadata(&self, topics: Option<&[String]>) -> Result<ClusterMetadata> {
        let request = MetadataRequest {
            topics: topics.map(<[String]>::to_vec),
            allow_auto_topic_creation: false,
        };
        let mut guard = self.bootstrap.lock().await;
        for attempt in 0..2 {
            let conn = match guard.take() {
                Some(conn) => conn,
                None => {
                    bootstrap::connect_any(&self.config.bootstrap_servers, &self.config).await?
                }
            };
            match conn.request(request.clone()).await {
                Ok(response) => {
                    let broker = conn.broker().to_owned();
                    *guard = Some(conn);
                    return Ok(ClusterMetadata::from_response(broker, response));
                }
                Err(e) if attempt == 0 && e.is_retriable() => {
                    tracing::warn!(error = %e, "metadata request failed, reconnecting");
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the second attempt always returns")
    }
}
