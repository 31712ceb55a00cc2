//! `rkc group lag --watch [--interval 2s]`: the lag table, refreshed until Ctrl-C.
//!
//! Invariants: on a terminal each refresh clears the screen and redraws the table in place
//! (ANSI `ESC[H ESC[2J`); otherwise (a pipe, a file) every refresh appends one complete
//! table after a header line, so the output stays a readable log; with `--json` every refresh
//! is one JSON array on one line. A failed refresh (the cluster briefly unreachable) is
//! reported on stderr and the next one is tried; a closed stdout ends the watch.

use std::{
    io::{IsTerminal as _, Write as _},
    time::{Duration, SystemTime},
};

use rskafka_consumer::{Cluster, Error, group::admin};

/// Parses `--interval` (`2s`, `500ms`, `1m`): above zero.
pub(crate) fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("the interval must be above zero".into());
    }
    Ok(d)
}

/// Refreshes `group`'s lag every `interval` until Ctrl-C or SIGTERM.
pub(crate) async fn watch(
    cluster: &Cluster,
    group: &str,
    interval: Duration,
    json: bool,
    render: fn(&[admin::PartitionLag]) -> String,
) -> Result<(), Error> {
    let terminal = std::io::stdout().is_terminal();
    // Without a SIGTERM handler (it cannot fail on Unix in practice) only Ctrl-C ends it.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = async {
                match term.as_mut() {
                    Some(t) => t.recv().await,
                    None => std::future::pending().await,
                }
            } => return Ok(()),
            _ = tick.tick() => {}
        }
        let lag = match admin::group_lag(cluster, group).await {
            Ok(lag) => lag,
            Err(e) => {
                eprintln!("rkc: {e}");
                continue;
            }
        };
        let mut out = String::new();
        if json {
            out += &serde_json::to_string(&lag).expect("lag serializes to JSON");
            out.push('\n');
        } else {
            if terminal {
                out += "\x1b[H\x1b[2J";
            }
            let now = humantime::format_rfc3339_seconds(SystemTime::now());
            out += &format!(
                "Every {}: rkc group lag {group}    {now}\n\n",
                humantime::format_duration(interval)
            );
            out += &render(&lag);
            if !terminal {
                out.push('\n');
            }
        }
        let mut stdout = std::io::stdout().lock();
        if stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(());
        }
    }
}
