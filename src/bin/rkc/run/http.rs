//! `kind = "http"`: POST each message to a URL (the sidecar pattern), over a pure-Rust HTTP/1
//! client (hyper) on plain TCP (`http://`) or TLS (`https://`: rustls with the same pure-Rust
//! graviola provider as the broker connections; the server certificate is checked against
//! `[kafka] "https.ca.location"` / `"https.ca.pem"`, else the system roots, else the embedded
//! Mozilla roots, and must name the URL's host).
//!
//! The value is the body; `X-Rkc-Topic`, `X-Rkc-Partition`, `X-Rkc-Offset`,
//! `X-Rkc-Timestamp`, `X-Rkc-Attempt`, `X-Rkc-Key` (absent for a null key; `X-Rkc-Key-B64`
//! when the key is not printable ASCII) and `X-Rkc-Headers` (JSON, as `RKC_HEADERS`) carry
//! the metadata. 2xx = done; 408, 429, 5xx and connection errors (a failed TLS handshake
//! included: it may be fixed without touching the message) = retryable, with `Retry-After`
//! (seconds) as the earliest next attempt; any other status = permanent.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, header::HeaderValue};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use rskafka_consumer::{
    Message,
    cluster::tls_client_config,
    config::TlsConfig,
    runner::{Handler, HandlerError, RunnerConfig, current_attempt},
};

/// The most of a response body kept as the error message.
const MAX_ERROR_BYTES: usize = 1024;

/// POSTs messages to `url`.
pub(crate) struct HttpHandler {
    url: hyper::Uri,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpHandler {
    /// A handler for `[handler] url` (checked to be `http://…` or `https://…` by the
    /// configuration), trusting the `[kafka]` `https.ca.*` CAs for https.
    ///
    /// # Errors
    /// The key and what is wrong with it: an unparsable URL, an unusable CA file.
    pub(crate) fn new(config: &RunnerConfig) -> Result<Self, String> {
        let url = config.handler.url.as_deref().unwrap_or_default();
        let url: hyper::Uri = url
            .parse()
            .map_err(|e| format!("`handler.url`: `{url}`: {e}"))?;
        let https_ca = |e: &dyn std::fmt::Display| {
            format!("`kafka.\"https.ca.location\"` / `\"https.ca.pem\"`: {e}")
        };
        let sasl = config
            .consumer_config()
            .map_err(|e| e.to_string())?
            .client
            .security
            .sasl;
        let tls = tls_client_config(&TlsConfig {
            ca_location: sasl.https_ca_location,
            ca_pem: sasl.https_ca_pem,
            ..TlsConfig::default()
        })
        .map_err(|e| https_ca(&e))?;
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { url, client })
    }
}

/// `e` and its sources, `: `-separated (hyper's own message alone says only "client error
/// (Connect)"; the cause, e.g. an untrusted certificate, is further down).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn header(value: impl Into<String>) -> HeaderValue {
    HeaderValue::from_bytes(value.into().as_bytes())
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// What a response status means for the message.
fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), HandlerError> {
    if status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BYTES)]);
    let message = format!("HTTP {status}: {}", text.trim());
    let class = format!("HttpStatus{}", status.as_u16());
    let retryable = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if retryable {
        let e = HandlerError::retryable(message).with_class(class);
        Err(match retry_after {
            Some(d) => e.with_retry_after(d),
            None => e,
        })
    } else {
        Err(HandlerError::permanent(message).with_class(class))
    }
}

impl Handler for HttpHandler {
    fn process<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let mut req = Request::builder()
                .method(Method::POST)
                .uri(self.url.clone())
                .header("content-type", "application/octet-stream")
                .header("x-rkc-topic", header(&*m.topic))
                .header("x-rkc-partition", m.partition)
                .header("x-rkc-offset", m.offset)
                .header("x-rkc-timestamp", m.timestamp)
                .header("x-rkc-attempt", current_attempt())
                .header("x-rkc-headers", header(super::exec::headers_json(m)));
            if let Some(key) = &m.key {
                req = match std::str::from_utf8(key) {
                    Ok(k) if k.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
                        req.header("x-rkc-key", header(k))
                    }
                    _ => req.header("x-rkc-key-b64", STANDARD.encode(key)),
                };
            }
            let body = Full::new(m.value.clone().unwrap_or_default());
            let req = req.body(body).map_err(|e| {
                HandlerError::permanent(format!("cannot build the request: {e}"))
                    .with_class("HttpRequest")
            })?;
            let response = self.client.request(req).await.map_err(|e| {
                HandlerError::retryable(format!("POST {}: {}", self.url, chain(&e)))
                    .with_class("ConnectionError")
            })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = match response.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => Bytes::new(),
            };
            classify(status, retry_after, &body)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_done_retryable_or_permanent() {
        assert!(classify(StatusCode::NO_CONTENT, None, b"").is_ok());
        for s in [408, 429, 500, 503] {
            let e = classify(
                StatusCode::from_u16(s).unwrap(),
                Some(Duration::from_secs(3)),
                b"busy",
            )
            .unwrap_err();
            assert!(e.is_retryable(), "{s}");
            assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
            assert_eq!(e.class(), format!("HttpStatus{s}"));
        }
        for s in [400, 404, 422] {
            let e = classify(StatusCode::from_u16(s).unwrap(), None, b"bad order").unwrap_err();
            assert!(!e.is_retryable(), "{s}");
            assert!(e.message().contains("bad order"));
        }
    }
}
