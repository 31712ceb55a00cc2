//! The status page: `GET /` answers one self-contained HTML document (inline CSS and
//! JavaScript, no external asset, so it works from a `FROM scratch` image without network),
//! which fetches `GET /api/status` — the [`Statistics`] snapshot as JSON — every two seconds
//! and renders it.
//!
//! Invariants:
//! - The page is compiled into the binary (`include_str!`) and references no URL but the
//!   relative `api/status`: it works behind a path-prefixing proxy and offline.
//! - Rates are computed by the page from two consecutive snapshots; the server keeps no
//!   per-client state.

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

use super::{Statistics, server::ServerState};

/// The page's HTML.
pub const INDEX_HTML: &str = include_str!("page/index.html");

/// `GET /`: the page.
pub(crate) async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// `GET /api/status`: one snapshot.
pub(crate) async fn status(State(state): State<ServerState>) -> Response {
    let snapshot: Statistics = state.observer.statistics();
    ([(header::CACHE_CONTROL, "no-store")], Json(snapshot)).into_response()
}

#[cfg(test)]
mod tests;
