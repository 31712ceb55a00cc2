//! Helpers shared by the assignor tests: builders, a compact rendering of results, proptest
//! strategies and invariant checks, and the reader of the Java-generated cases in
//! `tests/fixtures/java_assignor_cases.txt`.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{Assignor, MemberSubscription};
use crate::group::protocol::{Assignment, Subscription, TopicPartitions};

/// Cases produced by running kafka-clients 4.1.1's assignors (see the file's header).
pub(crate) const JAVA_CASES: &str = include_str!("../../../tests/fixtures/java_assignor_cases.txt");

pub(crate) fn topics(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
    list.iter().map(|&(t, n)| (t.to_owned(), n)).collect()
}

pub(crate) fn member(id: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription {
        member_id: id.into(),
        group_instance_id: None,
        subscription: Subscription {
            topics: topics.iter().map(|&t| t.to_owned()).collect(),
            ..Subscription::default()
        },
    }
}

pub(crate) fn static_member(id: &str, instance: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription {
        group_instance_id: Some(instance.into()),
        ..member(id, topics)
    }
}

/// A member that owned `owned` ("t:p" items) in `generation`.
pub(crate) fn owning(
    id: &str,
    topics: &[&str],
    owned: &str,
    generation: i32,
) -> MemberSubscription {
    let mut m = member(id, topics);
    m.subscription.owned_partitions = parse_partitions(owned);
    m.subscription.generation_id = generation;
    m
}

/// "t:0,t:1,u:3" (or "" / "-") to grouped partitions.
pub(crate) fn parse_partitions(s: &str) -> Vec<TopicPartitions> {
    let mut out: Vec<TopicPartitions> = Vec::new();
    for item in s.split(',').filter(|i| !i.is_empty() && *i != "-") {
        let (t, p) = item.rsplit_once(':').expect("topic:partition");
        let p: i32 = p.parse().expect("partition");
        match out.iter_mut().find(|tp| tp.topic == t) {
            Some(tp) => tp.partitions.push(p),
            None => out.push(TopicPartitions::new(t, [p])),
        }
    }
    out
}

pub(crate) fn flatten(partitions: &[TopicPartitions]) -> Vec<(String, i32)> {
    let mut out: Vec<(String, i32)> = partitions
        .iter()
        .flat_map(|tp| tp.partitions.iter().map(|&p| (tp.topic.clone(), p)))
        .collect();
    out.sort();
    out
}

fn render_partitions(partitions: &[TopicPartitions]) -> String {
    flatten(partitions)
        .iter()
        .map(|(t, p)| format!("{t}:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// "a=t:0,t:1 b=t:2": every member, its partitions sorted.
pub(crate) fn render(result: &BTreeMap<String, Assignment>) -> String {
    result
        .iter()
        .map(|(id, a)| format!("{id}={}", render_partitions(&a.partitions)))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn count_of_topic(a: &Assignment, topic: &str) -> usize {
    a.partitions
        .iter()
        .filter(|tp| tp.topic == topic)
        .map(|tp| tp.partitions.len())
        .sum()
}

pub(crate) fn total(a: &Assignment) -> usize {
    a.partitions.iter().map(|tp| tp.partitions.len()).sum()
}

/// A generated group: partition counts and members.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub topics: BTreeMap<String, i32>,
    pub members: Vec<MemberSubscription>,
}

const TOPIC_NAMES: [&str; 5] = ["t0", "t1", "t2", "t3", "t4"];

fn arb_topics() -> impl Strategy<Value = BTreeMap<String, i32>> {
    prop::collection::vec(
        prop_oneof![1 => Just(0i32), 8 => 1i32..9],
        TOPIC_NAMES.len(),
    )
    .prop_map(|counts| {
        // t4 stays out of the metadata: subscribing to it must be harmless.
        TOPIC_NAMES[..4]
            .iter()
            .zip(counts)
            .map(|(t, n)| ((*t).to_owned(), n))
            .collect()
    })
}

fn arb_member_ids() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
    prop::collection::btree_set("[a-z0-9-]{1,8}", 1..8).prop_flat_map(|ids| {
        let n = ids.len();
        (
            Just(ids),
            prop::collection::vec(prop::option::weighted(0.3, "[a-c]{1,2}"), n),
        )
            .prop_map(|(ids, instances)| ids.into_iter().zip(instances).collect())
    })
}

/// Members with arbitrary (possibly empty, possibly unknown-topic) subscriptions.
pub(crate) fn arb_group() -> impl Strategy<Value = Group> {
    (arb_topics(), arb_member_ids()).prop_flat_map(|(topics, ids)| {
        let n = ids.len();
        (
            Just(topics),
            Just(ids),
            prop::collection::vec(prop::sample::subsequence(TOPIC_NAMES.to_vec(), 0..=5), n),
        )
            .prop_map(|(topics, ids, subs)| Group {
                topics,
                members: ids
                    .into_iter()
                    .zip(subs)
                    .map(|((id, instance), sub)| MemberSubscription {
                        group_instance_id: instance,
                        ..member(&id, &sub)
                    })
                    .collect(),
            })
    })
}

/// Members that all subscribe to the same topics.
pub(crate) fn arb_equal_group() -> impl Strategy<Value = Group> {
    (
        arb_topics(),
        arb_member_ids(),
        prop::sample::subsequence(TOPIC_NAMES.to_vec(), 1..=5),
    )
        .prop_map(|(topics, ids, sub)| Group {
            topics,
            members: ids
                .into_iter()
                .map(|(id, instance)| MemberSubscription {
                    group_instance_id: instance,
                    ..member(&id, &sub)
                })
                .collect(),
        })
}

/// Every partition of a subscribed topic assigned exactly once, only to a subscriber, and
/// every member present.
pub(crate) fn check_complete(
    group: &Group,
    result: &BTreeMap<String, Assignment>,
) -> Result<(), TestCaseError> {
    check_valid(group, result)?;
    let assigned: usize = result.values().map(total).sum();
    let expected: i32 = group
        .topics
        .iter()
        .filter(|(t, _)| {
            group
                .members
                .iter()
                .any(|m| m.subscription.topics.contains(t))
        })
        .map(|(_, &n)| n.max(0))
        .sum();
    prop_assert_eq!(assigned, expected as usize, "{}", render(result));
    Ok(())
}

/// Every member present, partitions exist, are assigned at most once and only to subscribers.
pub(crate) fn check_valid(
    group: &Group,
    result: &BTreeMap<String, Assignment>,
) -> Result<(), TestCaseError> {
    let ids: BTreeSet<&str> = group.members.iter().map(|m| m.member_id.as_str()).collect();
    let got: BTreeSet<&str> = result.keys().map(String::as_str).collect();
    prop_assert_eq!(ids, got);
    let mut seen = BTreeSet::new();
    for m in &group.members {
        for (t, p) in flatten(&result[&m.member_id].partitions) {
            prop_assert!(
                m.subscription.topics.contains(&t),
                "{} got {t}",
                m.member_id
            );
            prop_assert!(p >= 0 && p < group.topics[&t], "{t}:{p} does not exist");
            prop_assert!(seen.insert((t.clone(), p)), "{t}:{p} assigned twice");
        }
    }
    Ok(())
}

/// Totals differ by at most one.
pub(crate) fn check_balanced(result: &BTreeMap<String, Assignment>) -> Result<(), TestCaseError> {
    let counts: Vec<usize> = result.values().map(total).collect();
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    prop_assert!(max - min <= 1, "unbalanced: {}", render(result));
    Ok(())
}

/// Complete, and the same whatever the order of the members.
pub(crate) fn check_complete_and_deterministic(
    assignor: &dyn Assignor,
    group: &Group,
) -> Result<(), TestCaseError> {
    let result = assignor.assign(&group.topics, &group.members);
    check_complete(group, &result)?;
    let mut reversed = group.members.clone();
    reversed.reverse();
    prop_assert_eq!(&assignor.assign(&group.topics, &reversed), &result);
    let half = reversed.len() / 2;
    reversed.rotate_left(half);
    prop_assert_eq!(&assignor.assign(&group.topics, &reversed), &result);
    Ok(())
}

/// One case of the Java fixture file.
#[derive(Debug)]
pub(crate) struct JavaCase {
    pub label: String,
    pub assignor: String,
    pub topics: BTreeMap<String, i32>,
    pub members: Vec<MemberSubscription>,
    pub expected: String,
}

/// Parses the fixture file (format described in its header).
pub(crate) fn java_cases() -> Vec<JavaCase> {
    let mut cases = Vec::new();
    let mut current: Option<JavaCase> = None;
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for line in JAVA_CASES.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let dash = |s: &str| (s != "-").then(|| s.to_owned());
        match words[0] {
            "case" => {
                current = Some(JavaCase {
                    label: words[1].into(),
                    assignor: words[2].into(),
                    topics: BTreeMap::new(),
                    members: Vec::new(),
                    expected: String::new(),
                });
                expected.clear();
            }
            "topic" => {
                let case = current.as_mut().expect("case");
                case.topics
                    .insert(words[1].into(), words[2].parse().unwrap());
            }
            "member" => {
                // member <id> <instance|-> <generation> <user-data generation|-> <topics|-> <owned|->
                let case = current.as_mut().expect("case");
                let topics: Vec<String> = words[5]
                    .split(',')
                    .filter(|t| !t.is_empty() && *t != "-")
                    .map(str::to_owned)
                    .collect();
                case.members.push(MemberSubscription {
                    member_id: words[1].into(),
                    group_instance_id: dash(words[2]),
                    subscription: Subscription {
                        topics,
                        user_data: dash(words[4]).map(|g| {
                            Bytes::copy_from_slice(&g.parse::<i32>().unwrap().to_be_bytes())
                        }),
                        owned_partitions: parse_partitions(words[6]),
                        generation_id: words[3].parse().unwrap(),
                        rack_id: None,
                    },
                });
            }
            "expect" => {
                let partitions = if words.len() > 2 { words[2] } else { "-" };
                let partitions = if partitions == "-" { "" } else { partitions };
                expected.insert(words[1].to_owned(), partitions.to_owned());
            }
            "end" => {
                let mut case = current.take().expect("case");
                case.expected = expected
                    .iter()
                    .map(|(id, p)| format!("{id}={p}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                cases.push(case);
            }
            other => panic!("unknown fixture line {other}"),
        }
    }
    cases
}

/// Whether Java's expected result gives a member a partition of a topic it does not subscribe
/// to (Java's general sticky algorithm can hand a partition back to a previous owner that no
/// longer subscribes to its topic).
fn java_result_is_invalid(case: &JavaCase) -> bool {
    case.expected.split(' ').any(|entry| {
        let (id, partitions) = entry.split_once('=').expect("id=partitions");
        let member = case
            .members
            .iter()
            .find(|m| m.member_id == id)
            .expect("member");
        parse_partitions(partitions)
            .iter()
            .any(|tp| !member.subscription.topics.contains(&tp.topic))
    })
}

/// Runs every Java case of `name` through `assignor` and compares the results. Cases where Java
/// assigns a topic to a member not subscribed to it are instead checked to be valid on our
/// side; returns how many there were.
pub(crate) fn check_java_cases(name: &str, assignor: &dyn Assignor) -> usize {
    let cases: Vec<JavaCase> = java_cases()
        .into_iter()
        .filter(|c| c.assignor == name)
        .collect();
    assert!(cases.len() >= 10, "too few Java cases for {name}");
    let mut failures = Vec::new();
    let mut java_invalid = 0;
    for case in &cases {
        let result = assignor.assign(&case.topics, &case.members);
        let got = render(&result);
        if java_result_is_invalid(case) {
            java_invalid += 1;
            let group = Group {
                topics: case.topics.clone(),
                members: case.members.clone(),
            };
            if let Err(e) = check_valid(&group, &result) {
                failures.push(format!("{}: {e}", case.label));
            }
        } else if got != case.expected {
            failures.push(format!(
                "{}:\n  java {}\n  ours {got}",
                case.label, case.expected
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} Java cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    java_invalid
}
