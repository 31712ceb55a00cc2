//! The consumer's shared context, and assignment changes that wake the fetcher.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{sync::watch, task::JoinHandle};

use crate::{
    cluster::{Cluster, pool::ConnectionPool},
    config::{ConsumerConfig, FetchTuning},
    types::{Offset, TopicPartition},
};

use super::{PartitionTable, buffer::Buffer};

/// The consumer's shared context: configuration, cluster, connections, the partition table
/// and its buffer, the change signal and the background tasks. Shared by the consumer
/// handle, the fetcher's manager and broker loops, and the group member.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ConsumerConfig,
    /// The fetch settings in force: `config`'s at the start, changed live by
    /// `Consumer::set_fetch_tuning`. Locked only to copy it (never across an await).
    pub(crate) tuning: Mutex<FetchTuning>,
    pub(crate) cluster: Cluster,
    pub(crate) pool: ConnectionPool,
    /// Every assigned partition's state: the one owner of positions, generations, pause and
    /// committed offsets.
    pub(crate) partitions: PartitionTable,
    /// The delivery buffer (also reachable from the table, which fills it).
    pub(crate) buffer: Arc<Buffer>,
    /// Bumped on every change the loops should react to (assignment, seek, pause, leaders).
    pub(crate) changes: watch::Sender<u64>,
    pub(crate) closed: AtomicBool,
    /// Nodes that have a running broker loop.
    pub(crate) loops: Mutex<HashSet<i32>>,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    /// Shared state for a consumer connected through `cluster`.
    pub(crate) fn new(config: ConsumerConfig, cluster: Cluster) -> Self {
        let buffer = Arc::new(Buffer::new(config.queued_max_bytes));
        Self {
            pool: ConnectionPool::new(config.client.clone()),
            partitions: PartitionTable::new(&config, Arc::clone(&buffer)),
            buffer,
            tuning: Mutex::new(config.fetch_tuning()),
            config,
            cluster,
            changes: watch::Sender::new(0),
            closed: AtomicBool::new(false),
            loops: Mutex::new(HashSet::new()),
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Wakes the manager and the broker loops.
    pub(crate) fn notify_change(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The fetch settings in force.
    pub(crate) fn fetch_tuning(&self) -> FetchTuning {
        *self.tuning.lock().expect("tuning lock")
    }

    /// Whether the consumer is closing.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Remembers a spawned task so closing the consumer can stop it.
    pub(crate) fn track(&self, task: JoinHandle<()>) {
        self.tasks.lock().expect("tasks lock").push(task);
    }

    /// Starts fetching `partitions` (each at its offset), keeping the others. A partition
    /// already assigned is moved to its new offset.
    pub(crate) fn add_partitions(&self, partitions: &[(TopicPartition, Offset)]) {
        self.partitions.add(partitions);
        self.notify_change();
    }

    /// Starts the partitions a group assigned at their committed offsets and pushes the
    /// `Assigned` event before anything fetched from them (see
    /// [`PartitionTable::assign_committed`]).
    pub(crate) fn assign_committed(
        &self,
        committed: &[(TopicPartition, Option<super::Committed>)],
        assigned: crate::types::Event,
    ) {
        self.partitions.assign_committed(committed, assigned);
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

impl crate::hooks::PartitionSource for Shared {
    fn partitions(&self) -> Vec<crate::hooks::PartitionStats> {
        self.partitions.stats()
    }

    fn buffered_bytes(&self) -> usize {
        self.buffer.buffered_bytes()
    }

    fn buffer_budget(&self) -> usize {
        self.config.queued_max_bytes
    }

    fn group_id(&self) -> Option<&str> {
        self.config.group.group_id.as_deref()
    }

    fn running(&self) -> bool {
        // The first task is the fetch manager, which runs until the consumer closes.
        !self.is_closed()
            && self
                .tasks
                .lock()
                .expect("tasks lock")
                .first()
                .is_some_and(|t| !t.is_finished())
    }
}

impl Shared {
    /// The observer this consumer reports to.
    pub(crate) fn hooks(&self) -> &dyn crate::hooks::Hooks {
        self.config.hooks.get()
    }
}
