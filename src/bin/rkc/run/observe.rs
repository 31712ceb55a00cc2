//! `[metrics]` of `rkc run`: the HTTP endpoint (the status page `/` and `/api/status`,
//! `/metrics`, `/healthz`, `/readyz`) and the one-line progress summary every `log_interval`.

use std::{sync::Arc, time::Duration};

use rskafka_consumer::{
    observe::{AlertBoard, Metrics, Observer, Statistics, server},
    runner::config::MetricsConfig,
};

/// Binds `[metrics] listen` (if set) and serves the endpoint in the background.
///
/// # Errors
/// The address cannot be bound.
pub(crate) async fn start(
    config: &MetricsConfig,
    observer: &Arc<Observer>,
    alerts: &Arc<AlertBoard>,
) -> std::io::Result<()> {
    if let Some(addr) = config.listen {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(target: "rkc::metrics", address = %listener.local_addr()?, "serving the status page /, /api/status, /metrics, /healthz, /readyz");
        let state = server::ServerState {
            observer: Arc::clone(observer),
            metrics: Arc::new({
                let mut metrics = Metrics::new(Arc::clone(observer));
                metrics
                    .registry_mut()
                    .register_collector(alerts.collector());
                metrics
            }),
            startup_grace: config.ready_grace,
        };
        tokio::spawn(async move {
            if let Err(e) =
                server::serve(listener, server::router(state), std::future::pending()).await
            {
                tracing::error!(error = %e, "the metrics endpoint stopped");
            }
        });
    }
    if !config.log_interval.is_zero() {
        let mut last: Option<Statistics> = None;
        let interval = config.log_interval;
        observer.on_statistics(interval, move |now| {
            log_progress(last.as_ref(), &now, interval);
            last = Some(now);
        });
    }
    Ok(())
}

/// Messages the runner finished (processed, dead-lettered or skipped).
fn finished(s: &Statistics) -> u64 {
    s.runner.outcome("processed") + s.runner.dead_lettered + s.runner.idempotent_skips
}

fn log_progress(last: Option<&Statistics>, now: &Statistics, interval: Duration) {
    let (done, secs) = match last {
        Some(l) => (
            finished(now).saturating_sub(finished(l)),
            now.uptime_seconds - l.uptime_seconds,
        ),
        None => (finished(now), interval.as_secs_f64()),
    };
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let assigned = now.partitions.len();
    tracing::info!(
        target: "rkc::progress",
        records_per_s = format_args!("{rate:.1}"),
        lag = now.lag,
        dlq = now.runner.dead_lettered,
        retries = now.runner.retries,
        assigned,
        circuit = now.runner.circuit,
        "progress: {rate:.1} records/s, lag {}, dlq {}, retries {}, {assigned} partitions",
        now.lag,
        now.runner.dead_lettered,
        now.runner.retries,
    );
}
