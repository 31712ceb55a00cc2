//! The fetcher: one fetch loop per leader broker, and a manager that keeps leaders and start
//! positions known.
//!
//! Data path: [`broker_loop`] sends one Fetch per leader covering all its ready partitions,
//! [`response`] decodes and filters the data, and the results go into the bounded [`buffer`],
//! from which the consumer pops. The next fetch is sent as soon as the previous one is decoded,
//! so fetching overlaps the application's processing, and stops while the buffer is full.
//! Control path: [`manager`] refreshes metadata for partitions without a leader, resolves
//! Beginning/End positions with ListOffsets ([`offsets`]), and starts broker loops.

pub(crate) mod assignment;
pub(crate) mod broker_loop;
pub(crate) mod buffer;
pub(crate) mod manager;
pub(crate) mod offsets;
pub(crate) mod partition;
pub(crate) mod response;
pub(crate) mod session;
pub(crate) mod txn_filter;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use tokio::{sync::watch, task::JoinHandle};

use crate::{
    cluster::{Cluster, pool::ConnectionPool},
    config::{ConsumerConfig, OffsetReset},
    consumer::TopicPartition,
    error::KafkaCode,
};

use partition::{PartitionState, ResolveTo};

/// State shared by the consumer handle, the manager and the broker loops.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ConsumerConfig,
    pub(crate) cluster: Cluster,
    pub(crate) pool: ConnectionPool,
    pub(crate) partitions: Mutex<HashMap<TopicPartition, PartitionState>>,
    pub(crate) buffer: buffer::Buffer,
    /// Bumped on every change the loops should react to (assignment, seek, pause, leaders).
    pub(crate) changes: watch::Sender<u64>,
    pub(crate) closed: AtomicBool,
    next_generation: AtomicU64,
    /// Nodes that have a running broker loop.
    pub(crate) loops: Mutex<HashSet<i32>>,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    /// Shared state for a consumer connected through `cluster`.
    pub(crate) fn new(config: ConsumerConfig, cluster: Cluster) -> Self {
        Self {
            pool: ConnectionPool::new(config.client.clone()),
            buffer: buffer::Buffer::new(config.queued_max_bytes),
            config,
            cluster,
            partitions: Mutex::new(HashMap::new()),
            changes: watch::Sender::new(0),
            closed: AtomicBool::new(false),
            next_generation: AtomicU64::new(1),
            loops: Mutex::new(HashSet::new()),
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Wakes the manager and the broker loops.
    pub(crate) fn notify_change(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A generation number never used before.
    pub(crate) fn new_generation(&self) -> u64 {
        self.next_generation.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether the consumer is closing.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Where `auto.offset.reset` sends a partition without a valid position; `None` for `error`.
    pub(crate) fn reset_target(&self) -> Option<ResolveTo> {
        match self.config.auto_offset_reset {
            OffsetReset::Earliest => Some(ResolveTo::Earliest),
            OffsetReset::Latest => Some(ResolveTo::Latest),
            OffsetReset::Error => None,
        }
    }

    /// Remembers a spawned task so closing the consumer can stop it.
    pub(crate) fn track(&self, task: JoinHandle<()>) {
        self.tasks.lock().expect("tasks lock").push(task);
    }
}

/// Partition errors that mean "the leader moved or is not known yet: refresh metadata".
pub(crate) fn is_leader_error(code: KafkaCode) -> bool {
    // UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER,
    // REPLICA_NOT_AVAILABLE, KAFKA_STORAGE_ERROR, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH,
    // UNKNOWN_TOPIC_ID, OFFSET_NOT_AVAILABLE (leader election in progress)
    matches!(code.0, 3 | 5 | 6 | 9 | 56 | 74 | 75 | 78 | 100)
}
