//! `[[alerts]]` and `[alerting]` of `rkc run`: the evaluator ticks every second over the
//! observer's snapshot; each firing or resolved alert is logged once (target `rkc::alerts`),
//! printed once as a JSON event line on stderr, shown on the board (`rkc_alert_firing`) and
//! queued for the webhook. A reload hands the evaluator new rules (through [`AlertRules`]);
//! `[alerting]` (the webhook) is read once.

use std::{sync::Arc, time::Duration};

use rskafka_consumer::{
    observe::{AlertBoard, AlertEvaluator, AlertRule, FiringAlert, Observer, webhook::Webhook},
    runner::RunnerConfig,
};
use tokio::sync::watch;

/// Where a reload sends the new `[[alerts]]` rules.
pub(crate) type AlertRules = watch::Sender<Vec<AlertRule>>;

/// How often the rules are evaluated.
const TICK: Duration = Duration::from_secs(1);

/// Starts the evaluator and the webhook (when configured); returns where a reload sends new
/// rules.
///
/// # Errors
/// The webhook's URL or TLS trust is unusable (the message names `alerting.webhook`).
pub(crate) fn start(
    config: &RunnerConfig,
    observer: &Arc<Observer>,
    board: &Arc<AlertBoard>,
) -> Result<AlertRules, String> {
    let (rules, mut reloaded) = watch::channel(config.alerts.clone());
    let webhook = match &config.alerting.webhook {
        Some(url) => Some(
            Webhook::start(url, config.alerting.ca_location.clone(), Arc::clone(board))
                .map_err(|e| format!("`alerting.webhook`: {e}"))?,
        ),
        None => None,
    };
    let mut evaluator = AlertEvaluator::new(config.alerts.clone());
    let observer = Arc::downgrade(observer);
    let board = Arc::clone(board);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(observer) = observer.upgrade() else {
                return;
            };
            if reloaded.has_changed().unwrap_or(false) {
                let rules = reloaded.borrow_and_update().clone();
                board.set_rules(&rules);
                evaluator.set_rules(rules);
            }
            let snapshot = observer.statistics();
            let transitions = evaluator.evaluate(&snapshot, std::time::Instant::now());
            for t in &transitions {
                t.log();
                let event = t.to_json();
                super::emit(event.clone());
                board.apply(t);
                if let Some(w) = &webhook {
                    w.send(event);
                }
            }
            if !transitions.is_empty() {
                // The status page lists what fires now.
                observer.set_firing_alerts(
                    board
                        .firing()
                        .into_iter()
                        .map(|t| FiringAlert {
                            summary: format!("{:?}: {} against {}", t.kind, t.value, t.threshold),
                            name: t.alert,
                            severity: format!("{:?}", t.severity).to_lowercase(),
                            since_ms: t.since_ms,
                        })
                        .collect(),
                );
            }
        }
    });
    Ok(rules)
}
