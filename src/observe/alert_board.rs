//! [`AlertBoard`]: which alert rules fire now — read by the exposition
//! (`rkc_alert_firing{alert="…"}`) and a status page — and the alert webhook's counters.
//!
//! Invariants: the board only records [`AlertTransition`]s the evaluator produced (a rule is
//! firing exactly between its firing and its resolved transition); every configured rule has
//! a series, 0 while it does not fire.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
};

use super::alerts::{AlertRule, AlertStatus, AlertTransition};

/// The metric families an [`AlertBoard`] adds to the exposition.
pub const ALERT_METRIC_NAMES: &[&str] = &[
    "rkc_alert_firing",
    "rkc_alert_webhook_dropped_total",
    "rkc_alert_webhook_failures_total",
];

/// What is firing, for the exposition and a status page; and the webhook's counters.
#[derive(Debug, Default)]
pub struct AlertBoard {
    /// Rule name → the transition that made it fire (`None`: not firing).
    alerts: Mutex<BTreeMap<String, Option<AlertTransition>>>,
    pub(crate) webhook_dropped: AtomicU64,
    webhook_failures: AtomicU64,
}

impl AlertBoard {
    /// A board listing `rules`, none firing.
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a AlertRule>) -> Self {
        let board = Self::default();
        {
            let mut alerts = board.alerts.lock().expect("alert board lock");
            for r in rules {
                alerts.insert(r.name.clone(), None);
            }
        }
        board
    }

    /// Lists `rules` (a configuration reload): a rule that stays keeps its firing state, a new
    /// one starts not firing, a removed one leaves the board (and the exposition).
    pub fn set_rules<'a>(&self, rules: impl IntoIterator<Item = &'a AlertRule>) {
        let mut alerts = self.alerts.lock().expect("alert board lock");
        let mut next = BTreeMap::new();
        for r in rules {
            let state = alerts.remove(&r.name).flatten();
            next.insert(r.name.clone(), state);
        }
        *alerts = next;
    }

    /// Records a transition.
    pub fn apply(&self, t: &AlertTransition) {
        let firing = (t.status == AlertStatus::Firing).then(|| t.clone());
        self.alerts
            .lock()
            .expect("alert board lock")
            .insert(t.alert.clone(), firing);
    }

    /// The alerts firing now, each as the transition that made it fire.
    pub fn firing(&self) -> Vec<AlertTransition> {
        self.alerts
            .lock()
            .expect("alert board lock")
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    /// Counts a webhook payload dropped because the queue was full.
    pub(crate) fn webhook_dropped(&self) {
        self.webhook_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a webhook payload given up on after its retries.
    pub(crate) fn webhook_failed(&self) {
        self.webhook_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A collector of `rkc_alert_firing` and the webhook counters, for
    /// [`super::Metrics::registry_mut`].
    pub fn collector(self: &Arc<Self>) -> Box<dyn Collector> {
        Box::new(BoardCollector(Arc::clone(self)))
    }
}

#[derive(Debug)]
struct BoardCollector(Arc<AlertBoard>);

impl Collector for BoardCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let alerts: Vec<(String, bool)> = self
            .0
            .alerts
            .lock()
            .expect("alert board lock")
            .iter()
            .map(|(n, t)| (n.clone(), t.is_some()))
            .collect();
        if !alerts.is_empty() {
            let gauge = ConstGauge::new(0i64);
            let mut m = enc.encode_descriptor(
                "rkc_alert_firing",
                "1 while the alert rule fires.",
                None,
                gauge.metric_type(),
            )?;
            for (name, firing) in alerts {
                ConstGauge::new(i64::from(firing))
                    .encode(m.encode_family(&[("alert", name.as_str())])?)?;
            }
        }
        for (name, help, v) in [
            (
                "rkc_alert_webhook_dropped",
                "Alert payloads dropped because the webhook queue was full.",
                &self.0.webhook_dropped,
            ),
            (
                "rkc_alert_webhook_failures",
                "Alert payloads the webhook did not accept after every retry.",
                &self.0.webhook_failures,
            ),
        ] {
            let c = ConstCounter::new(v.load(Ordering::Relaxed));
            let m = enc.encode_descriptor(name, help, None, c.metric_type())?;
            c.encode(m)?;
        }
        Ok(())
    }
}
