//! The crate's one error type, and the one place that answers "is this worth retrying?".

use std::{fmt, time::Duration};

use thiserror::Error;

mod codes;

use crate::{config::ConfigError, wire::DecodeError};

/// A Kafka protocol error code, as returned in a response (never 0). Named codes, their
/// retriability and leader-change classification are in the table of associated consts
/// (`KafkaCode::NOT_COORDINATOR`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KafkaCode(pub i16);

impl KafkaCode {
    /// `None` for 0 (no error), the code otherwise.
    pub fn from_code(code: i16) -> Option<Self> {
        (code != 0).then_some(Self(code))
    }
}

impl fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match rskafka::protocol::error::Error::new(self.0) {
            Some(rskafka::protocol::error::Error::Unknown(_)) | None => {
                write!(f, "error code {}", self.0)
            }
            Some(known) => write!(f, "{known:?} ({})", self.0),
        }
    }
}

/// Everything that can go wrong talking to a Kafka cluster.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration property was unknown or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The TCP connection to a broker could not be opened.
    #[error("cannot connect to {broker}: {source}")]
    Connect {
        /// `host:port` of the broker.
        broker: String,
        /// The socket error.
        source: std::io::Error,
    },

    /// Connecting (TCP plus the ApiVersions handshake) took longer than
    /// `socket.connection.setup.timeout.ms`.
    #[error("connecting to {broker} timed out after {timeout:?}")]
    ConnectTimeout {
        /// `host:port` of the broker.
        broker: String,
        /// The configured bound.
        timeout: Duration,
    },

    /// The ApiVersions handshake failed (not a Kafka broker, or no common version).
    #[error("API version handshake with {broker} failed: {reason}")]
    Handshake {
        /// `host:port` of the broker.
        broker: String,
        /// What went wrong.
        reason: String,
    },

    /// A request failed on the connection (I/O error, broken framing, undecodable response).
    #[error("{api} request to {broker} failed: {reason}")]
    Request {
        /// `host:port` of the broker.
        broker: String,
        /// The API that was called.
        api: &'static str,
        /// What went wrong.
        reason: String,
    },

    /// A request got no response within `socket.timeout.ms`.
    #[error("{api} request to {broker} timed out after {timeout:?}")]
    RequestTimeout {
        /// `host:port` of the broker.
        broker: String,
        /// The API that was called.
        api: &'static str,
        /// The configured bound.
        timeout: Duration,
    },

    /// The broker answered with an error code.
    #[error("{api} failed{}: {code}", context.as_deref().map(|c| format!(" for {c}")).unwrap_or_default())]
    Kafka {
        /// The API that was called.
        api: &'static str,
        /// The error code.
        code: KafkaCode,
        /// What the error applies to (a topic, a partition, a group), when known.
        context: Option<String>,
    },

    /// A response did not decode.
    #[error("malformed data from {source_desc}: {error}")]
    Decode {
        /// Where the data came from.
        source_desc: String,
        /// What was wrong with it.
        error: DecodeError,
    },

    /// A record batch failed its CRC or could not be decoded. The partition does not advance
    /// past it; the fetch is retried after `fetch.error.backoff.ms`.
    #[error("corrupt record batch in {topic} [{partition}] at offset {offset}: {reason}")]
    CorruptBatch {
        /// Topic of the batch.
        topic: String,
        /// Partition of the batch.
        partition: i32,
        /// Base offset of the batch.
        offset: i64,
        /// What was wrong with it.
        reason: String,
    },

    /// A fetch returned data for the partition but not one complete record batch, even with
    /// the partition's size limit grown to `max_bytes` (at least `fetch.max.bytes`): a batch
    /// larger than that, or a broker cutting its responses. The fetch is retried after
    /// `fetch.error.backoff.ms`; raising `fetch.max.bytes` may help. (Java: "failed to make
    /// progress".)
    #[error(
        "no progress fetching {topic} [{partition}] at offset {offset}: the response held no complete record batch with {max_bytes} bytes per partition (raise fetch.max.bytes)"
    )]
    NoProgress {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The fetch offset that did not advance.
        offset: i64,
        /// The partition's size limit of the last attempt.
        max_bytes: i32,
    },

    /// The position was outside the log and `auto.offset.reset=error`: the partition stops
    /// until the application seeks it.
    #[error("offset {offset} is out of range for {topic} [{partition}] (auto.offset.reset=error)")]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset that was out of range.
        offset: i64,
    },

    /// The leader's log was truncated below the position (KIP-320: an unclean leader election
    /// lost records this consumer had fetched) and `auto.offset.reset=error`: the partition
    /// stops until the application seeks it (to `divergent_offset`, where the logs agree, when
    /// the leader could say).
    #[error(
        "log truncation detected for {topic} [{partition}] at offset {offset}{} (auto.offset.reset=error)",
        divergent_offset.map(|o| format!(", logs diverge from offset {o}")).unwrap_or_default()
    )]
    LogTruncation {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The position that is no longer in the leader's log.
        offset: i64,
        /// The first offset that may differ (the end of the last epoch both logs share), when
        /// the leader knew it.
        divergent_offset: Option<i64>,
    },

    /// The partition is not assigned to this consumer.
    #[error("{topic} [{partition}] is not assigned")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },

    /// The consumer was closed.
    #[error("the consumer is closed")]
    Closed,

    /// A group commit was not sent: until its deadline the member was in a rebalance (or out
    /// of the group, rejoining), so it had no generation the group would accept. Nothing was
    /// committed; commit again once the rebalance is over (polling keeps it going). The Java
    /// client's `RebalanceInProgressException`.
    #[error("commit not sent: group {group} is rebalancing")]
    RebalanceInProgress {
        /// The group.
        group: String,
    },

    /// No bootstrap broker could be connected to and handshaken with; each attempt's failure is
    /// listed (refused, timed out, or the connection broke during the ApiVersions handshake).
    #[error("no bootstrap broker answered: {}", attempts.join("; "))]
    NoBrokerReachable {
        /// One line per broker tried.
        attempts: Vec<String>,
    },

    /// TLS could not be established with a broker (`security.protocol=ssl|sasl_ssl`).
    #[error("TLS with {broker} failed: {failure}")]
    Tls {
        /// `host:port` of the broker.
        broker: String,
        /// What failed, with a hint.
        failure: TlsFailure,
    },

    /// SASL authentication with a broker failed (`security.protocol=sasl_plaintext|sasl_ssl`).
    #[error("SASL authentication with {broker} failed: {failure}")]
    Sasl {
        /// `host:port` of the broker.
        broker: String,
        /// What failed, with a hint.
        failure: SaslFailure,
    },

    /// The consumer's group membership ended for good on an error that retrying cannot fix
    /// (e.g. the broker rejected `session.timeout.ms`, an authorization failure, an assignor
    /// the group chose that this member lacks): the consumer gets no partitions any more.
    /// Java's `poll` throws such errors and librdkafka reports them as fatal; an application
    /// should stop (`rkc consume` exits with code 1).
    #[error("group {group}: membership ended: {source}")]
    GroupFailed {
        /// The group.
        group: String,
        /// What ended it.
        source: Box<Error>,
    },

    /// A plaintext connection was closed or answered with garbage during the first request:
    /// the port most likely expects TLS.
    #[error(
        "{broker} closed the plaintext connection during the first request \
         (hint: the port probably expects TLS: set security.protocol=ssl or sasl_ssl)"
    )]
    PlaintextToTls {
        /// `host:port` of the broker.
        broker: String,
    },
}

/// Why TLS with a broker failed, each with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The certificate chain does not lead to a trusted CA.
    #[error(
        "the broker's certificate is not signed by a trusted CA \
         (hint: set ssl.ca.location to the CA file that signed it)"
    )]
    UntrustedCertificate,
    /// The certificate does not name the host that was connected to.
    #[error(
        "the broker's certificate is not valid for this host name \
         (hint: connect by a name listed in the certificate, or set \
         ssl.endpoint.identification.algorithm=none)"
    )]
    HostnameMismatch,
    /// The certificate has expired (or the local clock is wrong).
    #[error("the broker's certificate has expired (hint: renew it, or check the local clock)")]
    CertificateExpired,
    /// The broker refused this client's certificate, or wanted one and got none.
    #[error(
        "the broker rejected the client certificate ({detail}) (hint: set \
         ssl.certificate.location and ssl.key.location to a certificate the broker trusts)"
    )]
    ClientCertificateRejected {
        /// The alert the broker sent.
        detail: String,
    },
    /// The port does not speak TLS.
    #[error(
        "the port does not speak TLS (hint: it is probably a plaintext listener: \
         security.protocol=plaintext or sasl_plaintext)"
    )]
    NotTls,
    /// Anything else.
    #[error("{detail}")]
    Other {
        /// The TLS library's description.
        detail: String,
    },
}

/// Why SASL authentication failed, each with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SaslFailure {
    /// The broker rejected the credentials.
    #[error(
        "{mechanism}: the broker rejected the credentials \
         (hint: check sasl.username and sasl.password, and the mechanism the user was created for)"
    )]
    AuthenticationFailed {
        /// The mechanism used.
        mechanism: &'static str,
    },
    /// The broker does not enable the mechanism on this listener.
    #[error(
        "the broker does not enable {mechanism} on this listener \
         (hint: set sasl.mechanisms to one the listener enables)"
    )]
    MechanismNotEnabled {
        /// The mechanism asked for.
        mechanism: &'static str,
    },
    /// The listener does not do SASL (the broker refused the SASL handshake).
    #[error(
        "the listener does not do SASL \
         (hint: use its SASL port, or security.protocol=plaintext or ssl)"
    )]
    NotSaslListener,
    /// No OAUTHBEARER token could be had from the token endpoint.
    #[error(
        "no token from the OAUTHBEARER token endpoint: {detail} (hint: check \
         sasl.oauthbearer.token.endpoint.url, sasl.oauthbearer.client.id / .client.secret, and \
         https.ca.location for the endpoint's CA)"
    )]
    TokenUnavailable {
        /// What went wrong (never the secret).
        detail: String,
    },
    /// The settings are incomplete (e.g. no password).
    #[error("{reason}")]
    Misconfigured {
        /// What is missing.
        reason: String,
    },
    /// Anything else.
    #[error("{mechanism}: {detail}")]
    Other {
        /// The mechanism used.
        mechanism: &'static str,
        /// What went wrong.
        detail: String,
    },
}

impl Error {
    /// Whether retrying the same operation later may succeed: connection trouble, timeouts and
    /// retriable broker error codes. Configuration and decoding errors are final.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::ConnectTimeout { .. }
            | Self::Request { .. }
            | Self::RequestTimeout { .. }
            | Self::NoBrokerReachable { .. }
            | Self::RebalanceInProgress { .. } => true,
            Self::Kafka { code, .. } => code.is_retriable(),
            Self::CorruptBatch { .. } | Self::NoProgress { .. } => true,
            Self::Config(_)
            | Self::Handshake { .. }
            | Self::Decode { .. }
            | Self::OffsetOutOfRange { .. }
            | Self::LogTruncation { .. }
            | Self::NotAssigned { .. }
            | Self::GroupFailed { .. }
            | Self::Closed => false,
            Self::Tls { .. } | Self::Sasl { .. } | Self::PlaintextToTls { .. } => false,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_codes_print_their_name_and_number() {
        assert_eq!(KafkaCode(6).to_string(), "NotLeaderOrFollower (6)");
        assert_eq!(KafkaCode(9999).to_string(), "error code 9999");
        assert!(KafkaCode(6).is_retriable());
        assert!(!KafkaCode(29).is_retriable());
    }

    #[test]
    fn config_errors_are_final_and_timeouts_retriable() {
        let config = Error::from(ConfigError::NotKeyValue("x".into()));
        assert!(!config.is_retriable());
        let timeout = Error::ConnectTimeout {
            broker: "a:1".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(timeout.is_retriable());
    }
}
