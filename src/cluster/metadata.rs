//! The cluster's shape as the application sees it: brokers, topics, partitions and leaders.

use base64::Engine as _;
use serde::Serialize;

use crate::{error::KafkaCode, wire::metadata::MetadataResponse};

/// A snapshot of cluster metadata, topics sorted by name and partitions by index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterMetadata {
    /// `host:port` of the broker that answered.
    pub originating_broker: String,
    /// The cluster id, when the broker reports one.
    pub cluster_id: Option<String>,
    /// Node id of the active controller, −1 when unknown.
    pub controller_id: i32,
    /// Live brokers, sorted by id.
    pub brokers: Vec<BrokerInfo>,
    /// Topics, sorted by name.
    pub topics: Vec<TopicInfo>,
}

/// One broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokerInfo {
    /// Node id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, when configured.
    pub rack: Option<String>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicInfo {
    /// Topic name.
    pub topic: String,
    /// Topic id in Kafka's text form (URL-safe base64), when the broker reports one.
    pub topic_id: Option<String>,
    /// Whether the topic is internal.
    pub internal: bool,
    /// The topic-level error, e.g. `UnknownTopicOrPartition (3)`.
    pub error: Option<String>,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionInfo>,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Leader node id, −1 when leaderless.
    pub leader: i32,
    /// Leader epoch, −1 when unknown.
    pub leader_epoch: i32,
    /// All replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Offline replicas.
    pub offline_replicas: Vec<i32>,
    /// The partition-level error, if any.
    pub error: Option<String>,
}

impl ClusterMetadata {
    /// The topic named `name`, if present.
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.iter().find(|t| t.topic == name)
    }

    pub(crate) fn from_response(originating_broker: String, r: MetadataResponse) -> Self {
        let mut brokers: Vec<BrokerInfo> = r
            .brokers
            .into_iter()
            .map(|b| BrokerInfo {
                id: b.node_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        let mut topics: Vec<TopicInfo> = r
            .topics
            .into_iter()
            .filter_map(|t| {
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        leader: p.leader_id,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes,
                        isr: p.isr_nodes,
                        offline_replicas: p.offline_replicas,
                        error: error_text(p.error_code),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some(TopicInfo {
                    topic: t.name?,
                    topic_id: (t.topic_id != [0; 16]).then(|| {
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t.topic_id)
                    }),
                    internal: t.is_internal,
                    error: error_text(t.error_code),
                    partitions,
                })
            })
            .collect();
        topics.sort_by(|a, b| a.topic.cmp(&b.topic));
        Self {
            originating_broker,
            cluster_id: r.cluster_id,
            controller_id: r.controller_id,
            brokers,
            topics,
        }
    }
}

fn error_text(code: i16) -> Option<String> {
    KafkaCode::from_code(code).map(|c| c.to_string())
}
