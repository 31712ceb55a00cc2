//! `RunnerConfig`: the runner's settings, read from TOML (`rkc run --config FILE.toml`) or
//! built in code.
//!
//! Invariants: unknown keys and bad values are errors that name the file, the key and what
//! was expected — never a silent default; `[kafka]` takes librdkafka property names and
//! values exactly as `-X` does; `enable.auto.commit` is refused (the runner owns commits);
//! every section but `[kafka]` and `[source]` is optional with the defaults documented here;
//! a configuration serializes back into the same settings (the hot-reload diff,
//! `config_diff`, compares serialized forms: every section must derive `Serialize`).

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::{circuit::CircuitPolicy, idempotency::IdentityKind, retry::RetryPolicy};
use crate::{
    ConsumerConfig,
    observe::{AlertRule, AlertingConfig},
};

/// A configuration file was unreadable, malformed or invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}{expected}", file.display(), if key.is_empty() { String::new() } else { format!("`{key}`: ") })]
pub struct ConfigFileError {
    /// The file (or `<config>` for a configuration built in code).
    pub file: PathBuf,
    /// The key, as a dotted path (`retry.max_attempts`, `kafka."session.timeout.ms"`);
    /// empty for a file that is not TOML at all.
    pub key: String,
    /// What was wrong and what was expected.
    pub expected: String,
}

/// Everything the runner is configured with.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    /// `[kafka]`: librdkafka properties (`"bootstrap.servers"`, `"group.id"`, …).
    pub kafka: BTreeMap<String, KafkaValue>,
    /// `[source]`: what to consume.
    pub source: SourceConfig,
    /// `[handler]`.
    #[serde(default)]
    pub handler: HandlerConfig,
    /// `[retry]`.
    #[serde(default)]
    pub retry: RetryConfig,
    /// `[dlq]`.
    #[serde(default)]
    pub dlq: DlqConfig,
    /// `[idempotency]`.
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
    /// `[shutdown]`.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// `[log]`.
    #[serde(default)]
    pub log: LogConfig,
    /// `[metrics]`: the metrics/probes endpoint and the progress line.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[[alerts]]`: alert rules, evaluated every second (none by default).
    #[serde(default)]
    pub alerts: Vec<AlertRule>,
    /// `[alerting]`: where alerts go besides the log and the JSON events.
    #[serde(default)]
    pub alerting: AlertingConfig,
}

/// A `[kafka]` value: a string as `-X` takes it; TOML integers and booleans are accepted and
/// written the way librdkafka spells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaValue(pub String);

impl Serialize for KafkaValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KafkaValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = KafkaValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (as -X takes it), an integer or a boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KafkaValue, E> {
                Ok(KafkaValue(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KafkaValue, E> {
                Ok(KafkaValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KafkaValue, E> {
                Ok(KafkaValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KafkaValue, E> {
                Ok(KafkaValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[source]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Topics to subscribe to; entries starting with `^` are regular expressions.
    pub topics: Vec<String>,
}

/// `[handler] kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HandlerKind {
    /// Run `command` per message.
    Exec,
    /// POST each message to `url`.
    Http,
    /// Print each message as a JSON line (the default).
    #[default]
    Print,
}

/// `[handler] ordering`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    /// One message at a time per partition, partitions concurrently (the default).
    #[default]
    Partition,
    /// Same key in order, different keys of a partition concurrently.
    Key,
}

/// `[handler]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandlerConfig {
    /// `exec`, `http` or `print` (default).
    pub kind: HandlerKind,
    /// Longest one attempt may take (default 30 s); a timed-out attempt is retryable.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// `partition` (default) or `key`.
    pub ordering: Ordering,
    /// Messages processed at once, over all partitions (default 16).
    pub max_in_flight: usize,
    /// For `exec`: the program and its arguments.
    pub command: Option<Vec<String>>,
    /// For `http`: where to POST (`http://host:port/path` or `https://…`; https trusts
    /// `[kafka] "https.ca.location"` / `"https.ca.pem"`, else the system roots, else the
    /// embedded Mozilla roots).
    pub url: Option<String>,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        Self {
            kind: HandlerKind::Print,
            timeout: Duration::from_secs(30),
            ordering: Ordering::Partition,
            max_in_flight: 16,
            command: None,
            url: None,
        }
    }
}

/// `[retry]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included (default 5).
    pub max_attempts: u32,
    /// Delay after the first failure (default 100 ms), doubling per attempt.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Longest delay (default 30 s).
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryConfig {
    /// The policy these settings describe.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            initial_backoff: self.initial_backoff,
            max_backoff: self.max_backoff,
        }
    }
}

/// `[dlq] header_style`: whose provenance headers the DLQ records carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderStyle {
    /// Kafka Connect's `__connect.errors.*` (default).
    #[default]
    Connect,
    /// Spring Kafka's `kafka_dlt-*`.
    Spring,
    /// Kafka Streams' `__streams.errors.*`.
    Streams,
}

/// `[dlq] compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DlqCompression {
    /// No compression (default).
    #[default]
    None,
    /// gzip.
    Gzip,
    /// snappy.
    Snappy,
    /// lz4.
    Lz4,
    /// zstd.
    Zstd,
}

/// `[dlq]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DlqConfig {
    /// The dead-letter topic; default `<source topic>.dlq`.
    pub topic: Option<String>,
    /// Provenance header style (default `connect`).
    pub header_style: HeaderStyle,
    /// Compression of DLQ records (default none).
    pub compression: DlqCompression,
    /// Failure ratio in the window that opens the circuit (default 0.5).
    pub max_failure_ratio: f64,
    /// The breaker's window (default 60 s).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Failures in the window below which the circuit never opens (default 10).
    pub min_failures: u32,
    /// How long the circuit stays open before a probe (default 30 s).
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
}

impl Default for DlqConfig {
    fn default() -> Self {
        Self {
            topic: None,
            header_style: HeaderStyle::Connect,
            compression: DlqCompression::None,
            max_failure_ratio: 0.5,
            window: Duration::from_secs(60),
            min_failures: 10,
            cooldown: Duration::from_secs(30),
        }
    }
}

impl DlqConfig {
    /// The breaker policy these settings describe.
    pub fn circuit(&self) -> CircuitPolicy {
        CircuitPolicy {
            max_failure_ratio: self.max_failure_ratio,
            window: self.window,
            min_failures: self.min_failures,
            cooldown: self.cooldown,
        }
    }

    /// The dead-letter topic for messages of `source_topic`.
    pub fn topic_for(&self, source_topic: &str) -> String {
        self.topic
            .clone()
            .unwrap_or_else(|| format!("{source_topic}.dlq"))
    }
}

/// `[idempotency] store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `"memory"`: a bounded LRU in this process (default).
    Memory,
    /// A file path: the persistent store.
    File(PathBuf),
}

impl Serialize for StoreLocation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Memory => s.serialize_str("memory"),
            Self::File(path) => s.serialize_str(&path.to_string_lossy()),
        }
    }
}

impl<'de> Deserialize<'de> for StoreLocation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "memory" => Ok(Self::Memory),
            "" => Err(de::Error::invalid_value(
                de::Unexpected::Str(&s),
                &"\"memory\" or a file path",
            )),
            _ => Ok(Self::File(PathBuf::from(s))),
        }
    }
}

/// `[idempotency]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencyConfig {
    /// `offset` (default), `record_key` or `header:NAME`.
    #[serde(
        deserialize_with = "identity_kind",
        serialize_with = "identity_kind_name"
    )]
    pub key: IdentityKind,
    /// `memory` (default) or the path of the persistent store.
    pub store: StoreLocation,
    /// Identities the memory store holds (default 100 000).
    pub capacity: usize,
    /// How long an identity is remembered (default 24 h).
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            key: IdentityKind::Offset,
            store: StoreLocation::Memory,
            capacity: 100_000,
            ttl: Duration::from_secs(24 * 3600),
        }
    }
}

fn identity_kind<'de, D: Deserializer<'de>>(d: D) -> Result<IdentityKind, D::Error> {
    let s = String::deserialize(d)?;
    IdentityKind::parse(&s).ok_or_else(|| {
        de::Error::invalid_value(
            de::Unexpected::Str(&s),
            &"\"offset\", \"record_key\" or \"header:NAME\"",
        )
    })
}

fn identity_kind_name<S: Serializer>(kind: &IdentityKind, s: S) -> Result<S::Ok, S::Error> {
    match kind {
        IdentityKind::Offset => s.serialize_str("offset"),
        IdentityKind::RecordKey => s.serialize_str("record_key"),
        IdentityKind::Header(name) => s.serialize_str(&format!("header:{name}")),
    }
}

/// `[shutdown]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// How long in-flight handlers may take to finish at shutdown (default 25 s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(25),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter in `RUST_LOG` syntax (`"info"`, `"warn,rskafka_consumer=debug"`);
    /// `rkc run` uses it instead of `RKC_LOG` when set. Reloadable without a restart.
    pub filter: Option<String>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where `rkc run` serves `GET /metrics`, `/healthz` and `/readyz` (e.g.
    /// `"0.0.0.0:9464"`); none by default.
    pub listen: Option<std::net::SocketAddr>,
    /// How often `rkc run` logs a one-line progress summary (records/s, lag, DLQ, retries);
    /// `"0s"` (the default) turns it off.
    #[serde(with = "humantime_serde")]
    pub log_interval: Duration,
    /// `/readyz` answers ready this long after start even before the first assignment
    /// (default `"0s"`).
    #[serde(with = "humantime_serde")]
    pub ready_grace: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: None,
            log_interval: Duration::ZERO,
            ready_grace: Duration::ZERO,
        }
    }
}

impl RunnerConfig {
    /// Reads and checks the TOML file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
            file: path.to_owned(),
            key: String::new(),
            expected: format!("cannot read: {e}"),
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and checks TOML `text`; errors name `file`.
    pub fn from_toml(text: &str, file: &Path) -> Result<Self, ConfigFileError> {
        let fail = |key: String, expected: String| ConfigFileError {
            file: file.to_owned(),
            key,
            expected,
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| fail(String::new(), e.to_string().trim().to_owned()))?;
        let config: Self = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let key = if path == "." { String::new() } else { path };
            fail(key, e.inner().message().trim().to_owned())
        })?;
        config.validate().map_err(|(k, e)| fail(k, e))?;
        config.consumer_config().map_err(|mut e| {
            e.file = file.to_owned();
            e
        })?;
        Ok(config)
    }

    /// Checks everything [`RunnerConfig::from_toml`] checks, for a configuration built or
    /// changed in code (e.g. before [`super::RunnerHandle::update_config`]): value ranges,
    /// the relations between settings, every `[kafka]` property and the topic patterns.
    /// Errors name the key; the file is `<config>`.
    pub fn check(&self) -> Result<(), ConfigFileError> {
        let file = PathBuf::from("<config>");
        self.validate().map_err(|(key, expected)| ConfigFileError {
            file: file.clone(),
            key,
            expected,
        })?;
        self.consumer_config()?;
        let topics: Vec<&str> = self.source.topics.iter().map(String::as_str).collect();
        crate::group::subscription::Subscribed::parse(&topics).map_err(|e| ConfigFileError {
            file,
            key: "source.topics".into(),
            expected: e.to_string(),
        })?;
        Ok(())
    }

    /// Checks the relations TOML types cannot express; `(key, what was expected)`.
    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, e: &str| Err((k.to_owned(), e.to_owned()));
        if self.source.topics.is_empty() || self.source.topics.iter().any(|t| t.is_empty()) {
            return bad(
                "source.topics",
                "at least one non-empty topic name or ^regex",
            );
        }
        match self.handler.kind {
            HandlerKind::Exec => {
                if self.handler.command.as_ref().is_none_or(|c| c.is_empty()) {
                    return bad(
                        "handler.command",
                        "kind = \"exec\" needs command = [\"program\", \"arg\", …]",
                    );
                }
            }
            HandlerKind::Http => match self.handler.url.as_deref() {
                None => {
                    return bad(
                        "handler.url",
                        "kind = \"http\" needs url = \"http://…\" or \"https://…\"",
                    );
                }
                Some(u) if !u.starts_with("http://") && !u.starts_with("https://") => {
                    return bad("handler.url", "an http:// or https:// URL");
                }
                Some(_) => {}
            },
            HandlerKind::Print => {}
        }
        if self.handler.max_in_flight == 0 {
            return bad("handler.max_in_flight", "at least 1");
        }
        if self.handler.timeout.is_zero() {
            return bad("handler.timeout", "a duration above zero, e.g. \"30s\"");
        }
        if self.retry.max_attempts == 0 {
            return bad(
                "retry.max_attempts",
                "at least 1 (the first attempt counts)",
            );
        }
        if self.retry.initial_backoff > self.retry.max_backoff {
            return bad("retry.initial_backoff", "at most retry.max_backoff");
        }
        if !(self.dlq.max_failure_ratio > 0.0 && self.dlq.max_failure_ratio <= 1.0) {
            return bad("dlq.max_failure_ratio", "a ratio above 0 and at most 1");
        }
        if self.dlq.min_failures == 0 {
            return bad("dlq.min_failures", "at least 1");
        }
        if self.dlq.topic.as_deref() == Some("") {
            return bad("dlq.topic", "a topic name");
        }
        if self.idempotency.capacity == 0 {
            return bad("idempotency.capacity", "at least 1");
        }
        if let Some(filter) = &self.log.filter
            && let Err(e) = tracing_subscriber::EnvFilter::try_new(filter)
        {
            return Err((
                "log.filter".to_owned(),
                format!(
                    "a tracing filter such as \"info\" or \"warn,rskafka_consumer=debug\": {e}"
                ),
            ));
        }
        for (i, rule) in self.alerts.iter().enumerate() {
            rule.validate()
                .map_err(|(field, e)| (format!("alerts[{i}].{field}"), e))?;
            if self.alerts[..i].iter().any(|r| r.name == rule.name) {
                return Err((
                    format!("alerts[{i}].name"),
                    format!("a unique name (`{}` is used twice)", rule.name),
                ));
            }
        }
        if let Some(url) = &self.alerting.webhook {
            crate::observe::webhook::check_url(url)
                .map_err(|e| ("alerting.webhook".to_owned(), e.to_string()))?;
        }
        Ok(())
    }

    /// The consumer configuration of `[kafka]`, with the runner's own commit settings.
    pub fn consumer_config(&self) -> Result<ConsumerConfig, ConfigFileError> {
        let fail = |key: &str, expected: String| ConfigFileError {
            file: PathBuf::from("<config>"),
            key: format!("kafka.\"{key}\""),
            expected,
        };
        let bootstrap = self
            .kafka
            .get("bootstrap.servers")
            .or_else(|| self.kafka.get("metadata.broker.list"))
            .ok_or_else(|| fail("bootstrap.servers", "is required".into()))?;
        let mut config = ConsumerConfig::new(&bootstrap.0)
            .map_err(|e| fail("bootstrap.servers", e.to_string()))?;
        for (name, KafkaValue(value)) in &self.kafka {
            match name.as_str() {
                "bootstrap.servers" | "metadata.broker.list" => {}
                "enable.auto.commit" => {
                    return Err(fail(
                        name,
                        "is not allowed: the runner commits each partition's finished prefix itself"
                            .into(),
                    ));
                }
                _ => config
                    .set(name, value)
                    .map_err(|e| fail(name, e.to_string()))?,
            }
        }
        if config.group.group_id.is_none() {
            return Err(fail(
                "group.id",
                "is required: the runner consumes as a group".into(),
            ));
        }
        config
            .set("enable.auto.commit", "false")
            .map_err(|e| fail("enable.auto.commit", e.to_string()))?;
        config
            .group
            .validate()
            .map_err(|e| fail("session.timeout.ms", e.to_string()))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RunnerConfig, ConfigFileError> {
        RunnerConfig::from_toml(text, Path::new("c.toml"))
    }

    const MINIMAL: &str = r#"
[kafka]
"bootstrap.servers" = "127.0.0.1:9092"
"group.id" = "g"
[source]
topics = ["orders"]
"#;

    #[test]
    fn a_minimal_file_gets_the_documented_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.handler, HandlerConfig::default());
        assert_eq!(c.handler.kind, HandlerKind::Print);
        assert_eq!(c.retry.max_attempts, 5);
        assert_eq!(c.retry.initial_backoff, Duration::from_millis(100));
        assert_eq!(c.retry.max_backoff, Duration::from_secs(30));
        assert_eq!(c.dlq.topic_for("orders"), "orders.dlq");
        assert_eq!(c.idempotency.store, StoreLocation::Memory);
        assert_eq!(c.shutdown.timeout, Duration::from_secs(25));
        let consumer = c.consumer_config().unwrap();
        assert!(!consumer.group.enable_auto_commit);
    }

    #[test]
    fn the_metrics_section_takes_a_listen_address_and_humantime_intervals() {
        assert_eq!(parse(MINIMAL).unwrap().metrics, MetricsConfig::default());
        let c = parse(&format!(
            "{MINIMAL}\n[metrics]\nlisten = \"0.0.0.0:9464\"\nlog_interval = \"30s\"\nready_grace = \"1m\"\n"
        ))
        .unwrap();
        assert_eq!(c.metrics.listen, Some("0.0.0.0:9464".parse().unwrap()));
        assert_eq!(c.metrics.log_interval, Duration::from_secs(30));
        assert_eq!(c.metrics.ready_grace, Duration::from_secs(60));
        let bad = parse(&format!("{MINIMAL}\n[metrics]\nlisten = \"nowhere\"\n")).unwrap_err();
        assert!(bad.key.contains("metrics.listen"), "{bad}");
    }

    #[test]
    fn kafka_values_may_be_strings_integers_or_booleans() {
        let c = parse(&format!("{MINIMAL}\n[handler]\ntimeout = \"250ms\"\n",)).unwrap();
        assert_eq!(c.handler.timeout, Duration::from_millis(250));
        let text = MINIMAL.replace(
            "\"group.id\" = \"g\"",
            "\"group.id\" = \"g\"\n\"session.timeout.ms\" = 6000\n\"enable.partition.eof\" = true",
        );
        let consumer = parse(&text).unwrap().consumer_config().unwrap();
        assert_eq!(consumer.group.session_timeout, Duration::from_secs(6));
        assert!(consumer.enable_partition_eof);
    }

    #[test]
    fn errors_name_the_file_the_key_and_what_was_expected() {
        let e = parse(&format!("{MINIMAL}\n[retry]\nmax_attempts = \"many\"\n")).unwrap_err();
        assert_eq!(e.key, "retry.max_attempts");
        assert!(
            e.to_string().starts_with("c.toml: `retry.max_attempts`: "),
            "{e}"
        );
        assert!(e.expected.contains("u32"), "{e}");

        let e = parse(&format!("{MINIMAL}\n[retry]\nmax_atempts = 3\n")).unwrap_err();
        assert!(e.expected.contains("max_atempts"), "{e}");

        let e = parse(&format!("{MINIMAL}\n[handler]\nordering = \"random\"\n")).unwrap_err();
        assert_eq!(e.key, "handler.ordering");
        assert!(e.expected.contains("partition"), "{e}");

        let e = parse(&format!("{MINIMAL}\n[handler]\ntimeout = \"soon\"\n")).unwrap_err();
        assert_eq!(e.key, "handler.timeout");

        let e = parse(&format!("{MINIMAL}\n[handler]\nkind = \"exec\"\n")).unwrap_err();
        assert_eq!(e.key, "handler.command");

        let e = parse(&format!("{MINIMAL}\n[idempotency]\nkey = \"value\"\n")).unwrap_err();
        assert_eq!(e.key, "idempotency.key");

        let e = parse("[kafka\n").unwrap_err();
        assert!(e.to_string().starts_with("c.toml: "), "{e}");
    }

    #[test]
    fn kafka_properties_are_checked_and_auto_commit_is_refused() {
        let e = parse(&MINIMAL.replace(
            "\"group.id\" = \"g\"",
            "\"group.id\" = \"g\"\n\"enable.auto.commit\" = \"false\"",
        ))
        .unwrap_err();
        assert_eq!(e.key, "kafka.\"enable.auto.commit\"");
        assert_eq!(e.file, PathBuf::from("c.toml"));
        assert!(e.expected.contains("runner commits"), "{e}");

        let e = parse(&MINIMAL.replace(
            "\"group.id\" = \"g\"",
            "\"group.id\" = \"g\"\n\"session.timeout.ms\" = \"soon\"",
        ))
        .unwrap_err();
        assert_eq!(e.key, "kafka.\"session.timeout.ms\"");

        let e = parse(&MINIMAL.replace("\"group.id\" = \"g\"", "\"no.such\" = \"1\"")).unwrap_err();
        assert_eq!(e.key, "kafka.\"no.such\"");

        let e = parse(&MINIMAL.replace("\"group.id\" = \"g\"", "")).unwrap_err();
        assert_eq!(e.key, "kafka.\"group.id\"");
    }

    #[test]
    fn http_handler_urls_are_http_or_https() {
        let with_url = |url: &str| {
            parse(&format!(
                "{MINIMAL}\n[handler]\nkind = \"http\"\nurl = \"{url}\"\n"
            ))
        };
        assert!(with_url("http://127.0.0.1:8080/orders").is_ok());
        assert!(with_url("https://orders.internal/ingest").is_ok());
        let e = with_url("ftp://orders.internal/").unwrap_err();
        assert_eq!(e.key, "handler.url");
        assert!(e.expected.contains("https://"), "{e}");
    }

    #[test]
    fn alert_rules_and_the_webhook_are_read_and_checked_naming_the_key() {
        use crate::observe::alerts::{AlertKind, Severity};
        assert!(parse(MINIMAL).unwrap().alerts.is_empty());
        let c = parse(&format!(
            r#"{MINIMAL}
[[alerts]]
name = "lagging"
kind = "lag"
threshold = 1000
for = "2m"
severity = "critical"
[[alerts]]
name = "dead letters"
kind = "dlq_records"
threshold = 5.5
window = "10m"
[alerting]
webhook = "https://hooks.example.com/rkc"
"#
        ))
        .unwrap();
        assert_eq!(c.alerts.len(), 2);
        assert_eq!(c.alerts[0].kind, AlertKind::Lag);
        assert_eq!(c.alerts[0].threshold, Some(1000.0));
        assert_eq!(c.alerts[0].hold, Duration::from_secs(120));
        assert_eq!(c.alerts[0].severity, Severity::Critical);
        assert_eq!(c.alerts[1].severity, Severity::Warning);
        assert_eq!(c.alerts[1].window(), Duration::from_secs(600));
        assert_eq!(
            c.alerting.webhook.as_deref(),
            Some("https://hooks.example.com/rkc")
        );
        // Serialize round trip (configs are compared through serde).
        let back: Vec<AlertRule> =
            serde_json::from_value(serde_json::to_value(&c.alerts).unwrap()).unwrap();
        assert_eq!(back, c.alerts);

        let rule = |body: &str| parse(&format!("{MINIMAL}\n[[alerts]]\n{body}\n")).unwrap_err();
        let e = rule("name = \"a\"\nkind = \"lag\"");
        assert_eq!(e.key, "alerts[0].threshold", "{e}");
        let e = rule("name = \"a\"\nkind = \"lagg\"\nthreshold = 1");
        assert_eq!(e.key, "alerts[0].kind", "{e}");
        assert!(e.expected.contains("no_progress"), "{e}");
        let e = rule("name = \"a\"\nkind = \"lag\"\nthreshold = 1\nfor = \"soon\"");
        assert_eq!(e.key, "alerts[0].for", "{e}");
        let e = rule("name = \"a\"\nkind = \"lag\"\nthreshold = 1\nseverity = \"page\"");
        assert_eq!(e.key, "alerts[0].severity", "{e}");
        let e = rule("name = \"a\"\nkind = \"lag\"\nthreshold = 1\nthreshhold = 2");
        assert!(e.expected.contains("threshhold"), "{e}");
        let e = rule("name = \"a\"\nkind = \"circuit_open\"\nwindow = \"1m\"");
        assert_eq!(e.key, "alerts[0].window", "{e}");
        let e = rule(
            "name = \"a\"\nkind = \"circuit_open\"\n[[alerts]]\nname = \"a\"\nkind = \"not_in_group\"",
        );
        assert_eq!(e.key, "alerts[1].name", "{e}");
        let e = parse(&format!("{MINIMAL}\n[alerting]\nwebhook = \"ftp://x\"\n")).unwrap_err();
        assert_eq!(e.key, "alerting.webhook", "{e}");
        let e = parse(&format!("{MINIMAL}\n[alerting]\nwebhok = \"http://x\"\n")).unwrap_err();
        assert!(e.expected.contains("webhok"), "{e}");
    }

    #[test]
    fn the_shipped_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/consumer.toml");
        RunnerConfig::load(&path).unwrap();
    }

    #[test]
    fn a_configuration_serializes_back_into_the_same_settings() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/consumer.toml");
        let mut c = RunnerConfig::load(&path).unwrap();
        c.log.filter = Some("info".into());
        c.idempotency.key = IdentityKind::Header("event-id".into());
        c.idempotency.store = StoreLocation::File("/var/lib/rkc/done.redb".into());
        c.handler.command = Some(vec!["/app/run".into(), "--strict".into()]);
        let json = serde_json::to_value(&c).unwrap();
        let back: RunnerConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
    }
}
