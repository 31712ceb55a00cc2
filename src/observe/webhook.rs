//! The alert webhook: each firing or resolved alert is POSTed as JSON to `[alerting]
//! webhook`, over plain HTTP or HTTPS on the project's rustls stack (pure Rust, graviola).
//!
//! Invariants:
//! - [`Webhook::send`] never waits: payloads go into a bounded queue; when it is full the
//!   oldest payload is dropped and counted (`rkc_alert_webhook_dropped_total`).
//! - One task delivers the queue in order; a payload is retried with exponential backoff
//!   (0.5 s doubling, up to [`ATTEMPTS`] attempts) and then counted as failed
//!   (`rkc_alert_webhook_failures_total`). 2xx is success; anything else is retried.
//! - No lock is held across a network await.

use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::{net::TcpStream, sync::Notify};
use tokio_rustls::TlsConnector;

use super::alerts::AlertBoard;
use crate::config::TlsConfig;

/// Payloads waiting at most; more drop the oldest.
pub const QUEUE_CAPACITY: usize = 256;
/// Attempts per payload, the first included.
pub const ATTEMPTS: u32 = 6;
/// The first retry's delay (doubling per attempt).
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// How long one POST may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook URL was unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WebhookError(String);

/// Where to POST.
#[derive(Debug, Clone)]
struct Target {
    https: bool,
    host: String,
    port: u16,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, WebhookError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| WebhookError(format!("`{url}` is not a URL: {e}")))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(WebhookError(format!("`{url}`: an http:// or https:// URL")));
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| WebhookError(format!("`{url}` has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Self {
            https,
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            host,
        })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match (self.https, self.port) {
            (true, 443) | (false, 80) => host,
            _ => format!("{host}:{}", self.port),
        }
    }
}

/// Checks a webhook URL (for configuration validation).
///
/// # Errors
/// Not an `http://` or `https://` URL with a host.
pub fn check_url(url: &str) -> Result<(), WebhookError> {
    Target::parse(url).map(|_| ())
}

#[derive(Debug, Default)]
struct Queue {
    payloads: Mutex<VecDeque<Value>>,
    ready: Notify,
}

/// The sending side of the webhook (cheap to clone).
#[derive(Debug, Clone)]
pub struct Webhook {
    queue: Arc<Queue>,
    board: Arc<AlertBoard>,
}

impl Webhook {
    /// Starts the delivery task for `url`; an `https://` URL trusts `ca_location` (else the
    /// system's roots, else the embedded Mozilla roots). The task ends when every
    /// [`Webhook`] clone is dropped.
    ///
    /// # Errors
    /// The URL or the TLS trust is unusable.
    pub fn start(
        url: &str,
        ca_location: Option<PathBuf>,
        board: Arc<AlertBoard>,
    ) -> Result<Self, WebhookError> {
        let target = Target::parse(url)?;
        let tls = if target.https {
            let config = crate::cluster::tls_client_config(&TlsConfig {
                ca_location,
                ..TlsConfig::default()
            })
            .map_err(|e| WebhookError(e.to_string()))?;
            Some(TlsConnector::from(config))
        } else {
            None
        };
        let queue = Arc::new(Queue::default());
        let shared = Arc::clone(&queue);
        let failures = Arc::clone(&board);
        tokio::spawn(async move {
            loop {
                let next = shared.payloads.lock().expect("webhook queue").pop_front();
                let Some(payload) = next else {
                    // Every sender is gone and nothing is left: done.
                    if Arc::strong_count(&shared) == 1 {
                        return;
                    }
                    // Wake up now and then to notice that every sender is gone.
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), shared.ready.notified()).await;
                    continue;
                };
                if !deliver(&target, tls.as_ref(), &payload).await {
                    failures.webhook_failed();
                }
            }
        });
        Ok(Self { queue, board })
    }

    /// Queues `payload` without waiting (dropping the oldest queued one when full).
    pub fn send(&self, payload: Value) {
        {
            let mut q = self.queue.payloads.lock().expect("webhook queue");
            if q.len() >= QUEUE_CAPACITY {
                q.pop_front();
                self.board.webhook_dropped();
            }
            q.push_back(payload);
        }
        self.queue.ready.notify_one();
    }
}

/// POSTs `payload` until it is accepted or [`ATTEMPTS`] are used; true on success.
async fn deliver(target: &Target, tls: Option<&TlsConnector>, payload: &Value) -> bool {
    let body = Bytes::from(payload.to_string());
    let mut backoff = INITIAL_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let result = tokio::time::timeout(REQUEST_TIMEOUT, post(target, tls, body.clone()))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {REQUEST_TIMEOUT:?}")));
        match result {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(target: "rkc::alerts", attempt, error = %e, host = %target.host_header(), "alert webhook failed");
                if attempt < ATTEMPTS {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
    false
}

/// One POST on a new connection.
async fn post(target: &Target, tls: Option<&TlsConnector>, body: Bytes) -> Result<(), String> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let request = hyper::Request::post(target.path.as_str())
        .header(hyper::header::HOST, target.host_header())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "rkc-alerts")
        .body(Full::new(body))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let status = match tls {
        Some(tls) => {
            let name = rustls_pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| format!("`{}` is not a TLS server name: {e}", target.host))?;
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS failed: {e}"))?;
            send(TokioIo::new(stream), request).await?
        }
        None => send(TokioIo::new(tcp), request).await?,
    };
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

async fn send<T>(io: T, request: hyper::Request<Full<Bytes>>) -> Result<hyper::StatusCode, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let _ = response.into_body().collect().await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        let t = Target::parse("https://hooks.example.com/alerts?x=1").unwrap();
        assert!(t.https);
        assert_eq!((t.host.as_str(), t.port), ("hooks.example.com", 443));
        assert_eq!(t.path, "/alerts?x=1");
        assert_eq!(t.host_header(), "hooks.example.com");
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert!(!t.https);
        assert_eq!(t.path, "/");
        assert_eq!(t.host_header(), "127.0.0.1:8080");
        assert!(check_url("ftp://x/").is_err());
        assert!(check_url("hooks.example.com/alerts").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_drops_the_oldest_payload_and_counts_it_without_waiting() {
        // Nothing listens there; the delivery task cannot run before this test yields.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let board = Arc::new(AlertBoard::default());
        let hook = Webhook::start(&url, None, Arc::clone(&board)).unwrap();
        for i in 0..QUEUE_CAPACITY + 5 {
            hook.send(serde_json::json!({ "n": i }));
        }
        let queue = hook.queue.payloads.lock().unwrap();
        assert_eq!(queue.len(), QUEUE_CAPACITY);
        assert_eq!(queue.front().unwrap()["n"], 5, "the oldest went first");
        assert_eq!(
            board
                .webhook_dropped
                .load(std::sync::atomic::Ordering::Relaxed),
            5
        );
    }
}
