//! `[[alerts]]` and `[alerting]` of `rkc run`: the evaluator ticks every second over the
//! observer's snapshot; each firing or resolved alert is logged once (target `rkc::alerts`),
//! printed once as a JSON event line on stderr, shown on the board (`rkc_alert_firing`) and
//! queued for the webhook.

use std::{sync::Arc, time::Duration};

use rskafka_consumer::{
    observe::{AlertBoard, AlertEvaluator, FiringAlert, Observer, webhook::Webhook},
    runner::RunnerConfig,
};

/// How often the rules are evaluated.
const TICK: Duration = Duration::from_secs(1);

/// Starts the evaluator (when there are rules) and the webhook (when configured).
///
/// # Errors
/// The webhook's URL or TLS trust is unusable (the message names `alerting.webhook`).
pub(crate) fn start(
    config: &RunnerConfig,
    observer: &Arc<Observer>,
    board: &Arc<AlertBoard>,
) -> Result<(), String> {
    if config.alerts.is_empty() {
        return Ok(());
    }
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
    Ok(())
}
