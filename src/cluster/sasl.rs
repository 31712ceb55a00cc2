//! SASL authentication of a connection: PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER (OIDC client
//! credentials, or unsecured JWTs for tests) through SaslHandshake v1 + SaslAuthenticate, with
//! the pure-Rust `rsasl` doing the mechanism steps. The same exchange runs once after
//! ApiVersions on a fresh connection and again, in band, whenever the broker gave the session a
//! lifetime (KIP-368 re-authentication, see `connection.rs`).
//!
//! Invariants: credentials leave this module only towards the broker; every failure is a
//! [`SaslFailure`] that names the mechanism, never the user's password or token; each exchange
//! builds its `rsasl` configuration anew, so an OAUTHBEARER re-authentication presents a token
//! that is current at that moment.

use std::{
    io::Cursor,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use rsasl::{
    callback::{Context, Request, SessionCallback, SessionData},
    config::SASLConfig,
    mechname::Mechname,
    prelude::{SASLClient, SessionError},
    property::{OAuthBearerKV, OAuthBearerToken},
};
use rskafka::{
    client::{Credentials, OauthBearerCredentials, SaslConfig as RskafkaSasl},
    messenger::{Messenger, SaslError},
    protocol::{
        error::Error as ApiError,
        messages::{SaslAuthenticateRequest, SaslHandshakeRequest},
    },
};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{
    config::{OAuthBearerMethod, SaslConfig, SaslMechanism},
    error::SaslFailure,
};

/// An authenticated SASL session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SaslSession {
    /// How long the broker lets the session live before the client must re-authenticate
    /// (SaslAuthenticate v1+ `session_lifetime_ms`, set by `connections.max.reauth.ms` or the
    /// token's expiry); `None` when the broker sets no limit.
    pub(crate) lifetime: Option<Duration>,
}

/// Authenticates `messenger` with `sasl`: on a fresh connection after ApiVersions, or again on
/// a live one to re-authenticate (KIP-368; the caller sends nothing else meanwhile).
pub(crate) async fn authenticate<RW>(
    messenger: &Messenger<RW>,
    sasl: &SaslConfig,
) -> Result<SaslSession, SaslFailure>
where
    RW: AsyncRead + AsyncWrite + Send + 'static,
{
    let mechanism = sasl.mechanism.name();
    let credentials = rskafka_config(sasl)?;
    exchange(messenger, mechanism, &credentials)
        .await
        .map_err(|e| failure(mechanism, e))
}

/// SaslHandshake, then SaslAuthenticate rounds until the mechanism is done.
async fn exchange<RW>(
    messenger: &Messenger<RW>,
    mechanism: &'static str,
    credentials: &RskafkaSasl,
) -> Result<SaslSession, SaslError>
where
    RW: AsyncRead + AsyncWrite + Send + 'static,
{
    let handshake = messenger
        .request(SaslHandshakeRequest::new(mechanism))
        .await?;
    if let Some(code) = handshake.error_code {
        return Err(SaslError::ApiError(code));
    }
    let wanted = Mechname::parse(mechanism.as_bytes())?;
    let enabled = handshake.mechanisms.0.unwrap_or_default();
    if !enabled.iter().any(|m| m.0 == mechanism) {
        return Err(SaslError::UnsupportedSaslMechanism);
    }
    let client = SASLClient::new(rsasl_config(credentials).await?);
    let mut session = client
        .start_suggested(&[wanted])
        .map_err(|_| SaslError::UnsupportedSaslMechanism)?;
    let mut received: Option<Vec<u8>> = None;
    let mut lifetime = None;
    loop {
        let mut outgoing = Cursor::new(Vec::new());
        let state = session.step(received.as_deref(), &mut outgoing)?;
        if state.has_sent_message() {
            let response = messenger
                .request(SaslAuthenticateRequest::new(outgoing.into_inner()))
                .await?;
            if let Some(code) = response.error_code {
                return Err(SaslError::ApiError(code));
            }
            lifetime = response
                .session_lifetime_ms
                .and_then(|ms| u64::try_from(ms.0).ok())
                .filter(|&ms| ms > 0)
                .map(Duration::from_millis);
            received = Some(response.auth_bytes.0);
        }
        if state.is_finished() {
            return Ok(SaslSession { lifetime });
        }
    }
}

/// The `rsasl` configuration for one exchange (an OAUTHBEARER token is fetched here).
async fn rsasl_config(credentials: &RskafkaSasl) -> Result<Arc<SASLConfig>, SaslError> {
    match credentials {
        RskafkaSasl::Plain(c) | RskafkaSasl::ScramSha256(c) | RskafkaSasl::ScramSha512(c) => Ok(
            SASLConfig::with_credentials(None, c.username.clone(), c.password.clone())?,
        ),
        RskafkaSasl::Oauthbearer(c) => {
            let token = (*c.callback)().await.map_err(SaslError::Callback)?;
            Ok(SASLConfig::builder()
                .with_default_mechanisms()
                .with_callback(BearerToken {
                    token,
                    extensions: c.bearer_kvs.clone(),
                })?)
        }
    }
}

/// Answers `rsasl`'s OAUTHBEARER questions with one token and its extensions.
struct BearerToken {
    token: String,
    extensions: Vec<(String, String)>,
}

impl SessionCallback for BearerToken {
    fn callback(
        &self,
        _session: &SessionData,
        _context: &Context<'_>,
        request: &mut Request<'_>,
    ) -> Result<(), SessionError> {
        let extensions: Vec<(&str, &str)> = self
            .extensions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        request
            .satisfy::<OAuthBearerKV>(&extensions)?
            .satisfy::<OAuthBearerToken>(&self.token)?;
        Ok(())
    }
}

fn failure(mechanism: &'static str, error: SaslError) -> SaslFailure {
    match error {
        SaslError::ApiError(ApiError::SaslAuthenticationFailed) => {
            SaslFailure::AuthenticationFailed { mechanism }
        }
        SaslError::ApiError(ApiError::UnsupportedSaslMechanism)
        | SaslError::UnsupportedSaslMechanism => SaslFailure::MechanismNotEnabled { mechanism },
        SaslError::ApiError(ApiError::IllegalSaslState) => SaslFailure::NotSaslListener,
        SaslError::Callback(e) => SaslFailure::TokenUnavailable {
            detail: e.to_string(),
        },
        other => SaslFailure::Other {
            mechanism,
            detail: other.to_string(),
        },
    }
}

fn rskafka_config(sasl: &SaslConfig) -> Result<RskafkaSasl, SaslFailure> {
    let credentials = || {
        let username = sasl
            .username
            .clone()
            .ok_or_else(|| misconfigured("sasl.username is required for PLAIN and SCRAM"))?;
        let password = sasl
            .password
            .as_ref()
            .ok_or_else(|| misconfigured("sasl.password is required for PLAIN and SCRAM"))?;
        Ok::<_, SaslFailure>(Credentials::new(username, password.expose().to_owned()))
    };
    Ok(match sasl.mechanism {
        SaslMechanism::Plain => RskafkaSasl::Plain(credentials()?),
        SaslMechanism::ScramSha256 => RskafkaSasl::ScramSha256(credentials()?),
        SaslMechanism::ScramSha512 => RskafkaSasl::ScramSha512(credentials()?),
        SaslMechanism::OAuthBearer => RskafkaSasl::Oauthbearer(oauthbearer(sasl)?),
    })
}

fn misconfigured(reason: &str) -> SaslFailure {
    SaslFailure::Misconfigured {
        reason: reason.to_owned(),
    }
}

/// OAUTHBEARER credentials: tokens from the OIDC token endpoint, or an unsecured JWT from
/// `sasl.oauthbearer.config` (testing only).
fn oauthbearer(sasl: &SaslConfig) -> Result<OauthBearerCredentials, SaslFailure> {
    if sasl.oauthbearer_method == OAuthBearerMethod::Oidc {
        let sasl = Arc::new(sasl.clone());
        return Ok(OauthBearerCredentials {
            callback: Arc::new(move || {
                let sasl = Arc::clone(&sasl);
                Box::pin(async move {
                    super::oidc::token(&sasl)
                        .await
                        .map_err(|detail| Box::new(TokenError(detail)).into())
                })
            }),
            authz_id: None,
            bearer_kvs: Vec::new(),
        });
    }
    if !sasl.oauthbearer_unsecure_jwt {
        return Err(misconfigured(
            "OAUTHBEARER needs a token source: sasl.oauthbearer.method=oidc with a token \
             endpoint, or enable.sasl.oauthbearer.unsecure.jwt=true and \
             sasl.oauthbearer.config=principal=NAME (test clusters only)",
        ));
    }
    let spec = UnsecuredJwt::parse(
        sasl.oauthbearer_config
            .as_ref()
            .map(|s| s.expose())
            .unwrap_or_default(),
    )?;
    let extensions = spec.extensions.clone();
    let spec = Arc::new(spec);
    Ok(OauthBearerCredentials {
        callback: Arc::new(move || {
            let token = spec.token(SystemTime::now());
            Box::pin(async move { Ok(token) })
        }),
        authz_id: None,
        bearer_kvs: extensions,
    })
}

/// Why the token endpoint gave no token (carried through rskafka's callback error).
#[derive(Debug)]
struct TokenError(String);

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenError {}

/// librdkafka's `sasl.oauthbearer.config` for unsecured JWTs:
/// `principal=NAME [scope=A,B] [lifeSeconds=N] [extension_KEY=VALUE ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UnsecuredJwt {
    principal: String,
    scope: Vec<String>,
    life_seconds: u64,
    extensions: Vec<(String, String)>,
}

impl UnsecuredJwt {
    fn parse(config: &str) -> Result<Self, SaslFailure> {
        let mut principal = None;
        let mut scope = Vec::new();
        let mut life_seconds = 3600;
        let mut extensions = Vec::new();
        for item in config.split_whitespace() {
            let Some((key, value)) = item.split_once('=') else {
                return Err(misconfigured(
                    "sasl.oauthbearer.config: expected key=value items",
                ));
            };
            match key {
                "principal" => principal = Some(value.to_owned()),
                "scope" => scope = value.split(',').map(str::to_owned).collect(),
                "lifeSeconds" => {
                    life_seconds = value.parse().map_err(|_| {
                        misconfigured("sasl.oauthbearer.config: lifeSeconds must be a number")
                    })?
                }
                _ => match key.strip_prefix("extension_") {
                    Some(name) => extensions.push((name.to_owned(), value.to_owned())),
                    None => {
                        return Err(misconfigured(
                            "sasl.oauthbearer.config: unknown key (principal, scope, \
                             lifeSeconds, extension_NAME)",
                        ));
                    }
                },
            }
        }
        let principal = principal.ok_or_else(|| {
            misconfigured("sasl.oauthbearer.config needs principal=NAME for an unsecured JWT")
        })?;
        Ok(Self {
            principal,
            scope,
            life_seconds,
            extensions,
        })
    }

    /// `base64url(header).base64url(claims).` with `alg: none` (RFC 7515 unsecured JWS).
    fn token(&self, now: SystemTime) -> String {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut claims = serde_json::json!({
            "sub": self.principal,
            "iat": iat,
            "exp": iat + self.life_seconds,
        });
        if !self.scope.is_empty() {
            claims["scope"] = serde_json::json!(self.scope);
        }
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none"}"#),
            b64.encode(claims.to_string())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn unsecured_jwt_carries_principal_scope_and_expiry() {
        let spec =
            UnsecuredJwt::parse("principal=alice scope=a,b lifeSeconds=60 extension_x=y").unwrap();
        assert_eq!(spec.extensions, [("x".to_owned(), "y".to_owned())]);
        let token = spec.token(UNIX_EPOCH + Duration::from_secs(1000));
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "");
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.decode(parts[0]).unwrap();
        assert_eq!(header, br#"{"alg":"none"}"#);
        let claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({"sub": "alice", "iat": 1000, "exp": 1060, "scope": ["a", "b"]})
        );
    }

    #[test]
    fn missing_credentials_are_named_without_values() {
        let sasl = SaslConfig {
            mechanism: SaslMechanism::ScramSha256,
            username: Some("alice".into()),
            ..SaslConfig::default()
        };
        let err = rskafka_config(&sasl).unwrap_err();
        assert!(err.to_string().contains("sasl.password"), "{err}");
        assert!(UnsecuredJwt::parse("scope=x").is_err());
    }

    #[test]
    fn broker_codes_map_to_distinct_failures() {
        assert_eq!(
            failure(
                "PLAIN",
                SaslError::ApiError(ApiError::SaslAuthenticationFailed)
            ),
            SaslFailure::AuthenticationFailed { mechanism: "PLAIN" }
        );
        assert_eq!(
            failure(
                "PLAIN",
                SaslError::ApiError(ApiError::UnsupportedSaslMechanism)
            ),
            SaslFailure::MechanismNotEnabled { mechanism: "PLAIN" }
        );
    }
}
