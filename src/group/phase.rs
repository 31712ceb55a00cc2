//! Where a member stands in its group, as commits see it.
//!
//! Invariants:
//! - An OffsetCommit carries only a generation the group can still accept: the one the member
//!   synced in ([`Phase::Stable`]), or that one while the member's JoinGroup is parked
//!   ([`Phase::Joining`]: the group is preparing a rebalance, and the coordinator accepts
//!   commits of the current generation until the join completes).
//! - Between the JoinGroup answer and the SyncGroup answer ([`Phase::Syncing`]), and while the
//!   member holds no generation ([`Phase::Unjoined`]), commits wait for the next stable phase
//!   (within their deadline) instead of being sent with a generation the group has left.
//! - Only the group task (and a fencing seen on a commit of the current generation) moves the
//!   phase; everyone else waits on it.

use tokio::{sync::watch, time::Instant};

use crate::error::{Error, Result};

/// The member's standing in the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No generation: before the first join, after the partitions were lost, or after
    /// leaving.
    Unjoined,
    /// JoinGroup in flight, sent while holding `generation` (−1: none).
    Joining { generation: i32 },
    /// JoinGroup answered, SyncGroup in flight: the group refuses commits.
    Syncing,
    /// Synced in `generation`.
    Stable { generation: i32 },
    /// The member is closed: no commit will ever be sent.
    Closed,
}

impl Phase {
    /// The generation a commit may carry now, if any.
    pub(crate) fn commit_generation(self) -> Option<i32> {
        match self {
            Phase::Stable { generation } => Some(generation),
            Phase::Joining { generation } if generation >= 0 => Some(generation),
            _ => None,
        }
    }
}

/// The phase, observable by waiting commits.
#[derive(Debug)]
pub(crate) struct PhaseCell(watch::Sender<Phase>);

impl PhaseCell {
    /// Unjoined.
    pub(crate) fn new() -> Self {
        Self(watch::Sender::new(Phase::Unjoined))
    }

    /// The phase now.
    pub(crate) fn get(&self) -> Phase {
        *self.0.borrow()
    }

    /// Moves to `phase` (a closed member stays closed).
    pub(crate) fn set(&self, phase: Phase) {
        self.0.send_if_modified(|p| {
            if *p == Phase::Closed || *p == phase {
                return false;
            }
            *p = phase;
            true
        });
    }

    /// Moves to `Unjoined` unless the member is already past `generation` (a fencing seen on
    /// a commit of `generation` must not undo a newer join).
    pub(crate) fn fence(&self, generation: i32) {
        self.0.send_if_modified(|p| match *p {
            Phase::Stable { generation: g } if g == generation => {
                *p = Phase::Unjoined;
                true
            }
            _ => false,
        });
    }

    /// Waits until a commit may be sent with a generation other than `refused` (one the
    /// group already turned down) and returns it; at `deadline`,
    /// [`Error::RebalanceInProgress`]; once closed, [`Error::Closed`].
    pub(crate) async fn commit_generation(
        &self,
        group: &str,
        deadline: Instant,
        refused: Option<i32>,
    ) -> Result<i32> {
        let mut rx = self.0.subscribe();
        let usable = |p: &Phase| {
            *p == Phase::Closed || p.commit_generation().is_some_and(|g| Some(g) != refused)
        };
        let waited = tokio::time::timeout_at(deadline, rx.wait_for(usable)).await;
        match waited {
            Ok(Ok(p)) => p.commit_generation().ok_or(Error::Closed),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::RebalanceInProgress {
                group: group.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn commits_carry_only_a_generation_the_group_still_accepts() {
        assert_eq!(Phase::Stable { generation: 4 }.commit_generation(), Some(4));
        assert_eq!(
            Phase::Joining { generation: 4 }.commit_generation(),
            Some(4)
        );
        assert_eq!(Phase::Joining { generation: -1 }.commit_generation(), None);
        assert_eq!(Phase::Syncing.commit_generation(), None);
        assert_eq!(Phase::Unjoined.commit_generation(), None);
        assert_eq!(Phase::Closed.commit_generation(), None);
    }

    #[tokio::test]
    async fn a_commit_during_a_rebalance_waits_for_it_or_fails_locally_at_its_deadline() {
        let cell = std::sync::Arc::new(PhaseCell::new());
        cell.set(Phase::Syncing);
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(matches!(
            cell.commit_generation("g", soon, None).await,
            Err(Error::RebalanceInProgress { .. })
        ));
        let waiter = {
            let cell = std::sync::Arc::clone(&cell);
            tokio::spawn(async move {
                let later = Instant::now() + Duration::from_secs(10);
                cell.commit_generation("g", later, Some(6)).await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Generation 6 was refused: the commit waits for the next one.
        cell.set(Phase::Stable { generation: 6 });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiter.is_finished());
        cell.set(Phase::Stable { generation: 7 });
        assert_eq!(waiter.await.unwrap().unwrap(), 7);
    }

    #[test]
    fn a_fencing_of_an_old_generation_does_not_undo_a_newer_join() {
        let cell = PhaseCell::new();
        cell.set(Phase::Stable { generation: 5 });
        cell.fence(4);
        assert_eq!(cell.get(), Phase::Stable { generation: 5 });
        cell.fence(5);
        assert_eq!(cell.get(), Phase::Unjoined);
        cell.set(Phase::Closed);
        cell.set(Phase::Stable { generation: 6 });
        assert_eq!(cell.get(), Phase::Closed);
    }
}
