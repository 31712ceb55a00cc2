//! A group membership that ends for good (an error retrying cannot fix) is reported as
//! `Error::GroupFailed` and ends `rkc consume` with code 1, instead of leaving a running
//! member that never gets partitions again (seen in the soak: members idled for minutes after
//! their group task had stopped).

mod support;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use rskafka_consumer::{Consumer, ConsumerConfig, Error};
use support::{bootstrap, create_topic, rkc_path, unique};

/// The broker's `group.min.session.timeout.ms` is 6 s: 1 s is rejected at every JoinGroup.
const TOO_SHORT: &str = "session.timeout.ms=1000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_rejects_the_member_for_good_is_reported_as_group_failed() {
    let topic = unique("grp-fatal");
    create_topic(&topic, 1);
    let group = unique("g-fatal");
    let mut config = ConsumerConfig::new(bootstrap()).unwrap();
    config
        .apply_pairs([
            format!("group.id={group}").as_str(),
            TOO_SHORT,
            "heartbeat.interval.ms=300",
        ])
        .unwrap();
    let consumer = Consumer::new(config).await.unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let err = loop {
        assert!(Instant::now() < deadline, "no error event");
        if let Some(Err(e)) = consumer.poll_event(Duration::from_millis(200)).await {
            break e;
        }
    };
    let Error::GroupFailed { group: g, source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(g, &group);
    assert!(
        source.to_string().contains("InvalidSessionTimeout"),
        "{err}"
    );
    assert!(!err.is_retriable());
}

#[test]
fn rkc_consume_exits_with_code_1_when_its_group_membership_ends_for_good() {
    let topic = unique("grp-fatal-cli");
    create_topic(&topic, 1);
    let group = unique("g-fatal-cli");
    let mut child = std::process::Command::new(rkc_path())
        .args(["consume", "-b", bootstrap(), "-t", &topic, "-G", &group])
        .args(["-X", TOO_SHORT, "-X", "heartbeat.interval.ms=300"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run rkc");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let still_running = child.try_wait().unwrap().is_none();
    if still_running {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !still_running,
        "rkc still running 60 s after its group rejected it: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("InvalidSessionTimeout"), "{stderr}");
    assert!(stderr.contains("membership ended"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_whose_group_membership_ends_for_good_returns_group_failed() {
    use rskafka_consumer::runner::{Runner, RunnerConfig, RunnerError, handler_fn};
    let topic = unique("grp-fatal-run");
    create_topic(&topic, 1);
    let group = unique("g-fatal-run");
    let text = format!(
        "[kafka]\n\"bootstrap.servers\" = \"{}\"\n\"group.id\" = \"{group}\"\n\
         \"session.timeout.ms\" = \"1000\"\n\"heartbeat.interval.ms\" = \"300\"\n\
         [source]\ntopics = [\"{topic}\"]\n",
        bootstrap()
    );
    let config = RunnerConfig::from_toml(&text, std::path::Path::new("test.toml")).unwrap();
    let runner = Runner::builder(config)
        .handler(handler_fn(|_m: rskafka_consumer::Message| async { Ok(()) }))
        .build()
        .unwrap();
    // Before the fix the run went on with no partitions until the handle stopped it.
    let result = tokio::time::timeout(Duration::from_secs(60), runner.run())
        .await
        .expect("the run ends by itself once the group rejected the member");
    match result {
        Err(RunnerError::Kafka(Error::GroupFailed { group: g, source })) => {
            assert_eq!(g, group);
            assert!(
                source.to_string().contains("InvalidSessionTimeout"),
                "{source}"
            );
        }
        other => panic!("{other:?}"),
    }
}
