//! Liveness and readiness, decided from the [`Observer`] (for `GET /healthz` and
//! `GET /readyz`).
//!
//! Invariants:
//! - Live: the consumer exists, is not closed, and its background tasks run.
//! - Ready: live, the cluster is reachable, the circuit breaker is closed (not open nor
//!   half-open), and the member
//!   is synced into a generation with at least one partition (a consumer without a group:
//!   has partitions assigned) — or the process is still within its startup grace period.
//!   The circuit and the cluster override the grace period.

use std::time::Duration;

use serde::Serialize;

use super::{GroupState, Observer};
use crate::hooks::CircuitState;

/// A probe's answer: `ok` (HTTP 200) or not (HTTP 503), with a short reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// Whether the probe passes.
    pub ok: bool,
    /// Why, in a few words.
    pub reason: String,
}

impl Probe {
    fn pass(reason: impl Into<String>) -> Self {
        Self {
            ok: true,
            reason: reason.into(),
        }
    }

    fn fail(reason: impl Into<String>) -> Self {
        Self {
            ok: false,
            reason: reason.into(),
        }
    }
}

/// Whether the consumer is alive (see the module docs).
pub fn liveness(observer: &Observer) -> Probe {
    match observer.source() {
        None => Probe::fail("the consumer is not running"),
        Some(s) if !s.running() => Probe::fail("the consumer's tasks stopped"),
        Some(_) => Probe::pass("alive"),
    }
}

/// Whether the consumer is ready, `startup_grace` after the observer was created (see the
/// module docs).
pub fn readiness(observer: &Observer, startup_grace: Duration) -> Probe {
    let live = liveness(observer);
    if !live.ok {
        return live;
    }
    match observer.circuit() {
        CircuitState::Closed => {}
        CircuitState::Open => {
            return Probe::fail("the circuit breaker is open (downstream failing)");
        }
        CircuitState::HalfOpen => {
            return Probe::fail("the circuit breaker is testing recovery (half-open)");
        }
    }
    if observer.cluster_unreachable() {
        return Probe::fail("the cluster is unreachable");
    }
    let stats = observer.statistics();
    let verdict = match &stats.group {
        Some(g) if g.state != GroupState::Stable => {
            Probe::fail(format!("not in group {} yet ({})", g.id, g.state.as_str()))
        }
        Some(g) if g.assigned_partitions == 0 => {
            Probe::fail(format!("in group {} without partitions", g.id))
        }
        Some(g) => Probe::pass(format!(
            "in group {} (generation {}) with {} partitions",
            g.id, g.generation, g.assigned_partitions
        )),
        None if stats.partitions.is_empty() => Probe::fail("no partitions assigned"),
        None => Probe::pass(format!("{} partitions assigned", stats.partitions.len())),
    };
    if !verdict.ok && observer.uptime() < startup_grace {
        return Probe::pass(format!("starting ({})", verdict.reason));
    }
    verdict
}
