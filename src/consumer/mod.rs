//! The public consumer: assign partitions, poll messages and events, seek, pause and resume.
//!
//! A [`Consumer`] owns a fetcher (see `fetch`) that runs in background tasks and fills a bounded
//! buffer; `poll`, `poll_event` and `stream` take from it. Every partition carries a generation
//! that changes when the application moves it (assign, seek, pause), and anything fetched under
//! an older generation is dropped before it reaches the application.

mod message;

pub use message::{Event, Header, Message, Offset, TimestampType, TopicPartition, Watermarks};

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
    fetch::{
        Shared,
        buffer::{Delivery, Popped},
        manager,
        partition::{FetchState, PartitionState, ResolveTo},
    },
};

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
}

impl Consumer {
    /// Connects to the cluster (bootstrap failover, connect timeout) and starts the fetcher.
    pub async fn new(config: ConsumerConfig) -> Result<Self> {
        let cluster = Cluster::connect(config.client.clone()).await?;
        let shared = Arc::new(Shared::new(config, cluster));
        shared.track(tokio::spawn(manager::run(Arc::clone(&shared))));
        Ok(Self { shared })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ConsumerConfig {
        &self.shared.config
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
        let mut state = self.shared.partitions.lock().expect("partitions lock");
        let removed: Vec<TopicPartition> = state
            .keys()
            .filter(|tp| !wanted.iter().any(|(w, _)| w == *tp))
            .cloned()
            .collect();
        for tp in &removed {
            state.remove(tp);
            self.shared.buffer.purge(tp);
        }
        for (tp, offset) in wanted {
            let generation = self.shared.new_generation();
            let fetch = self.start_state(&tp, generation, offset);
            self.shared.buffer.purge(&tp);
            match state.get_mut(&tp) {
                Some(existing) => existing.move_to(generation, fetch),
                None => {
                    state.insert(tp, PartitionState::new(generation, fetch));
                }
            }
        }
        drop(state);
        self.shared.notify_change();
        Ok(())
    }

    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        let state = self.shared.partitions.lock().expect("partitions lock");
        let mut tps: Vec<TopicPartition> = state.keys().cloned().collect();
        tps.sort();
        tps
    }

    /// The next message, waiting at most `timeout` (a zero timeout never waits). Events are
    /// skipped; use [`Consumer::poll_event`] or [`Consumer::stream`] to see them. Errors are
    /// returned in line and do not end the consumer. `None` when nothing arrived in time or the
    /// consumer is closed.
    pub async fn poll(&self, timeout: Duration) -> Option<Result<Message>> {
        let deadline = deadline_after(timeout);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.poll_event(remaining).await? {
                Ok(Event::Message(m)) => return Some(Ok(m)),
                Ok(Event::PartitionEof { .. }) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The next message or event, waiting at most `timeout`.
    pub async fn poll_event(&self, timeout: Duration) -> Option<Result<Event>> {
        let deadline = deadline_after(timeout);
        loop {
            let popped = self.shared.buffer.pop_until(deadline).await?;
            if let Some(event) = self.accept(popped) {
                return Some(event);
            }
        }
    }

    /// Messages, events and errors as an async stream; it ends when the consumer is closed.
    pub fn stream(&self) -> impl Stream<Item = Result<Event>> + '_ {
        futures::stream::unfold(self, |consumer| async move {
            loop {
                if consumer.shared.is_closed() {
                    return None;
                }
                if let Some(event) = consumer.poll_event(Duration::from_secs(3600)).await {
                    return Some((event, consumer));
                }
            }
        })
    }

    /// Moves an assigned partition: the next message returned is at `offset`.
    pub fn seek(&self, tp: &TopicPartition, offset: Offset) -> Result<()> {
        let generation = self.shared.new_generation();
        let fetch = self.start_state(tp, generation, offset);
        self.with_partition(tp, |state| state.move_to(generation, fetch))?;
        self.shared.buffer.purge(tp);
        self.shared.notify_change();
        Ok(())
    }

    /// Stops fetching `partitions`; buffered messages are dropped and fetched again on resume,
    /// from the position the application reached.
    pub fn pause(&self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            let generation = self.shared.new_generation();
            self.with_partition(tp, |state| {
                state.paused = true;
                let fetch = match (state.fetch, state.consumer_position) {
                    (FetchState::Fetching(_), Some(position)) => FetchState::Fetching(position),
                    (other, _) => other,
                };
                state.move_to(generation, fetch);
                state.paused = true;
            })?;
            self.shared.buffer.purge(tp);
        }
        self.shared.notify_change();
        Ok(())
    }

    /// Resumes fetching `partitions`.
    pub fn resume(&self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.with_partition(tp, |state| state.paused = false)?;
        }
        self.shared.notify_change();
        Ok(())
    }

    /// The offset of the next message the application will receive from `tp`, once known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        let state = self.shared.partitions.lock().expect("partitions lock");
        state.get(tp).and_then(|s| s.consumer_position)
    }

    /// Log start offset, high watermark and last stable offset of `tp`, as of the last fetch.
    pub fn watermarks(&self, tp: &TopicPartition) -> Option<Watermarks> {
        let state = self.shared.partitions.lock().expect("partitions lock");
        state.get(tp).and_then(|s| s.watermarks)
    }

    /// Bytes of fetched messages waiting in the buffer (bounded by
    /// `queued.max.messages.kbytes`).
    pub fn buffered_bytes(&self) -> usize {
        self.shared.buffer.buffered_bytes()
    }

    /// Stops fetching and releases the connections.
    pub async fn close(self) {
        let tasks = self.shutdown();
        for task in tasks {
            let _ = task.await;
        }
    }

    fn shutdown(&self) -> Vec<tokio::task::JoinHandle<()>> {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.buffer.close();
        self.shared.notify_change();
        let tasks = std::mem::take(&mut *self.shared.tasks.lock().expect("tasks lock"));
        for task in &tasks {
            task.abort();
        }
        tasks
    }

    /// The fetch state a partition starts in for `offset`. Under `auto.offset.reset=error`, a
    /// partition without an explicit offset fails at once, with an error event.
    fn start_state(&self, tp: &TopicPartition, generation: u64, offset: Offset) -> FetchState {
        match offset {
            Offset::Beginning => FetchState::Resolve(ResolveTo::Earliest),
            Offset::End => FetchState::Resolve(ResolveTo::Latest),
            Offset::At(o) if o >= 0 => FetchState::Fetching(o),
            Offset::At(_) | Offset::Stored | Offset::Default => match self.shared.reset_target() {
                Some(to) => FetchState::Resolve(to),
                None => {
                    self.shared.buffer.push(Delivery::Error {
                        tp: Some((tp.clone(), generation)),
                        error: Error::OffsetOutOfRange {
                            topic: tp.topic.to_string(),
                            partition: tp.partition,
                            offset: -1,
                        },
                    });
                    FetchState::Failed
                }
            },
        }
    }

    fn with_partition<T>(
        &self,
        tp: &TopicPartition,
        f: impl FnOnce(&mut PartitionState) -> T,
    ) -> Result<T> {
        let mut state = self.shared.partitions.lock().expect("partitions lock");
        let partition = state.get_mut(tp).ok_or_else(|| Error::NotAssigned {
            topic: tp.topic.to_string(),
            partition: tp.partition,
        })?;
        Ok(f(partition))
    }

    /// Turns a popped buffer entry into what the application sees, or `None` if it is stale.
    fn accept(&self, popped: Popped) -> Option<Result<Event>> {
        let mut state = self.shared.partitions.lock().expect("partitions lock");
        match popped {
            Popped::Message {
                generation,
                message,
            } => {
                let current = state
                    .get_mut(&message.topic_partition())
                    .filter(|s| s.generation == generation)?;
                current.consumer_position = Some(message.offset + 1);
                Some(Ok(Event::Message(message)))
            }
            Popped::Eof {
                tp,
                generation,
                offset,
            } => {
                state.get(&tp).filter(|s| s.generation == generation)?;
                Some(Ok(Event::PartitionEof {
                    topic: tp.topic,
                    partition: tp.partition,
                    offset,
                }))
            }
            Popped::Error {
                tp: Some((tp, generation)),
                error,
            } => {
                state.get(&tp).filter(|s| s.generation == generation)?;
                Some(Err(error))
            }
            Popped::Error { tp: None, error } => Some(Err(error)),
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
