//! A randomized soak of the runner, `rkc run` (issue 16), the way `tests/soak.rs` soaks `rkc
//! consume -G`, with poison records added: the same private 3-broker cluster (here ports
//! 29400–29402, controllers 29450–29452), 12-partition topic (RF 3, min.insync.replicas=2,
//! LogAppendTime), idempotent and transactional producers (every 3rd transaction aborted;
//! ≈ 100 records/s, a third of the consume soak's: the exec handler forks per record),
//! seeded nemesis (member SIGKILL / SIGSTOP / SIGTERM, a 4th member for a while, broker
//! restarts, a member's network cut through its proxies) and checker (`soak/checker.rs`:
//! nothing acknowledged lost, no aborted record handed to the handler, every duplicate
//! explained by a fault, committed == log end, never two members handing out one partition
//! at once, clean exits, rebalances ≤ 2 × membership changes, no long pause of a live owner).
//!
//! Three cooperative-sticky `rkc run` members (session 6 s) run the exec handler
//! `soak_runner/handler.sh`: it prints each record it is handed (the handout the checker
//! judges) and fails permanently on poison (one record in 97, see `soak_runner/dlq.rs`
//! `is_poison`; aborted transactions hold poison too), which the runner dead-letters to
//! `<topic>.dlq` with Kafka Connect provenance headers. On top of the soak's invariants,
//! `soak_runner/dlq.rs` checks the dead-letter topic read back by confluent-kafka
//! (read_committed): it holds exactly the acknowledged poison records by provenance, no
//! aborted record, each with its original value, and every extra copy explained. And
//! `soak_runner/resumed.rs` checks that a member resumed after a SIGSTOP past its session
//! starts nothing for the partitions it lost meanwhile (stricter than the soak checker,
//! which allows for `rkc consume`'s stdout buffer).
//!
//! - `short_runner_soak_holds_every_invariant` (ignored for now): 150 s of faults (seed 97;
//!   `RKC_SOAK_SEED` / `RKC_SOAK_SECONDS` override both), `cargo test --test soak_runner short
//!   -- --ignored --nocapture`. It passed three times on a moderately loaded machine and
//!   failed at load averages of 30–86 on 2 cores (members fell minutes behind the producers;
//!   one group stall on seed 16 not yet explained): it joins CI once it is stable. The run's
//!   files stay in the directory it prints first, under `target/tmp/`.
//! - `long_runner_soak_holds_every_invariant` (ignored): `RKC_SOAK_SECONDS=1800
//!   RKC_SOAK_SEED=7 cargo test --test soak_runner long -- --ignored --nocapture`.
//! - `dlq_checker_flags_*`, `resumed_check_flags_*`: the checkers' self-tests on synthetic runs.

mod support;

#[path = "soak/checker.rs"]
mod checker;
#[path = "soak_runner/dlq.rs"]
mod dlq;
// Only `run_with`, `Members` and the constants are used here.
#[allow(dead_code)]
#[path = "soak/harness.rs"]
mod harness;
#[path = "soak_runner/members.rs"]
mod members;
#[path = "soak/nemesis.rs"]
mod nemesis;
#[path = "soak_runner/resumed.rs"]
mod resumed;
#[path = "soak/trace.rs"]
mod trace;

use std::{process::Command, sync::Arc};

use dlq::{DeadLetter, DlqInvariant, DlqRun, is_poison};
use trace::{Exit, Fate, GroupChange, GroupEvent, Handout, MemberLife, Produced, Trace};

/// The private cluster's first port (this suite's range is 29400–29499).
const PORT: u16 = 29400;

/// The short soak's default seed and fault time.
const SHORT_SEED: u64 = 97;
const SHORT_SECONDS: f64 = 150.0;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn soak(default_seconds: f64) {
    let seed = env_or("RKC_SOAK_SEED", SHORT_SEED);
    let fault_seconds = env_or("RKC_SOAK_SECONDS", default_seconds);
    let members = Arc::new(members::RunnerMembers::default());
    let trace = harness::run_with(
        harness::Settings {
            seed,
            fault_seconds,
            port: PORT,
        },
        members.clone(),
    );
    let dlq = members.dlq();
    let verdict = checker::check(&trace);
    let dead = dlq::check(&trace, &dlq);
    let resumed = resumed::check(&trace);
    eprintln!(
        "[soak_runner] report (seed {seed}, {fault_seconds} s of faults):\n{}\n{}\nrecords started by a resumed member for a partition it had lost: {}",
        verdict.report,
        dead.report,
        resumed.len()
    );
    assert!(
        verdict.violations.is_empty() && dead.violations.is_empty() && resumed.is_empty(),
        "runner soak seed {seed}: {} invariant violation(s):\n{}{}{:#?}\nreport:\n{}\n{}",
        verdict.violations.len() + dead.violations.len() + resumed.len(),
        verdict.summary(8),
        dead.summary(8),
        &resumed[..resumed.len().min(8)],
        verdict.report,
        dead.report
    );
}

#[test]
fn short_runner_soak_plan_injects_every_kind_of_fault() {
    let plan = nemesis::plan(SHORT_SEED, SHORT_SECONDS);
    let needed = nemesis::time_for(&plan, nemesis::KINDS.len());
    assert!(
        plan.len() >= nemesis::KINDS.len() && needed < SHORT_SECONDS - 5.0,
        "seed {SHORT_SEED}: the first {} faults need {needed:.1} s of {SHORT_SECONDS} s: {plan:#?}",
        nemesis::KINDS.len()
    );
}

#[test]
#[ignore = "not yet stable under load (issue 16): green 3 times on a moderately loaded machine, \
            failed at load 30-86 (members fell behind the producers; one group stall on seed 16)"]
fn short_runner_soak_holds_every_invariant() {
    soak(SHORT_SECONDS);
}

#[test]
#[ignore = "long: RKC_SOAK_SECONDS / RKC_SOAK_SEED"]
fn long_runner_soak_holds_every_invariant() {
    soak(1800.0);
}

#[test]
fn the_handler_script_fails_exactly_the_values_is_poison_names() {
    let values = [
        "s0", "s1", "s96", "s97", "s98", "s194", "s9700", "t0-0-c", "t0-1-c", "t8-0-a", "t8-1-a",
        "t8-1-c", "t16-2-c", "t16-3-c", "t808-4-c", "x",
    ];
    let mut poison = 0;
    for value in values {
        let out = Command::new("sh")
            .arg(members::handler_script())
            .env("RKC_PARTITION", "3")
            .env("RKC_OFFSET", "41")
            .env("RKC_TIMESTAMP", "1700000000123")
            .env("RKC_ATTEMPT", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(value.as_bytes())?;
                child.wait_with_output()
            })
            .expect("run handler.sh");
        let line: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("handler.sh prints one JSON line");
        assert_eq!(
            line,
            serde_json::json!({"partition": 3, "offset": 41, "timestamp": 1700000000123i64,
                "attempt": 1, "value": value})
        );
        assert_eq!(
            out.status.code() == Some(1),
            is_poison(value),
            "{value}: {out:?}"
        );
        poison += usize::from(is_poison(value));
    }
    assert_eq!(poison, 9, "the samples hold poison and non-poison values");
    // No value: its rkc run died before writing it (SIGKILL); nothing is handed out.
    let out = Command::new("sh")
        .arg(members::handler_script())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run handler.sh");
    assert_eq!((out.status.code(), out.stdout.len()), (Some(75), 0));
}

// ---------------------------------------------------------------------------------------------
// The dead-letter checker's self-test: a clean synthetic run passes; each broken one is
// flagged.
// ---------------------------------------------------------------------------------------------

const TOPIC: &str = "orders";

/// The records of partition 0: (offset, value, fate, handed out).
const RECORDS: [(i64, &str, Fate); 8] = [
    (0, "s1", Fate::Acked),
    (1, "s97", Fate::Acked),
    (2, "s2", Fate::Acked),
    (3, "t8-1-a", Fate::Aborted),
    (4, "t8-0-c", Fate::Committed),
    (5, "t0-0-c", Fate::Committed),
    (6, "s3", Fate::Acked),
    (7, "s194", Fate::Acked),
];

fn letter(dlq_offset: i64, offset: i64, value: &str) -> DeadLetter {
    DeadLetter {
        partition: 0,
        offset: dlq_offset,
        source: Some((TOPIC.to_owned(), 0, offset)),
        value: value.to_owned(),
    }
}

/// One member owns partition 0 from 1.0 s to its clean exit at 20 s; it is handed every
/// record but the aborted one (offset 3), the poison among them (offsets 1, 5, 7) go to the
/// dead-letter topic once each.
fn clean() -> (Trace, DlqRun) {
    let mut t = Trace {
        partitions: 1,
        session_timeout: 6.0,
        rebalances: Some(1),
        preparing_rebalance: Some(1),
        ..Trace::default()
    };
    let mut m = MemberLife::new(0, 0.0);
    m.terminated = Some(19.8);
    m.ended = Some(20.0);
    m.exit = Exit::Code(0);
    t.members.push(m);
    t.events = vec![
        GroupEvent {
            member: 0,
            change: GroupChange::Assigned,
            partitions: vec![0],
            recv: 1.0,
        },
        GroupEvent {
            member: 0,
            change: GroupChange::Revoked,
            partitions: vec![0],
            recv: 19.9,
        },
    ];
    for (o, v, fate) in RECORDS {
        t.produced.insert((0, o), Produced::new(v, fate, None));
        if fate != Fate::Aborted {
            t.handouts.push(Handout {
                member: 0,
                partition: 0,
                offset: o,
                value: v.to_owned(),
                create: 1.5 + o as f64,
                recv: 2.0 + o as f64,
            });
        }
    }
    t.final_committed = [(0, 9)].into();
    t.log_end = [(0, 9)].into();
    let dlq = DlqRun {
        source_topic: TOPIC.to_owned(),
        letters: vec![
            letter(0, 1, "s97"),
            letter(1, 5, "t0-0-c"),
            letter(2, 7, "s194"),
        ],
        dead_lettered_events: 3,
        ..DlqRun::default()
    };
    (t, dlq)
}

/// Asserts the run breaks `invariant` and no other dead-letter invariant, and the soak
/// checker finds nothing.
fn flagged(trace: &Trace, dlq: &DlqRun, invariant: DlqInvariant) {
    let soak = checker::check(trace);
    assert!(soak.violations.is_empty(), "{}", soak.summary(5));
    let v = dlq::check(trace, dlq);
    assert!(
        v.broke(invariant),
        "{invariant:?} not flagged:\n{}",
        v.report
    );
    let others: Vec<_> = v
        .violations
        .iter()
        .filter(|x| x.invariant != invariant)
        .collect();
    assert!(others.is_empty(), "also flagged: {others:?}");
}

#[test]
fn dlq_checker_passes_a_clean_synthetic_run() {
    let (t, d) = clean();
    let soak = checker::check(&t);
    assert!(soak.violations.is_empty(), "{}", soak.summary(5));
    let v = dlq::check(&t, &d);
    assert!(v.violations.is_empty(), "{}", v.summary(5));
    assert_eq!(
        (v.report.poison, v.report.aborted_poison, v.report.distinct),
        (3, 1, 3),
        "{}",
        v.report
    );
}

#[test]
fn dlq_checker_flags_a_poison_record_missing_from_the_dlq() {
    let (t, mut d) = clean();
    d.letters
        .retain(|l| l.source.as_ref().is_some_and(|s| s.2 != 7));
    flagged(&t, &d, DlqInvariant::MissingPoison);
}

#[test]
fn dlq_checker_flags_a_record_that_is_not_poison_in_the_dlq() {
    let (t, mut d) = clean();
    d.letters.push(letter(3, 6, "s3"));
    flagged(&t, &d, DlqInvariant::NotPoison);
}

#[test]
fn a_lost_record_is_flagged_by_the_soak_checker() {
    let (mut t, d) = clean();
    t.handouts.retain(|h| h.offset != 6);
    let soak = checker::check(&t);
    assert!(soak.broke(checker::Invariant::Lost), "{}", soak.summary(5));
    // A lost poison record: neither handed out nor dead-lettered.
    let (mut t, mut d2) = clean();
    t.handouts.retain(|h| h.offset != 7);
    d2.letters
        .retain(|l| l.source.as_ref().is_some_and(|s| s.2 != 7));
    assert!(checker::check(&t).broke(checker::Invariant::Lost));
    assert!(dlq::check(&t, &d2).broke(DlqInvariant::MissingPoison));
    assert!(dlq::check(&clean().0, &d).violations.is_empty());
}

#[test]
fn dlq_checker_flags_an_aborted_record_in_the_dlq() {
    let (t, mut d) = clean();
    d.letters.push(letter(3, 3, "t8-1-a"));
    flagged(&t, &d, DlqInvariant::AbortedDeadLettered);
}

#[test]
fn dlq_checker_flags_a_dead_letter_without_the_original_value_or_provenance() {
    let (t, mut d) = clean();
    d.letters[1].value = "t0-0-x".into();
    flagged(&t, &d, DlqInvariant::NotTheOriginal);
    let (t, mut d) = clean();
    d.letters.push(DeadLetter {
        source: None,
        ..letter(3, 7, "s194")
    });
    flagged(&t, &d, DlqInvariant::NotTheOriginal);
}

#[test]
fn dlq_checker_flags_an_unexplained_copy_and_explains_an_outage_or_a_second_handout() {
    let (mut t, mut d) = clean();
    d.letters.push(letter(3, 1, "s97"));
    flagged(&t, &d, DlqInvariant::UnexplainedDuplicate);
    // The member reported the DLQ unavailable after it was handed offset 1: a write whose
    // acknowledgement was lost is written again.
    d.unavailable.push((0, 3.5, 0));
    let v = dlq::check(&t, &d);
    assert!(v.violations.is_empty(), "{}", v.summary(5));
    assert_eq!(v.report.duplicates.get("dlq_unavailable"), Some(&1));
    // An outage before the handout explains nothing.
    d.unavailable[0].1 = 2.5;
    assert!(dlq::check(&t, &d).broke(DlqInvariant::UnexplainedDuplicate));
    // Handed out twice (a duplicate the soak checker judges on its own): two letters.
    t.handouts.push(Handout {
        recv: 3.1,
        ..t.handouts[1].clone()
    });
    let v = dlq::check(&t, &d);
    assert!(v.violations.is_empty(), "{}", v.summary(5));
    assert_eq!(v.report.duplicates.get("handed out again"), Some(&1));
}

#[test]
fn resumed_check_flags_a_record_started_after_sigcont_for_a_partition_lost_in_the_stall() {
    let (mut t, _) = clean();
    // Stopped 9.5 → 16.0 s (longer than the 6 s session); reports partition 0 lost at 16.3.
    t.members[0].stopped.push((9.5, 16.0));
    t.events.push(GroupEvent {
        member: 0,
        change: GroupChange::Lost,
        partitions: vec![0],
        recv: 16.3,
    });
    assert!(
        resumed::check(&t).is_empty(),
        "handed out before the SIGSTOP"
    );
    let started = Handout {
        offset: 8,
        value: "s4".into(),
        recv: 16.1,
        ..t.handouts[0].clone()
    };
    t.handouts.push(started);
    let v = resumed::check(&t);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].record, (0, 8));
    // A stop shorter than the session loses nothing: not judged.
    t.members[0].stopped[0] = (11.0, 16.0);
    assert!(resumed::check(&t).is_empty());
}
