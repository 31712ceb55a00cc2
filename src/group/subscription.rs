//! What a member subscribes to: a topic list, or a regex over all topics (`^…`, as in
//! librdkafka), resolved against current metadata.
//!
//! Invariant: a topic leaves the resolved subscription only when the metadata says it does not
//! exist (UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_ID) or no longer matches. A transient
//! topic-level error (LEADER_NOT_AVAILABLE, a topic with no partitions listed yet…) keeps the
//! partition count it had, as Java's `Metadata` keeps cached partitions for such errors: dropping
//! the topic would cost two rebalances (out, then back in).

use std::collections::BTreeMap;

use regex::Regex;

use crate::{
    cluster::Cluster,
    config::ConfigError,
    error::{Error, KafkaCode, Result},
    wire::metadata::{MetadataRequest, MetadataResponse},
};

/// A subscription.
#[derive(Debug, Clone)]
pub(crate) enum Subscribed {
    /// These topics (those that exist).
    Topics(Vec<String>),
    /// Every non-internal topic whose name matches.
    Pattern(Regex),
}

impl Subscribed {
    /// Parses subscription entries: an entry starting with `^` is a regex (librdkafka's rule);
    /// regexes and plain names can be mixed, in which case all are treated as patterns.
    pub(crate) fn parse(entries: &[&str]) -> Result<Self> {
        if entries.iter().any(|e| e.starts_with('^')) {
            let alternatives: Vec<String> = entries
                .iter()
                .map(|e| {
                    if e.starts_with('^') {
                        format!("(?:{e})")
                    } else {
                        format!("(?:^{}$)", regex::escape(e))
                    }
                })
                .collect();
            let joined = alternatives.join("|");
            let regex = Regex::new(&joined).map_err(|e| {
                Error::Config(ConfigError::InvalidValue {
                    name: "subscription".into(),
                    value: entries.join(","),
                    reason: e.to_string(),
                })
            })?;
            Ok(Self::Pattern(regex))
        } else {
            Ok(Self::Topics(
                entries.iter().map(|e| (*e).to_owned()).collect(),
            ))
        }
    }

    /// Whether `topic` is one this subscription consumes (when it exists).
    pub(crate) fn matches(&self, topic: &str) -> bool {
        match self {
            Self::Topics(topics) => topics.iter().any(|t| t == topic),
            Self::Pattern(regex) => regex.is_match(topic),
        }
    }

    /// The listed topics missing from `resolved` (a pattern has none: it matches what exists).
    pub(crate) fn missing(&self, resolved: &BTreeMap<String, i32>) -> Vec<String> {
        match self {
            Self::Topics(topics) => topics
                .iter()
                .filter(|t| !resolved.contains_key(*t))
                .cloned()
                .collect(),
            Self::Pattern(_) => Vec::new(),
        }
    }

    /// The matching topics that exist now, with their partition counts; a topic of
    /// `previous` with a transient error keeps its count (see the module doc).
    pub(crate) async fn resolve(
        &self,
        cluster: &Cluster,
        previous: &BTreeMap<String, i32>,
    ) -> Result<BTreeMap<String, i32>> {
        let request = MetadataRequest {
            topics: match self {
                Self::Topics(topics) => Some(topics.clone()),
                Self::Pattern(_) => None,
            },
            allow_auto_topic_creation: false,
        };
        let (_, response) = cluster.request_any(request).await?;
        Ok(self.resolved(&response, previous))
    }

    /// The matching topics of `response` with their partition counts (see [`Self::resolve`]).
    fn resolved(
        &self,
        response: &MetadataResponse,
        previous: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, i32> {
        let mut out = BTreeMap::new();
        for t in &response.topics {
            let Some(name) = t.name.as_deref() else {
                continue;
            };
            let matches = match self {
                Self::Topics(topics) => topics.iter().any(|l| l == name),
                Self::Pattern(re) => !t.is_internal && re.is_match(name),
            };
            if !matches {
                continue;
            }
            let code = KafkaCode::from_code(t.error_code);
            let gone = matches!(
                code,
                Some(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION | KafkaCode::UNKNOWN_TOPIC_ID)
            );
            if code.is_none() && !t.partitions.is_empty() {
                out.insert(name.to_owned(), t.partitions.len() as i32);
            } else if !gone && let Some(count) = previous.get(name) {
                tracing::debug!(
                    topic = name,
                    ?code,
                    "transient topic metadata error; keeping the topic"
                );
                out.insert(name.to_owned(), *count);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(topics: &[(&str, i16, usize)]) -> MetadataResponse {
        use crate::wire::metadata::{MetadataPartition, MetadataTopic};
        MetadataResponse {
            topics: topics
                .iter()
                .map(|&(name, error_code, partitions)| MetadataTopic {
                    error_code,
                    name: Some(name.to_owned()),
                    topic_id: [0; 16],
                    is_internal: false,
                    partitions: (0..partitions)
                        .map(|i| MetadataPartition {
                            error_code: 0,
                            partition_index: i as i32,
                            leader_id: 1,
                            leader_epoch: 0,
                            replica_nodes: vec![1],
                            isr_nodes: vec![1],
                            offline_replicas: vec![],
                        })
                        .collect(),
                })
                .collect(),
            throttle_time_ms: 0,
            brokers: Vec::new(),
            cluster_id: None,
            controller_id: -1,
        }
    }

    #[test]
    fn a_transient_topic_error_keeps_the_topic_and_a_missing_topic_drops_it() {
        let subscribed = Subscribed::parse(&["a", "b", "c"]).unwrap();
        let previous: BTreeMap<String, i32> =
            [("a".into(), 3), ("b".into(), 2), ("c".into(), 1)].into();
        let now = response(&[
            ("a", 5, 0), // LEADER_NOT_AVAILABLE, no partitions listed
            ("b", 0, 0), // no partitions listed yet
            ("c", 3, 0), // UNKNOWN_TOPIC_OR_PARTITION: deleted
        ]);
        let resolved = subscribed.resolved(&now, &previous);
        assert_eq!(resolved, [("a".into(), 3), ("b".into(), 2)].into());
        assert!(
            subscribed.resolved(&now, &BTreeMap::new()).is_empty(),
            "never known: nothing to keep"
        );
        let pattern = Subscribed::parse(&["^a"]).unwrap();
        assert_eq!(
            pattern.resolved(&now, &previous),
            [("a".into(), 3)].into(),
            "the same for a pattern"
        );
    }

    #[test]
    fn entries_starting_with_a_caret_are_patterns_and_names_match_exactly() {
        let Subscribed::Pattern(re) = Subscribed::parse(&["^orders-.*", "audit"]).unwrap() else {
            panic!("expected a pattern");
        };
        assert!(re.is_match("orders-eu"));
        assert!(re.is_match("audit"));
        assert!(!re.is_match("audit-2"));
        assert!(!re.is_match("x-orders-eu"));
        assert!(
            matches!(Subscribed::parse(&["a", "b"]).unwrap(), Subscribed::Topics(t) if t == ["a", "b"])
        );
        assert!(Subscribed::parse(&["^("]).is_err());
    }

    #[test]
    fn listed_topics_that_do_not_exist_are_missing_and_patterns_miss_nothing() {
        let resolved = BTreeMap::from([("a".to_owned(), 3)]);
        let listed = Subscribed::parse(&["a", "b", "c"]).unwrap();
        assert_eq!(listed.missing(&resolved), ["b", "c"]);
        let pattern = Subscribed::parse(&["^x.*"]).unwrap();
        assert!(pattern.missing(&resolved).is_empty());
    }
}
