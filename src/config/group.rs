//! Consumer-group properties: membership timeouts, assignment strategy, offset commit.

use std::time::Duration;

use super::{
    ConfigError,
    values::{invalid_value, millis, non_empty},
};

/// Properties of a consumer that joins a group (librdkafka names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.id`: the group to join. Without it the consumer only takes explicit assignments.
    pub group_id: Option<String>,
    /// `group.instance.id`: static membership (KIP-345): no LeaveGroup on close, and a restart
    /// within the session timeout keeps the assignment without a rebalance.
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`, default 45 s.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`, default 3 s.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`, default 300 s: a member whose application does not poll for
    /// this long leaves the group.
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy`: assignor names in preference order, default
    /// `range,roundrobin` (librdkafka's).
    pub assignment_strategy: Vec<String>,
    /// `enable.auto.commit`, default true.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`, default 5 s.
    pub auto_commit_interval: Duration,
    /// `enable.auto.offset.store`, default true: the offset of each message handed to the
    /// application is stored for the next commit.
    pub enable_auto_offset_store: bool,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            group_id: None,
            group_instance_id: None,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            assignment_strategy: vec!["range".into(), "roundrobin".into()],
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            enable_auto_offset_store: true,
        }
    }
}

/// Assignors this crate implements, by their protocol names.
pub const KNOWN_ASSIGNORS: [&str; 3] = ["range", "roundrobin", "cooperative-sticky"];

impl GroupConfig {
    /// Sets one property; [`ConfigError::UnknownProperty`] for names this struct does not own.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        match name {
            "group.id" => self.group_id = Some(non_empty(name, value)?),
            "group.instance.id" => self.group_instance_id = Some(non_empty(name, value)?),
            "session.timeout.ms" => self.session_timeout = millis(name, value, 1, 3_600_000)?,
            "heartbeat.interval.ms" => self.heartbeat_interval = millis(name, value, 1, 3_600_000)?,
            "max.poll.interval.ms" => self.max_poll_interval = millis(name, value, 1, 86_400_000)?,
            "partition.assignment.strategy" => {
                let names: Vec<String> = value
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                check_strategies(&names)?;
                self.assignment_strategy = names;
            }
            "enable.auto.commit" => self.enable_auto_commit = boolean(name, value)?,
            "auto.commit.interval.ms" => {
                self.auto_commit_interval = millis(name, value, 1, 86_400_000)?
            }
            "enable.auto.offset.store" => self.enable_auto_offset_store = boolean(name, value)?,
            _ => {
                return Err(ConfigError::UnknownProperty {
                    name: name.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Checks relations between properties (librdkafka's rules), and the assignor list
    /// however it was set (through [`GroupConfig::set`] or the public field).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_strategies(&self.assignment_strategy)?;
        if self.group_id.is_some() && self.heartbeat_interval >= self.session_timeout {
            return Err(invalid_value(
                "heartbeat.interval.ms",
                &self.heartbeat_interval.as_millis().to_string(),
                "must be lower than session.timeout.ms",
            ));
        }
        Ok(())
    }
}

/// `partition.assignment.strategy`: at least one known assignor, and cooperative-sticky not
/// mixed with the eager ones.
fn check_strategies(names: &[String]) -> Result<(), ConfigError> {
    const NAME: &str = "partition.assignment.strategy";
    let value = names.join(",");
    if names.is_empty() {
        return Err(invalid_value(
            NAME,
            &value,
            "at least one assignor is required",
        ));
    }
    if let Some(bad) = names
        .iter()
        .find(|n| !KNOWN_ASSIGNORS.contains(&n.as_str()))
    {
        return Err(invalid_value(
            NAME,
            &value,
            format!("unknown assignor `{bad}`; known: range, roundrobin, cooperative-sticky"),
        ));
    }
    let cooperative = names.iter().filter(|n| *n == "cooperative-sticky").count();
    if cooperative > 0 && cooperative != names.len() {
        return Err(invalid_value(
            NAME,
            &value,
            "cooperative-sticky cannot be mixed with eager assignors",
        ));
    }
    Ok(())
}

/// `true`/`false` (also `1`/`0`).
pub(crate) fn boolean(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(invalid_value(name, value, "expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_lists_are_validated() {
        let mut g = GroupConfig::default();
        g.set("partition.assignment.strategy", "roundrobin, range")
            .unwrap();
        assert_eq!(g.assignment_strategy, ["roundrobin", "range"]);
        assert!(
            g.set("partition.assignment.strategy", "sticky-ish")
                .is_err()
        );
        assert!(
            g.set("partition.assignment.strategy", "range,cooperative-sticky")
                .is_err()
        );
        g.set("partition.assignment.strategy", "cooperative-sticky")
            .unwrap();
    }

    #[test]
    fn heartbeat_must_be_below_session_timeout() {
        let mut g = GroupConfig::default();
        g.set("group.id", "g").unwrap();
        g.set("session.timeout.ms", "6000").unwrap();
        g.set("heartbeat.interval.ms", "6000").unwrap();
        assert!(g.validate().is_err());
        g.set("heartbeat.interval.ms", "2000").unwrap();
        g.validate().unwrap();
    }
}
