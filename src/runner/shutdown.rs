//! Stopping the runner from outside: [`RunnerHandle`] (which also carries configuration
//! reloads to the runner's loop, see `reload`).
//!
//! Invariants: a graceful shutdown stops starting messages, lets in-flight attempts and
//! dead-letter writes finish within `[shutdown] timeout`, commits each partition's finished
//! prefix, and leaves the group; an abort returns at once and commits nothing more. The
//! requested stop only ever escalates (running → draining → aborted).

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use super::reload::ReloadRequest;

/// What the owner of the runner asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stop {
    /// Keep running.
    Run,
    /// Finish what is in flight, commit, leave.
    Drain,
    /// Stop at once.
    Abort,
}

/// Stops or reconfigures a running [`super::Runner`] ([`RunnerHandle::update_config`]);
/// cheap to clone, usable from any task or signal handler.
#[derive(Debug, Clone)]
pub struct RunnerHandle {
    tx: Arc<watch::Sender<Stop>>,
    reloads: mpsc::UnboundedSender<ReloadRequest>,
    /// The receiving end, taken once by the runner's loop.
    inbox: Arc<Mutex<Option<mpsc::UnboundedReceiver<ReloadRequest>>>>,
}

impl RunnerHandle {
    pub(crate) fn new() -> Self {
        let (reloads, inbox) = mpsc::unbounded_channel();
        Self {
            tx: Arc::new(watch::channel(Stop::Run).0),
            reloads,
            inbox: Arc::new(Mutex::new(Some(inbox))),
        }
    }

    /// Where reload requests go.
    pub(crate) fn reload_sender(&self) -> &mpsc::UnboundedSender<ReloadRequest> {
        &self.reloads
    }

    /// The reload requests, for the runner's loop (once).
    pub(crate) fn take_reloads(&self) -> Option<mpsc::UnboundedReceiver<ReloadRequest>> {
        self.inbox.lock().expect("inbox lock").take()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Stop> {
        self.tx.subscribe()
    }

    fn escalate(&self, to: Stop) {
        self.tx.send_if_modified(|s| {
            if *s < to {
                *s = to;
                true
            } else {
                false
            }
        });
    }

    /// Graceful shutdown: no new messages start, in-flight ones finish (bounded by
    /// `[shutdown] timeout`), finished offsets are committed, the member leaves the group, and
    /// `run` returns.
    pub fn shutdown(&self) {
        self.escalate(Stop::Drain);
    }

    /// Stops at once: `run` returns without waiting for in-flight messages and without
    /// committing them (they are delivered again to the next owner).
    pub fn abort(&self) {
        self.escalate(Stop::Abort);
    }
}
