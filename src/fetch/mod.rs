//! The fetcher: one fetch loop per leader broker, and a manager that keeps leaders and start
//! positions known.
//!
//! Data path: [`broker_loop`] sends one Fetch per leader covering all its ready partitions,
//! [`response`] decodes and filters the data, and the partition table (`state`) applies the
//! results and puts them into the bounded buffer, from which the consumer pops. The next fetch is sent as soon as the previous one is decoded,
//! so fetching overlaps the application's processing, and stops while the buffer is full.
//! Control path: [`manager`] refreshes metadata for partitions without a leader, resolves
//! Beginning/End positions with ListOffsets ([`offsets`]), and starts broker loops.

pub(crate) mod assignment;
pub(crate) mod broker_loop;
pub(crate) mod manager;
pub(crate) mod offsets;
pub(crate) mod response;
pub(crate) mod session;
pub(crate) mod txn_filter;

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
    config::ConsumerConfig,
    state::{PartitionTable, buffer::Buffer},
};

/// State shared by the consumer handle, the manager and the broker loops.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ConsumerConfig,
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

    /// Whether the consumer is closing.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Remembers a spawned task so closing the consumer can stop it.
    pub(crate) fn track(&self, task: JoinHandle<()>) {
        self.tasks.lock().expect("tasks lock").push(task);
    }
}
