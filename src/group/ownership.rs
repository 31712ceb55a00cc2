//! What a member owns: partitions assigned (from their committed offsets), revoked (with the
//! application's acknowledgement, then the commit), or lost (without one), and the
//! application's callbacks around those moves.
//!
//! Revocation in a rebalance is a window the application closes (as Java runs revocation
//! inside `poll`, librdkafka from the application's poll):
//! 1. the partitions stop being fetched and handed out (their buffered records are dropped;
//!    positions and stored offsets stay), and [`Event::Revoked`] is queued;
//! 2. the poll that hands the event out first runs [`RebalanceListener::on_revoked`], on the
//!    application's task; until its next poll the application may finish what it holds and
//!    commit it (`store_offset`, `commit`, `commit_offsets` for these partitions are accepted);
//! 3. the application's next poll acknowledges the revocation — or `max.poll.interval.ms`
//!    passes (a stuck application cannot hold the group forever);
//! 4. only then are the partitions removed, their stored offsets committed (with
//!    `enable.auto.commit`), and the member rejoins so they can move.
//!
//! Heartbeats go on throughout (the window runs inside the join round, see `member`).
//! Revocations by `close`/`unsubscribe` do not wait: the application is the one closing.

use std::{sync::Mutex, time::Duration};

use tokio::sync::Notify;

use crate::{
    error::Result,
    state::buffer::Delivery,
    types::{Event, TopicPartition},
};

use super::commit;

use super::member::Member;

/// Callbacks around rebalances. `on_assigned` and `on_lost` run on the group task, `on_lost`
/// after the partitions were removed (they may already belong to another member).
/// `on_revoked` runs on the application's poll path, just before the poll returns
/// [`Event::Revoked`] (see the module documentation of `ownership`): the partitions are no
/// longer fetched, and their offsets are committed after the application's next poll.
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
        self.identity
            .lock()
            .expect("identity lock")
            .owned
            .extend(added.iter().cloned());
        // The event goes into the buffer with the partitions, before anything fetched from
        // them (pushed after, a fetch could land first and messages precede `Assigned`).
        self.shared
            .assign_committed(&committed, Event::Assigned(added.to_vec()));
        if let Some(l) = &self.listener {
            l.on_assigned(added);
        }
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
        let final_offsets =
            commit::Gathered::under(&self.phase, || self.shared.remove_partitions(revoked));
        if self.config.enable_auto_commit {
            let deadline = self.commit_deadline();
            if let Err(e) = commit::commit(self, final_offsets, None, deadline).await {
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

    /// Revokes `revoked` through the application (see the module documentation): returns
    /// once the application acknowledged, or after `max.poll.interval.ms`, with the
    /// partitions removed and (with auto commit) committed.
    pub(super) async fn revoke_acknowledged(&self, revoked: &[TopicPartition]) {
        if revoked.is_empty() {
            return;
        }
        for tp in revoked {
            // Stops fetching and drops what was buffered; position and stored offset stay.
            let _ = self.shared.partitions.pause(std::slice::from_ref(tp));
        }
        self.shared.notify_change();
        self.revocation.queue(revoked.to_vec());
        self.shared
            .buffer
            .push(Delivery::Group(Event::Revoked(revoked.to_vec())));
        let bound = self.config.max_poll_interval;
        if !self.revocation.acknowledged_within(bound).await {
            tracing::warn!(
                group = %self.group_id,
                "the application did not poll within max.poll.interval.ms after a revocation; revoking anyway"
            );
        }
        let final_offsets =
            commit::Gathered::under(&self.phase, || self.shared.remove_partitions(revoked));
        if self.config.enable_auto_commit {
            let deadline = self.commit_deadline();
            if let Err(e) = commit::commit(self, final_offsets, None, deadline).await {
                tracing::warn!(group = %self.group_id, error = %e, "commit after revoke failed");
                self.shared
                    .buffer
                    .push(Delivery::Error { tp: None, error: e });
            }
        }
    }

    /// The application is about to receive [`Event::Revoked`]`(partitions)`: if it is the
    /// revocation awaiting the application, the listener runs now, on the poll path.
    pub(crate) fn revocation_handed_out(&self, partitions: &[TopicPartition]) {
        if self.revocation.handed_out(partitions)
            && let Some(l) = &self.listener
        {
            l.on_revoked(partitions);
        }
    }

    /// Stops fetching `lost` without committing.
    pub(super) fn lose(&self, lost: &[TopicPartition]) {
        if lost.is_empty() {
            return;
        }
        self.shared.remove_partitions(lost);
        if let Some(l) = &self.listener {
            l.on_lost(lost);
        }
        self.shared
            .buffer
            .push(Delivery::Group(Event::Lost(lost.to_vec())));
    }
}

/// A revocation awaiting the application (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Revocation {
    state: Mutex<RevocationState>,
    acknowledged: Notify,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum RevocationState {
    /// None awaiting the application.
    #[default]
    Idle,
    /// [`Event::Revoked`] with these partitions is queued.
    Queued(Vec<TopicPartition>),
    /// The application received it; its next poll acknowledges.
    HandedOut,
}

impl Revocation {
    fn lock(&self) -> std::sync::MutexGuard<'_, RevocationState> {
        self.state.lock().expect("revocation lock")
    }

    fn queue(&self, partitions: Vec<TopicPartition>) {
        *self.lock() = RevocationState::Queued(partitions);
    }

    /// Whether `partitions` is the queued revocation (now handed out).
    fn handed_out(&self, partitions: &[TopicPartition]) -> bool {
        let mut state = self.lock();
        if matches!(&*state, RevocationState::Queued(p) if p == partitions) {
            *state = RevocationState::HandedOut;
            return true;
        }
        false
    }

    /// The application polled: a revocation it received is acknowledged.
    pub(crate) fn polled(&self) {
        let mut state = self.lock();
        if *state == RevocationState::HandedOut {
            *state = RevocationState::Idle;
            drop(state);
            self.acknowledged.notify_waiters();
        }
    }

    /// Waits until the application acknowledged, at most `bound` (false: it did not; the
    /// revocation is abandoned).
    async fn acknowledged_within(&self, bound: Duration) -> bool {
        let acknowledged = async {
            loop {
                let notified = self.acknowledged.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if *self.lock() == RevocationState::Idle {
                    return;
                }
                notified.await;
            }
        };
        let done = tokio::time::timeout(bound, acknowledged).await.is_ok();
        *self.lock() = RevocationState::Idle;
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tps(ps: &[i32]) -> Vec<TopicPartition> {
        ps.iter().map(|p| TopicPartition::new("t", *p)).collect()
    }

    #[tokio::test]
    async fn a_revocation_is_acknowledged_by_the_poll_after_the_one_that_handed_it_out() {
        let r = std::sync::Arc::new(Revocation::default());
        r.queue(tps(&[1, 2]));
        r.polled(); // a poll before the event was handed out acknowledges nothing
        assert!(!r.handed_out(&tps(&[3])), "another revocation's event");
        assert!(r.handed_out(&tps(&[1, 2])));
        let waiter = {
            let r = std::sync::Arc::clone(&r);
            tokio::spawn(async move { r.acknowledged_within(Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        r.polled();
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn an_application_that_never_polls_holds_a_revocation_only_for_the_bound() {
        let r = Revocation::default();
        r.queue(tps(&[1]));
        assert!(r.handed_out(&tps(&[1])));
        assert!(!r.acknowledged_within(Duration::from_millis(50)).await);
        // A late poll acknowledges nothing that is still awaited.
        r.polled();
        assert_eq!(*r.lock(), RevocationState::Idle);
    }
}
