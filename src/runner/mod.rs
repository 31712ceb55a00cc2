//! The runner: a message handler made fault-tolerant — ordering and concurrency, retries with
//! backoff, dead-lettering behind a circuit breaker, idempotency, backpressure and graceful
//! shutdown — on top of the group [`crate::Consumer`].
//!
//! Invariants (each module leads with its own):
//! - At-least-once: an offset is committed only when every message before it in its partition
//!   finished (processed, safely dead-lettered, or skipped by the idempotency store).
//! - Nothing is skipped: a message that cannot be processed nor dead-lettered holds its
//!   partition (or its key), never the others, and is never committed past.
//! - The runner owns polling and commits; the handler only sees messages.
//!
//! Observability: [`RunnerBuilder::hooks`] installs a [`crate::hooks::Hooks`] observer (usually
//! a [`crate::observe::Observer`]) that the consumer and the runner report to: handler
//! durations and outcomes, retries, dead letters, idempotency skips, circuit changes.
//!
//! ```no_run
//! use rskafka_consumer::runner::{HandlerError, Runner, RunnerConfig, handler_fn};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RunnerConfig::load(std::path::Path::new("consumer.toml"))?;
//! let handler = handler_fn(|message| async move {
//!     match message.value {
//!         Some(_) => Ok(()),
//!         None => Err(HandlerError::permanent("empty order")),
//!     }
//! });
//! let runner = Runner::builder(config).handler(handler).build()?;
//! let handle = runner.handle();
//! tokio::spawn(async move {
//!     let _ = tokio::signal::ctrl_c().await;
//!     handle.shutdown();
//! });
//! runner.run().await?;
//! # Ok(()) }
//! ```

mod acks;
pub mod circuit;
pub mod config;
pub mod config_diff;
mod dispatch;
pub mod dlq;
mod engine;
pub mod events;
pub mod handler;
pub mod idempotency;
pub mod reload;
pub mod retry;
pub mod shutdown;
pub mod sink;

use std::sync::Arc;

pub use circuit::{CircuitBreaker, CircuitPolicy};
pub use config::{ConfigFileError, RunnerConfig};
pub use config_diff::{Apply, Change, ConfigDiff};
pub use events::RunnerEvent;
pub use handler::{FnHandler, Handler, HandlerError, current_attempt, handler_fn};
pub use idempotency::{IdempotencyStore, IdentityKind, MemoryStore, PersistentStore, StoreError};
pub use reload::{Rejoined, ReloadError, ReloadObserver, ReloadReport};
pub use retry::RetryPolicy;
pub use shutdown::RunnerHandle;
pub use sink::{DeadLetter, DeadLetterSink, DlqReceipt, MemorySink, SinkError};

use crate::Consumer;

/// Why the runner could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    /// No handler was given to the builder.
    #[error("the runner needs a handler: call RunnerBuilder::handler")]
    NoHandler,
    /// The idempotency store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The consumer failed to start.
    #[error(transparent)]
    Kafka(#[from] crate::Error),
    /// The dead-letter producer failed to start ([`dlq::DlqWriter::connect`]).
    #[error("the dead-letter producer could not start: {0}")]
    Dlq(crate::produce::ProduceError),
}

/// What a run did, returned when it ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Messages the handler processed.
    pub processed: u64,
    /// Messages skipped because the idempotency store knew them.
    pub skipped: u64,
    /// Messages dead-lettered.
    pub dead_lettered: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Messages held but not finished when the run ended (not committed).
    pub unfinished: usize,
    /// Whether the run was aborted (nothing committed at the end).
    pub aborted: bool,
}

/// Builds a [`Runner`]: the configuration, a handler, and optionally a dead-letter sink, an
/// idempotency store (instead of the configured one) and an event observer.
pub struct RunnerBuilder {
    config: RunnerConfig,
    handler: Option<Arc<dyn Handler>>,
    sink: Option<Arc<dyn DeadLetterSink>>,
    store: Option<Option<Arc<dyn IdempotencyStore>>>,
    events: Arc<dyn Fn(&RunnerEvent) + Send + Sync>,
    reload_observers: Vec<ReloadObserver>,
    hooks: Option<crate::hooks::HookSet>,
}

impl std::fmt::Debug for RunnerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RunnerBuilder {
    /// The handler that processes each message.
    pub fn handler(mut self, handler: impl Handler) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// The handler, already shared.
    pub fn shared_handler(mut self, handler: Arc<dyn Handler>) -> Self {
        self.handler = Some(handler);
        self
    }

    /// Where messages that failed for good go: usually a [`dlq::DlqWriter`]
    /// (`Arc::new(DlqWriter::connect(&config).await?)`, see the [`dlq`] module). Without a
    /// sink such a message holds its partition (retried with backoff, reported once), since
    /// nothing may be skipped.
    pub fn dead_letter_sink(mut self, sink: Arc<dyn DeadLetterSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Uses `store` instead of the one `[idempotency] store` names (`None`: no store).
    pub fn idempotency_store(mut self, store: Option<Arc<dyn IdempotencyStore>>) -> Self {
        self.store = Some(store);
        self
    }

    /// Called with every [`RunnerEvent`] (from the runner's task: keep it quick).
    pub fn on_event(mut self, f: impl Fn(&RunnerEvent) + Send + Sync + 'static) -> Self {
        self.events = Arc::new(f);
        self
    }

    /// Called after every accepted configuration reload with the configuration now running
    /// ([`RunnerHandle::update_config`]); for settings applied outside the runner's loop,
    /// such as a `tracing` reload layer for `[log] filter`.
    pub fn on_reload(
        mut self,
        f: impl Fn(&RunnerConfig, &ReloadReport) + Send + Sync + 'static,
    ) -> Self {
        self.reload_observers.push(Arc::new(f));
        self
    }

    /// The observer the consumer and the runner report to (e.g. an
    /// [`Observer`](crate::observe::Observer) for metrics and statistics).
    pub fn hooks(mut self, hooks: impl Into<crate::hooks::HookSet>) -> Self {
        self.hooks = Some(hooks.into());
        self
    }

    /// Checks the configuration and opens the idempotency store.
    pub fn build(self) -> Result<Runner, RunnerError> {
        let handler = self.handler.ok_or(RunnerError::NoHandler)?;
        let mut consumer_config = self.config.consumer_config()?;
        if let Some(hooks) = self.hooks {
            consumer_config.hooks = hooks;
        }
        let store = match self.store {
            Some(s) => s,
            None => Some(match &self.config.idempotency.store {
                config::StoreLocation::Memory => Arc::new(MemoryStore::new(
                    self.config.idempotency.capacity,
                    self.config.idempotency.ttl,
                )) as Arc<dyn IdempotencyStore>,
                config::StoreLocation::File(path) => {
                    Arc::new(PersistentStore::open(path, self.config.idempotency.ttl)?)
                }
            }),
        };
        Ok(Runner {
            consumer_config,
            handler,
            sink: self.sink,
            store,
            events: self.events,
            reload_observers: self.reload_observers,
            handle: RunnerHandle::new(),
            config: self.config,
        })
    }
}

/// Consumes `[source] topics` as a group member and runs the handler on every message, with
/// the guarantees listed in the [module docs](self).
pub struct Runner {
    config: RunnerConfig,
    consumer_config: crate::ConsumerConfig,
    handler: Arc<dyn Handler>,
    sink: Option<Arc<dyn DeadLetterSink>>,
    store: Option<Arc<dyn IdempotencyStore>>,
    events: Arc<dyn Fn(&RunnerEvent) + Send + Sync>,
    reload_observers: Vec<ReloadObserver>,
    handle: RunnerHandle,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Starts building a runner from `config`.
    pub fn builder(config: RunnerConfig) -> RunnerBuilder {
        RunnerBuilder {
            config,
            handler: None,
            sink: None,
            store: None,
            events: Arc::new(|_| {}),
            reload_observers: Vec::new(),
            hooks: None,
        }
    }

    /// A handle that stops the runner ([`RunnerHandle::shutdown`], [`RunnerHandle::abort`])
    /// or changes its configuration ([`RunnerHandle::update_config`]).
    pub fn handle(&self) -> RunnerHandle {
        self.handle.clone()
    }

    /// Joins the group and processes messages until the handle stops it.
    ///
    /// # Errors
    /// When the consumer cannot start or subscribe, and when the group membership ends for
    /// good ([`crate::Error::GroupFailed`], e.g. a session timeout the broker refuses): then
    /// the messages in flight finish (within the shutdown timeout) and the run returns that
    /// error instead of running on with no partitions. Other failures while running are
    /// retried, dead-lettered or reported as [`RunnerEvent`]s.
    pub async fn run(self) -> Result<RunSummary, RunnerError> {
        let consumer = Consumer::new(self.consumer_config.clone()).await?;
        let topics: Vec<&str> = self
            .config
            .source
            .topics
            .iter()
            .map(String::as_str)
            .collect();
        consumer.subscribe(&topics)?;
        let settings = engine::Settings {
            handler_timeout: self.config.handler.timeout,
            ordering: self.config.handler.ordering,
            max_in_flight: self.config.handler.max_in_flight,
            retry: self.config.retry.policy(),
            bytes_budget: self.consumer_config.queued_max_bytes,
            shutdown_timeout: self.config.shutdown.timeout,
            group_id: engine::group_id(&self.consumer_config),
        };
        let store = self.store.map(|s| (self.config.idempotency.key.clone(), s));
        let engine = engine::Engine::new(
            Arc::new(consumer),
            self.handler,
            self.sink,
            store,
            settings,
            CircuitBreaker::new(self.config.dlq.circuit()),
            self.events,
            reload::Reloading {
                current: self.config,
                observers: self.reload_observers,
            },
        );
        engine.run(self.handle).await
    }
}

/// A message for unit tests.
#[cfg(test)]
pub(crate) fn test_message(
    topic: &str,
    partition: i32,
    offset: i64,
    key: Option<&str>,
) -> crate::Message {
    crate::Message {
        topic: topic.into(),
        partition,
        offset,
        timestamp: 0,
        timestamp_type: crate::record::TimestampType::CreateTime,
        key: key.map(|k| bytes::Bytes::copy_from_slice(k.as_bytes())),
        value: Some(bytes::Bytes::from_static(b"v")),
        headers: Vec::new(),
        leader_epoch: None,
    }
}
