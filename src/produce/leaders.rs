//! Which broker leads each partition the producer writes to, from Metadata requests.
//!
//! Invariants: a topic's layout is cached for at most [`MAX_AGE`] and dropped as soon as a
//! send reports a leader-change or connection error ([`Leaders::invalidate`]), so the next
//! lookup asks the cluster again. Metadata never creates topics (`allow_auto_topic_creation`
//! false): a topic the cluster does not know is reported as such, at once. No lock is held
//! across the Metadata request.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{
    cluster::{Cluster, ClusterMetadata, pool::ConnectionPool},
    error::{KafkaCode, Result},
    wire::metadata::MetadataRequest,
};

/// How long a topic's layout is trusted without an error (librdkafka's
/// `topic.metadata.refresh.interval.ms` default).
pub(crate) const MAX_AGE: Duration = Duration::from_secs(300);

/// UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// A topic's partitions and their leaders, as of one Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TopicLayout {
    /// The cluster does not know the topic.
    Missing,
    /// The topic-level error the cluster reported (e.g. LEADER_NOT_AVAILABLE while it is being
    /// created, TOPIC_AUTHORIZATION_FAILED).
    Error(KafkaCode),
    /// The topic's partitions: index → leader node id (−1 while leaderless).
    Partitions(HashMap<i32, i32>),
}

#[derive(Debug)]
struct Cached {
    layout: TopicLayout,
    fetched: Instant,
}

/// The producer's leader cache.
#[derive(Debug, Default)]
pub(crate) struct Leaders {
    topics: Mutex<HashMap<String, Cached>>,
}

impl Leaders {
    /// The layout of `topic`, from the cache when fresh, else from the cluster (whose broker
    /// addresses are handed to `pool`).
    pub(crate) async fn layout(
        &self,
        cluster: &Cluster,
        pool: &ConnectionPool,
        topic: &str,
    ) -> Result<TopicLayout> {
        if let Some(cached) = self.topics.lock().expect("leaders lock").get(topic)
            && cached.fetched.elapsed() < MAX_AGE
        {
            return Ok(cached.layout.clone());
        }
        let request = MetadataRequest {
            topics: Some(vec![topic.to_owned()]),
            allow_auto_topic_creation: false,
        };
        let (broker, response) = cluster.request_any(request).await?;
        let layout = match response
            .topics
            .iter()
            .find(|t| t.name.as_deref() == Some(topic))
        {
            None => TopicLayout::Missing,
            Some(t) if t.error_code == UNKNOWN_TOPIC_OR_PARTITION => TopicLayout::Missing,
            Some(t) if t.error_code != 0 => TopicLayout::Error(KafkaCode(t.error_code)),
            Some(t) => TopicLayout::Partitions(
                t.partitions
                    .iter()
                    .map(|p| (p.partition_index, p.leader_id))
                    .collect(),
            ),
        };
        pool.update_addresses(&ClusterMetadata::from_response(broker, response));
        // Only a usable layout is cached: a missing or erroring topic is asked about again.
        let mut topics = self.topics.lock().expect("leaders lock");
        if matches!(layout, TopicLayout::Partitions(_)) {
            topics.insert(
                topic.to_owned(),
                Cached {
                    layout: layout.clone(),
                    fetched: Instant::now(),
                },
            );
        } else {
            topics.remove(topic);
        }
        Ok(layout)
    }

    /// Forgets `topic`'s layout: the next lookup asks the cluster.
    pub(crate) fn invalidate(&self, topic: &str) {
        self.topics.lock().expect("leaders lock").remove(topic);
    }
}
