//! What changed between the running [`RunnerConfig`] and a new one, and how each change can
//! be applied: live, by a new group membership, or only by a restart.
//!
//! Invariants:
//! - Every setting is compared, whatever section it is in: both configurations are turned into
//!   their serialized form and compared leaf by leaf, so a section added later is never
//!   silently ignored — a key this module does not know is classified [`Apply::Restart`]
//!   (kept at its running value) until [`classify`] says otherwise.
//! - Secret values ([`is_secret`]: passwords, private keys, OAuth client secrets, tokens,
//!   webhooks) never appear in a [`Change`]: a changed secret shows as `<redacted>` on both
//!   sides, also inside tables (`[[alerts]]`), and a URL's password is hidden.
//! - [`ConfigDiff::effective`] is the configuration that runs after the reload: the new one,
//!   with every restart-only setting kept at its running value.
//!
//! The classification, in one place ([`classify`]):
//!
//! | setting | applied |
//! |---|---|
//! | `retry.*`, `handler.timeout`, `handler.max_in_flight`, `shutdown.*`, `log.filter`, `[dlq]` (breaker; topic, header style and compression when the sink takes them), `kafka."fetch.min.bytes"`, `"fetch.max.bytes"`, `"fetch.wait.max.ms"`, `"queued.max.messages.kbytes"`, `[[alerts]]` | live |
//! | `kafka."group.id"`, `source.topics`, `kafka."partition.assignment.strategy"`, `handler.ordering`, every other consumer property in `[kafka]` | a new membership (commit, leave, rejoin) |
//! | `kafka."bootstrap.servers"`, `security.protocol`, `ssl.*`, `sasl.*`, `https.*`, `handler.kind`/`command`/`url`, `[idempotency]`, `metrics.listen`, `[alerting]` | restart (ignored) |

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::RunnerConfig;

/// How a changed setting takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Apply {
    /// At once, without a restart or a rebalance.
    Live,
    /// By a clean commit, leave and rejoin with the new configuration.
    Rejoin,
    /// Only by restarting the process: ignored, the running value stays.
    Restart,
}

impl Apply {
    /// The name in the `config_reloaded` event: `live`, `rejoin` or `restart_required`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Rejoin => "rejoin",
            Self::Restart => "restart_required",
        }
    }
}

/// One changed setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The setting as a dotted path, as configuration errors name it (`retry.max_attempts`,
    /// `kafka."group.id"`).
    pub key: String,
    /// The running value (`null` when it was not set; `"<redacted>"` for a secret).
    pub old: Value,
    /// The new value (`null` when removed; `"<redacted>"` for a secret).
    pub new: Value,
    /// How it is applied.
    pub apply: Apply,
    /// The path of the setting in the serialized configuration.
    path: Vec<String>,
}

impl Change {
    /// The change as a JSON object (`{"key","old","new","applied"}`).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "applied": self.apply.name(),
        })
    }
}

/// The changed settings between two configurations, in key order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigDiff {
    /// Every changed setting.
    pub changes: Vec<Change>,
}

/// The value shown for a changed secret.
pub const REDACTED: &str = "<redacted>";

impl ConfigDiff {
    /// Compares `running` with `new`.
    pub fn between(running: &RunnerConfig, new: &RunnerConfig) -> Self {
        let (mut old_leaves, mut new_leaves) = (BTreeMap::new(), BTreeMap::new());
        flatten(&serialized(running), &mut Vec::new(), &mut old_leaves);
        flatten(&serialized(new), &mut Vec::new(), &mut new_leaves);
        let mut paths: Vec<&Vec<String>> = old_leaves.keys().chain(new_leaves.keys()).collect();
        paths.sort();
        paths.dedup();
        let changes = paths
            .into_iter()
            .filter_map(|path| {
                let old = old_leaves.get(path).cloned().unwrap_or(Value::Null);
                let new = new_leaves.get(path).cloned().unwrap_or(Value::Null);
                if old == new {
                    return None;
                }
                let secret = is_secret(path);
                let shown = |v: Value| {
                    if secret && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redacted(v)
                    }
                };
                Some(Change {
                    key: key_of(path),
                    old: shown(old),
                    new: shown(new),
                    apply: classify(path),
                    path: path.clone(),
                })
            })
            .collect();
        Self { changes }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether some change needs a new group membership.
    pub fn needs_rejoin(&self) -> bool {
        self.changes.iter().any(|c| c.apply == Apply::Rejoin)
    }

    /// The settings that only a restart applies (ignored by this reload).
    pub fn restart_keys(&self) -> Vec<&str> {
        self.changes
            .iter()
            .filter(|c| c.apply == Apply::Restart)
            .map(|c| c.key.as_str())
            .collect()
    }

    /// Marks `key` as needing a restart (a part of the runner that cannot take it live).
    pub(crate) fn demote(&mut self, key: &str) {
        for c in &mut self.changes {
            if c.key == key {
                c.apply = Apply::Restart;
            }
        }
    }

    /// The configuration that runs after this reload: `new` with every [`Apply::Restart`]
    /// setting kept at its value in `running`.
    pub fn effective(&self, running: &RunnerConfig, new: &RunnerConfig) -> RunnerConfig {
        if !self.changes.iter().any(|c| c.apply == Apply::Restart) {
            return new.clone();
        }
        let old = serialized(running);
        let mut merged = serialized(new);
        for c in self.changes.iter().filter(|c| c.apply == Apply::Restart) {
            restore(&mut merged, &old, &c.path);
        }
        serde_json::from_value(merged).unwrap_or_else(|e| {
            // Both inputs were valid configurations and only whole leaves moved between them;
            // should that ever fail, running on unchanged is the safe answer.
            tracing::error!(error = %e, "config reload: cannot merge the kept settings; nothing changes");
            running.clone()
        })
    }
}

/// How a change of the setting at `path` is applied. The one place that decides it: a new
/// reloadable setting (alert rules, metrics) adds its arm here.
pub fn classify(path: &[String]) -> Apply {
    let first = path.first().map(String::as_str).unwrap_or_default();
    let second = path.get(1).map(String::as_str).unwrap_or_default();
    match first {
        "kafka" => kafka_property(second),
        "source" => Apply::Rejoin,
        "handler" => match second {
            "timeout" | "max_in_flight" => Apply::Live,
            // Lanes are per partition and built when it is assigned.
            "ordering" => Apply::Rejoin,
            // kind, command, url: the handler is built once, by its owner.
            _ => Apply::Restart,
        },
        "retry" | "dlq" | "shutdown" | "log" => Apply::Live,
        // `[[alerts]]`: the evaluator takes new rules from a reload observer (`rkc run`);
        // `[alerting]` (the webhook) is set up once.
        "alerts" => Apply::Live,
        "alerting" => Apply::Restart,
        // `[metrics] listen`: the HTTP listener is bound once. Other `[metrics]` keys become
        // live when their owner applies them in a reload observer (add them here then).
        "metrics" => Apply::Restart,
        // The store is opened once (a file, or an in-memory LRU that must not be lost).
        "idempotency" => Apply::Restart,
        _ => Apply::Restart,
    }
}

/// How a change of the `[kafka]` property `name` is applied.
fn kafka_property(name: &str) -> Apply {
    match name {
        "bootstrap.servers"
        | "metadata.broker.list"
        | "security.protocol"
        | "enable.ssl.certificate.verification"
        | "enable.sasl.oauthbearer.unsecure.jwt" => Apply::Restart,
        n if n.starts_with("ssl.") || n.starts_with("sasl.") || n.starts_with("https.") => {
            Apply::Restart
        }
        "fetch.min.bytes"
        | "fetch.max.bytes"
        | "fetch.wait.max.ms"
        | "queued.max.messages.kbytes" => Apply::Live,
        // group.id, partition.assignment.strategy, session and poll timeouts, isolation,
        // offset reset, client.id…: the consumer is rebuilt with them.
        _ => Apply::Rejoin,
    }
}

/// Whether the setting at `path` holds a secret, never shown.
pub fn is_secret(path: &[String]) -> bool {
    path.iter().any(|segment| {
        let s = segment.to_ascii_lowercase();
        s.contains("password")
            || s.contains("secret")
            || s.ends_with("key.pem")
            || s == "sasl.oauthbearer.config"
            || s.contains("webhook")
            || s.contains("authorization")
            || s.contains("token") && !s.contains("url")
    })
}

/// `value` with every secret inside it hidden: values of secret-named keys in nested tables
/// (`[[alerts]] webhook = …`) and the password of a URL (`http://user:pw@host`).
fn redacted(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if is_secret(std::slice::from_ref(&k)) && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redacted(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redacted).collect()),
        Value::String(s) => Value::String(without_url_password(s)),
        other => other,
    }
}

/// `scheme://user:password@host…` → `scheme://user:<redacted>@host…`; anything else as is.
fn without_url_password(s: String) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!(
                "{scheme}://{user}:{REDACTED}@{}",
                &rest[userinfo.len() + 1..]
            )
        }
        _ => s,
    }
}

fn serialized(config: &RunnerConfig) -> Value {
    serde_json::to_value(config).expect("a RunnerConfig serializes to JSON")
}

/// Every leaf (a scalar, an array, or an empty object) of `value` by its path.
fn flatten(value: &Value, path: &mut Vec<String>, out: &mut BTreeMap<Vec<String>, Value>) {
    match value {
        // `[kafka]` is a flat map of properties: every property is a leaf, dots and all.
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                path.push(k.clone());
                flatten(v, path, out);
                path.pop();
            }
        }
        other => {
            out.insert(path.clone(), other.clone());
        }
    }
}

/// Puts the value at `path` in `old` (or its absence) into `merged`.
fn restore(merged: &mut Value, old: &Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut target = merged;
    let mut source = Some(old);
    for p in parents {
        source = source.and_then(|s| s.get(p));
        if !target.get(p).is_some_and(Value::is_object) {
            target[p.as_str()] = Value::Object(Map::new());
        }
        target = target.get_mut(p).expect("just made an object");
    }
    let Value::Object(map) = target else {
        return;
    };
    match source.and_then(|s| s.get(last)) {
        Some(v) => {
            map.insert(last.clone(), v.clone());
        }
        None => {
            map.remove(last);
        }
    }
}

/// `retry.max_attempts`, `kafka."group.id"`: segments with dots are quoted.
fn key_of(path: &[String]) -> String {
    path.iter()
        .map(|s| {
            if s.contains('.') {
                format!("\"{s}\"")
            } else {
                s.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"
[kafka]
"bootstrap.servers" = "127.0.0.1:9092"
"group.id" = "g"
"sasl.password" = "hunter2"
[source]
topics = ["orders"]
"#;

    fn parse(text: &str) -> RunnerConfig {
        RunnerConfig::from_toml(text, Path::new("c.toml")).unwrap()
    }

    fn with(extra: &str) -> RunnerConfig {
        parse(&format!("{BASE}\n{extra}"))
    }

    fn kinds(diff: &ConfigDiff) -> Vec<(&str, Apply)> {
        diff.changes
            .iter()
            .map(|c| (c.key.as_str(), c.apply))
            .collect()
    }

    #[test]
    fn identical_configurations_have_no_changes() {
        let d = ConfigDiff::between(&with(""), &with(""));
        assert!(d.is_empty());
        // Defaults written out are the same settings.
        let d = ConfigDiff::between(&with(""), &with("[retry]\nmax_attempts = 5\n"));
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn retry_handler_limits_dlq_log_and_fetch_tuning_apply_live() {
        let old = with("");
        let new = parse(
            &format!(
                "{BASE}\n[retry]\nmax_attempts = 2\ninitial_backoff = \"1s\"\n[handler]\ntimeout = \"5s\"\nmax_in_flight = 4\n[dlq]\ncooldown = \"5s\"\ntopic = \"x.dlq\"\n[log]\nfilter = \"debug\"\n[shutdown]\ntimeout = \"3s\"\n"
            )
            .replace(
                "\"group.id\" = \"g\"",
                "\"group.id\" = \"g\"\n\"fetch.wait.max.ms\" = 100\n\"queued.max.messages.kbytes\" = 1024",
            ),
        );
        let d = ConfigDiff::between(&old, &new);
        assert!(!d.needs_rejoin());
        assert!(d.restart_keys().is_empty());
        let keys: Vec<&str> = kinds(&d).iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "dlq.cooldown",
                "dlq.topic",
                "handler.max_in_flight",
                "handler.timeout",
                "kafka.\"fetch.wait.max.ms\"",
                "kafka.\"queued.max.messages.kbytes\"",
                "log.filter",
                "retry.initial_backoff",
                "retry.max_attempts",
                "shutdown.timeout",
            ]
        );
        assert!(d.changes.iter().all(|c| c.apply == Apply::Live));
        let retry = &d.changes[8];
        assert_eq!((retry.old.clone(), retry.new.clone()), (5.into(), 2.into()));
        assert_eq!(d.changes[3].new, "5s");
        assert_eq!(d.effective(&old, &new), new);
    }

    #[test]
    fn group_topics_strategy_and_ordering_need_a_new_membership() {
        let old = with("");
        let new = parse(
            &(BASE
                .replace("\"group.id\" = \"g\"", "\"group.id\" = \"h\"\n\"partition.assignment.strategy\" = \"cooperative-sticky\"\n\"session.timeout.ms\" = 6000")
                .replace("[\"orders\"]", "[\"orders\", \"^audit-.*\"]")
                + "[handler]\nordering = \"key\"\n"),
        );
        let d = ConfigDiff::between(&old, &new);
        assert!(d.needs_rejoin());
        assert_eq!(
            kinds(&d),
            [
                ("handler.ordering", Apply::Rejoin),
                ("kafka.\"group.id\"", Apply::Rejoin),
                ("kafka.\"partition.assignment.strategy\"", Apply::Rejoin),
                ("kafka.\"session.timeout.ms\"", Apply::Rejoin),
                ("source.topics", Apply::Rejoin),
            ]
        );
        let topics = &d.changes[4];
        assert_eq!(topics.new, serde_json::json!(["orders", "^audit-.*"]));
    }

    #[test]
    fn bootstrap_security_handler_kind_and_idempotency_need_a_restart_and_keep_running_values() {
        let old = with("");
        let new = parse(
            &(BASE
                .replace("127.0.0.1:9092", "10.0.0.1:9092")
                .replace("hunter2", "correct-horse")
                .replace(
                    "\"group.id\" = \"g\"",
                    "\"group.id\" = \"g\"\n\"security.protocol\" = \"sasl_plaintext\"",
                )
                + "[handler]\nkind = \"exec\"\ncommand = [\"true\"]\n[idempotency]\ncapacity = 5\n[retry]\nmax_attempts = 3\n"),
        );
        let d = ConfigDiff::between(&old, &new);
        assert_eq!(
            d.restart_keys(),
            [
                "handler.command",
                "handler.kind",
                "idempotency.capacity",
                "kafka.\"bootstrap.servers\"",
                "kafka.\"sasl.password\"",
                "kafka.\"security.protocol\"",
            ]
        );
        let effective = d.effective(&old, &new);
        assert_eq!(effective.kafka["bootstrap.servers"].0, "127.0.0.1:9092");
        assert_eq!(effective.kafka["sasl.password"].0, "hunter2");
        assert!(!effective.kafka.contains_key("security.protocol"));
        assert_eq!(effective.handler, old.handler);
        assert_eq!(effective.idempotency, old.idempotency);
        assert_eq!(effective.retry.max_attempts, 3, "live settings still move");
    }

    #[test]
    fn secrets_are_never_shown() {
        let old = with("");
        let new = parse(&BASE.replace("hunter2", "correct-horse").replace(
            "\"group.id\" = \"g\"",
            "\"group.id\" = \"g\"\n\"sasl.oauthbearer.client.secret\" = \"s3cr3t\"\n\"ssl.key.pem\" = \"-----BEGIN PRIVATE KEY-----\"",
        ));
        let d = ConfigDiff::between(&old, &new);
        let shown =
            serde_json::to_string(&d.changes.iter().map(Change::to_json).collect::<Vec<_>>())
                .unwrap();
        for secret in ["hunter2", "correct-horse", "s3cr3t", "PRIVATE"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(d.changes.len(), 3, "{shown}");
        let password = d
            .changes
            .iter()
            .find(|c| c.key.contains("sasl.password"))
            .unwrap();
        assert_eq!(password.old, REDACTED);
        assert_eq!(password.new, REDACTED);
        let added = d
            .changes
            .iter()
            .find(|c| c.key.contains("client.secret"))
            .unwrap();
        assert_eq!(
            added.old,
            Value::Null,
            "an added secret shows it was not set"
        );
        assert_eq!(added.new, REDACTED);
        assert!(!format!("{d:?}").contains("hunter2"));
    }

    #[test]
    fn secrets_inside_tables_and_urls_are_never_shown() {
        let v = redacted(serde_json::json!([
            {"name": "lag", "webhook": "https://hooks.example.com/T0/B0/XyZsecret", "for": "5m"},
            {"url": "http://ops:pa55@alerts.internal:8080/hook?x=1", "auth": {"token": "t0k"}},
        ]));
        let shown = v.to_string();
        for secret in ["XyZsecret", "pa55", "t0k"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(v[0]["for"], "5m");
        assert_eq!(
            v[1]["url"],
            "http://ops:<redacted>@alerts.internal:8080/hook?x=1"
        );
        assert_eq!(
            without_url_password("http://127.0.0.1:8080/orders".into()),
            "http://127.0.0.1:8080/orders"
        );
    }

    #[test]
    fn unknown_sections_are_restart_only_until_classified() {
        let path = |s: &str| s.split('/').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(classify(&path("metrics/listen")), Apply::Restart);
        assert_eq!(classify(&path("somethingnew/x")), Apply::Restart);
        assert_eq!(classify(&path("alerts")), Apply::Live);
        assert_eq!(classify(&path("alerting/webhook")), Apply::Restart);
        assert_eq!(classify(&path("kafka/https.ca.location")), Apply::Restart);
        assert_eq!(classify(&path("kafka/fetch.min.bytes")), Apply::Live);
        assert_eq!(classify(&path("kafka/isolation.level")), Apply::Rejoin);
        assert!(is_secret(&path("kafka/ssl.key.password")));
        assert!(!is_secret(&path(
            "kafka/sasl.oauthbearer.token.endpoint.url"
        )));
        assert!(!is_secret(&path("kafka/sasl.username")));
    }
}
