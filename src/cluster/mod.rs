//! Broker connections and cluster metadata.
//!
//! Owns: the bootstrap list and its failover, the connection used for cluster-wide requests,
//! and metadata snapshots. Invariants: a connection that failed is never reused; the next
//! request connects again through the bootstrap list. No lock is held across a connect or a
//! request: concurrent cluster-wide requests share one connection attempt (`slot`) and are
//! pipelined on the connection, so a slow response holds up only its own caller.

mod bootstrap;
pub(crate) mod connection;
mod metadata;
mod oidc;
pub(crate) mod pool;
mod sasl;
pub(crate) mod slot;
mod tls;
mod transport;

pub use metadata::{BrokerInfo, ClusterMetadata, PartitionInfo, TopicInfo};

/// The rustls client settings the broker connections use, for an application's other TLS
/// clients (e.g. `rkc run`'s https handler): the pure-Rust graviola crypto provider (no C),
/// TLS 1.3 and 1.2, and `tls`'s trust (`ca_location`/`ca_pem`, else the system roots, else
/// the embedded Mozilla roots), host-name check and client identity.
///
/// # Errors
/// [`crate::ConfigError`] naming the `ssl.*` property whose file or PEM is unusable, or
/// `security.protocol` when this CPU lacks the features graviola needs.
pub fn tls_client_config(
    tls: &crate::config::TlsConfig,
) -> std::result::Result<std::sync::Arc<rustls::ClientConfig>, crate::ConfigError> {
    tls::client_config(tls)
}

use crate::{
    config::{BrokerAddress, ClientConfig},
    error::Result,
    wire::{WireRequest, metadata::MetadataRequest},
};

use connection::BrokerConnection;
use slot::ConnectSlot;

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
    bootstrap: ConnectSlot<BrokerConnection>,
    /// Brokers learned from the last metadata, tried after the bootstrap list when the
    /// connection must be replaced (the bootstrap brokers may be the ones that are down).
    known_brokers: std::sync::Mutex<Vec<BrokerAddress>>,
}

impl Cluster {
    /// Connects to the first bootstrap broker that answers. A cluster that is transiently
    /// unavailable (connections refused, timing out, or closed while brokers start or stop)
    /// is tried again, every address in turn with a growing pause (100 ms to 1 s), for
    /// `socket.connection.setup.timeout.ms` (default 30 s) plus one last round.
    ///
    /// # Errors
    /// At once: TLS or SASL failures, and plaintext answered with a TLS record
    /// ([`crate::Error::PlaintextToTls`]). After the retries: [`crate::Error::PlaintextToTls`]
    /// when every address kept closing the connection during the first request, else
    /// [`crate::Error::NoBrokerReachable`] naming each address's last failure.
    pub async fn connect(config: ClientConfig) -> Result<Self> {
        let conn = bootstrap::first_contact(&config.bootstrap_servers, &config).await?;
        Ok(Self {
            config,
            bootstrap: ConnectSlot::with(conn),
            known_brokers: std::sync::Mutex::new(Vec::new()),
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
    /// fresh connection: to a bootstrap broker, else to any broker the last metadata named.
    pub async fn metadata(&self, topics: Option<&[String]>) -> Result<ClusterMetadata> {
        let request = MetadataRequest {
            topics: topics.map(<[String]>::to_vec),
            allow_auto_topic_creation: false,
        };
        let (broker, response) = self.request_any(request).await?;
        let metadata = ClusterMetadata::from_response(broker, response);
        self.remember_brokers(&metadata);
        Ok(metadata)
    }

    /// Sends a request that any broker can answer (Metadata, FindCoordinator, ListGroups…)
    /// over the cluster connection, with the same reconnect-once rule as [`Cluster::metadata`].
    /// Returns the answering broker with the response.
    pub(crate) async fn request_any<R: WireRequest + Clone>(
        &self,
        request: R,
    ) -> Result<(String, R::Response)> {
        for attempt in 0..2 {
            let conn = self
                .bootstrap
                .get_or_connect(|| async {
                    bootstrap::connect_any(&self.candidates(), &self.config).await
                })
                .await?;
            match conn.request(request.clone()).await {
                Ok(response) => return Ok((conn.broker().to_owned(), response)),
                Err(e) => {
                    self.bootstrap.forget_if(&conn);
                    if attempt > 0 || !e.is_retriable() {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, api = R::NAME, "request failed, reconnecting");
                }
            }
        }
        unreachable!("the second attempt always returns")
    }

    /// The bootstrap list followed by the other brokers the cluster last reported.
    fn candidates(&self) -> Vec<BrokerAddress> {
        let mut list = self.config.bootstrap_servers.clone();
        for addr in self
            .known_brokers
            .lock()
            .expect("known brokers lock")
            .iter()
        {
            if !list.contains(addr) {
                list.push(addr.clone());
            }
        }
        list
    }

    fn remember_brokers(&self, metadata: &ClusterMetadata) {
        let known = metadata
            .brokers
            .iter()
            .filter_map(|b| {
                Some(BrokerAddress {
                    host: b.host.clone(),
                    port: u16::try_from(b.port).ok()?,
                })
            })
            .collect();
        *self.known_brokers.lock().expect("known brokers lock") = known;
    }
}
