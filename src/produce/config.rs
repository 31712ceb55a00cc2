//! Producer properties (librdkafka names and defaults), on top of the connection's
//! [`ClientConfig`].
//!
//! The producer is always idempotent with `acks=all`: `enable.idempotence=false` and any
//! `acks` other than `all`/`-1` are refused with a [`ConfigError`] rather than ignored.

use std::time::Duration;

use crate::{
    config::{
        ClientConfig, ConfigError,
        values::{int_in_range, invalid_value, key_value, millis},
    },
    record::Compression,
};

/// Everything a [`super::Producer`] is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Connection properties.
    pub client: ClientConfig,
    /// `compression.type` (alias `compression.codec`): none, gzip, snappy, lz4, zstd.
    /// Default none.
    pub compression: Compression,
    /// `delivery.timeout.ms` (alias `message.timeout.ms`): the bound on one send, retries
    /// included. Default 300 s (librdkafka).
    pub delivery_timeout: Duration,
    /// `request.timeout.ms`: how long the leader may wait for the in-sync replicas before it
    /// answers (the Produce request's timeout), default 30 s. The connection waits this plus
    /// `socket.timeout.ms` for the response.
    pub request_timeout: Duration,
    /// `retry.backoff.ms`: first pause before a retry, doubled per retry. Default 100 ms.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the longest pause between retries. Default 1 s.
    pub retry_backoff_max: Duration,
    /// `message.max.bytes`: the largest encoded batch the producer sends, default 1 000 000.
    pub max_message_bytes: usize,
}

impl ProducerConfig {
    /// Defaults on top of `client`.
    pub fn from_client(client: ClientConfig) -> Self {
        Self {
            client,
            compression: Compression::None,
            delivery_timeout: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            max_message_bytes: 1_000_000,
        }
    }

    /// A configuration with the given bootstrap list and defaults otherwise.
    pub fn new(bootstrap_servers: &str) -> Result<Self, ConfigError> {
        Ok(Self::from_client(ClientConfig::new(bootstrap_servers)?))
    }

    /// Sets one property by its librdkafka name; connection properties go to [`ClientConfig`].
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let v = value.trim();
        match name {
            "compression.type" | "compression.codec" => {
                self.compression = parse_compression(v).ok_or_else(|| {
                    invalid_value(name, value, "expected none, gzip, snappy, lz4 or zstd")
                })?
            }
            "delivery.timeout.ms" | "message.timeout.ms" => {
                self.delivery_timeout = millis(name, value, 1, i32::MAX.into())?
            }
            "request.timeout.ms" => self.request_timeout = millis(name, value, 1, 900_000)?,
            "retry.backoff.ms" => self.retry_backoff = millis(name, value, 1, 300_000)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = millis(name, value, 1, 300_000)?,
            "message.max.bytes" => {
                self.max_message_bytes = int_in_range(name, value, 1000, 1_000_000_000)? as usize
            }
            "enable.idempotence" => {
                if !matches!(v, "true" | "1") {
                    return Err(invalid_value(
                        name,
                        value,
                        "this producer is always idempotent",
                    ));
                }
            }
            "acks" | "request.required.acks" => {
                if !matches!(v, "all" | "-1") {
                    return Err(invalid_value(
                        name,
                        value,
                        "this producer always uses acks=all",
                    ));
                }
            }
            _ => self.client.set(name, value)?,
        }
        Ok(())
    }

    /// Applies `key=value` pairs in order (later ones win), as given to `-X`.
    pub fn apply_pairs<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ConfigError> {
        for pair in pairs {
            let (k, v) = key_value(pair)?;
            self.set(k, v)?;
        }
        Ok(())
    }
}

/// A codec by its `compression.type` name.
pub fn parse_compression(name: &str) -> Option<Compression> {
    Some(match name {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_names_set_the_producer_and_pass_connection_ones_through() {
        let mut c = ProducerConfig::new("a:1").unwrap();
        c.apply_pairs([
            "compression.codec=zstd",
            "message.timeout.ms=5000",
            "client.id=dlq",
            "acks=all",
        ])
        .unwrap();
        assert_eq!(c.compression, Compression::Zstd);
        assert_eq!(c.delivery_timeout, Duration::from_secs(5));
        assert_eq!(c.client.client_id, "dlq");
    }

    #[test]
    fn non_idempotent_settings_are_refused_not_ignored() {
        let mut c = ProducerConfig::new("a:1").unwrap();
        assert!(c.set("enable.idempotence", "false").is_err());
        assert!(c.set("acks", "1").is_err());
        assert!(c.set("compression.type", "brotli").is_err());
        assert!(matches!(
            c.set("no.such", "1"),
            Err(ConfigError::UnknownProperty { .. })
        ));
    }
}
