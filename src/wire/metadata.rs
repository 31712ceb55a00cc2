//! Metadata (API key 3), versions 4–12: brokers, topics, partitions, leaders and leader epochs.
//!
//! Version 4 is the oldest that Kafka 4.x still accepts (KIP-896); 9 is the first flexible
//! version, 10 adds topic ids, 11 drops the cluster authorized operations, 12 makes the topic
//! name nullable in responses.

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// Asks for cluster metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataRequest {
    /// Topics to describe; `None` means every topic in the cluster.
    pub topics: Option<Vec<String>>,
    /// Let the broker auto-create requested topics when it is configured to.
    pub allow_auto_topic_creation: bool,
}

impl WireRequest for MetadataRequest {
    type Response = MetadataResponse;
    const NAME: &'static str = "Metadata";
    const API_KEY: i16 = 3;
    const MIN_VERSION: i16 = 4;
    const MAX_VERSION: i16 = 12;
    const FIRST_FLEXIBLE_VERSION: i16 = 9;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        e.array_len(flexible, self.topics.as_ref().map(Vec::len));
        for name in self.topics.iter().flatten() {
            if version >= 10 {
                e.uuid(&[0; 16]);
            }
            e.string(flexible, name);
            e.tagged_fields(flexible);
        }
        e.bool(self.allow_auto_topic_creation);
        if (8..=10).contains(&version) {
            e.bool(false); // include_cluster_authorized_operations
        }
        if version >= 8 {
            e.bool(false); // include_topic_authorized_operations
        }
        e.tagged_fields(flexible);
    }
}

/// The cluster as one broker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
    /// Live brokers.
    pub brokers: Vec<MetadataBroker>,
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// The active controller's node id, −1 when unknown.
    pub controller_id: i32,
    /// The topics asked for (or all).
    pub topics: Vec<MetadataTopic>,
}

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, when configured.
    pub rack: Option<String>,
}

/// One topic of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTopic {
    /// Topic-level error code, 0 when none.
    pub error_code: i16,
    /// Topic name (only absent when a v12+ broker answers a request by topic id).
    pub name: Option<String>,
    /// Topic id (all zero before v10).
    pub topic_id: [u8; 16],
    /// Whether the topic is internal (e.g. `__consumer_offsets`).
    pub is_internal: bool,
    /// Its partitions.
    pub partitions: Vec<MetadataPartition>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPartition {
    /// Partition-level error code, 0 when none.
    pub error_code: i16,
    /// Partition index.
    pub partition_index: i32,
    /// Leader node id, −1 when there is none.
    pub leader_id: i32,
    /// Leader epoch, −1 when unknown.
    pub leader_epoch: i32,
    /// All replicas.
    pub replica_nodes: Vec<i32>,
    /// In-sync replicas.
    pub isr_nodes: Vec<i32>,
    /// Offline replicas.
    pub offline_replicas: Vec<i32>,
}

impl WireResponse for MetadataResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = MetadataRequest::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let brokers = d.array_of(flexible, |d| {
            let broker = MetadataBroker {
                node_id: d.i32()?,
                host: d.string(flexible)?.to_owned(),
                port: d.i32()?,
                rack: d.nullable_string(flexible)?.map(str::to_owned),
            };
            d.tagged_fields(flexible)?;
            Ok(broker)
        })?;
        let cluster_id = d.nullable_string(flexible)?.map(str::to_owned);
        let controller_id = d.i32()?;
        let topics = d.array_of(flexible, |d| decode_topic(d, version, flexible))?;
        if (8..=10).contains(&version) {
            let _cluster_authorized_operations = d.i32()?;
        }
        d.tagged_fields(flexible)?;
        Ok(Self {
            throttle_time_ms,
            brokers,
            cluster_id,
            controller_id,
            topics,
        })
    }
}

fn decode_topic(
    d: &mut Decoder<'_>,
    version: i16,
    flexible: bool,
) -> Result<MetadataTopic, DecodeError> {
    let error_code = d.i16()?;
    let name = d.nullable_string(flexible)?.map(str::to_owned);
    let topic_id = if version >= 10 { d.uuid()? } else { [0; 16] };
    let is_internal = d.bool()?;
    let partitions = d.array_of(flexible, |d| decode_partition(d, version, flexible))?;
    if version >= 8 {
        let _topic_authorized_operations = d.i32()?;
    }
    d.tagged_fields(flexible)?;
    Ok(MetadataTopic {
        error_code,
        name,
        topic_id,
        is_internal,
        partitions,
    })
}

fn decode_partition(
    d: &mut Decoder<'_>,
    version: i16,
    flexible: bool,
) -> Result<MetadataPartition, DecodeError> {
    let error_code = d.i16()?;
    let partition_index = d.i32()?;
    let leader_id = d.i32()?;
    let leader_epoch = if version >= 7 { d.i32()? } else { -1 };
    let replica_nodes = d.array_of(flexible, Decoder::i32)?;
    let isr_nodes = d.array_of(flexible, Decoder::i32)?;
    let offline_replicas = if version >= 5 {
        d.array_of(flexible, Decoder::i32)?
    } else {
        Vec::new()
    };
    d.tagged_fields(flexible)?;
    Ok(MetadataPartition {
        error_code,
        partition_index,
        leader_id,
        leader_epoch,
        replica_nodes,
        isr_nodes,
        offline_replicas,
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::wire::test_support::assert_every_truncation_fails;

    /// Encodes a response the way a broker would, so decoding can be checked at each version.
    fn encode_response(r: &MetadataResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 9;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(r.throttle_time_ms);
        e.array_len(flexible, Some(r.brokers.len()));
        for b in &r.brokers {
            e.i32(b.node_id);
            e.string(flexible, &b.host);
            e.i32(b.port);
            e.nullable_string(flexible, b.rack.as_deref());
            e.tagged_fields(flexible);
        }
        e.nullable_string(flexible, r.cluster_id.as_deref());
        e.i32(r.controller_id);
        e.array_len(flexible, Some(r.topics.len()));
        for t in &r.topics {
            e.i16(t.error_code);
            e.nullable_string(flexible, t.name.as_deref());
            if version >= 10 {
                e.uuid(&t.topic_id);
            }
            e.bool(t.is_internal);
            e.array_len(flexible, Some(t.partitions.len()));
            for p in &t.partitions {
                e.i16(p.error_code);
                e.i32(p.partition_index);
                e.i32(p.leader_id);
                if version >= 7 {
                    e.i32(p.leader_epoch);
                }
                for list in [&p.replica_nodes, &p.isr_nodes, &p.offline_replicas] {
                    e.array_len(flexible, Some(list.len()));
                    list.iter().for_each(|n| e.i32(*n));
                }
                e.tagged_fields(flexible);
            }
            if version >= 8 {
                e.i32(i32::MIN);
            }
            e.tagged_fields(flexible);
        }
        if (8..=10).contains(&version) {
            e.i32(i32::MIN);
        }
        e.tagged_fields(flexible);
        buf
    }

    fn sample(version: i16) -> MetadataResponse {
        MetadataResponse {
            throttle_time_ms: 0,
            brokers: vec![MetadataBroker {
                node_id: 1,
                host: "127.0.0.1".into(),
                port: 9092,
                rack: Some("r1".into()),
            }],
            cluster_id: Some("abc".into()),
            controller_id: 1,
            topics: vec![MetadataTopic {
                error_code: 0,
                name: Some("t".into()),
                topic_id: if version >= 10 { [7; 16] } else { [0; 16] },
                is_internal: false,
                partitions: vec![MetadataPartition {
                    error_code: 0,
                    partition_index: 0,
                    leader_id: 1,
                    leader_epoch: if version >= 7 { 3 } else { -1 },
                    replica_nodes: vec![1, 2],
                    isr_nodes: vec![1],
                    offline_replicas: vec![2],
                }],
            }],
        }
    }

    #[test]
    fn response_decodes_at_every_supported_version() {
        for version in [7, 8, 9, 10, 11, 12] {
            let expected = sample(version);
            let buf = Bytes::from(encode_response(&expected, version));
            let mut d = Decoder::new(&buf);
            let got = MetadataResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
        }
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        let buf = Bytes::from(encode_response(&sample(12), 12));
        assert_every_truncation_fails::<MetadataResponse>(&buf, 12);
    }

    #[test]
    fn request_for_all_topics_is_a_null_array() {
        let mut buf = Vec::new();
        MetadataRequest::default().encode(&mut Encoder::new(&mut buf), 12);
        // null compact array, allow_auto_topic_creation, include_topic_authorized_operations, tags
        assert_eq!(buf, [0, 0, 0, 0]);
        let mut buf = Vec::new();
        MetadataRequest::default().encode(&mut Encoder::new(&mut buf), 4);
        assert_eq!(buf, [0xff, 0xff, 0xff, 0xff, 0]);
    }
}
