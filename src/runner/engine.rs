//! The runner's loop: one task owns every held message and decides what starts, what waits,
//! what is dead-lettered, what is committed and which partitions are paused.
//!
//! Invariants:
//! - The loop never blocks on a handler: attempts and dead-letter writes run as their own
//!   tasks and report back; meanwhile the loop keeps polling the consumer, so the member keeps
//!   its place in the group however long a message waits.
//! - A commit covers only each partition's contiguous finished prefix (see `acks`), is never
//!   sent while the circuit is open, and one commit is in flight at a time.
//! - Held bytes stay under the budget (`queued.max.messages.kbytes`) plus one round of
//!   [`BATCH`] messages: over it every partition is paused until they drop under half; a partition holding
//!   [`PARTITION_CAP`] messages (e.g. behind one that waits for a retry) is paused alone.
//! - Results of an attempt on a partition that was revoked or lost since are ignored.
//! - No attempt or dead-letter write starts for a partition the consumer no longer owns
//!   (`Consumer::owns` checks the session first): a member resumed after a stall past its
//!   session starts none of the messages it held, since another member may own them by now.
//! - A configuration reload (see `reload`) is applied by this loop between two rounds, never
//!   while draining; a rejoin replaces the consumer the loop polls.

use std::{
    collections::{BTreeMap, BTreeSet},
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, SystemTime},
};

use futures::{FutureExt, future::BoxFuture};
use tokio::{sync::mpsc, time::Instant};

use super::{
    DeadLetter, DeadLetterSink, DlqReceipt, Handler, HandlerError, IdempotencyStore, IdentityKind,
    RunSummary, RunnerError, RunnerEvent, SinkError,
    circuit::CircuitBreaker,
    dispatch::{JobState, PartitionJobs},
    events::Source,
    handler::with_attempt,
    reload::Reloading,
    retry::{Decision, RetryPolicy},
    shutdown::{RunnerHandle, Stop},
};
use crate::{
    Batch, Consumer, Event, TopicPartition,
    config::ConsumerConfig,
    hooks::{CircuitState, ErrorKind, ErrorReport, HandlerOutcome, Hooks},
};

/// Messages a partition may hold before it alone is paused.
pub(crate) const PARTITION_CAP: usize = 1000;

/// How long `poll_batch` waits when nothing else wakes the loop.
const POLL_WAIT: Duration = Duration::from_millis(500);

/// Results or messages taken in one go before the next dispatch round.
const BATCH: usize = 256;

/// Pause before retrying a failed commit.
const COMMIT_RETRY: Duration = Duration::from_secs(1);

/// What the loop needs from the configuration.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) handler_timeout: Duration,
    pub(crate) ordering: super::config::Ordering,
    pub(crate) max_in_flight: usize,
    pub(crate) retry: RetryPolicy,
    pub(crate) bytes_budget: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) group_id: String,
}

/// What an attempt or a dead-letter write ended with.
enum Outcome {
    Processed,
    Skipped,
    Failed(HandlerError),
    DeadLettered(Result<DlqReceipt, SinkError>),
}

struct Done {
    tp: TopicPartition,
    epoch: u64,
    offset: i64,
    outcome: Outcome,
}

type Commit = BoxFuture<'static, (Vec<(TopicPartition, u64, i64)>, crate::Result<()>)>;

/// The runner loop's state.
pub(crate) struct Engine {
    pub(crate) consumer: Arc<Consumer>,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) sink: Option<Arc<dyn DeadLetterSink>>,
    pub(crate) store: Option<(IdentityKind, Arc<dyn IdempotencyStore>)>,
    pub(crate) settings: Settings,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) events: Arc<dyn Fn(&RunnerEvent) + Send + Sync>,
    /// The running configuration and who hears of reloads (see `reload`).
    pub(crate) reload: Reloading,
    partitions: BTreeMap<TopicPartition, PartitionJobs>,
    in_flight: usize,
    held_bytes: usize,
    over_budget: bool,
    next_epoch: u64,
    round: usize,
    wakeups: BTreeSet<(Instant, TopicPartition, u64, i64)>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    commit: Option<Commit>,
    commit_retry_at: Option<Instant>,
    draining: Option<Instant>,
    /// The group membership ended for good ([`crate::Error::GroupFailed`]): the run drains
    /// what is in flight and returns this error instead of running on with no partitions.
    group_failed: Option<crate::Error>,
    summary: RunSummary,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        consumer: Arc<Consumer>,
        handler: Arc<dyn Handler>,
        sink: Option<Arc<dyn DeadLetterSink>>,
        store: Option<(IdentityKind, Arc<dyn IdempotencyStore>)>,
        settings: Settings,
        breaker: CircuitBreaker,
        events: Arc<dyn Fn(&RunnerEvent) + Send + Sync>,
        reload: Reloading,
    ) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Self {
            consumer,
            handler,
            sink,
            store,
            settings,
            breaker,
            events,
            reload,
            partitions: BTreeMap::new(),
            in_flight: 0,
            held_bytes: 0,
            over_budget: false,
            next_epoch: 0,
            round: 0,
            wakeups: BTreeSet::new(),
            done_tx,
            done_rx,
            commit: None,
            commit_retry_at: None,
            draining: None,
            group_failed: None,
            summary: RunSummary::default(),
        }
    }

    /// Runs until a shutdown (graceful: returns after committing and leaving), an abort, or
    /// the end of the group membership ([`crate::Error::GroupFailed`], returned after the
    /// same graceful end).
    pub(crate) async fn run(mut self, handle: RunnerHandle) -> Result<RunSummary, RunnerError> {
        // The handle (and so the sender) lives as long as the loop: `changed` never fails.
        let mut stop = handle.subscribe();
        let mut reloads = handle.take_reloads();
        // The poll and the timer live across rounds: a round that ends on a finished
        // message does not re-register them.
        let mut consumer = Arc::clone(&self.consumer);
        let mut poll = poll_once(Arc::clone(&consumer));
        let sleep = tokio::time::sleep_until(Instant::now());
        tokio::pin!(sleep);
        loop {
            let now = Instant::now();
            if *stop.borrow() == Stop::Abort {
                self.summary.aborted = true;
                self.summary.unfinished = self.unfinished();
                return Ok(self.summary);
            }
            let stopping = *stop.borrow() == Stop::Drain || self.group_failed.is_some();
            if stopping && self.draining.is_none() {
                tracing::info!(
                    in_flight = self.in_flight,
                    "shutting down: no new messages start"
                );
                self.draining = Some(now + self.settings.shutdown_timeout);
            }
            if let Some(deadline) = self.draining {
                if self.in_flight == 0 {
                    break;
                }
                if now >= deadline {
                    tracing::warn!(
                        in_flight = self.in_flight,
                        "shutdown timeout: leaving with messages still in flight (not committed)"
                    );
                    break;
                }
            } else {
                self.fire_wakeups(now);
                self.dispatch(now);
            }
            self.apply_pauses();
            self.maybe_commit(now);

            let wake = self.next_wake();
            if sleep.deadline() != wake {
                sleep.as_mut().reset(wake);
            }
            tokio::select! {
                biased;
                _ = stop.changed() => {}
                Some(done) = self.done_rx.recv() => {
                    self.on_done(done);
                    // Take what else finished in one go: one dispatch round for all of it.
                    for _ in 0..BATCH {
                        match self.done_rx.try_recv() {
                            Ok(done) => self.on_done(done),
                            Err(_) => break,
                        }
                    }
                }
                result = async {
                    match self.commit.as_mut() {
                        Some(c) => c.await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.commit = None;
                    self.on_committed(result);
                }
                _ = &mut sleep => {}
                Some(request) = async {
                    match reloads.as_mut() {
                        Some(r) => r.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if self.on_reload(request).await {
                        // A rejoin replaced the consumer: poll the new one.
                        consumer = Arc::clone(&self.consumer);
                        poll = poll_once(Arc::clone(&consumer));
                    }
                }
                batch = &mut poll => {
                    poll = poll_once(Arc::clone(&consumer));
                    self.on_batch(batch).await;
                    // Take what else is ready, up to a batch more, never waiting (a zero
                    // timeout would still wait for the timer's next tick; `poll_batch` is
                    // cancel safe).
                    if let Some(more) =
                        consumer.poll_batch(BATCH, Duration::ZERO).now_or_never()
                    {
                        self.on_batch(more).await;
                    }
                }
            }
        }
        drop(poll);
        drop(consumer);
        // Graceful end: commit what finished, then leave the group.
        self.settle_commit().await;
        let all: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        self.commit_now(&all).await;
        self.summary.unfinished = self.unfinished();
        drop(self.done_rx);
        match Arc::try_unwrap(self.consumer) {
            Ok(consumer) => consumer.close_within(Duration::from_secs(5)).await,
            Err(_) => tracing::warn!("consumer still shared at shutdown; dropped without leaving"),
        }
        match self.group_failed.take() {
            Some(e) => Err(RunnerError::Kafka(e)),
            None => Ok(self.summary),
        }
    }

    fn unfinished(&self) -> usize {
        self.partitions.values().map(|p| p.jobs.len()).sum()
    }

    fn hooks(&self) -> &dyn Hooks {
        self.consumer.config().hooks.get()
    }

    /// Whether a graceful shutdown is under way.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.is_some()
    }

    /// The partitions held now (assigned to this member).
    pub(crate) fn held_partitions(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    pub(crate) fn emit(&self, event: RunnerEvent) {
        (self.events)(&event);
    }

    fn next_wake(&self) -> Instant {
        let mut wake = Instant::now() + Duration::from_secs(3600);
        if self.draining.is_none()
            && let Some((t, ..)) = self.wakeups.first()
        {
            wake = wake.min(*t);
        }
        if let Some(t) = self.breaker.reopens_at() {
            wake = wake.min(t);
        }
        if let Some(t) = self.commit_retry_at.filter(|_| self.commit.is_none()) {
            wake = wake.min(t);
        }
        if let Some(t) = self.draining {
            wake = wake.min(t);
        }
        // Everything due by now was handled at the top of this round: a wake in the past
        // would only spin the loop.
        wake.max(Instant::now() + Duration::from_millis(1))
    }

    /// A polled batch: each run of messages joins its partition's jobs (one lookup per
    /// run), then the events are handled in order.
    async fn on_batch(&mut self, mut batch: Batch) {
        let events = batch.take_events();
        for run in batch.into_runs() {
            let tp = run[0].topic_partition();
            let p = self.partition(&tp);
            let before = p.bytes;
            for m in run {
                p.push(m);
            }
            let added = p.bytes - before;
            self.held_bytes += added;
        }
        for event in events {
            self.on_event(event).await;
        }
    }

    async fn on_event(&mut self, event: crate::Result<Event>) {
        match event {
            Ok(Event::Message(m)) => {
                let tp = m.topic_partition();
                let p = self.partition(&tp);
                let before = p.bytes;
                if p.push(m) {
                    let added = p.bytes - before;
                    self.held_bytes += added;
                }
            }
            Ok(Event::Assigned(tps)) => {
                for tp in &tps {
                    self.partition(tp);
                }
                tracing::info!(partitions = ?tps, "assigned");
                self.emit(RunnerEvent::Assigned(tps));
            }
            Ok(Event::Revoked(tps)) => {
                self.revoke(&tps, true).await;
                tracing::info!(partitions = ?tps, "revoked");
                self.emit(RunnerEvent::Revoked(tps));
            }
            Ok(Event::Lost(tps)) => {
                self.revoke(&tps, false).await;
                tracing::warn!(partitions = ?tps, "lost: nothing committed");
                self.emit(RunnerEvent::Lost(tps));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "consumer error");
                self.emit(RunnerEvent::Error {
                    error: e.to_string(),
                });
                if matches!(e, crate::Error::GroupFailed { .. }) {
                    self.group_failed = Some(e);
                }
            }
        }
    }

    fn partition(&mut self, tp: &TopicPartition) -> &mut PartitionJobs {
        if !self.partitions.contains_key(tp) {
            self.next_epoch += 1;
            self.partitions.insert(
                tp.clone(),
                PartitionJobs::new(self.next_epoch, self.settings.ordering),
            );
        }
        self.partitions.get_mut(tp).expect("just inserted")
    }

    /// The revocation step: stop starting messages of `tps`, wait (bounded by the shutdown
    /// timeout) for their in-flight attempts and dead-letter writes, commit their finished
    /// prefix when `commit` (not for lost partitions), and forget them.
    pub(crate) async fn revoke(&mut self, tps: &[TopicPartition], commit: bool) {
        for tp in tps {
            if let Some(p) = self.partitions.get_mut(tp) {
                p.revoking = true;
            }
        }
        if commit {
            let deadline = Instant::now() + self.settings.shutdown_timeout;
            while tps
                .iter()
                .any(|tp| self.partitions.get(tp).is_some_and(|p| p.in_flight() > 0))
            {
                tokio::select! {
                    Some(done) = self.done_rx.recv() => self.on_done(done),
                    _ = tokio::time::sleep_until(deadline) => {
                        tracing::warn!(partitions = ?tps, "revocation: in-flight messages did not finish in time");
                        break;
                    }
                }
            }
            self.settle_commit().await;
            self.commit_now(tps).await;
        }
        for tp in tps {
            if let Some(p) = self.partitions.remove(tp) {
                self.held_bytes -= p.bytes;
            }
        }
    }

    /// Waits for the commit in flight, if any.
    async fn settle_commit(&mut self) {
        if let Some(c) = self.commit.take() {
            let result = c.await;
            self.on_committed(result);
        }
    }

    /// Commits the finished prefix of `tps` and waits for the answer.
    async fn commit_now(&mut self, tps: &[TopicPartition]) {
        if !self.breaker.is_closed() {
            return;
        }
        let offsets = self.committable(Some(tps));
        if offsets.is_empty() {
            return;
        }
        let plain: Vec<(TopicPartition, i64)> =
            offsets.iter().map(|(tp, _, o)| (tp.clone(), *o)).collect();
        let result = self.consumer.commit_offsets(&plain, None).await;
        self.on_committed((offsets, result));
    }

    fn committable(&self, only: Option<&[TopicPartition]>) -> Vec<(TopicPartition, u64, i64)> {
        self.partitions
            .iter()
            .filter(|(tp, p)| only.map_or(!p.revoking, |o| o.contains(tp)))
            .filter_map(|(tp, p)| {
                p.acks
                    .committable(self.consumer.position(tp))
                    .map(|o| (tp.clone(), p.epoch, o))
            })
            .collect()
    }

    fn maybe_commit(&mut self, now: Instant) {
        if self.commit.is_some()
            || !self.breaker.is_closed()
            || self.commit_retry_at.is_some_and(|t| now < t)
        {
            return;
        }
        let offsets = self.committable(None);
        if offsets.is_empty() {
            return;
        }
        self.commit_retry_at = None;
        let consumer = Arc::clone(&self.consumer);
        self.commit = Some(Box::pin(async move {
            let plain: Vec<(TopicPartition, i64)> =
                offsets.iter().map(|(tp, _, o)| (tp.clone(), *o)).collect();
            let result = consumer.commit_offsets(&plain, None).await;
            (offsets, result)
        }));
    }

    fn on_committed(
        &mut self,
        (offsets, result): (Vec<(TopicPartition, u64, i64)>, crate::Result<()>),
    ) {
        match result {
            Ok(()) => {
                self.commit_retry_at = None;
                for (tp, epoch, o) in offsets {
                    if let Some(p) = self.partitions.get_mut(&tp).filter(|p| p.epoch == epoch) {
                        p.acks.committed(o);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "commit failed; it is tried again");
                self.commit_retry_at = Some(Instant::now() + COMMIT_RETRY);
                self.emit(RunnerEvent::CommitFailed {
                    error: e.to_string(),
                });
            }
        }
    }

    fn apply_pauses(&mut self) {
        if self.held_bytes > self.settings.bytes_budget {
            self.over_budget = true;
        } else if self.held_bytes <= self.settings.bytes_budget / 2 {
            self.over_budget = false;
        }
        let all = self.draining.is_some() || !self.breaker.is_closed() || self.over_budget;
        for (tp, p) in &mut self.partitions {
            let n = p.jobs.len();
            let want = all || n >= PARTITION_CAP || (p.paused && n > PARTITION_CAP / 2);
            if want == p.paused || p.revoking {
                continue;
            }
            let result = if want {
                self.consumer.pause(std::slice::from_ref(tp))
            } else {
                self.consumer.resume(std::slice::from_ref(tp))
            };
            if let Err(e) = result {
                tracing::debug!(partition = %tp, error = %e, "pause/resume skipped");
            }
            p.paused = want;
        }
    }

    fn fire_wakeups(&mut self, now: Instant) {
        while let Some(first) = self.wakeups.first() {
            if first.0 > now {
                break;
            }
            let (_, tp, epoch, offset) = self.wakeups.pop_first().expect("non-empty");
            let closed = self.breaker.is_closed();
            let Some(p) = self.partitions.get_mut(&tp).filter(|p| p.epoch == epoch) else {
                continue;
            };
            if p.revoking {
                continue;
            }
            let Some(job) = p.jobs.get_mut(&offset) else {
                continue;
            };
            match job.state {
                JobState::Waiting { until } if until <= now => job.state = JobState::Queued,
                JobState::DlqBackoff { until } if until <= now => {
                    if closed {
                        self.start_dead_letter(&tp, offset);
                    } else {
                        job.state = JobState::Parked;
                    }
                }
                _ => {}
            }
        }
    }

    fn dispatch(&mut self, now: Instant) {
        if !self.breaker.is_closed() {
            if self.breaker.tick(now) {
                self.start_probe();
            }
            return;
        }
        let mut capacity = self.settings.max_in_flight.saturating_sub(self.in_flight);
        if capacity == 0 || self.partitions.is_empty() {
            return;
        }
        let keys: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        self.round = self.round.wrapping_add(1);
        let start = self.round % keys.len();
        for i in 0..keys.len() {
            let tp = &keys[(start + i) % keys.len()];
            let ready = self.partitions[tp].ready(capacity);
            // Held messages start only while the partition is still this member's: after a
            // stall past the session it may be another member's (its Lost event follows).
            if ready.is_empty() || !self.consumer.owns(tp) {
                continue;
            }
            for offset in ready {
                self.start_attempt(tp, offset);
                capacity -= 1;
            }
            if capacity == 0 {
                break;
            }
        }
    }

    /// Half-open: one message (the oldest parked one, else the next ready one) tests recovery.
    fn start_probe(&mut self) {
        let parked = self.partitions.iter().find_map(|(tp, p)| {
            p.jobs
                .iter()
                .find(|(_, j)| j.state == JobState::Parked)
                .map(|(o, _)| (tp.clone(), *o))
        });
        let candidate = parked.or_else(|| {
            self.partitions
                .iter()
                .find_map(|(tp, p)| p.ready(1).first().map(|o| (tp.clone(), *o)))
        });
        let Some((tp, offset)) = candidate else {
            // Nothing held at all (e.g. the parked messages' partitions were revoked): there
            // is nothing to test recovery with, and paused partitions would bring nothing.
            if self.partitions.values().all(|p| p.jobs.is_empty()) {
                self.close_circuit(Instant::now());
            }
            return;
        };
        if let Some(job) = self
            .partitions
            .get_mut(&tp)
            .and_then(|p| p.jobs.get_mut(&offset))
        {
            job.probe = true;
            job.attempts = 0;
        }
        tracing::info!(partition = %tp, offset, "circuit half-open: one message tests recovery");
        self.breaker.probe_sent();
        self.hooks().on_circuit(CircuitState::HalfOpen);
        self.start_attempt(&tp, offset);
    }

    fn start_attempt(&mut self, tp: &TopicPartition, offset: i64) {
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        let epoch = p.epoch;
        let Some(job) = p.jobs.get_mut(&offset) else {
            return;
        };
        job.attempts += 1;
        job.state = JobState::Running;
        let attempt = job.attempts;
        let message = job.message.clone();
        self.in_flight += 1;
        let handler = Arc::clone(&self.handler);
        let store = self.store.clone();
        let timeout = self.settings.handler_timeout;
        let tx = self.done_tx.clone();
        let tp = tp.clone();
        let hooks = self.consumer.config().hooks.clone();
        tokio::spawn(async move {
            let identity = store
                .as_ref()
                .and_then(|(kind, s)| kind.identity(&message).map(|id| (id, Arc::clone(s))));
            let outcome = if attempt == 1 && seen(identity.as_ref()).await {
                Outcome::Skipped
            } else {
                let attempt_fut =
                    AssertUnwindSafe(with_attempt(attempt, handler.process(&message)))
                        .catch_unwind();
                let started = Instant::now();
                let result = tokio::time::timeout(timeout, attempt_fut).await;
                let kind = match &result {
                    Err(_) => HandlerOutcome::Timeout,
                    Ok(Err(_)) => HandlerOutcome::Panic,
                    Ok(Ok(Err(e))) if e.is_retryable() => HandlerOutcome::Retryable,
                    Ok(Ok(Err(_))) => HandlerOutcome::Permanent,
                    Ok(Ok(Ok(()))) => HandlerOutcome::Processed,
                };
                hooks.get().on_handler(&tp, started.elapsed(), kind);
                match result {
                    Err(_) => Outcome::Failed(
                        HandlerError::retryable(format!("no result within {timeout:?}"))
                            .with_class("Timeout"),
                    ),
                    Ok(Err(_panic)) => Outcome::Failed(
                        HandlerError::permanent("the handler panicked").with_class("Panic"),
                    ),
                    Ok(Ok(Err(e))) => Outcome::Failed(e),
                    Ok(Ok(Ok(()))) => {
                        remember(identity).await;
                        Outcome::Processed
                    }
                }
            };
            if let Outcome::Failed(error) = &outcome {
                hooks.get().on_error(&ErrorReport {
                    kind: ErrorKind::Handler,
                    partition: Some(&tp),
                    offset: Some(offset),
                    broker: None,
                    message: error,
                });
            }
            let _ = tx.send(Done {
                tp,
                epoch,
                offset,
                outcome,
            });
        });
    }

    fn start_dead_letter(&mut self, tp: &TopicPartition, offset: i64) {
        let owned = self.consumer.owns(tp);
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        let epoch = p.epoch;
        let Some(job) = p.jobs.get_mut(&offset) else {
            return;
        };
        if !owned {
            // Lost since (its Lost event follows): the member that owns it now writes the
            // letter, as for a revoked partition.
            job.state = JobState::Queued;
            return;
        }
        let Some(sink) = self.sink.clone() else {
            job.state = JobState::DeadLettering;
            self.in_flight += 1;
            let _ = self.done_tx.send(Done {
                tp: tp.clone(),
                epoch,
                offset,
                outcome: Outcome::DeadLettered(Err(SinkError::permanent(
                    "no dead-letter sink is configured",
                ))),
            });
            return;
        };
        job.state = JobState::DeadLettering;
        self.in_flight += 1;
        let message = job.message.clone();
        let attempts = job.attempts;
        let (class, error) = job
            .last_error
            .as_ref()
            .map(|e| (e.class().to_owned(), e.message().to_owned()))
            .unwrap_or_default();
        let group_id = self.settings.group_id.clone();
        let tx = self.done_tx.clone();
        let tp = tp.clone();
        let hooks = self.consumer.config().hooks.clone();
        tokio::spawn(async move {
            let letter = DeadLetter {
                message: &message,
                group_id: &group_id,
                attempts,
                error_class: &class,
                error_message: &error,
                failed_at: SystemTime::now(),
            };
            let started = Instant::now();
            let result = sink.dead_letter(letter).await;
            match &result {
                Ok(_) => hooks.get().on_dead_lettered(&tp, started.elapsed()),
                Err(e) => {
                    hooks.get().on_dead_letter_failed(&tp);
                    hooks.get().on_error(&ErrorReport {
                        kind: ErrorKind::DeadLetter,
                        partition: Some(&tp),
                        offset: Some(offset),
                        broker: None,
                        message: e,
                    });
                }
            }
            let _ = tx.send(Done {
                tp,
                epoch,
                offset,
                outcome: Outcome::DeadLettered(result),
            });
        });
    }

    fn on_done(&mut self, done: Done) {
        self.in_flight -= 1;
        let now = Instant::now();
        let Done {
            tp,
            epoch,
            offset,
            outcome,
        } = done;
        let Some(p) = self.partitions.get_mut(&tp).filter(|p| p.epoch == epoch) else {
            return;
        };
        let revoking = p.revoking;
        let Some(job) = p.jobs.get_mut(&offset) else {
            return;
        };
        let probe = std::mem::take(&mut job.probe);
        match outcome {
            Outcome::Processed | Outcome::Skipped => {
                let skipped = matches!(outcome, Outcome::Skipped);
                let source = Source::from(&job.message);
                self.held_bytes -= p.finish(offset);
                if skipped {
                    self.hooks().on_idempotent_skip(&tp);
                    self.summary.skipped += 1;
                    tracing::debug!(topic = %source.topic, partition = source.partition, offset, "already processed: skipped");
                    self.emit(RunnerEvent::Skipped { source });
                } else {
                    self.summary.processed += 1;
                }
                if probe {
                    self.close_circuit(now);
                } else {
                    self.breaker.record(now, false);
                }
            }
            Outcome::Failed(error) => {
                let source = Source::from(&job.message);
                let attempt = job.attempts;
                if probe {
                    tracing::warn!(topic = %source.topic, partition = source.partition, offset, error = %error, "circuit probe failed: open again");
                    job.last_error = Some(error);
                    job.state = JobState::Parked;
                    self.breaker.probe_ended(now, false);
                    self.hooks().on_circuit(CircuitState::Open);
                    return;
                }
                let decision = self.settings.retry.decide(attempt, &error, fastrand::f64());
                job.last_error = Some(error.clone());
                match decision {
                    Decision::RetryAfter(backoff) => {
                        let until = now + backoff;
                        job.state = JobState::Waiting { until };
                        self.wakeups.insert((until, tp.clone(), epoch, offset));
                        self.summary.retries += 1;
                        self.hooks().on_retry(&tp);
                        tracing::warn!(topic = %source.topic, partition = source.partition, offset, attempt, error = %error, ?backoff, "attempt failed; retrying");
                        self.emit(RunnerEvent::Retry {
                            source,
                            attempt,
                            error_class: error.class().to_owned(),
                            error: error.message().to_owned(),
                            backoff,
                        });
                    }
                    Decision::DeadLetter => {
                        tracing::error!(topic = %source.topic, partition = source.partition, offset, attempts = attempt, error = %error, "message failed for good");
                        if revoking {
                            job.state = JobState::Queued;
                            return;
                        }
                        if let Some(tripped) = self.breaker.record(now, true) {
                            tracing::error!(
                                failures = tripped.failures,
                                total = tripped.total,
                                "circuit open: too many failures at once; dead-lettering stopped, partitions paused"
                            );
                            self.hooks().on_circuit(CircuitState::Open);
                            self.emit(RunnerEvent::CircuitOpen {
                                failures: tripped.failures,
                                total: tripped.total,
                                cooldown: self.breaker_cooldown(),
                            });
                        }
                        if self.breaker.is_closed() {
                            self.start_dead_letter(&tp, offset);
                        } else if let Some(job) = self
                            .partitions
                            .get_mut(&tp)
                            .and_then(|p| p.jobs.get_mut(&offset))
                        {
                            job.state = JobState::Parked;
                        }
                    }
                }
            }
            Outcome::DeadLettered(Ok(receipt)) => {
                let source = Source::from(&job.message);
                let attempts = job.attempts;
                let (error_class, error) = job
                    .last_error
                    .as_ref()
                    .map(|e| (e.class().to_owned(), e.message().to_owned()))
                    .unwrap_or_default();
                if std::mem::take(&mut p.dlq_outage) {
                    tracing::info!(partition = %tp, "dead-letter writes work again");
                }
                self.held_bytes -= p.finish(offset);
                self.summary.dead_lettered += 1;
                tracing::warn!(topic = %source.topic, partition = source.partition, offset, dlq_topic = %receipt.topic, dlq_partition = receipt.partition, dlq_offset = receipt.offset, "dead-lettered");
                self.emit(RunnerEvent::DeadLettered {
                    source,
                    dlq: receipt,
                    attempts,
                    error_class,
                    error,
                });
            }
            Outcome::DeadLettered(Err(e)) => {
                job.dlq_failures += 1;
                let backoff = self.settings.retry.computed(job.dlq_failures);
                let until = now + backoff;
                job.state = JobState::DlqBackoff { until };
                self.wakeups.insert((until, tp.clone(), epoch, offset));
                let source = Source::from(&job.message);
                if !std::mem::replace(&mut p.dlq_outage, true) {
                    if e.is_retriable() {
                        tracing::error!(topic = %source.topic, partition = source.partition, offset, error = %e, "dead-letter write failed: the partition waits (nothing is skipped) and retries");
                    } else {
                        tracing::error!(topic = %source.topic, partition = source.partition, offset, error = %e, "dead-letter write refused: the partition waits (nothing is skipped) until an operator fixes the dead-letter topic; retrying");
                    }
                    self.emit(RunnerEvent::DlqUnavailable {
                        source,
                        error: e.message().to_owned(),
                        retriable: e.is_retriable(),
                    });
                }
            }
        }
    }

    fn breaker_cooldown(&self) -> Duration {
        self.breaker.reopens_at().map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(Instant::now())
        })
    }

    /// The probe succeeded: parked messages are tried afresh.
    fn close_circuit(&mut self, now: Instant) {
        self.breaker.probe_ended(now, true);
        for p in self.partitions.values_mut() {
            for job in p.jobs.values_mut() {
                if job.state == JobState::Parked {
                    job.state = JobState::Queued;
                    job.attempts = 0;
                }
            }
        }
        self.hooks().on_circuit(CircuitState::Closed);
        tracing::info!("circuit closed: processing resumes");
        self.emit(RunnerEvent::CircuitClosed);
    }
}

/// One poll of the consumer (a batch of up to [`BATCH`], empty on timeout), owning its
/// handle so it can live across rounds of the loop.
fn poll_once(consumer: Arc<Consumer>) -> BoxFuture<'static, Batch> {
    Box::pin(async move { consumer.poll_batch(BATCH, POLL_WAIT).await })
}

/// Whether the idempotency store knows `identity`; a store error counts as unknown (the
/// message is processed: at-least-once).
async fn seen(identity: Option<&(Vec<u8>, Arc<dyn IdempotencyStore>)>) -> bool {
    let Some((id, store)) = identity else {
        return false;
    };
    let result = if store.blocks() {
        let (id, store) = (id.clone(), Arc::clone(store));
        tokio::task::spawn_blocking(move || store.contains(&id))
            .await
            .unwrap_or_else(|e| Err(super::StoreError(e.to_string())))
    } else {
        store.contains(id)
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "idempotency lookup failed: processing the message");
        false
    })
}

/// Records `identity` as processed (durably, for a persistent store) before the message
/// counts as finished.
async fn remember(identity: Option<(Vec<u8>, Arc<dyn IdempotencyStore>)>) {
    let Some((id, store)) = identity else {
        return;
    };
    let result = if store.blocks() {
        tokio::task::spawn_blocking(move || store.record(&id))
            .await
            .unwrap_or_else(|e| Err(super::StoreError(e.to_string())))
    } else {
        store.record(&id)
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "idempotency record failed: a redelivery would process this message again");
    }
}

/// The consumer configuration's group id (the runner always has one).
pub(crate) fn group_id(config: &ConsumerConfig) -> String {
    config.group.group_id.clone().unwrap_or_default()
}
