//! Security properties (librdkafka names): how a connection is protected (`security.protocol`),
//! the TLS material (`ssl.*`) and the SASL credentials (`sasl.*`).
//!
//! Invariants: every secret (passwords, private keys, OAUTHBEARER settings) is held in a
//! [`Secret`], whose `Debug` and `Display` print `***`; a rejected secret value is never echoed
//! in a [`ConfigError`]. Properties are checked one by one when set; whether they fit together
//! (SASL credentials present, a key for the certificate) is checked when connecting.

use std::{fmt, path::PathBuf};

use super::{
    ConfigError,
    group::boolean,
    values::{invalid_value, non_empty},
};

/// A secret value: shown as `***` by `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send or decrypt it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `security.protocol`: what protects a broker connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// Plain TCP (default).
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL authentication over plain TCP.
    SaslPlaintext,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether the connection is TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether the connection authenticates with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    /// The librdkafka spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `sasl.mechanisms`: the SASL mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaslMechanism {
    /// `PLAIN` (default, as in librdkafka): user name and password in the clear (use TLS).
    #[default]
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER`.
    OAuthBearer,
}

impl SaslMechanism {
    /// The IANA name sent in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `ssl.endpoint.identification.algorithm`: whether the broker's certificate must name the host
/// that was connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointIdentification {
    /// `https` (default): the certificate must be valid for the host name or IP address.
    #[default]
    Https,
    /// `none`: any host name is accepted (the chain is still verified).
    None,
}

/// The TLS material (`ssl.*`), used when `security.protocol` is `ssl` or `sasl_ssl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// `ssl.ca.location`: a PEM file or a directory of PEM files with the CAs to trust.
    pub ca_location: Option<PathBuf>,
    /// `ssl.ca.pem`: CA certificates as PEM text.
    pub ca_pem: Option<String>,
    /// `ssl.certificate.location`: the client certificate chain (PEM), for mutual TLS.
    pub certificate_location: Option<PathBuf>,
    /// `ssl.certificate.pem`: the client certificate chain as PEM text.
    pub certificate_pem: Option<String>,
    /// `ssl.key.location`: the client private key (PEM: PKCS#8, PKCS#1 or SEC1; encrypted
    /// PKCS#8 with `ssl.key.password`).
    pub key_location: Option<PathBuf>,
    /// `ssl.key.pem`: the client private key as PEM text.
    pub key_pem: Option<Secret>,
    /// `ssl.key.password`: decrypts an encrypted PKCS#8 key.
    pub key_password: Option<Secret>,
    /// `ssl.endpoint.identification.algorithm`.
    pub endpoint_identification: EndpointIdentification,
    /// `enable.ssl.certificate.verification` (default true): `false` accepts any certificate.
    pub verify_certificates: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_location: None,
            ca_pem: None,
            certificate_location: None,
            certificate_pem: None,
            key_location: None,
            key_pem: None,
            key_password: None,
            endpoint_identification: EndpointIdentification::Https,
            verify_certificates: true,
        }
    }
}

/// `sasl.oauthbearer.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OAuthBearerMethod {
    /// `default`: an unsecured JWT built from `sasl.oauthbearer.config` when
    /// `enable.sasl.oauthbearer.unsecure.jwt=true` (testing only).
    #[default]
    Default,
    /// `oidc`: client-credentials tokens from `sasl.oauthbearer.token.endpoint.url` (KIP-768),
    /// refreshed at 80 % of their lifetime.
    Oidc,
}

/// The SASL settings (`sasl.*`), used when `security.protocol` is `sasl_plaintext` or `sasl_ssl`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaslConfig {
    /// `sasl.mechanisms` (alias `sasl.mechanism`).
    pub mechanism: SaslMechanism,
    /// `sasl.username`.
    pub username: Option<String>,
    /// `sasl.password`.
    pub password: Option<Secret>,
    /// `sasl.oauthbearer.method`.
    pub oauthbearer_method: OAuthBearerMethod,
    /// `sasl.oauthbearer.config`: `principal=NAME [scope=A,B] [lifeSeconds=N]` for unsecured JWTs.
    pub oauthbearer_config: Option<Secret>,
    /// `enable.sasl.oauthbearer.unsecure.jwt`.
    pub oauthbearer_unsecure_jwt: bool,
    /// `sasl.oauthbearer.client.id`.
    pub oauthbearer_client_id: Option<String>,
    /// `sasl.oauthbearer.client.secret`.
    pub oauthbearer_client_secret: Option<Secret>,
    /// `sasl.oauthbearer.token.endpoint.url`.
    pub oauthbearer_token_endpoint_url: Option<String>,
    /// `sasl.oauthbearer.scope`.
    pub oauthbearer_scope: Option<String>,
    /// `https.ca.location`: CAs (PEM file or directory) for the token endpoint; default the
    /// system roots, else the embedded ones.
    pub https_ca_location: Option<PathBuf>,
    /// `https.ca.pem`: CAs for the token endpoint as PEM text.
    pub https_ca_pem: Option<String>,
}

/// Everything about how connections are protected.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityConfig {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// `ssl.*`.
    pub tls: TlsConfig,
    /// `sasl.*`.
    pub sasl: SaslConfig,
}

impl SecurityConfig {
    /// Sets one security property by its librdkafka name; [`ConfigError::UnknownProperty`] for
    /// other names. Secret values are never echoed in errors.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let tls = &mut self.tls;
        let sasl = &mut self.sasl;
        match name {
            "security.protocol" => {
                self.protocol = match value.trim().to_ascii_lowercase().as_str() {
                    "plaintext" => SecurityProtocol::Plaintext,
                    "ssl" => SecurityProtocol::Ssl,
                    "sasl_plaintext" => SecurityProtocol::SaslPlaintext,
                    "sasl_ssl" => SecurityProtocol::SaslSsl,
                    _ => {
                        return Err(invalid_value(
                            name,
                            value,
                            "expected plaintext, ssl, sasl_plaintext or sasl_ssl",
                        ));
                    }
                }
            }
            "ssl.ca.location" => tls.ca_location = Some(non_empty(name, value)?.into()),
            "ssl.ca.pem" => tls.ca_pem = Some(non_empty(name, value)?),
            "ssl.certificate.location" => {
                tls.certificate_location = Some(non_empty(name, value)?.into())
            }
            "ssl.certificate.pem" => tls.certificate_pem = Some(non_empty(name, value)?),
            "ssl.key.location" => tls.key_location = Some(non_empty(name, value)?.into()),
            "ssl.key.pem" => tls.key_pem = Some(secret(name, value)?),
            "ssl.key.password" => tls.key_password = Some(Secret::new(value)),
            "ssl.endpoint.identification.algorithm" => {
                tls.endpoint_identification = match value.trim().to_ascii_lowercase().as_str() {
                    "https" => EndpointIdentification::Https,
                    "none" | "" => EndpointIdentification::None,
                    _ => return Err(invalid_value(name, value, "expected https or none")),
                }
            }
            "enable.ssl.certificate.verification" => {
                tls.verify_certificates = boolean(name, value)?
            }
            "sasl.mechanisms" | "sasl.mechanism" => {
                sasl.mechanism = match value.trim().to_ascii_uppercase().as_str() {
                    "PLAIN" => SaslMechanism::Plain,
                    "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
                    "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
                    "OAUTHBEARER" => SaslMechanism::OAuthBearer,
                    _ => {
                        return Err(invalid_value(
                            name,
                            value,
                            "expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER \
                             (GSSAPI/Kerberos is not supported)",
                        ));
                    }
                }
            }
            "sasl.username" => sasl.username = Some(value.to_owned()),
            "sasl.password" => sasl.password = Some(Secret::new(value)),
            "sasl.oauthbearer.method" => {
                sasl.oauthbearer_method = match value.trim().to_ascii_lowercase().as_str() {
                    "default" => OAuthBearerMethod::Default,
                    "oidc" => OAuthBearerMethod::Oidc,
                    _ => return Err(invalid_value(name, value, "expected default or oidc")),
                }
            }
            "sasl.oauthbearer.config" => sasl.oauthbearer_config = Some(Secret::new(value)),
            "enable.sasl.oauthbearer.unsecure.jwt" => {
                sasl.oauthbearer_unsecure_jwt = boolean(name, value)?
            }
            "sasl.oauthbearer.client.id" => {
                sasl.oauthbearer_client_id = Some(non_empty(name, value)?)
            }
            "sasl.oauthbearer.client.secret" => {
                sasl.oauthbearer_client_secret = Some(secret(name, value)?)
            }
            "sasl.oauthbearer.token.endpoint.url" => {
                sasl.oauthbearer_token_endpoint_url = Some(non_empty(name, value)?)
            }
            "sasl.oauthbearer.scope" => sasl.oauthbearer_scope = Some(value.to_owned()),
            "https.ca.location" => sasl.https_ca_location = Some(non_empty(name, value)?.into()),
            "https.ca.pem" => sasl.https_ca_pem = Some(non_empty(name, value)?),
            _ => {
                return Err(ConfigError::UnknownProperty {
                    name: name.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// A non-empty secret; the error for an empty one shows no value.
fn secret(name: &str, value: &str) -> Result<Secret, ConfigError> {
    if value.trim().is_empty() {
        return Err(invalid_value(name, "***", "must not be empty"));
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_and_mechanism_names_are_case_insensitive() {
        let mut c = SecurityConfig::default();
        c.set("security.protocol", "SASL_SSL").unwrap();
        c.set("sasl.mechanisms", "scram-sha-512").unwrap();
        assert_eq!(c.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(c.sasl.mechanism, SaslMechanism::ScramSha512);
        assert!(c.set("security.protocol", "tls").is_err());
        assert!(c.set("sasl.mechanisms", "GSSAPI").is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut c = SecurityConfig::default();
        c.set("sasl.password", "hunter2-password").unwrap();
        c.set("ssl.key.pem", "-----BEGIN PRIVATE KEY-----\nsecretkeybytes")
            .unwrap();
        c.set("ssl.key.password", "keypass-secret").unwrap();
        c.set("sasl.oauthbearer.client.secret", "client-secret-value")
            .unwrap();
        c.set("sasl.oauthbearer.config", "principal=bob-secret")
            .unwrap();
        let shown = format!("{c:?}");
        for secret in [
            "hunter2",
            "secretkeybytes",
            "keypass",
            "client-secret-value",
            "bob-secret",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("***"));
        let err = c.set("ssl.key.pem", " ").unwrap_err();
        assert!(err.to_string().contains("***"));
    }

    #[test]
    fn verification_switches_parse_librdkafka_values() {
        let mut c = SecurityConfig::default();
        assert_eq!(c.tls.endpoint_identification, EndpointIdentification::Https);
        assert!(c.tls.verify_certificates);
        c.set("ssl.endpoint.identification.algorithm", "none")
            .unwrap();
        c.set("enable.ssl.certificate.verification", "false")
            .unwrap();
        assert_eq!(c.tls.endpoint_identification, EndpointIdentification::None);
        assert!(!c.tls.verify_certificates);
        assert!(c.set("ssl.endpoint.identification.algorithm", "x").is_err());
    }
}
