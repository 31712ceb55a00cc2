//! Adding and removing partitions of the fetcher; used by explicit assignment and by the
//! consumer group alike. The partition table does the work; these wake the loops after it.

use crate::types::{Offset, TopicPartition};

use super::Shared;

impl Shared {
    /// Starts fetching `partitions` (each at its offset), keeping the others. A partition
    /// already assigned is moved to its new offset.
    pub(crate) fn add_partitions(&self, partitions: &[(TopicPartition, Offset)]) {
        self.partitions.add(partitions);
        self.notify_change();
    }

    /// Stops fetching `partitions` and drops their buffered messages. Returns, for each
    /// partition that was assigned, the offset stored for commit when it is ahead of the
    /// committed one: from this moment the application can receive nothing more from these
    /// partitions, so the offsets are final.
    pub(crate) fn remove_partitions(
        &self,
        partitions: &[TopicPartition],
    ) -> Vec<(TopicPartition, i64)> {
        let removed = self.partitions.remove(partitions);
        self.notify_change();
        removed
    }

    /// The assigned partitions, sorted.
    pub(crate) fn assigned(&self) -> Vec<TopicPartition> {
        self.partitions.assigned()
    }
}
