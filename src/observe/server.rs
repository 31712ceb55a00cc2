//! The HTTP endpoint of an observed consumer (axum on hyper, pure Rust): `GET /metrics`,
//! `GET /healthz`, `GET /readyz`, the status page `GET /` and its data `GET /api/status`
//! (see [`super::page`]).
//!
//! Invariants:
//! - Handlers only read the [`Observer`] (one snapshot per request) and never touch the
//!   consumer's data path: a slow or stuck scraper cannot slow consumption.
//! - Routes are added to the [`Router`] that [`router`] returns (it carries the shared
//!   [`ServerState`]), e.g. `router(state).route("/", get(page))`.

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{Metrics, Observer, Probe, page, probes, prometheus::CONTENT_TYPE};

/// What the endpoint's handlers share.
#[derive(Debug, Clone)]
pub struct ServerState {
    /// The observed consumer.
    pub observer: Arc<Observer>,
    /// Its exposition.
    pub metrics: Arc<Metrics>,
    /// `/readyz` answers ready this long after start even before the first assignment.
    pub startup_grace: Duration,
}

/// The routes `/metrics`, `/healthz`, `/readyz`, `/` and `/api/status` over `state`.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/api/status", get(page::status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(state): State<ServerState>) -> Response {
    let body = state.metrics.encode();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

fn answer(probe: Probe) -> Response {
    let status = if probe.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(probe)).into_response()
}

async fn healthz(State(state): State<ServerState>) -> Response {
    answer(probes::liveness(&state.observer))
}

async fn readyz(State(state): State<ServerState>) -> Response {
    answer(probes::readiness(&state.observer, state.startup_grace))
}
