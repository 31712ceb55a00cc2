//! What a member owns: partitions assigned (from their committed offsets), revoked (after the
//! commit), or lost (without one), and the application's callbacks around those moves.

use crate::{
    error::Result,
    state::buffer::Delivery,
    types::{Event, Offset, TopicPartition},
};

use super::commit;

use super::member::Member;

/// Callbacks around rebalances, called from the group task in order. `on_revoked` runs after
/// the revoked partitions' offsets were committed (with `enable.auto.commit`) and before they
/// are handed over; `on_lost` means they may already belong to another member.
pub trait RebalanceListener: Send + Sync {
    /// Partitions added to this member.
    fn on_assigned(&self, _partitions: &[TopicPartition]) {}
    /// Partitions taken away in an orderly rebalance.
    fn on_revoked(&self, _partitions: &[TopicPartition]) {}
    /// Partitions lost without a chance to commit.
    fn on_lost(&self, _partitions: &[TopicPartition]) {}
}

impl Member {
    /// Starts fetching `added` from their committed offsets (else `auto.offset.reset`).
    pub(super) async fn assign(&self, added: &[TopicPartition]) -> Result<()> {
        if added.is_empty() {
            return Ok(());
        }
        // Retried within the rebalance timeout; heartbeats go on meanwhile.
        let deadline = tokio::time::Instant::now() + self.config.max_poll_interval;
        let committed = commit::fetch_committed_until(self, added, deadline).await?;
        let start: Vec<(TopicPartition, Offset)> = committed
            .iter()
            .map(|(tp, c)| (tp.clone(), c.map_or(Offset::Default, Offset::At)))
            .collect();
        self.shared.add_partitions(&start);
        self.shared.partitions.set_committed(&committed);
        self.identity
            .lock()
            .expect("identity lock")
            .owned
            .extend(added.iter().cloned());
        if let Some(l) = &self.listener {
            l.on_assigned(added);
        }
        self.shared
            .buffer
            .push(Delivery::Group(Event::Assigned(added.to_vec())));
        Ok(())
    }

    /// Stops fetching `revoked`, commits what the application was given from them (with auto
    /// commit), then tells the application. Removing first matters: the application cannot
    /// receive another message from these partitions while the commit is in flight, so the
    /// commit covers exactly what it was given and the next owner starts right after it.
    pub(super) async fn revoke(&self, revoked: &[TopicPartition]) {
        if revoked.is_empty() {
            return;
        }
        let final_offsets = self.shared.remove_partitions(revoked);
        if self.config.enable_auto_commit {
            let deadline = self.commit_deadline();
            if let Err(e) = commit::commit(self, &final_offsets, None, deadline).await {
                tracing::warn!(group = %self.group_id, error = %e, "commit before revoke failed");
                self.shared
                    .buffer
                    .push(Delivery::Error { tp: None, error: e });
            }
        }
        if let Some(l) = &self.listener {
            l.on_revoked(revoked);
        }
        self.shared
            .buffer
            .push(Delivery::Group(Event::Revoked(revoked.to_vec())));
    }

    /// Stops fetching `lost` without committing.
    pub(super) fn lose(&self, lost: &[TopicPartition]) {
        if lost.is_empty() {
            return;
        }
        if let Some(l) = &self.listener {
            l.on_lost(lost);
        }
        self.shared.remove_partitions(lost);
        self.shared
            .buffer
            .push(Delivery::Group(Event::Lost(lost.to_vec())));
    }
}
