//! OAUTHBEARER tokens from an OpenID Connect token endpoint: the OAuth 2 client-credentials
//! grant (`sasl.oauthbearer.method=oidc`, KIP-768), over HTTPS on the same rustls stack as the
//! broker connections.
//!
//! Invariants: a token is reused until 80 % of its lifetime has passed (librdkafka's refresh
//! point), then the next connection fetches a new one; tokens are cached per endpoint, client
//! id and scope for the whole process. The client secret goes only into the request's
//! `Authorization` header; errors describe the endpoint's answer, never the secret or a token.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::{SaslConfig, TlsConfig};

use super::tls;

/// How long one token request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Lifetime assumed when the endpoint does not send `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// `https://host[:port]/path` of the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Endpoint {
    host: String,
    port: u16,
    path: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or("sasl.oauthbearer.token.endpoint.url must be an https:// URL")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse::<u16>()
                    .map_err(|_| "bad port in sasl.oauthbearer.token.endpoint.url")?,
            ),
            _ => (authority, 443),
        };
        if host.is_empty() {
            return Err("no host in sasl.oauthbearer.token.endpoint.url".into());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    fn host_header(&self) -> String {
        if self.port == 443 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[derive(Clone)]
struct Cached {
    token: String,
    refresh_at: Instant,
}

type CacheKey = (Endpoint, String, Option<String>);

fn cache() -> &'static Mutex<HashMap<CacheKey, Cached>> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Cached>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// A valid token for `sasl`: the cached one while it is fresh, else a new one.
pub(crate) async fn token(sasl: &SaslConfig) -> Result<String, String> {
    let url = sasl
        .oauthbearer_token_endpoint_url
        .as_deref()
        .ok_or("sasl.oauthbearer.token.endpoint.url is required with method oidc")?;
    let endpoint = Endpoint::parse(url)?;
    let client_id = sasl
        .oauthbearer_client_id
        .clone()
        .ok_or("sasl.oauthbearer.client.id is required with method oidc")?;
    let key = (endpoint, client_id, sasl.oauthbearer_scope.clone());
    if let Some(hit) = cache().lock().expect("token cache").get(&key).cloned()
        && Instant::now() < hit.refresh_at
    {
        return Ok(hit.token);
    }
    let fetched_at = Instant::now();
    let (token, lifetime) = tokio::time::timeout(REQUEST_TIMEOUT, fetch(&key, sasl))
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))??;
    let refresh_at = fetched_at + lifetime.mul_f64(0.8);
    cache().lock().expect("token cache").insert(
        key,
        Cached {
            token: token.clone(),
            refresh_at,
        },
    );
    tracing::debug!(lifetime_s = lifetime.as_secs(), "OAUTHBEARER token fetched");
    Ok(token)
}

/// One client-credentials request; returns the access token and its lifetime.
async fn fetch(
    (endpoint, client_id, scope): &CacheKey,
    sasl: &SaslConfig,
) -> Result<(String, Duration), String> {
    let secret = sasl
        .oauthbearer_client_secret
        .as_ref()
        .ok_or("sasl.oauthbearer.client.secret is required with method oidc")?;
    let tls_config = tls::client_config(&TlsConfig {
        ca_location: sasl.https_ca_location.clone(),
        ca_pem: sasl.https_ca_pem.clone(),
        ..TlsConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let server_name = tls::server_name(&endpoint.host).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", endpoint.host_header()))?;
    let stream = TlsConnector::from(tls_config)
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("TLS with {} failed: {e}", endpoint.host_header()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });

    let mut body = String::from("grant_type=client_credentials");
    if let Some(scope) = scope {
        body.push_str("&scope=");
        body.push_str(&form_encode(scope));
    }
    // RFC 6749 2.3.1: id and secret form-encoded, then HTTP Basic.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        form_encode(client_id),
        form_encode(secret.expose())
    ));
    let request = hyper::Request::post(endpoint.path.as_str())
        .header(hyper::header::HOST, endpoint.host_header())
        .header(
            hyper::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(hyper::header::ACCEPT, "application/json")
        .header(hyper::header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot build the token request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("token request failed: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the token response failed: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("the endpoint answered HTTP {status}"));
    }
    parse_token_response(&body)
}

/// `{"access_token": "...", "expires_in": N, ...}` (RFC 6749 5.1).
fn parse_token_response(body: &[u8]) -> Result<(String, Duration), String> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the token response is not JSON".to_owned())?;
    let token = json["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("the token response has no access_token")?
        .to_owned();
    let lifetime = json["expires_in"]
        .as_u64()
        .or_else(|| json["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME);
    Ok((token, lifetime))
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_parse_host_port_and_path() {
        assert_eq!(
            Endpoint::parse("https://idp.example.com/oauth2/token").unwrap(),
            Endpoint {
                host: "idp.example.com".into(),
                port: 443,
                path: "/oauth2/token".into()
            }
        );
        let e = Endpoint::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("127.0.0.1", 8443, "/")
        );
        assert!(Endpoint::parse("http://idp/token").is_err());
        assert!(Endpoint::parse("https://idp:x/token").is_err());
    }

    #[test]
    fn token_responses_need_an_access_token_and_default_their_lifetime() {
        assert_eq!(
            parse_token_response(br#"{"access_token":"t","expires_in":60}"#).unwrap(),
            ("t".to_owned(), Duration::from_secs(60))
        );
        assert_eq!(
            parse_token_response(br#"{"access_token":"t"}"#).unwrap().1,
            DEFAULT_LIFETIME
        );
        assert!(parse_token_response(br#"{"error":"invalid_client"}"#).is_err());
        assert!(parse_token_response(b"<html>").is_err());
    }

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        assert_eq!(form_encode("a b:c/d%"), "a+b%3Ac%2Fd%25");
    }
}
