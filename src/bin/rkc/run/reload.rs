//! `rkc run` reloads its configuration file when it changes (polled every
//! [`POLL_INTERVAL`]: the content's hash, so a rewrite with the same bytes is no reload) and
//! on SIGHUP (always, even unchanged). The runner checks the new configuration completely and
//! applies it (see `rskafka_consumer::runner::reload`); a file that does not parse is
//! rejected here with a `config_rejected` event naming the file and the key, and the running
//! configuration stays.
//!
//! The `[log] filter` of the running configuration (else `RKC_LOG`, else errors and the progress lines) is applied
//! to the process's `tracing` subscriber through a reload handle.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    path::{Path, PathBuf},
    time::Duration,
};

use rskafka_consumer::runner::{RunnerConfig, RunnerHandle};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::{EnvFilter, Registry, reload};

use super::emit;

/// How often the file is looked at.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A change seen is read again this much later, so that a file caught halfway through being
/// written is not taken (nor rejected) as it stood.
const SETTLE: Duration = Duration::from_millis(200);

/// Sets the process's log filter.
pub(crate) type LogReload = reload::Handle<EnvFilter, Registry>;

/// The filter for `config`: `[log] filter`, else `RKC_LOG`, else [`crate::DEFAULT_LOG_FILTER`].
pub(crate) fn log_filter(config: &RunnerConfig) -> EnvFilter {
    config
        .log
        .filter
        .as_deref()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_env("RKC_LOG").ok())
        .unwrap_or_else(|| EnvFilter::new(crate::DEFAULT_LOG_FILTER))
}

/// Applies `config`'s log filter.
pub(crate) fn apply_log_filter(log: &LogReload, config: &RunnerConfig) {
    if let Err(e) = log.reload(log_filter(config)) {
        tracing::warn!(error = %e, "cannot change the log filter");
    }
}

fn hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// Watches `path` and SIGHUP until the process ends, sending each new configuration to
/// `handle`. `loaded` is the text the runner started with.
pub(crate) fn spawn(path: PathBuf, loaded: &str, handle: RunnerHandle) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut last = hash(loaded);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let trigger = tokio::select! {
                _ = tick.tick() => "file",
                _ = hup.recv() => "sighup",
            };
            let Some(text) = read_settled(&path, trigger == "file").await else {
                continue;
            };
            let h = hash(&text);
            if trigger == "file" && h == last {
                continue;
            }
            last = h;
            tracing::info!(file = %path.display(), trigger, "reloading the configuration");
            reload(&path, &text, trigger, &handle).await;
        }
    });
    Ok(())
}

/// The file's text; after a change, read again once it stopped changing. `None` when it
/// cannot be read now (a small local file: read in place; reported on SIGHUP, silently retried when polling: an editor may have
/// it moved away for a moment).
async fn read_settled(path: &Path, polling: bool) -> Option<String> {
    let mut text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            if !polling {
                emit(json!({"event": "config_rejected", "trigger": "sighup",
                            "error": format!("{}: cannot read: {e}", path.display())}));
            }
            return None;
        }
    };
    loop {
        tokio::time::sleep(SETTLE).await;
        let again = std::fs::read_to_string(path).ok()?;
        if again == text {
            return Some(text);
        }
        text = again;
    }
}

async fn reload(path: &Path, text: &str, trigger: &str, handle: &RunnerHandle) {
    let config = match RunnerConfig::from_toml(text, path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "configuration reload rejected; the running configuration stays");
            emit(json!({"event": "config_rejected", "trigger": trigger, "error": e.to_string()}));
            return;
        }
    };
    // The runner reports the outcome itself (config_reloaded / config_rejected events).
    if let Err(e) = handle.update_config(config).await {
        tracing::debug!(error = %e, "configuration reload not applied");
    }
}
