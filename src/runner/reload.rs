//! Changing a running runner's configuration: [`RunnerHandle::update_config`].
//!
//! Invariants:
//! - A new configuration is checked completely ([`RunnerConfig::check`]) before anything
//!   changes; an invalid one is rejected with [`ReloadError::Invalid`], logged, reported as a
//!   `config_rejected` event, and the running configuration stays as it was.
//! - A reload is applied by the runner's own loop, between two rounds: no message starts
//!   while it is applied, and settings never change halfway through a decision. Once a
//!   shutdown began, reloads are refused ([`ReloadError::NotRunning`]).
//! - Live settings ([`Apply::Live`]) change without a rebalance: the group generation and the
//!   assignment stay. A setting that needs a new membership ([`Apply::Rejoin`]) is applied by
//!   connecting the new consumer first (if that fails nothing changes), then finishing the
//!   in-flight work of every held partition, committing its finished prefix, leaving the
//!   group and subscribing anew. Moving to another `group.id` carries the old group's
//!   committed offsets over to the new group for every partition the new group has none for,
//!   so nothing is skipped or processed twice by the move. Restart-only settings
//!   ([`Apply::Restart`]) keep their running values.
//! - Every accepted reload emits one `config_reloaded` event listing each change and how it
//!   was applied; secret values show as `<redacted>`.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{
    ConfigFileError, RunnerConfig, RunnerEvent, RunnerHandle,
    config_diff::{Apply, Change, ConfigDiff},
    engine::{Engine, group_id},
};
use crate::{Cluster, Consumer, TopicPartition, group::admin};

/// How long leaving the old group may take during a rejoin.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a reload changed, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadReport {
    /// Every changed setting with how it was applied (`Restart`: ignored, the running value
    /// stays until the process restarts).
    pub changes: Vec<Change>,
    /// Set when the reload moved the member to a new membership.
    pub rejoined: Option<Rejoined>,
}

/// A reload committed, left the group and joined again with the new configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejoined {
    /// The group left.
    pub left_group: String,
    /// The group joined (the same one when only the topics or the strategy changed).
    pub joined_group: String,
    /// Offsets copied from the left group to the joined one (partitions the joined group had
    /// no committed offset for).
    pub carried_over: Vec<(TopicPartition, i64)>,
    /// Why the offsets could not be carried over, if they could not (the joined group then
    /// starts where its own commits or `auto.offset.reset` say).
    pub carry_over_error: Option<String>,
}

impl ReloadReport {
    /// The settings this reload could not apply (they need a restart).
    pub fn restart_required(&self) -> Vec<&str> {
        self.changes
            .iter()
            .filter(|c| c.apply == Apply::Restart)
            .map(|c| c.key.as_str())
            .collect()
    }

    /// The `config_reloaded` event's JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "event": "config_reloaded",
            "changes": self.changes.iter().map(Change::to_json).collect::<Vec<_>>(),
            "restart_required": self.restart_required(),
        });
        if let Some(r) = &self.rejoined {
            v["rejoined"] = json!({
                "left_group": r.left_group,
                "joined_group": r.joined_group,
                "carried_over": r.carried_over.iter().map(|(tp, o)| {
                    json!({"topic": &*tp.topic, "partition": tp.partition, "offset": o})
                }).collect::<Vec<_>>(),
                "carry_over_error": r.carry_over_error,
            });
        }
        v
    }
}

/// Why a reload was not applied; the running configuration stays in every case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The new configuration is invalid (names the key and what was expected).
    #[error("the new configuration is rejected, the running one stays: {0}")]
    Invalid(#[from] ConfigFileError),
    /// A setting needs a new membership, and the consumer for it could not start.
    #[error("the new group membership could not start, the running configuration stays: {0}")]
    Rejoin(crate::Error),
    /// The runner has stopped or is shutting down.
    #[error("the runner is not running")]
    NotRunning,
}

/// Called after every accepted reload with the configuration now running and the report:
/// where parts outside the runner's loop take their settings live (`rkc run`'s log filter;
/// alert rules and metrics settings once they exist). Keep it quick.
pub type ReloadObserver = Arc<dyn Fn(&RunnerConfig, &ReloadReport) + Send + Sync>;

/// A reload on its way to the runner's loop.
pub(crate) struct ReloadRequest {
    config: RunnerConfig,
    reply: oneshot::Sender<Result<ReloadReport, ReloadError>>,
}

/// The loop's view of its configuration.
pub(crate) struct Reloading {
    /// The configuration running now.
    pub(crate) current: RunnerConfig,
    pub(crate) observers: Vec<ReloadObserver>,
}

impl RunnerHandle {
    /// Checks `config` completely and applies it to the running runner: live settings at
    /// once, membership settings by a clean commit/leave/rejoin, restart-only settings not at
    /// all (the report lists them). Emits a `config_reloaded` event (or `config_rejected`).
    ///
    /// A request made before [`super::Runner::run`] starts is applied when it starts.
    ///
    /// # Errors
    /// [`ReloadError::Invalid`] for an invalid configuration, [`ReloadError::Rejoin`] when the
    /// new membership cannot start, [`ReloadError::NotRunning`] after the runner stopped. The
    /// running configuration stays in every case.
    ///
    /// # Cancel safety
    /// Dropping the future does not withdraw a request already sent: it is still applied.
    pub async fn update_config(&self, config: RunnerConfig) -> Result<ReloadReport, ReloadError> {
        let (reply, answer) = oneshot::channel();
        self.reload_sender()
            .send(ReloadRequest { config, reply })
            .map_err(|_| ReloadError::NotRunning)?;
        answer.await.unwrap_or(Err(ReloadError::NotRunning))
    }
}

impl Engine {
    /// Applies one reload request; true when the consumer was replaced (a rejoin).
    pub(crate) async fn on_reload(&mut self, request: ReloadRequest) -> bool {
        if self.is_draining() {
            tracing::warn!("configuration reload ignored: the runner is shutting down");
            let _ = request.reply.send(Err(ReloadError::NotRunning));
            return false;
        }
        let result = self.reload(request.config).await;
        match &result {
            Ok(report) => {
                let keys: Vec<String> = report
                    .changes
                    .iter()
                    .map(|c| format!("{} ({})", c.key, c.apply.name()))
                    .collect();
                tracing::info!(changes = ?keys, "configuration reloaded");
                if !report.restart_required().is_empty() {
                    tracing::warn!(keys = ?report.restart_required(), "configuration reload: these settings need a restart; the running values stay");
                }
                self.emit(RunnerEvent::ConfigReloaded(report.clone()));
                for observer in &self.reload.observers {
                    observer(&self.reload.current, report);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "configuration reload rejected");
                self.emit(RunnerEvent::ConfigRejected {
                    error: e.to_string(),
                });
            }
        }
        let replaced = matches!(&result, Ok(r) if r.rejoined.is_some());
        let _ = request.reply.send(result);
        replaced
    }

    async fn reload(&mut self, new: RunnerConfig) -> Result<ReloadReport, ReloadError> {
        new.check()?;
        let running = self.reload.current.clone();
        let mut diff = ConfigDiff::between(&running, &new);
        let effective = diff.effective(&running, &new);
        let mut consumer_config = effective.consumer_config()?;
        // The observer (metrics, statistics) stays with the runner across a rejoin.
        consumer_config.hooks = self.consumer.config().hooks.clone();
        // Connect the new consumer before touching anything: if it cannot start, nothing
        // changes.
        let fresh = if diff.needs_rejoin() {
            Some(
                Consumer::new(consumer_config.clone())
                    .await
                    .map_err(ReloadError::Rejoin)?,
            )
        } else {
            None
        };

        // Live settings.
        let s = &mut self.settings;
        s.retry = effective.retry.policy();
        s.handler_timeout = effective.handler.timeout;
        s.max_in_flight = effective.handler.max_in_flight;
        s.shutdown_timeout = effective.shutdown.timeout;
        s.bytes_budget = consumer_config.queued_max_bytes;
        self.breaker.set_policy(effective.dlq.circuit());
        if fresh.is_none() {
            self.consumer
                .set_fetch_tuning(consumer_config.fetch_tuning());
        }
        const ROUTE: [&str; 3] = ["dlq.topic", "dlq.header_style", "dlq.compression"];
        if diff.changes.iter().any(|c| ROUTE.contains(&c.key.as_str())) {
            let taken = self
                .sink
                .as_ref()
                .is_some_and(|sink| sink.reconfigure(&effective.dlq));
            if !taken {
                for key in ROUTE {
                    diff.demote(key);
                }
            }
        }

        let rejoined = match fresh {
            Some(fresh) => Some(self.rejoin(fresh, &effective).await),
            None => None,
        };
        self.reload.current = diff.effective(&running, &new);
        Ok(ReloadReport {
            changes: diff.changes,
            rejoined,
        })
    }

    /// Moves to a new membership through `fresh` (connected, not yet subscribed).
    async fn rejoin(&mut self, fresh: Consumer, config: &RunnerConfig) -> Rejoined {
        let left_group = self.settings.group_id.clone();
        let joined_group = group_id(fresh.config());
        tracing::warn!(
            from = %left_group,
            to = %joined_group,
            "configuration reload: finishing in-flight messages, committing, leaving the group and rejoining with the new configuration"
        );
        let held = self.held_partitions();
        self.revoke(&held, true).await;
        if !held.is_empty() {
            self.emit(RunnerEvent::Revoked(held));
        }
        self.consumer.unsubscribe(LEAVE_TIMEOUT).await;

        let topics: Vec<&str> = config.source.topics.iter().map(String::as_str).collect();
        let (carried_over, carry_over_error) = if left_group == joined_group {
            (Vec::new(), None)
        } else {
            match carry_over(&fresh, &left_group, &joined_group, &topics).await {
                Ok(carried) => (carried, None),
                Err(e) => {
                    tracing::warn!(from = %left_group, to = %joined_group, error = %e, "configuration reload: the committed offsets could not be carried over to the new group; it starts at its own committed offsets or auto.offset.reset");
                    (Vec::new(), Some(e.to_string()))
                }
            }
        };
        if let Err(e) = fresh.subscribe(&topics) {
            // `check` parsed the topics already: this cannot fail for a subscription reason.
            tracing::error!(error = %e, "configuration reload: subscribing failed");
        }
        self.consumer = Arc::new(fresh);
        self.settings.group_id = joined_group.clone();
        self.settings.ordering = config.handler.ordering;
        Rejoined {
            left_group,
            joined_group,
            carried_over,
            carry_over_error,
        }
    }
}

/// Copies `from`'s committed offsets of the topics `topics` subscribes to into `to`, for every
/// partition `to` has no committed offset for. Runs before the member joins `to`: the
/// coordinator accepts such a commit only while `to` has no members.
async fn carry_over(
    consumer: &Consumer,
    from: &str,
    to: &str,
    topics: &[&str],
) -> crate::Result<Vec<(TopicPartition, i64)>> {
    let subscription = crate::group::subscription::Subscribed::parse(topics)?;
    let cluster = Cluster::connect(consumer.config().client.clone()).await?;
    let old: Vec<TopicPartition> = admin::group_lag(&cluster, from)
        .await?
        .into_iter()
        .filter(|p| p.committed.is_some() && subscription.matches(&p.topic))
        .map(|p| TopicPartition::new(p.topic.as_str(), p.partition))
        .collect();
    let old = admin::committed_offsets(&cluster, from, &old).await?;
    let held: Vec<TopicPartition> = old.iter().map(|(tp, _)| tp.clone()).collect();
    let new = admin::committed_offsets(&cluster, to, &held).await?;
    let copy: Vec<(TopicPartition, i64)> = old
        .into_iter()
        .zip(new)
        .filter_map(|((tp, old), (_, new))| old.filter(|_| new.is_none()).map(|o| (tp, o)))
        .collect();
    admin::commit_offsets(&cluster, to, &copy).await?;
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_config_reloaded_event_lists_each_change_and_never_a_secret() {
        let base = "[kafka]\n\"bootstrap.servers\" = \"a:1\"\n\"group.id\" = \"g\"\n\
                    \"sasl.password\" = \"old-pw\"\n[source]\ntopics = [\"t\"]\n";
        let old = RunnerConfig::from_toml(base, Path::new("c.toml")).unwrap();
        let new = RunnerConfig::from_toml(
            &base.replace("old-pw", "new-pw").replace("\"g\"", "\"h\""),
            Path::new("c.toml"),
        )
        .unwrap();
        let report = ReloadReport {
            changes: ConfigDiff::between(&old, &new).changes,
            rejoined: Some(Rejoined {
                left_group: "g".into(),
                joined_group: "h".into(),
                carried_over: vec![(TopicPartition::new("t", 0), 7)],
                carry_over_error: None,
            }),
        };
        assert_eq!(
            report.to_json().to_string(),
            r#"{"event":"config_reloaded","changes":[{"key":"kafka.\"group.id\"","old":"g","new":"h","applied":"rejoin"},{"key":"kafka.\"sasl.password\"","old":"<redacted>","new":"<redacted>","applied":"restart_required"}],"restart_required":["kafka.\"sasl.password\""],"rejoined":{"left_group":"g","joined_group":"h","carried_over":[{"topic":"t","partition":0,"offset":7}],"carry_over_error":null}}"#
        );
    }

    #[test]
    fn check_rejects_what_a_file_would_and_bad_topic_patterns() {
        let base = "[kafka]\n\"bootstrap.servers\" = \"a:1\"\n\"group.id\" = \"g\"\n\
                    [source]\ntopics = [\"t\"]\n";
        let good = RunnerConfig::from_toml(base, Path::new("c.toml")).unwrap();
        good.check().unwrap();
        let mut bad = good.clone();
        bad.handler.max_in_flight = 0;
        assert_eq!(bad.check().unwrap_err().key, "handler.max_in_flight");
        let mut bad = good.clone();
        bad.source.topics = vec!["^(unclosed".into()];
        assert_eq!(bad.check().unwrap_err().key, "source.topics");
        let mut bad = good.clone();
        bad.kafka.remove("group.id");
        assert_eq!(bad.check().unwrap_err().key, "kafka.\"group.id\"");
        let mut bad = good;
        bad.log.filter = Some("[[[".into());
        assert_eq!(bad.check().unwrap_err().key, "log.filter");
    }
}
