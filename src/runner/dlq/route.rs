//! Where a dead letter goes: the DLQ topic for a source topic, and the partition in it.
//!
//! Invariants:
//! - The topic is the template with every `{topic}` replaced by the source topic; without a
//!   template it is `<source topic>.dlq`. A template without `{topic}` sends every source
//!   topic's dead letters to one topic.
//! - The partition is the source's own partition number when the DLQ topic has that many
//!   partitions (so per-partition order carries over, as in Spring); otherwise Java's default
//!   partitioner (murmur2) on the key; a null key is spread round robin over the DLQ topic's
//!   partitions (one counter per writer).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::produce::partition_for_key;

/// The placeholder a topic template replaces with the source topic.
pub const TOPIC_PLACEHOLDER: &str = "{topic}";

/// The default template: `<source topic>.dlq`.
pub const DEFAULT_TEMPLATE: &str = "{topic}.dlq";

/// The DLQ topic of `source` under `template`.
pub(crate) fn dlq_topic(template: &str, source: &str) -> String {
    template.replace(TOPIC_PLACEHOLDER, source)
}

/// Chooses the DLQ partition.
#[derive(Debug, Default)]
pub(crate) struct PartitionChooser {
    round_robin: AtomicUsize,
}

impl PartitionChooser {
    /// The partition, among `partitions` (≥ 1), for a message from `source_partition` with
    /// `key`.
    pub(crate) fn choose(
        &self,
        source_partition: i32,
        key: Option<&[u8]>,
        partitions: usize,
    ) -> i32 {
        let partitions = partitions.max(1);
        if usize::try_from(source_partition).is_ok_and(|p| p < partitions) {
            return source_partition;
        }
        match key {
            Some(key) => partition_for_key(key, partitions),
            None => {
                let n = self.round_robin.fetch_add(1, Ordering::Relaxed);
                i32::try_from(n % partitions).unwrap_or(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_template() {
        assert_eq!(dlq_topic(DEFAULT_TEMPLATE, "orders"), "orders.dlq");
        assert_eq!(dlq_topic("dlq-{topic}-v1", "orders"), "dlq-orders-v1");
        assert_eq!(dlq_topic("all-dead-letters", "orders"), "all-dead-letters");
    }

    #[test]
    fn the_source_partition_is_kept_when_the_dlq_topic_has_it() {
        let c = PartitionChooser::default();
        assert_eq!(c.choose(2, Some(b"foobar"), 3), 2);
        // Too few partitions: murmur2 on the key (foobar → 6 of 8, 0 of 3... of 2 → 0).
        assert_eq!(c.choose(9, Some(b"foobar"), 8), 6);
        assert_eq!(c.choose(5, Some(b"foobar"), 3), 0);
    }

    #[test]
    fn null_keys_go_round_robin_when_the_source_partition_is_missing() {
        let c = PartitionChooser::default();
        let got: Vec<i32> = (0..6).map(|_| c.choose(7, None, 3)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2]);
    }
}
