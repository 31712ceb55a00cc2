//! `rkc run` members for the soak harness (`soak/harness.rs`): each runs `rkc run --config
//! member-<n>.toml` with the exec handler `handler.sh` (prints what it is handed, fails
//! poison permanently), two attempts 50 ms apart, and dead letters with Kafka Connect
//! provenance headers to `<topic>.dlq` (12 partitions, RF 3, min.insync.replicas=2, created
//! before the members start). At the end, with every member gone and the cluster still up,
//! the dead-letter topic is read back by confluent-kafka (read_committed) and the members'
//! dead-letter events are collected from their stderr files: [`RunnerMembers::dlq`].

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

use super::{
    dlq::{DeadLetter, DlqRun, read_events},
    harness::{Members, PARTITIONS, SESSION_MS},
    support::{PrivateCluster, repo_root, rkc_path},
    trace::MemberId,
};

/// `rkc run` members; see the module documentation.
#[derive(Default)]
pub struct RunnerMembers {
    dlq: Mutex<DlqRun>,
}

impl RunnerMembers {
    /// What the dead-letter side left (filled in when the run finishes).
    pub fn dlq(&self) -> DlqRun {
        self.dlq.lock().unwrap().clone()
    }
}

/// The dead-letter topic of `topic`.
fn dlq_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// The handler script.
pub fn handler_script() -> PathBuf {
    repo_root().join("tests/soak_runner/handler.sh")
}

impl Members for RunnerMembers {
    fn controller_offset(&self) -> Option<u16> {
        // The suite's range is 29400–29499: brokers from 29400, controllers from 29450.
        Some(50)
    }

    fn rates(&self) -> (u32, u32) {
        // An exec handler forks a process per record: about a third of the consume soak's
        // load (≈ 100 records/s), which a loaded 2-core machine keeps up with.
        (72, 2)
    }

    fn prepare(&self, cluster: &PrivateCluster, topic: &str, _dir: &Path) {
        cluster.create_topic(
            &dlq_topic(topic),
            PARTITIONS as u32,
            3,
            &["min.insync.replicas=2"],
        );
        self.dlq.lock().unwrap().source_topic = topic.to_owned();
    }

    fn command(
        &self,
        id: MemberId,
        bootstrap: &str,
        topic: &str,
        group: &str,
        dir: &Path,
    ) -> Command {
        let config = dir.join(format!("member-{id}.toml"));
        let text = format!(
            r#"[kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "{group}"
"auto.offset.reset" = "earliest"
"isolation.level" = "read_committed"
"session.timeout.ms" = {SESSION_MS}
"partition.assignment.strategy" = "cooperative-sticky"

[source]
topics = ["{topic}"]

[handler]
kind = "exec"
command = ["sh", "{script}"]
timeout = "20s"

[retry]
max_attempts = 2
initial_backoff = "50ms"
max_backoff = "50ms"

[dlq]
topic = "{dlq}"
header_style = "connect"

[shutdown]
timeout = "20s"
"#,
            script = handler_script().display(),
            dlq = dlq_topic(topic),
        );
        std::fs::write(&config, text).expect("write the member's configuration");
        let mut command = Command::new(rkc_path());
        command.arg("run").arg("--config").arg(config);
        // The members' log filter for a closer look (`RKC_SOAK_MEMBER_LOG=
        // info,rskafka_consumer::group=debug`): their log lines land in member-<n>.err.
        if let Ok(filter) = std::env::var("RKC_SOAK_MEMBER_LOG") {
            command.env("RKC_LOG", filter);
        }
        command
    }

    fn finish(&self, cluster: &PrivateCluster, topic: &str, dir: &Path) {
        let mut dlq = self.dlq.lock().unwrap();
        dlq.letters = cluster
            .read_all(&dlq_topic(topic))
            .iter()
            .map(DeadLetter::from_json)
            .collect();
        for id in 0.. {
            let Ok(text) = std::fs::read_to_string(dir.join(format!("member-{id}.err"))) else {
                break;
            };
            read_events(id, &text, &mut dlq);
        }
    }
}
