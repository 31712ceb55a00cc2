//! `rkc run` and its session against the real broker: a runner stopped (SIGSTOP) past
//! `session.timeout.ms` while it holds polled messages starts none of them after it resumes,
//! since another member owns the partition by then (issue 16: "never two members handing out
//! one partition at the same time" holds for the runner's handler, not only for `poll`).

mod support;

use std::{path::Path, time::Duration};

use support::{RkcProcess, bootstrap, create_topic, produce, unique};

/// A config whose exec handler appends `<name> <offset>` to `log` as it starts, then takes
/// 300 ms.
fn config(dir: &Path, name: &str, topic: &str, group: &str, log: &Path) -> String {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"[kafka]
"bootstrap.servers" = "{}"
"group.id" = "{group}"
"auto.offset.reset" = "earliest"
"session.timeout.ms" = 6000
"heartbeat.interval.ms" = 500
"partition.assignment.strategy" = "cooperative-sticky"
[source]
topics = ["{topic}"]
[handler]
kind = "exec"
command = ["sh", "-c", "echo \"{name} $RKC_OFFSET\" >> {log}; sleep 0.3"]
"#,
        bootstrap(),
        log = log.display()
    );
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_runner_stopped_past_its_session_starts_no_held_message_after_it_resumes() {
    let topic = unique("run-session");
    let group = unique("run-session-g");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "60"]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("handled");
    let a_config = config(dir.path(), "A", &topic, &group, &log);
    let b_config = config(dir.path(), "B", &topic, &group, &log);

    // A owns the partition and works through a backlog it has polled (60 × 300 ms).
    let mut a = RkcProcess::spawn(&["run", "--config", &a_config]);
    a.wait_until(Duration::from_secs(30), "A starts handling", |_| {
        lines(&log).len() >= 3
    });
    // B joins and owns nothing while A keeps its partition.
    let mut b = RkcProcess::spawn(&["run", "--config", &b_config]);
    b.wait_until(Duration::from_secs(30), "B joins", |_| {
        support::describe_group(&group)["members"]
            .as_array()
            .is_some_and(|m| m.len() == 2)
    });
    b.observe_for(Duration::from_secs(1));

    // A stops past its session: the coordinator hands the partition to B.
    a.signal("STOP");
    b.wait_until(Duration::from_secs(40), "B handles the partition", |_| {
        lines(&log).iter().any(|l| l.starts_with("B "))
    });
    a.signal("CONT");
    a.wait_until(
        Duration::from_secs(20),
        "A learns it lost the partition",
        |a| !a.events_of("lost").is_empty(),
    );
    a.observe_for(Duration::from_secs(1));

    let handled = lines(&log);
    let first_b = handled.iter().position(|l| l.starts_with("B ")).unwrap();
    let zombie: Vec<&String> = handled[first_b..]
        .iter()
        .filter(|l| l.starts_with("A "))
        .collect();
    assert!(
        zombie.is_empty(),
        "A started {zombie:?} after it resumed, while B owned the partition: {handled:?}\n{}",
        a.describe()
    );
    for p in [&mut a, &mut b] {
        p.signal("TERM");
        assert_eq!(p.wait_exit(Duration::from_secs(40)), 0, "{}", p.describe());
    }
}
