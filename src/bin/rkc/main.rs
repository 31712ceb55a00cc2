//! `rkc`: the command-line face of rskafka-consumer.
//!
//! Exit codes: 0 success, 1 the operation failed (cluster unreachable, broker error),
//! 2 invalid usage or configuration; `rkc run` adds 128 + N after a second signal N.

mod consume;
mod dlq;
mod group;
mod lag_watch;
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
    /// Dead-letter topics: replay them to their original topics.
    Dlq(dlq::Args),
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

/// The log filter without `RKC_LOG` (or `[log] filter` in `rkc run`): errors, plus the lines
/// `rkc run` prints when `[metrics]` asks for them (progress, the endpoint's address) and
/// alert transitions.
pub(crate) const DEFAULT_LOG_FILTER: &str =
    "error,rkc::progress=info,rkc::metrics=info,rkc::alerts=warn";

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The filter sits behind a reload handle: `rkc run` changes it with `[log] filter`.
    let (filter, log_reload) = tracing_subscriber::reload::Layer::new(
        tracing_subscriber::EnvFilter::try_from_env("RKC_LOG")
            // Errors, plus the lines `rkc run` prints when `[metrics]` asks for them.
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER)),
    );
    {
        use tracing_subscriber::{layer::SubscriberExt as _, util::SubscriberInitExt as _};
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .init();
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Command::Consume(_) = cli.command {
        // `consume` formats on the main thread and writes from its own writer thread: one
        // worker for the fetches is enough, and every thread that allocates costs glibc an
        // arena that keeps its own high-water mark (two workers peaked ~15 MiB higher with a
        // full buffer, see tests/memory_bound.rs).
        runtime.worker_threads(1);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rkc: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = match cli.command {
        Command::Run(args) => return runtime.block_on(run::main(args, log_reload)),
        Command::Dlq(args) => return runtime.block_on(dlq::main(args)),
        other => other,
    };
    let result = runtime.block_on(async {
        match command {
            Command::Metadata(args) => metadata::run(args).await,
            Command::Consume(args) => consume::run(args).await,
            Command::Group(args) => group::run(args).await,
            Command::Run(_) | Command::Dlq(_) => unreachable!("handled above"),
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
