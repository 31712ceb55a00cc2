//! Group membership: the classic protocol's join / sync / heartbeat / leave cycle, run by one
//! background task per consumer.
//!
//! States: `Unjoined` → (JoinGroup, SyncGroup) → `Stable` → heartbeats until the coordinator
//! asks for a rebalance (back to joining) or fences the member (partitions lost, rejoin) →
//! `Leaving` on close. Heartbeats come from this task, never from the application, so slow
//! message handling cannot get the member evicted; `max.poll.interval.ms` is enforced
//! separately by watching when the application last polled.
//!
//! The member also keeps its own session clock, as librdkafka does: when no heartbeat (or
//! join) has succeeded for `session.timeout.ms`, the coordinator has most likely given its
//! partitions to someone else, so at the next poll (or heartbeat tick) they are dropped as
//! lost — buffered records included, nothing committed — and the member rejoins. A process that
//! was stopped (SIGSTOP, a long GC-like pause, a VM migration) therefore never hands out stale
//! records of partitions another member already owns.
//!
//! Under the eager protocols (range, roundrobin) every rebalance revokes all partitions
//! before the JoinGroup. Under cooperative-sticky (KIP-429) only partitions that move are
//! revoked; they are released in one round and assigned to their new owner in the next. Either
//! way a revocation waits for the application's acknowledgement (see `ownership`), with
//! heartbeats going on.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{sync::Notify, task::JoinHandle, time::Instant};

use crate::{
    config::GroupConfig,
    error::{Error, KafkaCode, Result},
    hooks::RebalanceReport,
    state::Shared,
    state::buffer::Delivery,
    types::TopicPartition,
    wire::{
        WireRequest,
        leave_group::{LeaveGroupRequest, LeaveMember},
    },
};

use super::{
    assignor::{Assignor, assignor_by_name},
    commit,
    coordinator::{Coordinator, Lane, is_coordinator_error},
    phase::{Phase, PhaseCell},
    session::SessionClock,
    subscription::Subscribed,
};

pub use super::ownership::RebalanceListener;
use super::ownership::Revocation;

/// Identity and ownership of the member, changed only by the group task.
#[derive(Debug, Default)]
pub(super) struct Identity {
    pub(super) member_id: String,
    pub(super) generation: i32,
    pub(super) owned: Vec<TopicPartition>,
}

/// One consumer's membership in a group.
pub(crate) struct Member {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: GroupConfig,
    pub(crate) group_id: String,
    pub(super) subscribed: Subscribed,
    pub(super) assignors: Vec<Box<dyn Assignor>>,
    pub(super) coordinator: Coordinator,
    pub(super) identity: Mutex<Identity>,
    /// Where the member stands in the group, for commits (see `phase`).
    pub(crate) phase: PhaseCell,
    pub(super) listener: Option<Arc<dyn RebalanceListener>>,
    /// Milliseconds since `started` of the application's last poll (entry or exit).
    pub(super) last_poll_ms: AtomicU64,
    /// Polls in progress: time spent waiting inside `poll` is polling.
    pub(super) in_poll: AtomicU32,
    pub(super) started: Instant,
    /// The session as the member knows it (milliseconds since `started`; see `session`).
    pub(super) session: SessionClock,
    /// Listed topics already reported as not available (see `subscribed_topics`).
    pub(super) missing_reported: Mutex<BTreeSet<String>>,
    /// The subscription as last resolved against metadata (see `subscribed_topics`).
    pub(super) resolved: Mutex<BTreeMap<String, i32>>,
    /// Set when the member must (re)join.
    pub(super) rejoin: AtomicBool,
    /// Wakes the task: a poll after a poll timeout, a close, a commit error.
    pub(super) wake: Notify,
    pub(super) closing: AtomicBool,
    /// A revocation awaiting the application's acknowledgement (see `ownership`).
    pub(super) revocation: Revocation,
    /// The group task, until the member shuts down (see [`Member::start`]).
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("group_id", &self.group_id)
            .finish_non_exhaustive()
    }
}

/// How soon a heartbeat that failed (timeout, broken connection, coordinator moved) is
/// retried.
const HEARTBEAT_RETRY: Duration = Duration::from_millis(100);

/// How often a subscription with a missing listed topic is checked (see
/// `subscription_check_interval`).
const MISSING_TOPIC_CHECK: Duration = Duration::from_secs(5);

/// A poll in progress (see [`Member::polling`]); its end also counts as a poll.
pub(crate) struct Polling<'a>(&'a Member);

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        let member = self.0;
        let _ = member
            .last_poll_ms
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                (last != u64::MAX).then(|| member.now_ms())
            });
        member.in_poll.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How a failed group request is handled.
pub(super) enum Next {
    /// Try again after a short backoff.
    Retry,
    /// Rejoin the group (partitions kept under cooperative, revoked under eager).
    Rejoin,
    /// The coordinator moved: find it again, then retry.
    Rediscover,
    /// The member was fenced or forgotten: partitions are lost, rejoin.
    Lost { reset_member_id: bool },
    /// Nothing more can be done.
    Fatal(Error),
}

impl Member {
    /// A member of `config.group.group_id` subscribed to `subscribed`.
    pub(crate) fn new(
        shared: Arc<Shared>,
        subscribed: Subscribed,
        listener: Option<Arc<dyn RebalanceListener>>,
    ) -> Result<Arc<Self>> {
        let config = shared.config.group.clone();
        // The public fields may have bypassed `set`'s checks.
        config.validate()?;
        let session_ms = u64::try_from(config.session_timeout.as_millis()).unwrap_or(u64::MAX);
        let group_id = config.group_id.clone().ok_or_else(|| {
            Error::Config(crate::ConfigError::InvalidValue {
                name: "group.id".into(),
                value: String::new(),
                reason: "subscribe needs a group.id".into(),
            })
        })?;
        let assignors = config
            .assignment_strategy
            .iter()
            .filter_map(|name| assignor_by_name(name))
            .collect();
        Ok(Arc::new(Self {
            coordinator: Coordinator::new(group_id.clone(), shared.config.client.clone()),
            shared,
            config,
            group_id,
            subscribed,
            assignors,
            identity: Mutex::new(Identity {
                generation: -1,
                ..Identity::default()
            }),
            phase: PhaseCell::new(),
            listener,
            last_poll_ms: AtomicU64::new(0),
            in_poll: AtomicU32::new(0),
            started: Instant::now(),
            session: SessionClock::new(session_ms),
            missing_reported: Mutex::new(BTreeSet::new()),
            resolved: Mutex::new(BTreeMap::new()),
            rejoin: AtomicBool::new(true),
            wake: Notify::new(),
            closing: AtomicBool::new(false),
            task: Mutex::new(None),
            revocation: Revocation::default(),
        }))
    }

    /// Starts the group task. It runs until [`Member::shutdown`] (or [`Member::abort`]) stops
    /// it.
    pub(crate) fn start(self: &Arc<Self>) {
        let task = tokio::spawn(Arc::clone(self).run());
        *self.task.lock().expect("task lock") = Some(task);
    }

    /// Stops the group task without waiting (the consumer is dropped).
    pub(crate) fn abort(&self) {
        self.closing.store(true, Ordering::Release);
        if let Some(task) = self.task.lock().expect("task lock").take() {
            task.abort();
        }
    }

    /// Member id and generation, for commits.
    pub(crate) fn identity(&self) -> (String, i32) {
        let id = self.identity.lock().expect("identity lock");
        (id.member_id.clone(), id.generation)
    }

    /// The partitions this member owns.
    pub(crate) fn owned(&self) -> Vec<TopicPartition> {
        self.identity.lock().expect("identity lock").owned.clone()
    }

    /// Records that the application is polling (for `max.poll.interval.ms`) until the
    /// returned guard is dropped: time spent waiting inside a poll is polling, as in both
    /// reference clients. Drops the assignment first if the session has expired (see the
    /// module documentation), so the poll cannot hand out records of partitions the member no
    /// longer owns.
    /// A revocation the application received with its previous poll is acknowledged.
    pub(crate) fn polling(&self) -> Polling<'_> {
        self.in_poll.fetch_add(1, Ordering::AcqRel);
        self.revocation.polled();
        let now = self.now_ms();
        let was = self.last_poll_ms.swap(now, Ordering::AcqRel);
        if was == u64::MAX {
            // The member left the group for not polling; rejoin now.
            self.wake.notify_one();
        }
        self.expire_session_if_due(now);
        Polling(self)
    }

    /// Drops the assignment now if the session has expired (see [`Member::polled`]).
    pub(crate) fn check_session(&self) {
        self.expire_session_if_due(self.now_ms());
    }

    /// The coordinator confirmed the member in answer to a request sent at `sent_ms` (see
    /// `session`). Returns whether the session is valid now.
    pub(super) fn session_confirmed(&self, sent_ms: u64) -> bool {
        self.session.confirm(sent_ms, self.now_ms())
    }

    /// If no heartbeat or join sent in the last `session.timeout.ms` was confirmed (a join in
    /// flight does not pause this), the partitions are lost: they stop being fetched, their
    /// buffered records are dropped, a Lost event is queued, and the member rejoins (keeping
    /// its member id: if the coordinator still knows it, the rejoin is an ordinary one).
    pub(super) fn expire_session_if_due(&self, now_ms: u64) {
        // Once per expiry, even if the task and a poll get here together.
        if !self.session.expire_if_due(now_ms) {
            return;
        }
        tracing::warn!(
            group = %self.group_id,
            session_timeout = ?self.config.session_timeout,
            "no successful heartbeat within session.timeout.ms; partitions lost, rejoining"
        );
        let lost = {
            let mut id = self.identity.lock().expect("identity lock");
            id.generation = -1;
            std::mem::take(&mut id.owned)
        };
        self.phase.set(Phase::Unjoined);
        self.lose(&lost);
        self.rejoin.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// A commit sent with `generation` by `member_id` was refused with ILLEGAL_GENERATION or
    /// UNKNOWN_MEMBER_ID. If that is still the member's stable generation, the member was
    /// fenced: its partitions are lost (not revoked), it rejoins at once, and this returns
    /// true. A generation a join has already moved past changes nothing (false).
    pub(crate) fn fenced_by_commit(
        &self,
        generation: i32,
        member_id: &str,
        code: KafkaCode,
    ) -> bool {
        let lost = {
            let mut id = self.identity.lock().expect("identity lock");
            if self.phase.get() != (Phase::Stable { generation })
                || id.generation != generation
                || id.member_id != member_id
            {
                return false;
            }
            id.generation = -1;
            if code == KafkaCode::UNKNOWN_MEMBER_ID {
                id.member_id.clear();
            }
            std::mem::take(&mut id.owned)
        };
        tracing::warn!(group = %self.group_id, %code, generation, "commit fenced; partitions lost, rejoining");
        self.phase.fence(generation);
        self.session.stop();
        self.lose(&lost);
        self.rejoin.store(true, Ordering::Release);
        self.wake.notify_one();
        true
    }

    /// A commit sent with `generation` was refused with REBALANCE_IN_PROGRESS: if the member
    /// has not joined the new round yet, it does now.
    pub(crate) fn rebalance_seen_by_commit(&self, generation: i32) {
        if self.phase.get() == (Phase::Stable { generation }) {
            self.rejoin.store(true, Ordering::Release);
            self.wake.notify_one();
        }
    }

    /// The deadline of a commit the member makes itself (before a revocation, on close):
    /// `socket.timeout.ms` from now.
    pub(crate) fn commit_deadline(&self) -> Instant {
        Instant::now() + self.shared.config.client.request_timeout
    }

    /// Sends a request to the coordinator with the request timeout.
    pub(crate) async fn coordinator_request<R: WireRequest>(
        &self,
        request: R,
    ) -> Result<R::Response> {
        let timeout = self.shared.config.client.request_timeout;
        self.coordinator
            .request(&self.shared.cluster, Lane::Prompt, request, timeout)
            .await
    }

    /// Reacts to an error code seen outside the task (offset fetches): a coordinator that
    /// moved is looked up again.
    pub(crate) async fn note_error_code(&self, e: &Error) {
        if let Error::Kafka { code, .. } = e
            && is_coordinator_error(*code)
        {
            self.coordinator.forget();
        }
    }

    /// Milliseconds since the member started (the session clock's scale).
    pub(super) fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// How often the subscription is checked against metadata (new matching topics, added
    /// partitions): every `topic.metadata.refresh.interval.ms`, as librdkafka re-evaluates a
    /// subscription on its periodic refresh (Java: `metadata.max.age.ms`); a regex fetches
    /// all topics' metadata, so it must not do that every few seconds. While a listed topic is
    /// missing, at most every 5 s (it is asked for by name only).
    fn subscription_check_interval(&self) -> Duration {
        let interval = self.shared.config.metadata_refresh_interval;
        if self
            .missing_reported
            .lock()
            .expect("missing lock")
            .is_empty()
        {
            interval
        } else {
            interval.min(MISSING_TOPIC_CHECK)
        }
    }

    /// The group task: runs until close.
    pub(crate) async fn run(self: Arc<Self>) {
        self.last_poll_ms.store(self.now_ms(), Ordering::Release);
        let mut next_heartbeat = Instant::now();
        // None without auto commit: that deadline never passes, so it never wakes the task.
        let mut next_commit = self
            .config
            .enable_auto_commit
            .then(|| Instant::now() + self.config.auto_commit_interval);
        let mut next_metadata = Instant::now() + self.subscription_check_interval();
        let mut snapshot: BTreeMap<String, i32> = BTreeMap::new();
        let mut failures: u32 = 0;
        // When the rebalance in progress started (for the hooks), if one is.
        let mut rebalancing: Option<Instant> = None;
        while !self.closing.load(Ordering::Acquire) {
            if self.poll_overdue() {
                self.leave_for_poll_timeout().await;
                continue;
            }
            if self.rejoin.swap(false, Ordering::AcqRel) {
                if rebalancing.is_none() {
                    rebalancing = Some(Instant::now());
                    self.shared.hooks().on_rebalance_started(&self.group_id);
                }
                match self.join_with_heartbeats().await {
                    Ok(topics) => {
                        if let Some(started) = rebalancing.take() {
                            let (member_id, generation) = self.identity();
                            self.shared.hooks().on_rebalance_finished(&RebalanceReport {
                                group: &self.group_id,
                                generation,
                                member_id: &member_id,
                                duration: started.elapsed(),
                                assigned: self.owned().len(),
                            });
                        }
                        snapshot = topics;
                        failures = 0;
                        next_heartbeat = Instant::now() + self.config.heartbeat_interval;
                        // The join just resolved the subscription: the next check follows
                        // from what it found (every 5 s while a listed topic is missing).
                        next_metadata = Instant::now() + self.subscription_check_interval();
                    }
                    Err(next) => {
                        self.rejoin.store(true, Ordering::Release);
                        // A rejoin the protocol asks for (MEMBER_ID_REQUIRED, a rebalance
                        // starting during SyncGroup, a fenced member id or generation) goes
                        // at once, as Java does; failures back off.
                        let immediate = matches!(next, Next::Rejoin | Next::Lost { .. });
                        if !self.handle(next).await {
                            return;
                        }
                        if !immediate {
                            failures += 1;
                            self.backoff(failures).await;
                        }
                    }
                }
                continue;
            }
            self.expire_session_if_due(self.now_ms());
            if self.rejoin.load(Ordering::Acquire) {
                continue;
            }
            let now = Instant::now();
            if now >= next_heartbeat {
                next_heartbeat = now + self.config.heartbeat_interval;
                if let Err(next) = self.heartbeat().await {
                    if matches!(next, Next::Retry | Next::Rediscover) {
                        // A heartbeat that failed is retried soon, not a whole interval later.
                        next_heartbeat = now + HEARTBEAT_RETRY.min(self.config.heartbeat_interval);
                    }
                    if !self.handle(next).await {
                        return;
                    }
                    continue;
                }
            }
            if let Some(due) = next_commit
                && now >= due
            {
                next_commit = Some(now + self.config.auto_commit_interval);
                // Retried within one heartbeat interval: the task must get back to heartbeats.
                self.commit_pending(None, now + self.config.heartbeat_interval)
                    .await;
            }
            if now >= next_metadata {
                next_metadata = now + self.subscription_check_interval();
                if let Ok(topics) = self.subscribed_topics().await
                    && topics != snapshot
                {
                    tracing::info!(group = %self.group_id, "subscribed topics changed; rejoining");
                    self.rejoin.store(true, Ordering::Release);
                    continue;
                }
            }
            let until = wake_at(next_heartbeat, next_commit, next_metadata);
            let _ = tokio::time::timeout_at(until, self.wake.notified()).await;
        }
    }

    /// Applies the outcome of a failed request. Returns false when the task must stop.
    pub(super) async fn handle(&self, next: Next) -> bool {
        match next {
            Next::Retry => true,
            Next::Rediscover => {
                self.coordinator.forget();
                true
            }
            Next::Rejoin => {
                self.rejoin.store(true, Ordering::Release);
                true
            }
            Next::Lost { reset_member_id } => {
                let lost = {
                    let mut id = self.identity.lock().expect("identity lock");
                    id.generation = -1;
                    if reset_member_id {
                        id.member_id.clear();
                    }
                    std::mem::take(&mut id.owned)
                };
                self.phase.set(Phase::Unjoined);
                self.session.stop();
                self.lose(&lost);
                self.rejoin.store(true, Ordering::Release);
                true
            }
            Next::Fatal(e) => {
                let lost = std::mem::take(&mut self.identity.lock().expect("identity lock").owned);
                self.phase.set(Phase::Unjoined);
                self.lose(&lost);
                tracing::error!(group = %self.group_id, error = %e, "group membership ended");
                self.shared.buffer.push(Delivery::Error {
                    tp: None,
                    error: Error::GroupFailed {
                        group: self.group_id.clone(),
                        source: Box::new(e),
                    },
                });
                false
            }
        }
    }

    async fn backoff(&self, failures: u32) {
        let ms = (100u64 << failures.min(4)).min(1000);
        let _ = tokio::time::timeout(Duration::from_millis(ms), self.wake.notified()).await;
    }

    fn poll_overdue(&self) -> bool {
        if self.in_poll.load(Ordering::Acquire) > 0 {
            return false;
        }
        let last = self.last_poll_ms.load(Ordering::Acquire);
        last != u64::MAX
            && Duration::from_millis(self.now_ms().saturating_sub(last))
                > self.config.max_poll_interval
    }

    /// `max.poll.interval.ms` passed without a poll: leave the group (partitions lost, nothing
    /// committed: the application may still be working on them; no LeaveGroup for a static
    /// member) and wait for the next poll.
    async fn leave_for_poll_timeout(&self) {
        tracing::warn!(group = %self.group_id, "max.poll.interval.ms exceeded; leaving the group");
        self.shared.buffer.push(Delivery::Error {
            tp: None,
            error: Error::Request {
                broker: "-".into(),
                api: "poll",
                reason: format!(
                    "the application did not poll for more than max.poll.interval.ms ({:?}); left the group, rejoining at the next poll",
                    self.config.max_poll_interval
                ),
            },
        });
        // A static member never sends LeaveGroup (as Java): it stops heartbeating, and the
        // coordinator keeps its place until the session ends, so a quick return causes no
        // rebalance.
        if self.config.group_instance_id.is_none() {
            self.send_leave("max.poll.interval.ms exceeded").await;
        }
        let lost = {
            let mut id = self.identity.lock().expect("identity lock");
            id.generation = -1;
            id.member_id.clear();
            std::mem::take(&mut id.owned)
        };
        self.phase.set(Phase::Unjoined);
        self.session.stop();
        self.lose(&lost);
        self.last_poll_ms.store(u64::MAX, Ordering::Release);
        while self.last_poll_ms.load(Ordering::Acquire) == u64::MAX
            && !self.closing.load(Ordering::Acquire)
        {
            self.wake.notified().await;
        }
        self.rejoin.store(true, Ordering::Release);
    }

    /// Commits stored offsets ahead of the committed ones (retrying until `deadline`);
    /// errors become error events.
    pub(crate) async fn commit_pending(&self, only: Option<&[TopicPartition]>, deadline: Instant) {
        let pending = commit::pending_offsets(&self.phase, &self.shared, only);
        if let Err(e) = commit::commit(self, pending, None, deadline).await {
            tracing::warn!(group = %self.group_id, error = %e, "commit failed");
            self.shared
                .buffer
                .push(Delivery::Error { tp: None, error: e });
        }
    }

    /// Leaves the group: commits what was consumed (with auto commit), revokes the
    /// partitions, and sends LeaveGroup unless the member is static (KIP-345: a static member
    /// keeps its assignment through a restart within the session timeout).
    ///
    /// The group task is stopped first, and gone when this continues: a JoinGroup/SyncGroup it
    /// had in flight can no longer assign anything (a later subscribe never runs two tasks).
    pub(crate) async fn shutdown(&self) {
        self.closing.store(true, Ordering::Release);
        self.wake.notify_one();
        let task = self.task.lock().expect("task lock").take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        // What the task was moving when stopped is still in the table: revoke that too.
        let mut owned = std::mem::take(&mut self.identity.lock().expect("identity lock").owned);
        for tp in self.shared.assigned() {
            if !owned.contains(&tp) {
                owned.push(tp);
            }
        }
        self.revoke(&owned).await;
        self.phase.set(Phase::Closed);
        if self.config.group_instance_id.is_none() {
            self.send_leave("the consumer is closing").await;
        }
    }

    async fn send_leave(&self, reason: &str) {
        let (member_id, _) = self.identity();
        if member_id.is_empty() {
            return;
        }
        let request = LeaveGroupRequest {
            group_id: self.group_id.clone(),
            members: vec![LeaveMember {
                member_id,
                group_instance_id: self.config.group_instance_id.clone(),
                reason: Some(reason.to_owned()),
            }],
        };
        match self.coordinator_request(request).await {
            Ok(r) => match KafkaCode::from_code(r.error_code) {
                None => tracing::debug!(group = %self.group_id, "left the group"),
                Some(code) => tracing::warn!(group = %self.group_id, %code, "LeaveGroup failed"),
            },
            Err(e) => tracing::warn!(group = %self.group_id, error = %e, "LeaveGroup failed"),
        }
    }
}

/// When the idle group task wakes next: the earliest of its deadlines. Without auto commit
/// there is no commit deadline; a stale one (in the past) would make the task spin.
fn wake_at(heartbeat: Instant, commit: Option<Instant>, metadata: Instant) -> Instant {
    let until = heartbeat.min(metadata);
    commit.map_or(until, |c| until.min(c))
}

#[cfg(test)]
mod wake_tests {
    use super::*;

    #[test]
    fn without_auto_commit_the_idle_task_waits_for_its_next_heartbeat_or_metadata_check() {
        let now = Instant::now();
        let heartbeat = now + Duration::from_secs(3);
        let metadata = now + Duration::from_secs(5);
        // Before the fix the commit deadline stayed at start + auto.commit.interval.ms even
        // with auto commit off; once past, every wait returned at once (a busy loop).
        assert_eq!(wake_at(heartbeat, None, metadata), heartbeat);
        let due = now + Duration::from_secs(1);
        assert_eq!(wake_at(heartbeat, Some(due), metadata), due);
    }
}
