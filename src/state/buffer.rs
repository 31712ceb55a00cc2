//! The bounded buffer between the fetch loops and the application.
//!
//! Fetch loops push fetched batches and events; `poll`/`Stream` pop messages and events one at
//! a time. Batches stay undecoded (and compressed) until the application reaches them: the
//! front batch of a delivery is decoded when its first message is popped (see
//! [`FetchedBatch`]). Everything buffered counts against `queued.max.messages.kbytes` at what it
//! holds: an undecoded batch its stored size, a decoded message its
//! [`Message::buffered_size`]. While the buffer is over budget, fetch loops wait
//! ([`Buffer::wait_for_space`]), and a fetch asks for no more than the room left in the
//! budget, at least a sixteenth of it ([`Buffer::fetch_size`]): so memory stays within the
//! budget plus that sixteenth per broker (plus the first batch of a response, which a broker
//! returns whatever the limit), plus the one batch being handed out, however large the
//! backlog, `fetch.max.bytes` and however well it compresses. (Without the fetch size limit a
//! whole response landed on a full buffer; on glibc the large response frames, freed into
//! per-thread arenas, then kept ~20 MiB more resident than the live heap.) A batch
//! decompresses to at most the budget. Entries carry the partition's generation; anything from before a seek, pause or
//! reassignment is stale and dropped (see `consumer`).

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use tokio::{sync::Notify, time::Instant};

use crate::{
    error::Error,
    types::{Event, Message, TopicPartition},
};

use super::{fetched::FetchedBatch, partition::Progress};

/// One entry of the buffer.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// Messages of one partition from one fetch, in offset order: the decoded ones of the
    /// batch being handed out (`ready`), then the batches not yet decoded.
    Messages {
        tp: TopicPartition,
        generation: u64,
        /// The partition's progress, checked and advanced as each message is handed out.
        progress: Arc<Mutex<Progress>>,
        ready: VecDeque<Message>,
        /// [`Message::buffered_size`] of all of `ready`.
        ready_bytes: usize,
        batches: VecDeque<FetchedBatch>,
    },
    /// The partition reached its end at `offset`.
    Eof {
        tp: TopicPartition,
        generation: u64,
        offset: i64,
    },
    /// Once the application has everything before it, the position moves to `offset`: past
    /// control batches and aborted data that end a fetch (nothing to hand out for them).
    Advance {
        tp: TopicPartition,
        generation: u64,
        progress: Arc<Mutex<Progress>>,
        offset: i64,
    },
    /// An error, scoped to a partition when `tp` is set.
    Error {
        tp: Option<(TopicPartition, u64)>,
        error: Error,
    },
    /// A group event (assigned, revoked, lost): never stale.
    Group(Event),
}

/// What one pop yields.
#[derive(Debug)]
pub(crate) enum Popped {
    /// Consecutive messages of one partition from one delivery (one generation), in offset
    /// order; never empty. `size` is their [`Message::buffered_size`] total, released from
    /// the budget when taken.
    Messages {
        generation: u64,
        progress: Arc<Mutex<Progress>>,
        messages: Vec<Message>,
        size: usize,
    },
    Eof {
        tp: TopicPartition,
        generation: u64,
        offset: i64,
    },
    Advance {
        generation: u64,
        progress: Arc<Mutex<Progress>>,
        offset: i64,
    },
    Error {
        tp: Option<(TopicPartition, u64)>,
        error: Error,
    },
    Group(Event),
}

/// What [`Buffer::take_ready`] found.
enum Next {
    /// An entry to hand out, or nothing.
    Done(Option<Popped>),
    /// The front delivery's next batch, to decode before its messages can be handed out.
    Decode {
        tp: TopicPartition,
        generation: u64,
        progress: Arc<Mutex<Progress>>,
        batch: FetchedBatch,
    },
}

/// What [`Buffer::take`] may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// Messages or an event, whichever comes next.
    Any,
    /// Only an event: messages coming next stay buffered (a batch that already holds events
    /// must not take messages that come after them).
    EventsOnly,
}

/// The queue with its byte budget.
#[derive(Debug)]
pub(crate) struct Buffer {
    queue: Mutex<VecDeque<Delivery>>,
    /// Held by [`Buffer::take`] throughout, so that one taker decodes a batch outside the
    /// queue's lock while the others wait (deliveries come out in order).
    taking: Mutex<()>,
    bytes: AtomicUsize,
    /// The byte budget; changed live by [`Buffer::set_budget`].
    budget: AtomicUsize,
    closed: AtomicBool,
    data: Notify,
    space: Notify,
}

impl Buffer {
    /// An empty buffer holding at most about `budget` bytes of messages.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            taking: Mutex::new(()),
            bytes: AtomicUsize::new(0),
            budget: AtomicUsize::new(budget),
            closed: AtomicBool::new(false),
            data: Notify::new(),
            space: Notify::new(),
        }
    }

    /// Appends a delivery and wakes pollers.
    pub(crate) fn push(&self, delivery: Delivery) {
        if let Delivery::Messages {
            ready_bytes,
            batches,
            ..
        } = &delivery
        {
            self.bytes
                .fetch_add(held(*ready_bytes, batches), Ordering::AcqRel);
        }
        self.queue.lock().expect("buffer lock").push_back(delivery);
        self.data.notify_waiters();
    }

    /// Bytes of messages currently buffered.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// Takes the next message or event, if any (one message at a time).
    #[cfg(test)]
    pub(crate) fn pop(&self) -> Option<Popped> {
        self.take(1, usize::MAX, Take::Any)
    }

    /// How many bytes of messages one poll may take out of the budget at most (beyond its
    /// first message): a sixteenth of the budget, at least 64 KiB. What the application holds
    /// of a batch no longer counts against the budget, so this keeps the memory bound (the
    /// budget, plus one [`Buffer::fetch_size`] per broker, plus this) however large a batch
    /// is asked for.
    pub(crate) fn hand_out_limit(&self) -> usize {
        (self.budget() / 16).max(64 << 10)
    }

    /// Takes the next entry, if any: up to `max` consecutive messages (at least one) of the
    /// front delivery, stopping once they hold `max_bytes`, or one event. With
    /// [`Take::EventsOnly`], nothing when messages come next (they stay). Reaching an
    /// undecoded batch decodes it here, outside the queue's lock (fetch loops keep pushing
    /// meanwhile; takers wait for each other, so deliveries still come out in order); a batch
    /// that cannot be decoded yields its error (scoped to its partition) and is skipped.
    pub(crate) fn take(&self, max: usize, max_bytes: usize, what: Take) -> Option<Popped> {
        let max = max.max(1);
        let _taking = self.taking.lock().expect("taker lock");
        loop {
            let (tp, generation, progress, batch) = match self.take_ready(max, max_bytes, what) {
                Next::Done(popped) => return popped,
                Next::Decode {
                    tp,
                    generation,
                    progress,
                    batch,
                } => (tp, generation, progress, batch),
            };
            let undecoded = batch.held_size();
            let decoded = batch.decode(&tp, self.budget());
            match decoded {
                Ok((messages, size)) => {
                    let mut queue = self.queue.lock().expect("buffer lock");
                    // Only a purge can have changed the front meanwhile (takers wait for each
                    // other); a purged delivery's decoded messages are stale and dropped.
                    if let Some(Delivery::Messages {
                        generation: g,
                        progress: p,
                        ready,
                        ready_bytes,
                        ..
                    }) = queue.front_mut()
                        && *g == generation
                        && Arc::ptr_eq(p, &progress)
                    {
                        self.bytes.fetch_add(size, Ordering::AcqRel);
                        *ready = messages;
                        *ready_bytes = size;
                    }
                    drop(queue);
                    self.release(undecoded);
                }
                Err(error) => {
                    self.release(undecoded);
                    return Some(Popped::Error {
                        tp: Some((tp, generation)),
                        error,
                    });
                }
            }
        }
    }

    /// What [`Buffer::take`] finds under the queue's lock: an entry, or a batch to decode
    /// first (taken out of its delivery, still counted in the budget until decoded).
    fn take_ready(&self, max: usize, max_bytes: usize, what: Take) -> Next {
        let mut queue = self.queue.lock().expect("buffer lock");
        loop {
            let Some(front) = queue.front_mut() else {
                return Next::Done(None);
            };
            if let Delivery::Messages {
                tp,
                generation,
                progress,
                ready,
                ready_bytes,
                batches,
            } = front
            {
                if !ready.is_empty() {
                    if what == Take::EventsOnly {
                        return Next::Done(None);
                    }
                    let (messages, size): (Vec<Message>, usize) =
                        if max >= ready.len() && *ready_bytes <= max_bytes {
                            // The whole decoded batch: no copy when the deque is contiguous,
                            // and its size is known.
                            let size = std::mem::take(ready_bytes);
                            (Vec::from(std::mem::take(ready)), size)
                        } else {
                            let mut part = Vec::with_capacity(max.min(ready.len()));
                            let mut size = 0;
                            while part.len() < max && (part.is_empty() || size < max_bytes) {
                                let Some(m) = ready.pop_front() else {
                                    break;
                                };
                                size += m.buffered_size();
                                part.push(m);
                            }
                            *ready_bytes -= size;
                            (part, size)
                        };
                    self.release(size);
                    return Next::Done(Some(Popped::Messages {
                        generation: *generation,
                        progress: Arc::clone(progress),
                        messages,
                        size,
                    }));
                }
                if what == Take::EventsOnly && !batches.is_empty() {
                    return Next::Done(None);
                }
                if let Some(batch) = batches.pop_front() {
                    return Next::Decode {
                        tp: tp.clone(),
                        generation: *generation,
                        progress: Arc::clone(progress),
                        batch,
                    };
                }
            }
            let popped = match queue.pop_front().expect("front seen") {
                Delivery::Messages { .. } => continue,
                Delivery::Eof {
                    tp,
                    generation,
                    offset,
                } => Popped::Eof {
                    tp,
                    generation,
                    offset,
                },
                Delivery::Advance {
                    generation,
                    progress,
                    offset,
                    ..
                } => Popped::Advance {
                    generation,
                    progress,
                    offset,
                },
                Delivery::Error { tp, error } => Popped::Error { tp, error },
                Delivery::Group(event) => Popped::Group(event),
            };
            return Next::Done(Some(popped));
        }
    }

    /// Waits until something can be taken (see [`Buffer::take`]), the
    /// deadline passes, or the buffer is closed (both `None`).
    pub(crate) async fn take_until(
        &self,
        max: usize,
        max_bytes: usize,
        deadline: Instant,
    ) -> Option<Popped> {
        loop {
            let notified = self.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(p) = self.take(max, max_bytes, Take::Any) {
                return Some(p);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.take(max, max_bytes, Take::Any);
            }
        }
    }

    /// Drops every buffered delivery of `tp` (after unassignment).
    pub(crate) fn purge(&self, tp: &TopicPartition) {
        self.purge_before(tp, u64::MAX);
    }

    /// Drops the buffered deliveries of `tp` from generations before `generation` (after a
    /// seek or pause moved it to `generation`). What the new generation already fetched stays,
    /// whenever the purge runs.
    pub(crate) fn purge_before(&self, tp: &TopicPartition, generation: u64) {
        let mut queue = self.queue.lock().expect("buffer lock");
        let mut released = 0;
        let stale = |t: &TopicPartition, g: u64| t == tp && g < generation;
        queue.retain(|d| match d {
            Delivery::Messages {
                tp: t,
                generation: g,
                ready_bytes,
                batches,
                ..
            } if stale(t, *g) => {
                released += held(*ready_bytes, batches);
                false
            }
            Delivery::Eof {
                tp: t,
                generation: g,
                ..
            }
            | Delivery::Advance {
                tp: t,
                generation: g,
                ..
            } => !stale(t, *g),
            Delivery::Error {
                tp: Some((t, g)), ..
            } => !stale(t, *g),
            _ => true,
        });
        drop(queue);
        self.release(released);
    }

    /// The byte budget in force.
    pub(crate) fn budget(&self) -> usize {
        self.budget.load(Ordering::Acquire)
    }

    /// Changes the byte budget; fetch loops waiting for space re-check it.
    pub(crate) fn set_budget(&self, budget: usize) {
        self.budget.store(budget, Ordering::Release);
        self.space.notify_waiters();
    }

    /// What one fetch may ask for (its `max_bytes`), given `fetch.max.bytes`: no more than the
    /// room left in the budget, nor less than a sixteenth of the budget (at least 64 KiB, so
    /// that a nearly full buffer is refilled in steps, not in slivers). A response then lands
    /// on a full buffer as a small overshoot, not a whole `fetch.max.bytes`; a consumer that
    /// keeps up (its buffer far from full) asks for `fetch.max.bytes` as before.
    pub(crate) fn fetch_size(&self, max_bytes: i32) -> i32 {
        let budget = self.budget();
        let room = budget
            .saturating_sub(self.buffered_bytes())
            .max((budget / 16).max(64 << 10));
        i32::try_from(room).map_or(max_bytes, |room| max_bytes.min(room))
    }

    /// Waits until the buffer is under budget (or closed).
    pub(crate) async fn wait_for_space(&self) {
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.buffered_bytes() < self.budget() || self.closed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Wakes everyone waiting; later pops return what is left, then `None`.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.data.notify_waiters();
        self.space.notify_waiters();
    }

    fn release(&self, size: usize) {
        if size == 0 {
            return;
        }
        let before = self.bytes.fetch_sub(size, Ordering::AcqRel);
        let budget = self.budget();
        if before >= budget && before - size < budget {
            self.space.notify_waiters();
        }
    }
}

/// Bytes a delivery's messages and batches hold.
fn held(ready_bytes: usize, batches: &VecDeque<FetchedBatch>) -> usize {
    ready_bytes + batches.iter().map(FetchedBatch::held_size).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use bytes::Bytes;

    use super::*;
    use crate::record::TimestampType;

    fn message(tp: &TopicPartition, offset: i64, size: usize) -> Message {
        Message {
            topic: Arc::clone(&tp.topic),
            partition: tp.partition,
            offset,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: Some(Bytes::from(vec![0; size])),
            headers: Vec::new(),
            leader_epoch: None,
        }
    }

    fn messages(tp: &TopicPartition, offsets: std::ops::Range<i64>) -> Delivery {
        Delivery::Messages {
            tp: tp.clone(),
            generation: 1,
            progress: Arc::new(Mutex::new(Progress {
                generation: 1,
                position: None,
                stored: None,
                epoch: None,
                stored_epoch: None,
            })),
            ready_bytes: offsets
                .clone()
                .map(|o| message(tp, o, 100).buffered_size())
                .sum(),
            ready: offsets.map(|o| message(tp, o, 100)).collect(),
            batches: VecDeque::new(),
        }
    }

    #[test]
    fn messages_and_events_come_out_in_push_order() {
        let tp = TopicPartition::new("t", 0);
        let b = Buffer::new(1 << 20);
        b.push(messages(&tp, 0..2));
        b.push(Delivery::Eof {
            tp: tp.clone(),
            generation: 1,
            offset: 2,
        });
        let got: Vec<String> = std::iter::from_fn(|| b.pop())
            .map(|p| match p {
                Popped::Messages { messages, .. } => format!("m{}", messages[0].offset),
                Popped::Eof { offset, .. } => format!("eof{offset}"),
                Popped::Advance { .. } | Popped::Error { .. } | Popped::Group(_) => "other".into(),
            })
            .collect();
        assert_eq!(got, ["m0", "m1", "eof2"]);
        assert_eq!(b.buffered_bytes(), 0);
    }

    #[tokio::test]
    async fn a_raised_budget_lets_a_waiting_fetch_loop_go_on() {
        let tp = TopicPartition::new("t", 0);
        let b = Arc::new(Buffer::new(100));
        b.push(messages(&tp, 0..3));
        let waiter = tokio::spawn({
            let b = Arc::clone(&b);
            async move { b.wait_for_space().await }
        });
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "over the budget: the fetch loop waits"
        );
        b.set_budget(1 << 20);
        waiter.await.unwrap();
        // Lowered under what is held: waiting again.
        b.set_budget(10);
        let waiter = tokio::spawn({
            let b = Arc::clone(&b);
            async move { b.wait_for_space().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        while b.pop().is_some() {}
        waiter.await.unwrap();
    }

    #[test]
    fn take_hands_out_runs_of_one_delivery_up_to_max_and_events_only_when_asked() {
        let (a, c) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        let b = Buffer::new(1 << 20);
        b.push(messages(&a, 0..5));
        b.push(Delivery::Eof {
            tp: a.clone(),
            generation: 1,
            offset: 5,
        });
        b.push(messages(&c, 7..9));
        let offsets = |p: Option<Popped>| match p {
            Some(Popped::Messages { messages, .. }) => messages
                .iter()
                .map(|m| (m.partition, m.offset))
                .collect::<Vec<_>>(),
            other => panic!("expected messages, got {other:?}"),
        };
        assert_eq!(offsets(b.take(2, usize::MAX, Take::Any)), [(0, 0), (0, 1)]);
        // A run never spans deliveries: the rest of partition 0, not partition 1 too.
        assert_eq!(
            offsets(b.take(100, usize::MAX, Take::Any)),
            [(0, 2), (0, 3), (0, 4)]
        );
        assert!(matches!(
            b.take(100, usize::MAX, Take::EventsOnly),
            Some(Popped::Eof { offset: 5, .. })
        ));
        assert!(
            b.take(100, usize::MAX, Take::EventsOnly).is_none(),
            "messages come next"
        );
        assert_eq!(
            offsets(b.take(100, usize::MAX, Take::Any)),
            [(1, 7), (1, 8)]
        );
        assert!(b.take(100, usize::MAX, Take::Any).is_none());
        assert_eq!(b.buffered_bytes(), 0);
    }

    #[test]
    fn take_stops_at_its_byte_limit_after_at_least_one_message_and_the_rest_stays_counted() {
        let tp = TopicPartition::new("t", 0);
        let b = Buffer::new(1 << 20);
        b.push(messages(&tp, 0..10));
        let one = message(&tp, 0, 100).buffered_size();
        let Some(Popped::Messages { messages, size, .. }) = b.take(100, 3 * one, Take::Any) else {
            panic!("messages")
        };
        assert_eq!(messages.len(), 3);
        assert_eq!(size, 3 * one);
        assert_eq!(b.buffered_bytes(), 7 * one, "the rest still counts");
        let Some(Popped::Messages { messages, .. }) = b.take(100, 1, Take::Any) else {
            panic!("messages")
        };
        assert_eq!(messages.len(), 1, "at least one, whatever the limit");
    }

    #[test]
    fn purge_drops_one_partition_and_releases_its_bytes() {
        let (a, c) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        let b = Buffer::new(1 << 20);
        b.push(messages(&a, 0..3));
        b.push(messages(&c, 0..1));
        b.purge(&a);
        assert_eq!(b.buffered_bytes(), message(&c, 0, 100).buffered_size());
        assert!(
            matches!(b.pop(), Some(Popped::Messages { messages, .. }) if messages[0].partition == 1)
        );
        assert!(b.pop().is_none());
    }

    #[test]
    fn purging_a_moved_partition_keeps_what_its_new_generation_already_fetched() {
        let tp = TopicPartition::new("t", 0);
        let b = Buffer::new(1 << 20);
        b.push(messages(&tp, 0..2)); // generation 1
        let Delivery::Messages { progress, .. } = messages(&tp, 0..0) else {
            unreachable!()
        };
        // A fetch of the new generation landed before the seek's purge ran.
        b.push(Delivery::Messages {
            tp: tp.clone(),
            generation: 2,
            progress,
            ready: [message(&tp, 50, 100)].into(),
            ready_bytes: message(&tp, 50, 100).buffered_size(),
            batches: VecDeque::new(),
        });
        b.push(Delivery::Eof {
            tp: tp.clone(),
            generation: 2,
            offset: 51,
        });
        b.purge_before(&tp, 2);
        let got: Vec<String> = std::iter::from_fn(|| b.pop())
            .map(|p| match p {
                Popped::Messages { messages, .. } => format!("m{}", messages[0].offset),
                Popped::Eof { offset, .. } => format!("eof{offset}"),
                Popped::Advance { .. } | Popped::Error { .. } | Popped::Group(_) => "other".into(),
            })
            .collect();
        assert_eq!(got, ["m50", "eof51"]);
        assert_eq!(b.buffered_bytes(), 0);
    }

    /// One zstd batch of `count` records of `size` zero bytes at offset 0, as fetched.
    fn zstd_batch(count: i32, size: usize) -> FetchedBatch {
        use crate::record::{
            BatchReader,
            builder::{BatchBuilder, Codec, TestRecord},
        };
        let raw = BatchBuilder::new(0)
            .with((0..count).map(|i| TestRecord::kv(i, b"k", &vec![0; size])))
            .codec(Codec::Zstd)
            .build();
        let batch = BatchReader::new(Bytes::from(raw)).next().unwrap().unwrap();
        FetchedBatch::new(batch, 0)
    }

    fn batches(tp: &TopicPartition, batches: Vec<FetchedBatch>) -> Delivery {
        let Delivery::Messages { progress, .. } = messages(tp, 0..0) else {
            unreachable!()
        };
        Delivery::Messages {
            tp: tp.clone(),
            generation: 1,
            progress,
            ready: VecDeque::new(),
            ready_bytes: 0,
            batches: batches.into(),
        }
    }

    #[test]
    fn compressed_batches_count_at_their_stored_size_until_their_records_are_reached() {
        let tp = TopicPartition::new("t", 0);
        let b = Buffer::new(4 << 20);
        // Two batches of 1 MiB of values each, a few hundred bytes compressed.
        let (first, second) = (zstd_batch(100, 10 << 10), zstd_batch(100, 10 << 10));
        let stored = first.held_size() + second.held_size();
        b.push(batches(&tp, vec![first, second]));
        assert_eq!(b.buffered_bytes(), stored, "nothing decoded on push");
        assert!(stored < 64 << 10);
        let Some(Popped::Messages { messages, .. }) = b.pop() else {
            panic!("a message")
        };
        assert_eq!(messages[0].value.as_ref().map(Bytes::len), Some(10 << 10));
        // Only the first batch is decoded: its 99 other messages, and the second undecoded.
        let held = b.buffered_bytes();
        assert!(
            held > 99 * (10 << 10) && held < 100 * (10 << 10) + (64 << 10),
            "{held}"
        );
        for _ in 0..199 {
            assert!(matches!(b.pop(), Some(Popped::Messages { .. })));
        }
        assert!(b.pop().is_none());
        assert_eq!(b.buffered_bytes(), 0);
    }

    #[test]
    fn a_batch_decompresses_to_at_most_the_budget() {
        let tp = TopicPartition::new("t", 0);
        // 2 MiB of values against a 1 MiB budget: an error for the batch, not 2 MiB decoded.
        let b = Buffer::new(1 << 20);
        b.push(batches(&tp, vec![zstd_batch(200, 10 << 10)]));
        match b.pop() {
            Some(Popped::Error {
                tp: Some((t, 1)),
                error: Error::CorruptBatch { reason, .. },
            }) => {
                assert_eq!(t, tp);
                assert!(reason.contains("exceed"), "{reason}");
            }
            other => panic!("expected the batch's error, got {other:?}"),
        }
        assert!(b.pop().is_none());
        assert_eq!(b.buffered_bytes(), 0);
    }

    /// A delivery counted at `bytes` (its content does not matter here).
    fn counted(tp: &TopicPartition, bytes: usize) -> Delivery {
        let Delivery::Messages {
            tp,
            generation,
            progress,
            ready,
            batches,
            ..
        } = messages(tp, 0..0)
        else {
            unreachable!()
        };
        Delivery::Messages {
            tp,
            generation,
            progress,
            ready,
            ready_bytes: bytes,
            batches,
        }
    }

    #[test]
    fn a_fetch_asks_for_no_more_than_the_room_left_in_the_budget_and_at_least_a_sixteenth() {
        let tp = TopicPartition::new("t", 0);
        let budget = 16 << 20;
        let b = Buffer::new(budget);
        let max = 50 << 20;
        assert_eq!(b.fetch_size(max), 16 << 20, "empty: the whole budget");
        assert_eq!(
            b.fetch_size(8 << 20),
            8 << 20,
            "never more than fetch.max.bytes"
        );
        b.push(counted(&tp, budget - (3 << 20)));
        assert_eq!(b.fetch_size(max), 3 << 20, "the room left");
        b.push(counted(&tp, 3 << 20));
        assert_eq!(
            b.fetch_size(max),
            1 << 20,
            "full: a sixteenth of the budget"
        );
        let small = Buffer::new(100 << 10);
        assert_eq!(small.fetch_size(max), 100 << 10);
        small.push(counted(&tp, 100 << 10));
        assert_eq!(small.fetch_size(max), 64 << 10, "at least 64 KiB");
    }

    #[tokio::test]
    async fn a_full_buffer_holds_fetchers_until_the_application_drains_it() {
        let tp = TopicPartition::new("t", 0);
        let b = Arc::new(Buffer::new(150));
        b.push(messages(&tp, 0..2)); // 2 × (64 + 100) bytes: over budget
        let waiter = tokio::spawn({
            let b = Arc::clone(&b);
            async move { b.wait_for_space().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "must wait while over budget");
        b.pop();
        b.pop();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken once drained")
            .unwrap();
    }

    #[tokio::test]
    async fn pop_until_times_out_empty_and_wakes_on_push() {
        let b = Arc::new(Buffer::new(1 << 20));
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(b.take_until(1, usize::MAX, soon).await.is_none());
        let tp = TopicPartition::new("t", 0);
        let pusher = {
            let b = Arc::clone(&b);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                b.push(messages(&tp, 5..6));
            })
        };
        let later = Instant::now() + Duration::from_secs(5);
        assert!(
            matches!(b.take_until(1, usize::MAX, later).await, Some(Popped::Messages { messages, .. }) if messages[0].offset == 5)
        );
        pusher.await.unwrap();
    }
}
