//! `rkc metadata`: brokers, topics, partitions and leaders, as text (kcat -L style) or JSON.

use std::io::Write as _;

use rskafka_consumer::{Cluster, ClusterMetadata, Error};

use crate::ConnectionArgs;

/// Arguments of `rkc metadata`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Only these topics (repeatable); all topics when absent.
    #[arg(short = 't', long = "topic", value_name = "TOPIC")]
    topics: Vec<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// Fetches metadata and prints it to stdout.
pub(crate) async fn run(args: Args) -> Result<(), Error> {
    let config = args.connection.client_config()?;
    let cluster = Cluster::connect(config).await?;
    let topics = (!args.topics.is_empty()).then_some(args.topics.as_slice());
    let metadata = cluster.metadata(topics).await?;
    let text = if args.json {
        serde_json::to_string_pretty(&metadata).expect("metadata serializes to JSON") + "\n"
    } else {
        render_text(&metadata)
    };
    // A closed stdout (e.g. `| head`) is not an error worth reporting.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

fn render_text(m: &ClusterMetadata) -> String {
    let mut out = format!(
        "Metadata from broker {} (cluster {}):\n {} brokers:\n",
        m.originating_broker,
        m.cluster_id.as_deref().unwrap_or("unknown"),
        m.brokers.len()
    );
    for b in &m.brokers {
        let controller = if b.id == m.controller_id {
            " (controller)"
        } else {
            ""
        };
        out += &format!("  broker {} at {}:{}{controller}\n", b.id, b.host, b.port);
    }
    out += &format!(" {} topics:\n", m.topics.len());
    for t in &m.topics {
        let error = t
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        out += &format!(
            "  topic \"{}\" with {} partitions{error}\n",
            t.topic,
            t.partitions.len()
        );
        for p in &t.partitions {
            let list = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            let error = p
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            out += &format!(
                "    partition {}, leader {}, replicas: {}, isrs: {}{error}\n",
                p.partition,
                p.leader,
                list(&p.replicas),
                list(&p.isr)
            );
        }
    }
    out
}
