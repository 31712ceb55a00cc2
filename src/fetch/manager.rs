//! The fetcher's control loop: leaders from metadata, start positions from ListOffsets, and a
//! broker loop for every leader.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use tokio::time::Instant;

use crate::{
    cluster::ClusterMetadata,
    error::{Error, KafkaCode},
};

use super::{
    Shared, broker_loop,
    buffer::Delivery,
    offsets::{self, Lookup},
    partition::{FetchState, Leader},
};

/// Runs until the consumer closes.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut changes = shared.changes.subscribe();
    let mut last_refresh: Option<Instant> = None;
    // Consecutive failed refreshes; the next attempt waits fetch.error.backoff.ms, doubling
    // per failure up to a second, and only the first failure of an outage is reported.
    let mut failures: u32 = 0;
    let mut retry_at: Option<Instant> = None;
    while !shared.is_closed() {
        changes.borrow_and_update();
        let now = Instant::now();
        let (missing, assigned) = topics_needing_metadata(&shared, now);
        let periodic = last_refresh
            .is_none_or(|t| now.duration_since(t) >= shared.config.metadata_refresh_interval);
        let retry_due = retry_at.is_none_or(|t| now >= t);
        if retry_due && (!missing.is_empty() || (periodic && !assigned.is_empty())) {
            last_refresh = Some(now);
            let topics: Vec<String> = assigned.iter().map(|t| t.to_string()).collect();
            match shared.cluster.metadata(Some(&topics)).await {
                Ok(md) => {
                    failures = 0;
                    retry_at = None;
                    apply_metadata(&shared, &md);
                }
                Err(e) => {
                    tracing::warn!(error = %e, failures, "metadata refresh failed");
                    if failures == 0 {
                        shared.buffer.push(Delivery::Error { tp: None, error: e });
                    }
                    retry_at = Some(Instant::now() + retry_backoff(&shared, failures));
                    failures = failures.saturating_add(1);
                }
            }
        }
        for (node, lookups) in take_lookups(&shared) {
            offsets::resolve(&shared, node, lookups).await;
        }
        let mut wait = next_wake(&shared);
        if let Some(t) = retry_at.filter(|t| *t > Instant::now()) {
            wait = wait.min(t - Instant::now());
        }
        let _ = tokio::time::timeout(wait, changes.changed()).await;
    }
}

/// `fetch.error.backoff.ms` doubled per earlier failure, at most a second (never less than
/// the backoff itself).
fn retry_backoff(shared: &Shared, failures: u32) -> Duration {
    let base = shared.config.fetch_error_backoff;
    base.saturating_mul(1 << failures.min(10))
        .min(Duration::from_secs(1))
        .max(base)
}

/// Topics with partitions that need a leader, and every assigned topic.
fn topics_needing_metadata(
    shared: &Shared,
    now: Instant,
) -> (BTreeSet<Arc<str>>, BTreeSet<Arc<str>>) {
    let partitions = shared.partitions.lock().expect("partitions lock");
    let mut missing = BTreeSet::new();
    let mut assigned = BTreeSet::new();
    for (tp, state) in partitions.iter() {
        assigned.insert(Arc::clone(&tp.topic));
        let waiting = state.backoff_until.is_some_and(|t| t > now);
        if state.leader.is_none() && state.fetch != FetchState::Failed && !waiting {
            missing.insert(Arc::clone(&tp.topic));
        }
    }
    (missing, assigned)
}

fn apply_metadata(shared: &Arc<Shared>, md: &ClusterMetadata) {
    shared.pool.update_addresses(md);
    let backoff = Instant::now() + shared.config.fetch_error_backoff;
    let mut new_nodes = Vec::new();
    {
        let mut partitions = shared.partitions.lock().expect("partitions lock");
        for (tp, state) in partitions.iter_mut() {
            let topic = md.topic(&tp.topic);
            let found =
                topic.and_then(|t| t.partitions.iter().find(|p| p.partition == tp.partition));
            match found {
                Some(p) if p.leader >= 0 && p.error.is_none() => {
                    if state.leader.is_none_or(|l| l.node != p.leader) {
                        tracing::debug!(%tp, leader = p.leader, epoch = p.leader_epoch, "leader found");
                    }
                    state.outage_reported = false;
                    state.leader = Some(Leader {
                        node: p.leader,
                        epoch: p.leader_epoch,
                    });
                    new_nodes.push(p.leader);
                }
                _ if state.leader.is_some() => {}
                _ => {
                    state.backoff_until = Some(backoff);
                    if !std::mem::replace(&mut state.outage_reported, true) {
                        // Reported once per outage, not on every retry: the partition is
                        // unknown (UNKNOWN_TOPIC_OR_PARTITION) or has no leader
                        // (LEADER_NOT_AVAILABLE).
                        let code = if found.is_none() {
                            KafkaCode(3)
                        } else {
                            KafkaCode(5)
                        };
                        shared.buffer.push(Delivery::Error {
                            tp: Some((tp.clone(), state.generation)),
                            error: Error::Kafka {
                                api: "Metadata",
                                code,
                                context: Some(tp.to_string()),
                            },
                        });
                    }
                }
            }
        }
    }
    let mut loops = shared.loops.lock().expect("loops lock");
    for node in new_nodes {
        if loops.insert(node) {
            let task = tokio::spawn(broker_loop::run(Arc::clone(shared), node));
            shared.track(task);
        }
    }
    drop(loops);
    shared.notify_change();
}

/// Partitions waiting for a ListOffsets lookup, grouped by leader, marked in flight.
fn take_lookups(shared: &Shared) -> BTreeMap<i32, Vec<Lookup>> {
    let now = Instant::now();
    let mut partitions = shared.partitions.lock().expect("partitions lock");
    let mut by_node: BTreeMap<i32, Vec<Lookup>> = BTreeMap::new();
    for (tp, state) in partitions.iter_mut() {
        let (FetchState::Resolve(to), Some(leader)) = (state.fetch, state.leader) else {
            continue;
        };
        if !state.ready_to_resolve(now) {
            continue;
        }
        state.resolving = true;
        by_node.entry(leader.node).or_default().push((
            tp.clone(),
            state.generation,
            to,
            leader.epoch,
        ));
    }
    by_node
}

/// How long the manager may sleep: until the next backoff ends, at most a second.
fn next_wake(shared: &Shared) -> Duration {
    let now = Instant::now();
    let partitions = shared.partitions.lock().expect("partitions lock");
    partitions
        .values()
        .filter_map(|s| s.backoff_until)
        .filter(|t| *t > now)
        .map(|t| t - now)
        .min()
        .unwrap_or(Duration::from_secs(1))
        .min(Duration::from_secs(1))
}
