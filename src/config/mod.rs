//! Typed configuration, settable by librdkafka property names (`-X key=value`).
//!
//! Users come from librdkafka-based clients, so properties keep librdkafka's names, spellings
//! and defaults. Every value is validated when it is set: an unknown property or a malformed
//! value is a [`ConfigError`] naming the property, never a silent default.

mod client;
mod consumer;
mod group;
mod security;
pub(crate) mod values;

pub use client::{BrokerAddress, ClientConfig};
pub use consumer::{ConsumerConfig, FetchTuning, IsolationLevel, OffsetReset};
pub use group::{GroupConfig, KNOWN_ASSIGNORS};
pub use security::{
    EndpointIdentification, OAuthBearerMethod, SaslConfig, SaslMechanism, Secret, SecurityConfig,
    SecurityProtocol, TlsConfig,
};

use thiserror::Error;

/// A configuration property was unknown or its value invalid.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No such property.
    #[error("unknown configuration property `{name}`")]
    UnknownProperty {
        /// The property name given.
        name: String,
    },
    /// The property exists but the value does not parse or is out of range.
    #[error("invalid value `{value}` for `{name}`: {reason}")]
    InvalidValue {
        /// The property name.
        name: String,
        /// The value given.
        value: String,
        /// What a valid value looks like.
        reason: String,
    },
    /// A `key=value` pair had no `=`.
    #[error("expected key=value, got `{0}`")]
    NotKeyValue(String),
}
