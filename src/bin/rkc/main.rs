//! `rkc`: the command-line face of rskafka-consumer.
//!
//! Exit codes: 0 success, 1 the operation failed (cluster unreachable, broker error),
//! 2 invalid usage or configuration; `rkc run` adds 128 + N after a second signal N.

mod consume;
mod group;
mod metadata;
mod output;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rskafka_consumer::{ClientConfig, Error};

/// A pure-Rust Kafka consumer toolkit.
#[derive(Debug, Parser)]
#[command(name = "rkc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print brokers, topics, partitions and leaders.
    Metadata(metadata::Args),
    /// Read messages as JSON lines or in kcat's formats.
    Consume(consume::Args),
    /// Describe a consumer group, or show its lag.
    Group(group::Args),
    /// Run a handler on every message: retries, dead letters, graceful shutdown.
    Run(run::Args),
}

/// Options every subcommand that talks to a cluster shares.
#[derive(Debug, clap::Args)]
pub(crate) struct ConnectionArgs {
    /// Bootstrap brokers, `host:port[,host:port…]`, tried in order.
    #[arg(short = 'b', long = "brokers", value_name = "BOOTSTRAP")]
    pub(crate) brokers: String,
    /// A librdkafka configuration property, `key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub(crate) properties: Vec<String>,
}

impl ConnectionArgs {
    /// The client configuration these options describe.
    pub(crate) fn client_config(&self) -> Result<ClientConfig, Error> {
        let mut config = ClientConfig::new(&self.brokers)?;
        config.apply_pairs(self.properties.iter().map(String::as_str))?;
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RKC_LOG")
                // Errors, plus the lines `rkc run` prints when `[metrics]` asks for them and alerts.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(
                        "error,rkc::progress=info,rkc::metrics=info,rkc::alerts=warn",
                    )
                }),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rkc: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = match cli.command {
        Command::Run(args) => return runtime.block_on(run::main(args)),
        other => other,
    };
    let result = runtime.block_on(async {
        match command {
            Command::Metadata(args) => metadata::run(args).await,
            Command::Consume(args) => consume::run(args).await,
            Command::Group(args) => group::run(args).await,
            Command::Run(_) => unreachable!("handled above"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rkc: {e}");
            match e {
                Error::Config(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}
