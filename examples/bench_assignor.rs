//! Times the `cooperative-sticky` assignor on large groups (run by `bench/assignor`).
//!
//! Cases, for each size (topics × partitions per topic × members):
//! * `fresh`: every member subscribes to every topic and owns nothing;
//! * `sticky`: the same subscriptions, every member owning what `fresh` gave it (a rejoin);
//! * `extra`: as `sticky`, but one member also subscribes to one more topic of 100 partitions;
//! * `extra-follow-up`: the follow-up round of `extra` (owners as `extra` left them);
//! * `mixed`: a fresh group where member `m` skips every topic `t` with `t % 10 == m % 10`
//!   (the general algorithm from scratch); `mixed-sticky`: its rejoin;
//! * `scattered`: a fresh group where each topic has its own pseudo-random set of about 4/7 of
//!   the members as subscribers (as many subscription classes as topics); `scattered-leave`:
//!   its rejoin after the first member left.
//!
//! Prints one line per case: the median and the slowest wall time of `--runs` runs, the median
//! CPU time (user + system), and how many owned
//! partitions the assignment takes away from their owner (revoked) and how many it hands out.
//!
//! `cargo run --release --example bench_assignor -- [--runs N] [--sizes 10k,100k] [--cases fresh,sticky,extra,extra-follow-up,mixed,mixed-sticky,scattered,scattered-leave]`

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use rskafka_consumer::group::assignor::{Assignor, CooperativeStickyAssignor, MemberSubscription};
use rskafka_consumer::group::protocol::{Assignment, Subscription};

struct Size {
    name: &'static str,
    topics: usize,
    partitions: i32,
    members: usize,
}

const SIZES: [Size; 2] = [
    Size {
        name: "10k",
        topics: 100,
        partitions: 100,
        members: 1000,
    },
    Size {
        name: "100k",
        topics: 1000,
        partitions: 100,
        members: 1000,
    },
];

const EXTRA_TOPIC: &str = "extra-topic";

fn main() {
    let mut runs = 3usize;
    let mut sizes: Option<Vec<String>> = None;
    let mut cases: Option<Vec<String>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--runs" => runs = value().parse().expect("--runs N"),
            "--sizes" => sizes = Some(value().split(',').map(str::to_owned).collect()),
            "--cases" => cases = Some(value().split(',').map(str::to_owned).collect()),
            other => panic!("unknown argument {other}"),
        }
    }
    let wanted = |list: &Option<Vec<String>>, name: &str| {
        list.as_ref().is_none_or(|l| l.iter().any(|x| x == name))
    };
    println!("| size | case | median s | max s | median CPU s | revoked | newly assigned |");
    println!("|---|---|---|---|---|---|---|");
    for size in SIZES.iter().filter(|s| wanted(&sizes, s.name)) {
        let mut topics: BTreeMap<String, i32> = (0..size.topics)
            .map(|t| (format!("topic-{t:04}"), size.partitions))
            .collect();
        let subscribed: Vec<String> = topics.keys().cloned().collect();
        topics.insert(EXTRA_TOPIC.to_owned(), 100);
        let fresh: Vec<MemberSubscription> = (0..size.members)
            .map(|m| MemberSubscription {
                member_id: format!("consumer-{m:04}-6f1c2a9e"),
                group_instance_id: None,
                subscription: Subscription {
                    topics: subscribed.clone(),
                    ..Subscription::default()
                },
            })
            .collect();
        let first = CooperativeStickyAssignor.assign(&topics, &fresh);
        let sticky = owning(&fresh, &first, 1);
        let mut extra = sticky.clone();
        extra[0].subscription.topics.push(EXTRA_TOPIC.to_owned());
        let follow_up = if wanted(&cases, "extra-follow-up") {
            let extra_result = CooperativeStickyAssignor.assign(&topics, &extra);
            owning(&extra, &extra_result, 2)
        } else {
            Vec::new()
        };
        let mixed = subscribing(&fresh, &subscribed, |t, m| t % 10 != m % 10);
        let mixed_sticky = if wanted(&cases, "mixed-sticky") {
            let mixed_result = CooperativeStickyAssignor.assign(&topics, &mixed);
            owning(&mixed, &mixed_result, 1)
        } else {
            Vec::new()
        };
        let scattered = subscribing(&fresh, &subscribed, |t, m| {
            (t.wrapping_mul(2_654_435_761) ^ m.wrapping_mul(40_503)) % 7 < 4
        });
        let scattered_leave = if wanted(&cases, "scattered-leave") {
            let scattered_result = CooperativeStickyAssignor.assign(&topics, &scattered);
            owning(&scattered[1..], &scattered_result, 1)
        } else {
            Vec::new()
        };
        for (case, members) in [
            ("fresh", &fresh),
            ("sticky", &sticky),
            ("extra", &extra),
            ("extra-follow-up", &follow_up),
            ("mixed", &mixed),
            ("mixed-sticky", &mixed_sticky),
            ("scattered", &scattered),
            ("scattered-leave", &scattered_leave),
        ] {
            if !wanted(&cases, case) {
                continue;
            }
            let mut times = Vec::new();
            let mut cpu = Vec::new();
            let mut result = BTreeMap::new();
            for _ in 0..runs {
                let (start, start_cpu) = (Instant::now(), cpu_seconds());
                result = CooperativeStickyAssignor.assign(&topics, members);
                times.push(start.elapsed().as_secs_f64());
                cpu.push(cpu_seconds() - start_cpu);
            }
            let (revoked, added) = movement(members, &result);
            println!(
                "| {} | {case} | {:.3} | {:.3} | {:.2} | {revoked} | {added} |",
                size.name,
                median(&mut times),
                times[times.len() - 1],
                median(&mut cpu),
            );
        }
    }
}

/// `members`, each subscribing to the `topics` (by index `t`) for which `subscribes(t, m)`.
fn subscribing(
    members: &[MemberSubscription],
    topics: &[String],
    subscribes: impl Fn(usize, usize) -> bool,
) -> Vec<MemberSubscription> {
    members
        .iter()
        .enumerate()
        .map(|(m, member)| {
            let mut member = member.clone();
            member.subscription.topics = topics
                .iter()
                .enumerate()
                .filter(|&(t, _)| subscribes(t, m))
                .map(|(_, topic)| topic.clone())
                .collect();
            member
        })
        .collect()
}

/// `members` after a round that gave them `result`, in generation `generation`.
fn owning(
    members: &[MemberSubscription],
    result: &BTreeMap<String, Assignment>,
    generation: i32,
) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m.subscription.owned_partitions = result[&m.member_id].partitions.clone();
            m.subscription.generation_id = generation;
            m
        })
        .collect()
}

/// (partitions a member owned and lost, partitions a member got that it did not own).
fn movement(
    members: &[MemberSubscription],
    result: &BTreeMap<String, Assignment>,
) -> (usize, usize) {
    let flat =
        |tps: &[rskafka_consumer::group::protocol::TopicPartitions]| -> BTreeSet<(String, i32)> {
            tps.iter()
                .flat_map(|tp| tp.partitions.iter().map(|&p| (tp.topic.clone(), p)))
                .collect()
        };
    let (mut revoked, mut added) = (0, 0);
    for m in members {
        let owned = flat(&m.subscription.owned_partitions);
        let now = flat(&result[&m.member_id].partitions);
        revoked += owned.difference(&now).count();
        added += now.difference(&owned).count();
    }
    (revoked, added)
}

/// Sorts `values` and returns the middle one.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// User + system CPU time of this process so far (`/proc/self/stat`, 10 ms ticks), so that a
/// loaded machine shows in the wall times but not in the CPU column.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
