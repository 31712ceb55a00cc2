//! Connection-level properties shared by everything that talks to brokers.

use std::{fmt, str::FromStr, time::Duration};

use super::{
    ConfigError,
    security::SecurityConfig,
    values::{int_in_range, invalid_value, key_value, millis, non_empty},
};

/// One `host:port` of a bootstrap list or a broker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerAddress {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for BrokerAddress {
    type Err = ConfigError;

    /// Parses `host:port`, `[ipv6]:port`, optionally prefixed `PLAINTEXT://` (or another
    /// listener scheme) as in librdkafka.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| invalid_value("bootstrap.servers", s, reason);
        let addr = s.trim();
        // `PLAINTEXT://`, `SSL://`, `SASL_SSL://`…: the scheme is informative only.
        let addr = addr.split_once("://").map_or(addr, |(_, rest)| rest);
        let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
            let (host, port) = rest
                .split_once("]:")
                .ok_or_else(|| bad("expected [ipv6]:port"))?;
            (host, port)
        } else {
            addr.rsplit_once(':')
                .ok_or_else(|| bad("expected host:port"))?
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port = port.parse::<u16>().ok().filter(|p| *p != 0);
        let port = port.ok_or_else(|| bad("port must be 1-65535"))?;
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

/// Properties every broker connection uses (librdkafka names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// `bootstrap.servers` (alias `metadata.broker.list`): tried in order until one answers.
    pub bootstrap_servers: Vec<BrokerAddress>,
    /// `client.id`, sent with every request. Default `rskafka-consumer`.
    pub client_id: String,
    /// `socket.connection.setup.timeout.ms`: TCP connect plus the ApiVersions handshake.
    /// Default 30 s. Also how long the first contact with a cluster keeps trying the
    /// bootstrap list while it is transiently unavailable (see `Cluster::connect`).
    pub connect_timeout: Duration,
    /// `socket.timeout.ms`: how long one request may wait for its response. Default 60 s.
    pub request_timeout: Duration,
    /// `receive.message.max.bytes`: the largest response frame accepted; larger length prefixes
    /// are treated as a corrupt stream. Default 100 000 000.
    pub max_response_bytes: usize,
    /// `security.protocol`, `ssl.*` and `sasl.*`: TLS and SASL. Default plaintext.
    pub security: SecurityConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: Vec::new(),
            client_id: "rskafka-consumer".to_owned(),
            connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_response_bytes: 100_000_000,
            security: SecurityConfig::default(),
        }
    }
}

impl ClientConfig {
    /// A configuration with the given comma-separated bootstrap list and defaults otherwise.
    pub fn new(bootstrap_servers: &str) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.set("bootstrap.servers", bootstrap_servers)?;
        Ok(config)
    }

    /// Sets one property by its librdkafka name. Returns [`ConfigError::UnknownProperty`] for
    /// names this struct does not own, so callers can offer the name to other sections first.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        match name {
            "bootstrap.servers" | "metadata.broker.list" => {
                let list = value
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(BrokerAddress::from_str)
                    .collect::<Result<Vec<_>, _>>()?;
                if list.is_empty() {
                    return Err(invalid_value(
                        name,
                        value,
                        "at least one host:port is required",
                    ));
                }
                self.bootstrap_servers = list;
            }
            "client.id" => self.client_id = non_empty(name, value)?,
            "socket.connection.setup.timeout.ms" => {
                self.connect_timeout = millis(name, value, 1000, i32::MAX.into())?
            }
            "socket.timeout.ms" => self.request_timeout = millis(name, value, 10, 300_000)?,
            "receive.message.max.bytes" => {
                self.max_response_bytes = int_in_range(name, value, 1000, i32::MAX.into())? as usize
            }
            _ => self.security.set(name, value)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_list_accepts_librdkafka_forms() {
        let c = ClientConfig::new("PLAINTEXT://a:1, SSL://b:2,[::1]:3,").unwrap();
        let shown: Vec<String> = c
            .bootstrap_servers
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["a:1", "b:2", "[::1]:3"]);
    }

    #[test]
    fn malformed_bootstrap_entries_name_the_property() {
        for bad in ["", "host", "host:0", "host:70000", ":9092", "h:x"] {
            let err = ClientConfig::new(bad).unwrap_err();
            assert!(
                err.to_string().contains("bootstrap.servers"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn unknown_properties_are_errors() {
        let mut c = ClientConfig::default();
        let err = c
            .apply_pairs(["client.id=x", "no.such.thing=1"])
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::UnknownProperty {
                name: "no.such.thing".into()
            }
        );
        assert_eq!(c.client_id, "x");
    }

    #[test]
    fn timeouts_are_milliseconds_with_bounds() {
        let mut c = ClientConfig::default();
        c.set("socket.connection.setup.timeout.ms", "1500").unwrap();
        assert_eq!(c.connect_timeout, Duration::from_millis(1500));
        assert!(c.set("socket.connection.setup.timeout.ms", "5").is_err());
        assert!(c.set("socket.timeout.ms", "-1").is_err());
    }
}
