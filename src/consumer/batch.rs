//! Batch delivery: [`Consumer::poll_batch`] and [`Consumer::batches`] hand out every ready
//! message at once; `poll`, `poll_event` and `stream` are thin wrappers over the same path.
//!
//! Invariants:
//! - A [`Batch`] holds messages, then events: its messages come before its events in the
//!   order the consumer saw them, and within a partition in offset order. Once a batch holds
//!   an event, it takes no more messages (those come after the event), only further events.
//! - Every run of messages (consecutive messages of one partition from one fetch, under one
//!   generation) is checked and recorded once: the member's session is checked first (a
//!   lapsed session drops the partitions before anything is handed out), then the
//!   partition's generation under its progress lock, which also advances the position and
//!   the stored offset to the run's last offset + 1. A stale run is dropped whole.
//! - Group bookkeeping (`max.poll.interval.ms`, the revocation acknowledgement) runs once per
//!   call, not per message; no partitions-map lock and no hashing per message.
//! - What a batch takes leaves the buffer's budget, so a batch holds at most the buffer's
//!   hand-out limit of message bytes (a sixteenth of `queued.max.messages.kbytes`) plus one
//!   message, whatever `max` asks: the memory bound stays the budget, what one fetch per
//!   broker may ask for on a full buffer (`Buffer::fetch_size`), and that limit.

use std::time::Duration;

use futures::Stream;
use tokio::time::Instant;

use super::{Consumer, deadline_after};
use crate::{
    error::Result,
    group::member::Member,
    state::buffer::{Popped, Take},
    types::{Event, Message},
};

/// What one [`Consumer::poll_batch`] hands out: ready messages, then events and errors.
///
/// Messages come in runs: each run holds consecutive messages of one partition in offset
/// order ([`Batch::runs`]); runs of different partitions interleave as they were fetched.
/// Events ([`Event::PartitionEof`], group events) and errors come after every message of the
/// batch, in the order they occurred.
///
/// ```
/// use rskafka_consumer::Batch;
///
/// let batch = Batch::default();
/// assert!(batch.is_empty());
/// for message in batch.messages() {
///     println!("{} [{}] @ {}", message.topic, message.partition, message.offset);
/// }
/// for event in batch.events() {
///     println!("{event:?}");
/// }
/// ```
#[derive(Debug, Default)]
pub struct Batch {
    runs: Vec<Vec<Message>>,
    len: usize,
    /// [`Message::buffered_size`] of all messages (bounded, see `Buffer::hand_out_limit`).
    bytes: usize,
    events: Vec<Result<Event>>,
}

impl Batch {
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No messages and no events (the poll timed out, or the consumer is closed).
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.events.is_empty()
    }

    /// The messages, in the order they were handed out.
    pub fn messages(&self) -> impl Iterator<Item = &Message> + '_ {
        self.runs.iter().flatten()
    }

    /// The messages as runs: each run is consecutive messages of one partition in offset
    /// order (never empty).
    pub fn runs(&self) -> impl Iterator<Item = &[Message]> + '_ {
        self.runs.iter().map(Vec::as_slice)
    }

    /// The events and errors that came after the messages, in order.
    pub fn events(&self) -> &[Result<Event>] {
        &self.events
    }

    /// Takes the events and errors out of the batch (it keeps its messages).
    pub fn take_events(&mut self) -> Vec<Result<Event>> {
        std::mem::take(&mut self.events)
    }

    /// The messages, by value, in order. The events are dropped: read them first
    /// ([`Batch::take_events`]) when they matter.
    pub fn into_messages(self) -> impl Iterator<Item = Message> {
        self.runs.into_iter().flatten()
    }

    /// The runs of messages, by value (see [`Batch::runs`]). The events are dropped: read
    /// them first ([`Batch::take_events`]) when they matter.
    pub fn into_runs(self) -> impl Iterator<Item = Vec<Message>> {
        self.runs.into_iter()
    }

    /// Messages plus events.
    fn count(&self) -> usize {
        self.len + self.events.len()
    }

    fn push_run(&mut self, run: Vec<Message>, size: usize) {
        self.len += run.len();
        self.bytes += size;
        self.runs.push(run);
    }

    /// The first message or event (for the one-at-a-time wrappers: a batch of at most one).
    fn into_first(self) -> Option<Result<Event>> {
        match self.runs.into_iter().flatten().next() {
            Some(message) => Some(Ok(Event::Message(message))),
            None => self.events.into_iter().next(),
        }
    }
}

/// What the consumer accepts from one buffer entry.
pub(super) enum Accepted {
    /// A run of messages, recorded as handed out, and their buffered size.
    Messages(Vec<Message>, usize),
    /// An event or an error.
    Event(Result<Event>),
}

impl Consumer {
    /// Every message ready now, up to `max` messages and events together (at least one), or
    /// what arrives first within `timeout` (a zero timeout never waits). Errors come in line
    /// as events and do not end the consumer. An empty batch when nothing arrived in time or
    /// the consumer is closed.
    ///
    /// Semantics are [`Consumer::poll_event`]'s, `max` at a time: partition EOF events,
    /// pause, seek and revocation apply to the batch as they would to single polls, and with
    /// `enable.auto.offset.store` the next commit stores one past the last message of each
    /// partition handed out in the batch.
    ///
    /// ```no_run
    /// # async fn demo(consumer: rskafka_consumer::Consumer) {
    /// use std::time::Duration;
    ///
    /// let mut batch = consumer.poll_batch(10_000, Duration::from_secs(1)).await;
    /// for message in batch.messages() {
    ///     println!("{} @ {}", message.partition, message.offset);
    /// }
    /// for event in batch.take_events() {
    ///     println!("{event:?}");
    /// }
    /// # }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is taken from the buffer until the future completes.
    pub async fn poll_batch(&self, max: usize, timeout: Duration) -> Batch {
        let member = self.member.lock().expect("member lock").clone();
        // Until this poll returns, the application counts as polling (max.poll.interval.ms).
        let _polling = member.as_deref().map(Member::polling);
        self.next_batch(member.as_deref(), max, timeout).await
    }

    /// [`Consumer::poll_batch`] without counting as polling (the caller does: see
    /// `stream.rs`). Cancel safe: an entry leaves the buffer only in the step that returns.
    pub(super) async fn next_batch(
        &self,
        member: Option<&Member>,
        max: usize,
        timeout: Duration,
    ) -> Batch {
        let max = max.max(1);
        let mut batch = Batch::default();
        // Fast path: something is ready (the common case under load), no wake-up.
        self.fill(member, max, &mut batch);
        if !batch.is_empty() {
            return batch;
        }
        let deadline = deadline_after(timeout);
        let limit = self.shared.buffer.hand_out_limit();
        while let Some(popped) = self.shared.buffer.take_until(max, limit, deadline).await {
            self.add(member, popped, &mut batch);
            if !batch.is_empty() {
                self.fill(member, max, &mut batch);
                break;
            }
        }
        batch
    }

    /// The next message or event without counting as polling (for `stream.rs`).
    pub(super) async fn next_event(
        &self,
        member: Option<&Member>,
        timeout: Duration,
    ) -> Option<Result<Event>> {
        self.next_batch(member, 1, timeout).await.into_first()
    }

    /// Batches as an async stream (see [`Consumer::poll_batch`]), each of at most `max`
    /// messages and events; never an empty one. It ends when the consumer is closed.
    pub fn batches(&self, max: usize) -> impl Stream<Item = Batch> + '_ {
        futures::stream::unfold(self, move |consumer| async move {
            loop {
                if consumer.shared.is_closed() {
                    return None;
                }
                let batch = consumer.poll_batch(max, Duration::from_secs(3600)).await;
                if !batch.is_empty() {
                    return Some((batch, consumer));
                }
            }
        })
    }

    /// The next message or event, waiting at most `timeout`: a batch of one.
    pub async fn poll_event(&self, timeout: Duration) -> Option<Result<Event>> {
        self.poll_batch(1, timeout).await.into_first()
    }

    /// The next message, waiting at most `timeout` (a zero timeout never waits). Events are
    /// skipped; use [`Consumer::poll_event`], [`Consumer::poll_batch`] or
    /// [`Consumer::stream`] to see them. Errors are returned in line and do not end the
    /// consumer. `None` when nothing arrived in time or the consumer is closed.
    pub async fn poll(&self, timeout: Duration) -> Option<Result<Message>> {
        let deadline = deadline_after(timeout);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.poll_event(remaining).await? {
                Ok(Event::Message(m)) => return Some(Ok(m)),
                Ok(_) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// Adds what is ready now to `batch`, up to `max` messages and events, and messages up to
    /// the buffer's hand-out limit in bytes (the memory bound).
    fn fill(&self, member: Option<&Member>, max: usize, batch: &mut Batch) {
        let limit = self.shared.buffer.hand_out_limit();
        while batch.count() < max && batch.bytes < limit {
            let what = if batch.events.is_empty() {
                Take::Any
            } else {
                Take::EventsOnly
            };
            let left = max - batch.count();
            let Some(popped) = self.shared.buffer.take(left, limit - batch.bytes, what) else {
                return;
            };
            self.add(member, popped, batch);
        }
    }

    /// Adds one buffer entry to `batch` after the session check: if the member's session
    /// lapsed (the process may have been stopped, SIGSTOP, at any point before this), its
    /// partitions go first and `popped` is dropped as stale. Every path that hands something
    /// out comes through here.
    fn add(&self, member: Option<&Member>, popped: Popped, batch: &mut Batch) {
        if let Some(member) = member {
            member.check_session();
            if let Popped::Group(Event::Revoked(partitions)) = &popped {
                // The revocation's listener runs here, on the application's poll path.
                member.revocation_handed_out(partitions);
            }
        }
        match self.accept(popped) {
            None => {}
            Some(Accepted::Messages(run, size)) => batch.push_run(run, size),
            Some(Accepted::Event(event)) => batch.events.push(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::types::TimestampType;

    fn message(partition: i32, offset: i64) -> Message {
        Message {
            topic: Arc::from("t"),
            partition,
            offset,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: None,
            headers: Vec::new(),
            leader_epoch: None,
        }
    }

    #[test]
    fn a_batch_lists_its_runs_in_order_and_counts_messages_and_events() {
        let mut batch = Batch::default();
        batch.push_run(vec![message(0, 5), message(0, 6)], 0);
        batch.push_run(vec![message(1, 9)], 0);
        batch.events.push(Ok(Event::PartitionEof {
            topic: Arc::from("t"),
            partition: 0,
            offset: 7,
        }));
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.count(), 4);
        let offsets: Vec<(i32, i64)> = batch.messages().map(|m| (m.partition, m.offset)).collect();
        assert_eq!(offsets, [(0, 5), (0, 6), (1, 9)]);
        assert_eq!(
            batch.runs().map(<[Message]>::len).collect::<Vec<_>>(),
            [2, 1]
        );
        assert_eq!(batch.take_events().len(), 1);
        assert!(batch.events().is_empty());
        assert_eq!(batch.into_messages().count(), 3);
    }

    #[test]
    fn the_first_of_a_batch_is_its_first_message_else_its_first_event() {
        let mut batch = Batch::default();
        batch.push_run(vec![message(0, 1)], 0);
        assert!(matches!(batch.into_first(), Some(Ok(Event::Message(m))) if m.offset == 1));
        let mut batch = Batch::default();
        batch.events.push(Ok(Event::Assigned(Vec::new())));
        assert!(matches!(batch.into_first(), Some(Ok(Event::Assigned(_)))));
        assert!(Batch::default().into_first().is_none());
    }
}
