//! `rkc group`: a consumer group's members and assignments (`describe`) or its lag per
//! partition (`lag`, refreshed with `--watch`, see `lag_watch`), as text
//! (kafka-consumer-groups style) or JSON.

use std::io::Write as _;

use clap::Subcommand;
use rskafka_consumer::{
    Cluster, Error,
    group::admin::{self, GroupDescription, PartitionLag},
};

use crate::ConnectionArgs;

/// Arguments of `rkc group`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Print a group's state, protocol and members with their assignments.
    Describe(GroupArgs),
    /// Print committed offset, log end offset and lag per partition of a group.
    Lag(LagArgs),
}

/// What both `describe` and `lag` take.
#[derive(Debug, clap::Args)]
struct GroupArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// The group id.
    #[arg(value_name = "GROUP")]
    group: String,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// What `lag` takes.
#[derive(Debug, clap::Args)]
struct LagArgs {
    #[command(flatten)]
    group: GroupArgs,
    /// Refresh the table until Ctrl-C (in place on a terminal, appended otherwise).
    #[arg(long)]
    watch: bool,
    /// Time between refreshes with --watch (`2s`, `500ms`, `1m`).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = crate::lag_watch::parse_interval, requires = "watch")]
    interval: std::time::Duration,
}

/// Runs the subcommand and prints its result to stdout.
pub(crate) async fn run(args: Args) -> Result<(), Error> {
    let text = match args.command {
        GroupCommand::Describe(a) => {
            let cluster = Cluster::connect(a.connection.client_config()?).await?;
            let group = admin::describe_group(&cluster, &a.group).await?;
            if a.json {
                json(&group)
            } else {
                render_description(&group)
            }
        }
        GroupCommand::Lag(LagArgs {
            group: a,
            watch: true,
            interval,
        }) => {
            let cluster = Cluster::connect(a.connection.client_config()?).await?;
            return crate::lag_watch::watch(&cluster, &a.group, interval, a.json, render_lag).await;
        }
        GroupCommand::Lag(LagArgs { group: a, .. }) => {
            let cluster = Cluster::connect(a.connection.client_config()?).await?;
            let lag = admin::group_lag(&cluster, &a.group).await?;
            if a.json { json(&lag) } else { render_lag(&lag) }
        }
    };
    // A closed stdout (e.g. `| head`) is not an error worth reporting.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("group data serializes to JSON") + "\n"
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn render_description(g: &GroupDescription) -> String {
    let mut out = format!(
        "GROUP     {}\nSTATE     {}\nPROTOCOL  {} ({})\nMEMBERS   {}\n",
        g.group_id,
        g.state,
        or_dash(&g.protocol),
        or_dash(&g.protocol_type),
        g.members.len()
    );
    if g.members.is_empty() {
        return out;
    }
    let mut rows = vec![row(&[
        "MEMBER-ID",
        "GROUP-INSTANCE-ID",
        "CLIENT-ID",
        "HOST",
        "#PARTITIONS",
        "ASSIGNMENT",
    ])];
    for m in &g.members {
        // kafka-consumer-groups' form: `topic(0,1,2)`, topics in order.
        let mut assignment: Vec<(String, Vec<String>)> = Vec::new();
        for tp in &m.assignment {
            match assignment.last_mut() {
                Some((t, ps)) if **t == *tp.topic => ps.push(tp.partition.to_string()),
                _ => assignment.push((tp.topic.to_string(), vec![tp.partition.to_string()])),
            }
        }
        let assignment = assignment
            .iter()
            .map(|(t, ps)| format!("{t}({})", ps.join(",")))
            .collect::<Vec<_>>()
            .join(",");
        rows.push(vec![
            m.member_id.clone(),
            m.group_instance_id.as_deref().unwrap_or("-").to_owned(),
            or_dash(&m.client_id).to_owned(),
            or_dash(&m.client_host).to_owned(),
            m.assignment.len().to_string(),
            or_dash(&assignment).to_owned(),
        ]);
    }
    out.push('\n');
    out += &table(&rows);
    out
}

fn render_lag(lag: &[PartitionLag]) -> String {
    let number = |n: Option<i64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let mut rows = vec![row(&[
        "TOPIC",
        "PARTITION",
        "COMMITTED",
        "LOG-END",
        "LAG",
        "MEMBER",
    ])];
    for p in lag {
        rows.push(vec![
            p.topic.clone(),
            p.partition.to_string(),
            number(p.committed),
            number((p.log_end >= 0).then_some(p.log_end)),
            number(p.lag),
            p.member_id.as_deref().unwrap_or("-").to_owned(),
        ]);
    }
    table(&rows)
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == columns {
                line += cell;
            } else {
                line += &format!("{cell:<w$}  ", w = widths[c]);
            }
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}
