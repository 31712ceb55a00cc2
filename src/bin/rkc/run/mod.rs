//! `rkc run --config FILE.toml`: the runner as a service. Messages go to the configured
//! handler (`print`, `exec`, `http`); retries, dead letters and the circuit are JSON events on
//! stderr (`{"event":"retry",…}`, `{"event":"dead_lettered",…}`, `{"event":"circuit_open",…}`).
//!
//! Exit codes: 0 after a graceful shutdown (SIGTERM/SIGINT: in-flight messages finish within
//! `[shutdown] timeout`, finished offsets are committed, the member leaves the group); 2 for
//! an invalid configuration (the message names the file and the key); 1 when the consumer
//! cannot start; 128 + the signal number when a second signal stops it at once (nothing
//! unfinished is committed).
//!
//! The configuration file is reloaded when it changes and on SIGHUP (see `reload`): each
//! reload is a `config_reloaded` event listing what changed and how it was applied (live,
//! rejoin, restart_required), or a `config_rejected` event, and the running configuration
//! stays.

mod alerts;
mod exec;
mod http;
mod observe;
mod print;
mod reload;

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicI32, Ordering},
    },
    time::Duration,
};

use rskafka_consumer::{
    observe::{AlertBoard, Observer},
    runner::{Handler, Runner, RunnerConfig, RunnerError, config::HandlerKind, dlq::DlqWriter},
};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

/// Arguments of `rkc run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The runner's TOML configuration (see examples/consumer.toml).
    #[arg(long = "config", value_name = "FILE.toml")]
    config: PathBuf,
}

fn emit(event: serde_json::Value) {
    eprintln!("{event}");
}

/// The configured handler.
fn handler(config: &RunnerConfig) -> Result<Arc<dyn Handler>, String> {
    Ok(match config.handler.kind {
        HandlerKind::Print => Arc::new(print::PrintHandler),
        HandlerKind::Exec => Arc::new(exec::ExecHandler::new(
            config.handler.command.as_deref().unwrap_or_default(),
        )),
        HandlerKind::Http => Arc::new(http::HttpHandler::new(config)?),
    })
}

/// Runs until a signal; returns the process exit code.
pub(crate) async fn main(args: Args, log: reload::LogReload) -> ExitCode {
    let text = match std::fs::read_to_string(&args.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rkc: {}: cannot read: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    let config = match RunnerConfig::from_toml(&text, &args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rkc: {e}");
            return ExitCode::from(2);
        }
    };
    reload::apply_log_filter(&log, &config);
    let handler = match handler(&config) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("rkc: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    // The dead-letter writer for `[dlq]`: the project's idempotent producer on the `[kafka]`
    // connection, with a 30 s delivery timeout so a DLQ outage is reported promptly.
    let dlq = match DlqWriter::connect(&config).await {
        Ok(w) => w,
        Err(e @ RunnerError::Config(_)) => {
            eprintln!("rkc: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("rkc: {e}");
            return ExitCode::FAILURE;
        }
    };
    let observer = Arc::new(Observer::new());
    let board = Arc::new(AlertBoard::new(&config.alerts));
    let alert_rules = match alerts::start(&config, &observer, &board) {
        Ok(rules) => rules,
        Err(e) => {
            eprintln!("rkc: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    if let Err(e) = observe::start(&config.metrics, &observer, &board).await {
        eprintln!(
            "rkc: {}: `metrics.listen`: cannot listen: {e}",
            args.config.display()
        );
        return ExitCode::FAILURE;
    }
    // Without `[metrics]` nothing reads the observer: no hooks, no overhead.
    let observed = config.metrics.listen.is_some()
        || !config.metrics.log_interval.is_zero()
        || !config.alerts.is_empty();
    let mut builder = Runner::builder(config);
    if observed {
        builder = builder.hooks(observer);
    }
    let builder = builder
        .shared_handler(handler)
        .dead_letter_sink(Arc::new(dlq))
        .on_event(|event| emit(event.to_json()))
        .on_reload(move |config, _| {
            reload::apply_log_filter(&log, config);
            alert_rules.send_if_modified(|rules| {
                let changed = *rules != config.alerts;
                rules.clone_from(&config.alerts);
                changed
            });
        });
    let runner = match builder.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rkc: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut int, mut term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("rkc: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = runner.handle();
    if let Err(e) = reload::spawn(args.config.clone(), &text, handle.clone()) {
        eprintln!("rkc: cannot watch the configuration: {e}");
        return ExitCode::FAILURE;
    }
    let aborted_by = Arc::new(AtomicI32::new(0));
    let aborted = Arc::clone(&aborted_by);
    tokio::spawn(async move {
        // The first signal drains; the second stops at once without committing: the runner
        // returns, and dropping the runtime kills in-flight exec processes.
        let mut received = 0;
        loop {
            let signo = tokio::select! {
                _ = int.recv() => 2,
                _ = term.recv() => 15,
            };
            received += 1;
            if received == 1 {
                emit(json!({"event": "shutdown", "signal": signo}));
                handle.shutdown();
            } else {
                emit(json!({"event": "abort", "signal": signo}));
                aborted.store(signo, Ordering::SeqCst);
                handle.abort();
                // Should the runner not return promptly, exit anyway.
                tokio::time::sleep(Duration::from_secs(2)).await;
                std::process::exit(128 + signo);
            }
        }
    });
    match runner.run().await {
        Ok(summary) if summary.aborted => {
            let signo = aborted_by.load(Ordering::SeqCst);
            ExitCode::from(u8::try_from(128 + signo).unwrap_or(1))
        }
        Ok(summary) => {
            emit(json!({
                "event": "stopped",
                "processed": summary.processed,
                "skipped": summary.skipped,
                "dead_lettered": summary.dead_lettered,
                "retries": summary.retries,
                "unfinished": summary.unfinished,
            }));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rkc: {e}");
            ExitCode::FAILURE
        }
    }
}
