//! Consumer properties: isolation, offset reset, partition EOF, and the fetch budget.

use std::time::Duration;

use super::{
    ClientConfig, ConfigError, GroupConfig,
    group::boolean,
    values::{int_in_range, invalid_value, key_value, millis},
};

/// `isolation.level`: which transactional records a consumer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    /// Every data record, including aborted and still-open transactions.
    ReadUncommitted,
    /// Only committed records, up to the last stable offset (librdkafka's default).
    ReadCommitted,
}

impl IsolationLevel {
    /// The value Fetch and ListOffsets carry on the wire.
    pub fn wire_value(self) -> i8 {
        match self {
            Self::ReadUncommitted => 0,
            Self::ReadCommitted => 1,
        }
    }
}

/// `auto.offset.reset`: where to start when there is no valid position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The log start offset (`earliest`, `smallest`, `beginning`).
    Earliest,
    /// The end of the log (`latest`, `largest`, `end`; librdkafka's default).
    Latest,
    /// Stop the partition and report an error (`error`).
    Error,
}

/// Everything a [`crate::Consumer`] is configured with (librdkafka names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Connection properties.
    pub client: ClientConfig,
    /// Group membership and offset commit properties.
    pub group: GroupConfig,
    /// `isolation.level`, default read_committed.
    pub isolation_level: IsolationLevel,
    /// `auto.offset.reset`, default latest.
    pub auto_offset_reset: OffsetReset,
    /// `enable.partition.eof`: emit an event each time a partition reaches its end.
    pub enable_partition_eof: bool,
    /// `fetch.min.bytes`, default 1.
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`, default 52 428 800.
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`, default 1 048 576.
    pub max_partition_fetch_bytes: i32,
    /// `fetch.wait.max.ms`, default 500 ms.
    pub fetch_wait_max: Duration,
    /// `queued.max.messages.kbytes` × 1024: bytes of fetched data buffered ahead of the
    /// application; fetching pauses while the buffer is full. Default 64 MiB.
    pub queued_max_bytes: usize,
    /// `fetch.error.backoff.ms`: pause before refetching a partition after an error, default 500 ms.
    pub fetch_error_backoff: Duration,
    /// `topic.metadata.refresh.interval.ms`, default 5 min.
    pub metadata_refresh_interval: Duration,
    /// `statistics.interval.ms`: how often an observer delivers a statistics snapshot
    /// (`rskafka_consumer::observe::Observer::statistics`); zero (the default) turns it off.
    pub statistics_interval: Duration,
    /// The observer the consumer reports to ([`crate::hooks::Hooks`]); none by default.
    pub hooks: crate::hooks::HookSet,
}

/// The fetch settings a running consumer takes live ([`crate::Consumer::set_fetch_tuning`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchTuning {
    /// `fetch.min.bytes`.
    pub min_bytes: i32,
    /// `fetch.max.bytes`.
    pub max_bytes: i32,
    /// `fetch.wait.max.ms`.
    pub wait_max: Duration,
    /// `queued.max.messages.kbytes` × 1024.
    pub queued_max_bytes: usize,
}

impl ConsumerConfig {
    /// The settings of this configuration a running consumer can take live.
    pub fn fetch_tuning(&self) -> FetchTuning {
        FetchTuning {
            min_bytes: self.fetch_min_bytes,
            max_bytes: self.fetch_max_bytes,
            wait_max: self.fetch_wait_max,
            queued_max_bytes: self.queued_max_bytes,
        }
    }

    /// A configuration with the given bootstrap list and librdkafka's defaults otherwise.
    pub fn new(bootstrap_servers: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            client: ClientConfig::new(bootstrap_servers)?,
            group: GroupConfig::default(),
            isolation_level: IsolationLevel::ReadCommitted,
            auto_offset_reset: OffsetReset::Latest,
            enable_partition_eof: false,
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            fetch_wait_max: Duration::from_millis(500),
            queued_max_bytes: 65_536 * 1024,
            fetch_error_backoff: Duration::from_millis(500),
            metadata_refresh_interval: Duration::from_secs(300),
            statistics_interval: Duration::ZERO,
            hooks: crate::hooks::HookSet::default(),
        })
    }

    /// Sets one property by its librdkafka name; connection properties go to [`ClientConfig`].
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let v = value.trim();
        match name {
            "isolation.level" => {
                self.isolation_level = match v {
                    "read_committed" => IsolationLevel::ReadCommitted,
                    "read_uncommitted" => IsolationLevel::ReadUncommitted,
                    _ => {
                        return Err(invalid_value(
                            name,
                            value,
                            "expected read_committed or read_uncommitted",
                        ));
                    }
                }
            }
            "auto.offset.reset" => {
                self.auto_offset_reset = match v {
                    "earliest" | "smallest" | "beginning" => OffsetReset::Earliest,
                    "latest" | "largest" | "end" => OffsetReset::Latest,
                    "error" => OffsetReset::Error,
                    _ => {
                        return Err(invalid_value(
                            name,
                            value,
                            "expected earliest, latest or error (or smallest, beginning, largest, end)",
                        ));
                    }
                }
            }
            "enable.partition.eof" => self.enable_partition_eof = boolean(name, value)?,
            "fetch.min.bytes" => {
                self.fetch_min_bytes = int_in_range(name, value, 1, 100_000_000)? as i32
            }
            "fetch.max.bytes" => {
                self.fetch_max_bytes = int_in_range(name, value, 0, 2_147_483_135)? as i32
            }
            "max.partition.fetch.bytes" | "fetch.message.max.bytes" => {
                self.max_partition_fetch_bytes = int_in_range(name, value, 1, 1_000_000_000)? as i32
            }
            "fetch.wait.max.ms" => self.fetch_wait_max = millis(name, value, 0, 300_000)?,
            "queued.max.messages.kbytes" => {
                self.queued_max_bytes = int_in_range(name, value, 1, 2_097_151)? as usize * 1024
            }
            "fetch.error.backoff.ms" => self.fetch_error_backoff = millis(name, value, 0, 300_000)?,
            "topic.metadata.refresh.interval.ms" => {
                self.metadata_refresh_interval = millis(name, value, 1000, 3_600_000)?
            }
            "statistics.interval.ms" => {
                self.statistics_interval = millis(name, value, 0, 86_400_000)?
            }
            _ => match self.group.set(name, value) {
                Err(ConfigError::UnknownProperty { .. }) => self.client.set(name, value)?,
                other => other?,
            },
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
        self.group.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_librdkafka() {
        let c = ConsumerConfig::new("a:1").unwrap();
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        assert!(!c.enable_partition_eof);
    }

    #[test]
    fn offset_reset_accepts_librdkafka_spellings() {
        let mut c = ConsumerConfig::new("a:1").unwrap();
        for (v, want) in [
            ("smallest", OffsetReset::Earliest),
            ("beginning", OffsetReset::Earliest),
            ("largest", OffsetReset::Latest),
            ("end", OffsetReset::Latest),
            ("error", OffsetReset::Error),
        ] {
            c.set("auto.offset.reset", v).unwrap();
            assert_eq!(c.auto_offset_reset, want);
        }
        assert!(c.set("auto.offset.reset", "sometimes").is_err());
    }

    #[test]
    fn client_properties_pass_through_and_unknown_ones_fail() {
        let mut c = ConsumerConfig::new("a:1").unwrap();
        c.apply_pairs([
            "client.id=me",
            "enable.partition.eof=true",
            "queued.max.messages.kbytes=16",
        ])
        .unwrap();
        assert_eq!(c.client.client_id, "me");
        assert!(c.enable_partition_eof);
        assert_eq!(c.queued_max_bytes, 16 * 1024);
        c.set("statistics.interval.ms", "5000").unwrap();
        assert_eq!(c.statistics_interval, Duration::from_secs(5));
        assert!(c.set("statistics.interval.ms", "-1").is_err());
        assert!(matches!(
            c.set("fetch.wait.max", "1"),
            Err(ConfigError::UnknownProperty { .. })
        ));
        assert!(c.set("enable.partition.eof", "yes").is_err());
    }
}
