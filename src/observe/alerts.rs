//! Alert rules (`[[alerts]]` of `rkc run`) and their evaluator: pure logic over
//! [`Statistics`] snapshots and a clock the caller passes in, so every rule's state machine is
//! testable with a fake clock.
//!
//! Invariants:
//! - A rule is `Inactive`, `Pending` (its condition holds, not yet for `for`) or `Firing`;
//!   [`AlertEvaluator::evaluate`] reports exactly one [`AlertTransition`] when a rule starts
//!   firing and exactly one when a firing rule's condition clears — never one per tick, and
//!   nothing for a pending rule whose condition clears before `for`.
//! - Rates and windows are differences of the observer's totals between snapshots the
//!   evaluator saw (it keeps only the samples its longest window needs).
//! - The evaluator reads; it never touches the consumer. [`AlertBoard`] holds what is firing
//!   for the exposition (`rkc_alert_firing{alert="…"}`) and a status page.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{GroupState, Statistics};

pub use super::alert_board::AlertBoard;

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Consumer lag (sum over the assigned partitions, position against the end) above
    /// `threshold` records for `for`.
    Lag,
    /// Failed handler attempts (retryable, permanent, timeout, panic) per minute, measured
    /// over `window` (default 1 min), above `threshold`.
    HandlerErrorRate,
    /// Records written to the dead-letter topic within `window` (default 1 min) above
    /// `threshold`.
    DlqRecords,
    /// An assigned partition with records available (lag above 0) whose position has not
    /// moved for `for`.
    NoProgress,
    /// Not a stable member of the group with at least one partition, for `for`.
    NotInGroup,
    /// The dead-letter circuit breaker is open (or half-open) for `for`.
    CircuitOpen,
}

impl AlertKind {
    /// The name used in the configuration and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lag => "lag",
            Self::HandlerErrorRate => "handler_error_rate",
            Self::DlqRecords => "dlq_records",
            Self::NoProgress => "no_progress",
            Self::NotInGroup => "not_in_group",
            Self::CircuitOpen => "circuit_open",
        }
    }

    /// Whether the rule compares a value with `threshold`.
    fn takes_threshold(self) -> bool {
        matches!(self, Self::Lag | Self::HandlerErrorRate | Self::DlqRecords)
    }

    /// Whether the rule measures over `window`.
    fn takes_window(self) -> bool {
        matches!(self, Self::HandlerErrorRate | Self::DlqRecords)
    }
}

/// How loud a rule is: `warning` events are logged at WARN, `critical` at ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The default.
    #[default]
    Warning,
    /// Someone should act now.
    Critical,
}

impl Severity {
    /// `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// One `[[alerts]]` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Unique name; the `alert` label and the events' `alert` field.
    pub name: String,
    /// What the rule watches.
    pub kind: AlertKind,
    /// The value the rule fires above (`lag`: records; `handler_error_rate`: errors per
    /// minute; `dlq_records`: records in `window`). Not used by the other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// How long the condition must hold before the rule fires (default 0: at once).
    #[serde(rename = "for", default, with = "humantime_serde")]
    pub hold: Duration,
    /// The window of `handler_error_rate` and `dlq_records` (default 1 min).
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub window: Option<Duration>,
    /// `warning` (default) or `critical`.
    #[serde(default)]
    pub severity: Severity,
}

/// The default `window`.
const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

impl AlertRule {
    /// The window the rule measures over.
    pub fn window(&self) -> Duration {
        self.window.unwrap_or(DEFAULT_WINDOW)
    }

    /// Checks what TOML types cannot: `(field, what was expected)`.
    ///
    /// # Errors
    /// The first field that is missing, not used by the kind, or out of range.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let kind = self.kind.as_str();
        if self.name.trim().is_empty() {
            return Err(("name", "a non-empty name".into()));
        }
        match (self.kind.takes_threshold(), self.threshold) {
            (true, None) => {
                return Err(("threshold", format!("kind = \"{kind}\" needs a threshold")));
            }
            (true, Some(t)) if !(t.is_finite() && t >= 0.0) => {
                return Err(("threshold", "a finite number of at least 0".into()));
            }
            (false, Some(_)) => {
                return Err(("threshold", format!("not used by kind = \"{kind}\"")));
            }
            _ => {}
        }
        if let Some(w) = self.window {
            if !self.kind.takes_window() {
                return Err(("window", format!("not used by kind = \"{kind}\"")));
            }
            if w.is_zero() {
                return Err(("window", "a duration above zero, e.g. \"1m\"".into()));
            }
        }
        if self.kind == AlertKind::NoProgress && self.hold.is_zero() {
            return Err((
                "for",
                "kind = \"no_progress\" needs a duration above zero, e.g. \"5m\"".into(),
            ));
        }
        Ok(())
    }
}

/// `[alerting]`: where firing and resolved alerts are sent besides the log.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// `http://…` or `https://…`: each firing and resolved alert is POSTed here as JSON.
    pub webhook: Option<String>,
    /// For an `https://` webhook: a PEM file (or directory) with the CAs to trust instead of
    /// the system's.
    pub ca_location: Option<std::path::PathBuf>,
}

/// Whether an alert started or stopped firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The condition held for `for`.
    Firing,
    /// The condition of a firing alert cleared.
    Resolved,
}

/// A rule that started or stopped firing.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertTransition {
    /// The rule's name.
    pub alert: String,
    /// The rule's kind.
    pub kind: AlertKind,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// The rule's severity.
    pub severity: Severity,
    /// The measured value (records, errors per minute, DLQ records in the window, seconds
    /// without progress or without an assignment, 1 for an open circuit).
    pub value: f64,
    /// What it was compared with (for the duration kinds: `for` in seconds).
    pub threshold: f64,
    /// When the condition started to hold (Unix milliseconds).
    pub since_ms: u64,
    /// The group, when there is one.
    pub group: Option<String>,
}

impl AlertTransition {
    /// The JSON event line `rkc run` prints (and the webhook payload):
    /// `{"event":"alert_firing"|"alert_resolved","alert":…,"kind":…,"severity":…,
    /// "value":…,"threshold":…,"since":"<RFC 3339>","group":…}`.
    pub fn to_json(&self) -> Value {
        let event = match self.status {
            AlertStatus::Firing => "alert_firing",
            AlertStatus::Resolved => "alert_resolved",
        };
        let since = SystemTime::UNIX_EPOCH + Duration::from_millis(self.since_ms);
        json!({
            "event": event,
            "alert": self.alert,
            "kind": self.kind.as_str(),
            "severity": self.severity.as_str(),
            "value": self.value,
            "threshold": self.threshold,
            "since": humantime::format_rfc3339_millis(since).to_string(),
            "group": self.group,
        })
    }

    /// Logs the transition once through `tracing` (target `rkc::alerts`): WARN for a
    /// warning, ERROR for a critical rule.
    pub fn log(&self) {
        let status = match self.status {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        };
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: "rkc::alerts",
                    $level,
                    alert = %self.alert,
                    kind = self.kind.as_str(),
                    severity = self.severity.as_str(),
                    value = self.value,
                    threshold = self.threshold,
                    since_ms = self.since_ms,
                    "alert {} {status}: {} {} (threshold {})",
                    self.alert, self.kind.as_str(), self.value, self.threshold
                )
            };
        }
        match self.severity {
            Severity::Warning => event!(tracing::Level::WARN),
            Severity::Critical => event!(tracing::Level::ERROR),
        }
    }
}

/// Where one rule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleState {
    /// The condition does not hold.
    Inactive,
    /// The condition holds since `since`, not yet for `for`.
    Pending {
        /// When it started to hold.
        since: Instant,
    },
    /// The rule fires; its condition holds since `since`.
    Firing {
        /// When it started to hold.
        since: Instant,
    },
}

/// One measurement of a rule's condition.
struct Check {
    value: f64,
    threshold: f64,
    active: bool,
    /// When the condition started, if the kind knows better than "now" (no_progress).
    since: Option<Instant>,
}

#[derive(Debug)]
struct Rule {
    rule: AlertRule,
    state: RuleState,
    /// (time, total) samples of the counter a windowed rule watches, oldest first.
    samples: VecDeque<(Instant, u64)>,
    /// no_progress: per partition, its last position and when it last moved.
    moved: BTreeMap<(Arc<str>, i32), (Option<i64>, Instant)>,
    /// The `since_ms` of the last firing event (its resolved event repeats it).
    firing_since_ms: u64,
}

impl Rule {
    /// The increase of `total` over the rule's window as of `now`.
    fn increase(&mut self, now: Instant, total: u64) -> u64 {
        let window = self.rule.window();
        self.samples.push_back((now, total));
        // Keep one sample at or before the window's start as the baseline.
        if let Some(start) = now.checked_sub(window) {
            while self.samples.len() > 1 && self.samples[1].0 <= start {
                self.samples.pop_front();
            }
        }
        let base = self.samples.front().map_or(total, |s| s.1);
        total.saturating_sub(base)
    }

    fn check(&mut self, s: &Statistics, now: Instant) -> Check {
        let hold = self.rule.hold.as_secs_f64();
        let threshold = self.rule.threshold.unwrap_or(hold);
        let above = |value: f64| Check {
            value,
            threshold,
            active: value > threshold,
            since: None,
        };
        match self.rule.kind {
            AlertKind::Lag => above(s.lag as f64),
            AlertKind::HandlerErrorRate => {
                let errors: u64 = s
                    .runner
                    .handler_outcomes
                    .iter()
                    .filter(|(o, _)| **o != "processed")
                    .map(|(_, n)| n)
                    .sum();
                let per_minute =
                    self.increase(now, errors) as f64 / (self.rule.window().as_secs_f64() / 60.0);
                above(per_minute)
            }
            AlertKind::DlqRecords => above(self.increase(now, s.runner.dead_lettered) as f64),
            AlertKind::NoProgress => {
                let mut moved = BTreeMap::new();
                let mut stalled: Option<Instant> = None;
                for p in &s.partitions {
                    let key = (Arc::clone(&p.topic), p.partition);
                    let at = match self.moved.get(&key) {
                        Some((pos, at)) if *pos == p.position && p.lag.unwrap_or(0) > 0 => *at,
                        _ => now,
                    };
                    if p.lag.unwrap_or(0) > 0 {
                        stalled = Some(stalled.map_or(at, |s| s.min(at)));
                    }
                    moved.insert(key, (p.position, at));
                }
                self.moved = moved;
                let secs = stalled.map_or(0.0, |at| (now - at).as_secs_f64());
                Check {
                    value: secs,
                    threshold,
                    active: stalled.is_some(),
                    since: stalled,
                }
            }
            AlertKind::NotInGroup => {
                let in_group = s
                    .group
                    .as_ref()
                    .is_some_and(|g| g.state == GroupState::Stable && g.assigned_partitions > 0);
                let since = match self.state {
                    RuleState::Pending { since } | RuleState::Firing { since } => since,
                    RuleState::Inactive => now,
                };
                Check {
                    value: if in_group {
                        0.0
                    } else {
                        (now - since).as_secs_f64()
                    },
                    threshold,
                    active: !in_group,
                    since: None,
                }
            }
            AlertKind::CircuitOpen => {
                let open = s.runner.circuit != "closed";
                Check {
                    value: f64::from(u8::from(open)),
                    threshold: 0.0,
                    active: open,
                    since: None,
                }
            }
        }
    }
}

/// Evaluates a set of rules against successive snapshots.
#[derive(Debug)]
pub struct AlertEvaluator {
    rules: Vec<Rule>,
}

impl AlertEvaluator {
    /// An evaluator of `rules` (validated by the caller), all inactive.
    pub fn new(rules: Vec<AlertRule>) -> Self {
        Self {
            rules: rules
                .into_iter()
                .map(|rule| Rule {
                    rule,
                    state: RuleState::Inactive,
                    samples: VecDeque::new(),
                    moved: BTreeMap::new(),
                    firing_since_ms: 0,
                })
                .collect(),
        }
    }

    /// Replaces the rules (a configuration reload): a rule that is unchanged keeps its state
    /// (a firing alert stays firing, without a second event); a changed or new rule starts
    /// inactive; a removed rule is dropped without a resolved event.
    pub fn set_rules(&mut self, rules: Vec<AlertRule>) {
        let mut old = std::mem::take(&mut self.rules);
        self.rules = rules
            .into_iter()
            .map(|rule| match old.iter().position(|r| r.rule == rule) {
                Some(i) => old.swap_remove(i),
                None => Self::new(vec![rule]).rules.remove(0),
            })
            .collect();
    }

    /// Every rule's name and state.
    pub fn states(&self) -> impl Iterator<Item = (&AlertRule, RuleState)> {
        self.rules.iter().map(|r| (&r.rule, r.state))
    }

    /// Looks at `snapshot` as of `now` (a monotonic clock; `snapshot.time_ms` is the wall
    /// clock the events' `since` is derived from) and returns the rules that started or
    /// stopped firing.
    pub fn evaluate(&mut self, snapshot: &Statistics, now: Instant) -> Vec<AlertTransition> {
        let group = snapshot.group.as_ref().map(|g| g.id.clone());
        let mut out = Vec::new();
        for r in &mut self.rules {
            let check = r.check(snapshot, now);
            let transition = |status, since: Instant| AlertTransition {
                alert: r.rule.name.clone(),
                kind: r.rule.kind,
                status,
                severity: r.rule.severity,
                value: check.value,
                threshold: check.threshold,
                since_ms: snapshot
                    .time_ms
                    .saturating_sub(u64::try_from((now - since).as_millis()).unwrap_or(u64::MAX)),
                group: group.clone(),
            };
            r.state = match (r.state, check.active) {
                (RuleState::Inactive | RuleState::Pending { .. }, true) => {
                    let since = match (check.since, r.state) {
                        (Some(s), _) => s,
                        (None, RuleState::Pending { since }) => since,
                        (None, _) => now,
                    };
                    if now - since >= r.rule.hold {
                        let t = transition(AlertStatus::Firing, since);
                        r.firing_since_ms = t.since_ms;
                        out.push(t);
                        RuleState::Firing { since }
                    } else {
                        RuleState::Pending { since }
                    }
                }
                (RuleState::Firing { since }, true) => RuleState::Firing { since },
                (RuleState::Firing { since }, false) => {
                    // The same `since` as the firing event (not derived again from a
                    // wall clock that may have moved differently).
                    out.push(AlertTransition {
                        since_ms: r.firing_since_ms,
                        ..transition(AlertStatus::Resolved, since)
                    });
                    RuleState::Inactive
                }
                (_, false) => RuleState::Inactive,
            };
        }
        out
    }
}

#[cfg(test)]
#[path = "alerts_tests.rs"]
mod tests;
