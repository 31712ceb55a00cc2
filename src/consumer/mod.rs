//! The public consumer: assign partitions, poll messages and events, seek, pause and resume.
//!
//! A thin facade: a [`Consumer`] owns a fetcher (see `fetch`) that runs in background tasks and
//! fills a bounded buffer; `poll`, `poll_event` and `stream` take from it. The partition table
//! (`state`) owns every partition's state: every partition carries a generation that changes
//! when the application moves it (assign, seek, pause), and anything fetched under an older
//! generation is dropped before it reaches the application.

pub use crate::types::{Event, Header, Message, Offset, TimestampType, TopicPartition, Watermarks};

mod batch;
mod stored;
mod stream;

pub use batch::Batch;

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use futures::Stream;
use tokio::time::Instant;

use crate::{
    cluster::{Cluster, ClusterMetadata},
    config::ConsumerConfig,
    error::{Error, Result},
    fetch::manager,
    group::{
        commit,
        member::{Member, RebalanceListener},
        subscription::Subscribed,
    },
    state::{Shared, buffer::Popped},
};
use batch::Accepted;

/// A Kafka consumer with explicitly assigned partitions.
///
/// ```no_run
/// # async fn demo() -> Result<(), rskafka_consumer::Error> {
/// use std::time::Duration;
/// use rskafka_consumer::{Consumer, ConsumerConfig, Offset, TopicPartition};
///
/// let mut config = ConsumerConfig::new("127.0.0.1:9092")?;
/// config.set("enable.partition.eof", "true")?;
/// let consumer = Consumer::new(config).await?;
/// consumer.assign([(TopicPartition::new("events", 0), Offset::Beginning)])?;
/// while let Some(message) = consumer.poll(Duration::from_secs(1)).await {
///     let message = message?;
///     println!("{} @ {}: {:?}", message.partition, message.offset, message.value);
/// }
/// consumer.close().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Consumer {
    shared: Arc<Shared>,
    /// The group membership, once subscribed.
    member: std::sync::Mutex<Option<Arc<Member>>>,
}

impl Consumer {
    /// Connects to the cluster (bootstrap failover, connect timeout) and starts the fetcher.
    pub async fn new(config: ConsumerConfig) -> Result<Self> {
        let cluster = Cluster::connect(config.client.clone()).await?;
        let shared = Arc::new(Shared::new(config, cluster));
        let source: Arc<dyn crate::hooks::PartitionSource> = Arc::clone(&shared) as _;
        shared.hooks().on_start(Arc::downgrade(&source));
        shared.track(tokio::spawn(manager::run(Arc::clone(&shared))));
        Ok(Self {
            shared,
            member: std::sync::Mutex::new(None),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ConsumerConfig {
        &self.shared.config
    }

    /// Changes `fetch.min.bytes`, `fetch.max.bytes`, `fetch.wait.max.ms` and
    /// `queued.max.messages.kbytes` while running: the next Fetch request of every broker
    /// loop uses them (a fetch in flight finishes with the old ones). [`Consumer::config`]
    /// keeps showing the values it was created with.
    pub fn set_fetch_tuning(&self, tuning: crate::config::FetchTuning) {
        *self.shared.tuning.lock().expect("tuning lock") = tuning;
        self.shared.buffer.set_budget(tuning.queued_max_bytes);
        self.shared.notify_change();
    }

    /// Cluster metadata for `topics` (all topics when `None`).
    pub async fn metadata(&self, topics: Option<&[String]>) -> Result<ClusterMetadata> {
        self.shared.cluster.metadata(topics).await
    }

    /// Replaces the assignment with `partitions`, each starting at its [`Offset`]. Partitions
    /// no longer assigned stop, and their buffered messages are dropped.
    pub fn assign(
        &self,
        partitions: impl IntoIterator<Item = (TopicPartition, Offset)>,
    ) -> Result<()> {
        let wanted: Vec<(TopicPartition, Offset)> = partitions.into_iter().collect();
        let removed: Vec<TopicPartition> = self
            .shared
            .assigned()
            .into_iter()
            .filter(|tp| !wanted.iter().any(|(w, _)| w == tp))
            .collect();
        self.shared.remove_partitions(&removed);
        self.shared.add_partitions(&wanted);
        stored::look_up_committed(&self.shared);
        Ok(())
    }

    /// Joins the consumer group `group.id` and consumes the partitions the group assigns.
    /// Entries starting with `^` are regular expressions over topic names (librdkafka's rule);
    /// new matching topics and added partitions are picked up. Assignment changes arrive as
    /// [`Event::Assigned`], [`Event::Revoked`] and [`Event::Lost`].
    pub fn subscribe(&self, topics: &[&str]) -> Result<()> {
        self.subscribe_with(topics, None)
    }

    /// [`Consumer::subscribe`], with callbacks around each rebalance: `on_assigned` and
    /// `on_lost` run on the group task, `on_revoked` on the application's poll path just before
    /// the poll returns [`Event::Revoked`] (see [`RebalanceListener`]).
    pub fn subscribe_with(
        &self,
        topics: &[&str],
        listener: Option<Arc<dyn RebalanceListener>>,
    ) -> Result<()> {
        let mut slot = self.member.lock().expect("member lock");
        if slot.is_some() {
            return Err(Error::Config(crate::ConfigError::InvalidValue {
                name: "subscription".into(),
                value: topics.join(","),
                reason: "already subscribed".into(),
            }));
        }
        let member = Member::new(
            Arc::clone(&self.shared),
            Subscribed::parse(topics)?,
            listener,
        )?;
        member.start();
        *slot = Some(member);
        Ok(())
    }

    /// Leaves the group: commits what was consumed (with auto commit), revokes the partitions
    /// ([`Event::Revoked`] is still delivered by `poll_event`) and sends LeaveGroup (not for
    /// static members). Waits at most `timeout`. A no-op without a subscription.
    ///
    /// The group task is stopped first, even with a JoinGroup/SyncGroup in flight: once this
    /// returns nothing more is assigned, and a later [`Consumer::subscribe`] runs one member.
    pub async fn unsubscribe(&self, timeout: Duration) {
        let member = self.member.lock().expect("member lock").take();
        if let Some(member) = member
            && tokio::time::timeout(timeout, member.shutdown())
                .await
                .is_err()
        {
            tracing::warn!("leaving the group timed out after {timeout:?}");
        }
    }

    /// Commits the stored offsets (by default: one past the last message handed to the
    /// application) of every assigned partition, and waits for the coordinator's answer.
    ///
    /// The offsets are taken when `commit` is called, not when the future is first polled:
    /// a commit can be kept in flight while the application goes on polling, and covers only
    /// what was handed out before the call.
    ///
    /// A commit is only sent with a generation the group accepts: during a rebalance it waits
    /// for the rebalance to finish. Retriable failures (coordinator moved or loading, timeouts,
    /// a rebalance starting) are retried with backoff; all of it within `socket.timeout.ms`.
    ///
    /// # Errors
    ///
    /// [`Error::RebalanceInProgress`] when the member was still rebalancing at the deadline
    /// (nothing was sent); [`Error::Kafka`] with ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID when
    /// the member was fenced (its partitions are lost, [`Event::Lost`], and it rejoins); the
    /// last error when retries ran out.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future (for a shorter bound, `tokio::time::timeout`) stops
    /// retrying; a request already sent may still be applied by the coordinator.
    pub fn commit(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        let gathered = self.member().map(|member| {
            (
                commit::pending_offsets(&member.phase, &self.shared, None),
                member,
            )
        });
        async move {
            let (pending, member) = gathered?;
            commit::commit(&member, pending, None, member.commit_deadline()).await
        }
    }

    /// Commits explicit offsets (the next offset to consume per partition), with optional
    /// commit metadata. Waits, retries and fails as [`Consumer::commit`] does; a retry under a
    /// newer generation carries only the partitions still assigned.
    pub async fn commit_offsets(
        &self,
        offsets: &[(TopicPartition, i64)],
        metadata: Option<&str>,
    ) -> Result<()> {
        let member = self.member()?;
        let gathered = commit::Gathered::under(&member.phase, || offsets.to_vec());
        commit::commit(&member, gathered, metadata, member.commit_deadline()).await
    }

    /// Starts [`Consumer::commit`] in the background; a failure arrives as an error event.
    pub fn commit_async(&self) -> Result<()> {
        let member = self.member()?;
        tokio::spawn(async move {
            let deadline = member.commit_deadline();
            member.commit_pending(None, deadline).await
        });
        Ok(())
    }

    /// The group's committed offsets for `partitions` (`None` where nothing is committed).
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<i64>)>> {
        let member = self.member()?;
        commit::fetch_committed(&member, partitions).await
    }

    /// How far `tp`'s position is behind the end (the last stable offset under
    /// read_committed, the high watermark otherwise), as of the last fetch.
    pub fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        self.shared.partitions.lag(tp)
    }

    fn member(&self) -> Result<Arc<Member>> {
        self.member
            .lock()
            .expect("member lock")
            .clone()
            .ok_or_else(|| {
                Error::Config(crate::ConfigError::InvalidValue {
                    name: "group.id".into(),
                    value: String::new(),
                    reason: "this needs a group: call subscribe first".into(),
                })
            })
    }

    /// Whether `tp` is assigned to this consumer now. In a group the member's session is
    /// checked first, as every poll does: after a stall (SIGSTOP, a frozen VM) longer than
    /// `session.timeout.ms` the partitions are lost before this answers. For applications that
    /// hold polled messages and process them later (the runner): asked before each one starts,
    /// no message is processed for a partition another member may own by now.
    pub fn owns(&self, tp: &TopicPartition) -> bool {
        let member = self.member.lock().expect("member lock").clone();
        if let Some(member) = member {
            member.check_session();
        }
        self.shared.partitions.is_assigned(tp)
    }

    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.shared.assigned()
    }

    /// Messages, events and errors as an async stream; it ends when the consumer is closed.
    ///
    /// # Cancel safety
    ///
    /// `next()` may be dropped (e.g. raced against a timer in `select!`): nothing is lost or
    /// handed out twice. While a task awaits it the application counts as polling
    /// (`max.poll.interval.ms`); once its `next()` was dropped, no longer.
    pub fn stream(&self) -> impl Stream<Item = Result<Event>> + '_ {
        stream::EventStream::new(self)
    }

    /// Moves an assigned partition: the next message returned is at `offset`.
    pub fn seek(&self, tp: &TopicPartition, offset: Offset) -> Result<()> {
        self.shared.partitions.seek(tp, offset)?;
        stored::look_up_committed(&self.shared);
        self.shared.notify_change();
        Ok(())
    }

    /// Stops fetching `partitions`; buffered messages are dropped and fetched again on resume,
    /// from the position the application reached.
    pub fn pause(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.shared.partitions.pause(partitions)?;
        self.shared.notify_change();
        Ok(())
    }

    /// Resumes fetching `partitions`.
    pub fn resume(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.shared.partitions.resume(partitions)?;
        self.shared.notify_change();
        Ok(())
    }

    /// Stores `offset` (the next offset to consume, i.e. the last processed message's offset
    /// + 1) for the next commit of `tp`; for `enable.auto.offset.store=false`.
    pub fn store_offset(&self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.shared.partitions.store(tp, offset)
    }

    /// The offset of the next message the application will receive from `tp`, once known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.shared.partitions.position(tp)
    }

    /// Log start offset, high watermark and last stable offset of `tp`, as of the last fetch.
    pub fn watermarks(&self, tp: &TopicPartition) -> Option<Watermarks> {
        self.shared.partitions.watermarks(tp)
    }

    /// Every assigned partition's position, committed offset, watermarks, lag (against the
    /// last stable offset under read_committed, the high watermark otherwise) and pause
    /// state, sorted.
    pub fn partition_stats(&self) -> Vec<crate::hooks::PartitionStats> {
        self.shared.partitions.stats()
    }

    /// Bytes of fetched messages waiting in the buffer (bounded by
    /// `queued.max.messages.kbytes`).
    pub fn buffered_bytes(&self) -> usize {
        self.shared.buffer.buffered_bytes()
    }

    /// Closes the consumer within 10 seconds: see [`Consumer::close_within`].
    pub async fn close(self) {
        self.close_within(Duration::from_secs(10)).await;
    }

    /// Stops fetching; in a group, commits what was consumed (with auto commit), revokes the
    /// partitions and leaves the group (not for static members). Returns within `timeout` even
    /// when the brokers are gone.
    pub async fn close_within(self, timeout: Duration) {
        let member = self.member.lock().expect("member lock").take();
        if let Some(member) = member
            && tokio::time::timeout(timeout, member.shutdown())
                .await
                .is_err()
        {
            tracing::warn!("closing the group membership timed out after {timeout:?}");
        }
        let tasks = self.shutdown();
        for task in tasks {
            let _ = task.await;
        }
    }

    fn shutdown(&self) -> Vec<tokio::task::JoinHandle<()>> {
        if let Some(member) = self.member.lock().expect("member lock").as_ref() {
            member.abort();
        }
        self.shared.closed.store(true, Ordering::Release);
        self.shared.buffer.close();
        self.shared.notify_change();
        let tasks = std::mem::take(&mut *self.shared.tasks.lock().expect("tasks lock"));
        for task in &tasks {
            task.abort();
        }
        tasks
    }

    /// Turns a popped buffer entry into what the application sees, or `None` if it is stale.
    /// A run of messages is checked and recorded under its partition's progress lock once.
    fn accept(&self, popped: Popped) -> Option<Accepted> {
        // Messages, the hot path, need only their partition's progress (no partitions lock).
        match popped {
            Popped::Messages {
                generation,
                progress,
                messages,
                size,
            } => {
                let last = messages.last()?;
                let (offset, epoch) = (last.offset, last.leader_epoch);
                self.shared
                    .partitions
                    .hand_out(&progress, generation, offset, epoch)
                    .then_some(Accepted::Messages(messages, size))
            }
            Popped::Eof {
                tp,
                generation,
                offset,
            } => self
                .shared
                .partitions
                .is_current(&tp, generation)
                .then_some(Accepted::Event(Ok(Event::PartitionEof {
                    topic: tp.topic,
                    partition: tp.partition,
                    offset,
                }))),
            Popped::Advance {
                generation,
                progress,
                offset,
            } => {
                self.shared
                    .partitions
                    .advance(&progress, generation, offset);
                None
            }
            Popped::Error {
                tp: Some((tp, generation)),
                error,
            } => self
                .shared
                .partitions
                .is_current(&tp, generation)
                .then_some(Accepted::Event(Err(error))),
            Popped::Error { tp: None, error } => Some(Accepted::Event(Err(error))),
            Popped::Group(event) => Some(Accepted::Event(Ok(event))),
        }
    }
}

impl Drop for Consumer {
    /// Stops the background tasks without waiting for them.
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}
