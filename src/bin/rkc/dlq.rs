//! `rkc dlq replay`: re-produce dead letters to the topics they came from, once.
//!
//! Prints one JSON summary line on stdout (`{"from","group","replayed","topics","committed",
//! "stopped"}`, plus `"error"` when it failed). Exit codes: 0 caught up (or `-c` reached, or
//! SIGINT/SIGTERM), 1 a dead letter could not be replayed or the cluster failed (the error on
//! stderr names the record; nothing from it on is committed), 2 invalid arguments.

use std::process::ExitCode;

use rskafka_consumer::runner::dlq::replay::{Replay, ReplayConfig, ReplayError, ReplaySummary};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

use crate::ConnectionArgs;

/// Arguments of `rkc dlq`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Re-produce dead letters to their original topic (from the provenance headers) or --to,
    /// committing the replay group's progress after each acknowledged write.
    Replay(ReplayArgs),
}

/// Arguments of `rkc dlq replay`.
#[derive(Debug, clap::Args)]
struct ReplayArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// The dead-letter topic to replay.
    #[arg(long = "from", value_name = "DLQ_TOPIC")]
    from: String,
    /// Write every record to this topic instead of its original one.
    #[arg(long = "to", value_name = "TOPIC")]
    to: Option<String>,
    /// The replay's consumer group (default `rkc-dlq-replay-<DLQ_TOPIC>`).
    #[arg(short = 'G', long = "group", value_name = "GROUP")]
    group: Option<String>,
    /// Stop after this many replayed records.
    #[arg(short = 'c', long = "count", value_name = "N")]
    count: Option<u64>,
}

fn config(args: &ReplayArgs) -> Result<ReplayConfig, rskafka_consumer::ConfigError> {
    let mut config = ReplayConfig::new(&args.connection.brokers, &args.from)?;
    if let Some(group) = &args.group {
        config.set("group.id", group)?;
    }
    for pair in &args.connection.properties {
        let (name, value) =
            pair.split_once('=')
                .ok_or_else(|| rskafka_consumer::ConfigError::InvalidValue {
                    name: "-X".into(),
                    value: pair.clone(),
                    reason: "expected key=value".into(),
                })?;
        config.set(name.trim(), value)?;
    }
    if args.to.as_deref() == Some(args.from.as_str()) {
        return Err(rskafka_consumer::ConfigError::InvalidValue {
            name: "--to".into(),
            value: args.from.clone(),
            reason: "the destination must not be the dead-letter topic replayed (--from)".into(),
        });
    }
    config.to = args.to.clone();
    config.limit = args.count;
    Ok(config)
}

/// Runs `rkc dlq …`; returns the process exit code.
pub(crate) async fn main(args: Args) -> ExitCode {
    let Command::Replay(args) = args.command;
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rkc: {e}");
            return ExitCode::from(2);
        }
    };
    let mut replay = match Replay::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rkc: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stop = async {
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    };
    let result = replay.run(stop).await;
    print_summary(replay.summary(), result.as_ref().err());
    replay.close().await;
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rkc: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_summary(summary: &ReplaySummary, error: Option<&ReplayError>) {
    let mut line = summary.to_json();
    if let Some(e) = error {
        line["stopped"] = json!("error");
        line["error"] = json!(e.to_string());
    }
    println!("{line}");
}
