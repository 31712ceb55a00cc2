//! The fetcher's control loop: leaders from metadata, start positions from ListOffsets, and a
//! broker loop for every leader.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{cluster::ClusterMetadata, state::buffer::Delivery};

use super::{broker_loop, offsets, validate};
use crate::state::Shared;

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
        let (missing, assigned) = shared.partitions.topics_needing_metadata(now);
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
        for (node, lookups) in shared.partitions.take_lookups(Instant::now()) {
            offsets::resolve(&shared, node, lookups).await;
        }
        for (node, validations) in shared.partitions.take_validations(Instant::now()) {
            validate::validate(&shared, node, validations).await;
        }
        let mut wait = shared.partitions.next_wake(Instant::now());
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

fn apply_metadata(shared: &Arc<Shared>, md: &ClusterMetadata) {
    shared.pool.update_addresses(md);
    let backoff = Instant::now() + shared.config.fetch_error_backoff;
    let new_nodes = shared.partitions.apply_leaders(md, backoff);
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
