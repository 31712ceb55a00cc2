//! Static membership (KIP-345, `group.instance.id`): a static member that closes (no
//! LeaveGroup) and comes back within session.timeout.ms gets its partitions back without a
//! rebalance, so the other member never sees one. The other member is librdkafka when ours
//! restarts, and ours when librdkafka's static member restarts (the control: the broker and
//! librdkafka doing the same thing).

mod support;

use std::{collections::BTreeSet, time::Duration};

use support::{
    GroupPeer, OurMember, create_topic, describe_group, disjoint_and_complete, now_secs, unique,
};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(30);
/// session.timeout.ms of every member here.
const SESSION: Duration = Duration::from_secs(6);
/// Long enough for 6 heartbeats of the observer (0.5 s) to notice a rebalance.
const OBSERVE: Duration = Duration::from_secs(3);

async fn converge(ours: &mut OurMember, peer: &mut GroupPeer, topic: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        ours.pump().await;
        peer.pump();
        if disjoint_and_complete(&[&ours.owned, &peer.owned], topic, 6)
            && ours.events_match_assignment()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out converging\n{}\n{}",
            ours.describe(),
            peer.describe()
        );
    }
}

/// Ours (static, range) and a dynamic librdkafka member split 6 partitions; ours closes and a
/// new consumer with the same group.instance.id starts at once.
async fn our_static_member_restarts(ours_leads: bool) {
    let topic = unique("grp-static");
    create_topic(&topic, 6);
    let group = unique("g-static");
    let instance = format!("instance-{}", unique("ours"));
    let ours_config = [
        format!("group.instance.id={instance}"),
        "partition.assignment.strategy=range".to_owned(),
    ];
    let ours_config: Vec<&str> = ours_config.iter().map(String::as_str).collect();
    let (mut ours, mut peer) = if ours_leads {
        let mut ours = OurMember::start("ours", &group, &[&topic], &ours_config).await;
        let deadline = Instant::now() + WAIT;
        while ours.owned.len() < 6 {
            assert!(Instant::now() < deadline, "{}", ours.describe());
            ours.pump().await;
        }
        (ours, GroupPeer::spawn(&group, &topic, "range", &[]))
    } else {
        let mut peer = GroupPeer::spawn(&group, &topic, "range", &[]);
        tokio::task::block_in_place(|| {
            peer.wait_until(WAIT, "owns all 6 alone", |p| p.owned.len() == 6)
        });
        (
            OurMember::start("ours", &group, &[&topic], &ours_config).await,
            peer,
        )
    };
    converge(&mut ours, &mut peer, &topic).await;
    let settle = Instant::now() + Duration::from_secs(1);
    while Instant::now() < settle {
        ours.pump().await;
        peer.pump();
    }
    let before = ours.owned.clone();
    let peer_events = peer.rebalance_events().len();
    let described = tokio::task::block_in_place(|| describe_group(&group));
    assert!(
        described["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["instance_id"] == instance.as_str()),
        "the broker knows our static member: {described}"
    );

    // Restart: close (a static member sends no LeaveGroup), then the same instance id again.
    let closed_at = now_secs();
    let OurMember { consumer, .. } = ours;
    consumer.close().await;
    let mut again = OurMember::start("ours again", &group, &[&topic], &ours_config).await;
    let deadline = Instant::now() + WAIT;
    while again.owned != before || !again.events_match_assignment() {
        peer.pump();
        assert!(
            Instant::now() < deadline,
            "the restarted static member gets {before:?} back\n{}\n{}",
            again.describe(),
            peer.describe()
        );
        again.pump().await;
    }
    let back_after = now_secs() - closed_at;
    assert!(
        back_after < SESSION.as_secs_f64(),
        "back within the session timeout ({back_after:.2} s)"
    );
    let observe = Instant::now() + OBSERVE;
    while Instant::now() < observe {
        again.pump().await;
        peer.pump();
    }
    assert_eq!(
        peer.rebalance_events().len(),
        peer_events,
        "the librdkafka member saw no rebalance across our static member's restart\n{}\n{}",
        again.describe(),
        peer.describe()
    );
    assert_eq!(again.owned, before, "{}", again.describe());
    assert_eq!(
        again
            .events
            .iter()
            .filter(|e| e["event"] != "assigned")
            .count(),
        0,
        "the restarted member was only assigned: {}",
        again.describe()
    );
    let described = tokio::task::block_in_place(|| describe_group(&group));
    assert_eq!(described["state"], "STABLE", "{described}");
    assert_eq!(
        described["members"].as_array().unwrap().len(),
        2,
        "{described}"
    );
    eprintln!("static member back with its partitions {back_after:.2} s after close");
    tokio::task::block_in_place(|| peer.stop(WAIT));
    again.consumer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_static_follower_restarting_within_the_session_timeout_keeps_its_partitions_and_librdkafka_sees_no_rebalance()
 {
    our_static_member_restarts(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_static_leader_restarting_within_the_session_timeout_keeps_its_partitions_and_librdkafka_sees_no_rebalance()
 {
    our_static_member_restarts(true).await;
}

/// The control, roles swapped: librdkafka's static member restarts; ours (dynamic, the leader)
/// must see no rebalance and keep its partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_librdkafka_static_member_restarting_within_the_session_timeout_causes_our_member_no_rebalance()
 {
    let topic = unique("grp-static-rdk");
    create_topic(&topic, 6);
    let group = unique("g-static-rdk");
    let instance = format!("instance-{}", unique("rdk"));
    let mut ours = OurMember::start(
        "ours",
        &group,
        &[&topic],
        &["partition.assignment.strategy=range"],
    )
    .await;
    let deadline = Instant::now() + WAIT;
    while ours.owned.len() < 6 {
        assert!(Instant::now() < deadline, "{}", ours.describe());
        ours.pump().await;
    }
    let peer_args = ["--instance-id", instance.as_str()];
    let mut peer = GroupPeer::spawn(&group, &topic, "range", &peer_args);
    converge(&mut ours, &mut peer, &topic).await;
    let settle = Instant::now() + Duration::from_secs(1);
    while Instant::now() < settle {
        ours.pump().await;
        peer.pump();
    }
    let before: BTreeSet<(String, i32)> = peer.owned.clone();
    let ours_events = ours.events.len();
    let ours_calls = ours.listener.calls().len();
    let ours_owned = ours.owned.clone();

    peer.request_stop();
    let deadline = Instant::now() + WAIT;
    while !peer.closed() {
        assert!(Instant::now() < deadline, "{}", peer.describe());
        ours.pump().await;
        peer.pump();
    }
    tokio::task::block_in_place(|| peer.process.wait_success(WAIT));
    let mut again = GroupPeer::spawn(&group, &topic, "range", &peer_args);
    let deadline = Instant::now() + WAIT;
    while again.owned != before {
        assert!(
            Instant::now() < deadline,
            "librdkafka's static member gets {before:?} back\n{}",
            again.describe()
        );
        ours.pump().await;
        again.pump();
    }
    let observe = Instant::now() + OBSERVE;
    while Instant::now() < observe {
        ours.pump().await;
        again.pump();
    }
    assert_eq!(
        (ours.events.len(), ours.listener.calls().len()),
        (ours_events, ours_calls),
        "our member saw no rebalance across librdkafka's static restart\n{}\n{}",
        ours.describe(),
        again.describe()
    );
    assert_eq!(ours.owned, ours_owned);
    assert!(ours.events_match_assignment(), "{}", ours.describe());
    tokio::task::block_in_place(|| again.stop(WAIT));
    ours.consumer.close().await;
}

/// A static member whose application stops polling past max.poll.interval.ms stops
/// heartbeating but sends no LeaveGroup (as Java): the coordinator keeps it (and its
/// partitions) until its session ends, so a quick return causes no rebalance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_past_max_poll_interval_sends_no_leave_group() {
    let topic = unique("grp-static-poll");
    create_topic(&topic, 2);
    let group = unique("g-static-poll");
    let instance = unique("static");
    let mut ours = OurMember::with_config(
        "static",
        support::group_config(
            &group,
            &[
                &format!("group.instance.id={instance}"),
                "session.timeout.ms=30000",
                "max.poll.interval.ms=4000",
            ],
        ),
    )
    .await;
    ours.subscribe(&[&topic]);
    let deadline = Instant::now() + WAIT;
    while ours.owned.len() < 2 {
        assert!(Instant::now() < deadline, "{}", ours.describe());
        ours.pump().await;
    }
    // Not polling for 7 s: past max.poll.interval.ms (4 s), well within the session (30 s).
    tokio::time::sleep(Duration::from_secs(7)).await;
    let described = tokio::task::block_in_place(|| describe_group(&group));
    let members: Vec<String> = described["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter_map(|m| m["instance_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        members,
        vec![instance.clone()],
        "the static member is still in the group: {described}"
    );
}
