//! Every rule kind's state machine on a fake clock (an `Instant` advanced by hand) over
//! hand-built snapshots.

use std::{sync::Arc, time::Duration};

use super::*;
use crate::{
    hooks::PartitionStats,
    observe::{CommitStatistics, GroupStatistics, RunnerStatistics},
};

const T0_MS: u64 = 1_700_000_000_000;

/// A fake clock: a base instant plus seconds.
struct Clock(Instant);

impl Clock {
    fn at(&self, secs: f64) -> Instant {
        self.0 + Duration::from_secs_f64(secs)
    }
}

/// A snapshot at `secs` on the fake clock.
fn snap(secs: f64) -> Statistics {
    Statistics {
        time_ms: T0_MS + (secs * 1000.0) as u64,
        uptime_seconds: secs,
        group: Some(GroupStatistics {
            id: "g".into(),
            state: GroupState::Stable,
            generation: 1,
            assigned_partitions: 1,
            rebalances: 1,
            rebalance_seconds: 0.1,
            member_id: "m".into(),
        }),
        lag: 0,
        committed_lag: 0,
        partitions: vec![partition(0, Some(0), Some(0))],
        topics: Vec::new(),
        brokers: Vec::new(),
        buffer: None,
        commits: CommitStatistics {
            count: 0,
            failures: 0,
            seconds: 0.0,
        },
        runner: RunnerStatistics {
            handler_outcomes: [("processed", 0), ("retryable", 0), ("permanent", 0)].into(),
            handler_seconds: 0.0,
            retries: 0,
            dead_lettered: 0,
            dlq_produce_failures: 0,
            idempotent_skips: 0,
            circuit: "closed",
        },
        cluster_reachable: true,
        errors: Vec::new(),
        alerts: Vec::new(),
    }
}

fn partition(p: i32, position: Option<i64>, lag: Option<i64>) -> PartitionStats {
    PartitionStats {
        topic: Arc::from("orders"),
        partition: p,
        position,
        committed: position,
        high_watermark: None,
        last_stable_offset: None,
        end: None,
        lag,
        committed_lag: lag,
        paused: false,
    }
}

fn rule(kind: AlertKind, threshold: Option<f64>, hold: u64) -> AlertRule {
    AlertRule {
        name: kind.as_str().into(),
        kind,
        threshold,
        hold: Duration::from_secs(hold),
        window: None,
        severity: Severity::Warning,
    }
}

/// One evaluation: its time on the fake clock (seconds) and how the snapshot differs.
type Step<'a> = (f64, &'a dyn Fn(&mut Statistics));

/// Runs `steps` through an evaluator of `r`; returns `(seconds, status, transition)` of
/// every transition.
fn run(r: AlertRule, steps: &[Step<'_>]) -> Vec<(f64, AlertStatus, AlertTransition)> {
    let clock = Clock(Instant::now());
    let mut e = AlertEvaluator::new(vec![r]);
    let mut out = Vec::new();
    for (secs, edit) in steps {
        let mut s = snap(*secs);
        edit(&mut s);
        for t in e.evaluate(&s, clock.at(*secs)) {
            out.push((*secs, t.status, t));
        }
    }
    out
}

fn statuses(v: &[(f64, AlertStatus, AlertTransition)]) -> Vec<(f64, AlertStatus)> {
    v.iter().map(|(s, st, _)| (*s, *st)).collect()
}

use AlertStatus::{Firing, Resolved};

#[test]
fn lag_fires_after_holding_above_the_threshold_for_the_duration_and_resolves_once() {
    let lag = |n: i64| move |s: &mut Statistics| s.lag = n;
    let (l0, l200, l50) = (lag(0), lag(200), lag(50));
    let t = run(
        rule(AlertKind::Lag, Some(100.0), 10),
        &[
            (0.0, &l0),
            (1.0, &l200),
            (5.0, &l200),
            (10.0, &l200),
            (11.0, &l200), // 10 s above: fires
            (12.0, &l200), // still firing: nothing new
            (20.0, &l50),  // cleared: resolved
            (21.0, &l50),
        ],
    );
    assert_eq!(statuses(&t), vec![(11.0, Firing), (20.0, Resolved)]);
    let firing = &t[0].2;
    assert_eq!((firing.value, firing.threshold), (200.0, 100.0));
    assert_eq!(firing.since_ms, T0_MS + 1000, "since = when the lag rose");
    assert_eq!(firing.group.as_deref(), Some("g"));
    assert_eq!(t[1].2.value, 50.0);
    assert_eq!(t[1].2.since_ms, T0_MS + 1000);
}

#[test]
fn the_resolved_event_repeats_the_firing_events_since_when_the_wall_clock_drifts() {
    let clock = Clock(Instant::now());
    let mut e = AlertEvaluator::new(vec![rule(AlertKind::Lag, Some(10.0), 0)]);
    let mut s = snap(1.0);
    s.lag = 11;
    let firing = e.evaluate(&s, clock.at(1.0));
    // The wall clock moved 7 ms more than the monotonic one.
    let mut s = snap(5.007);
    s.lag = 0;
    let resolved = e.evaluate(&s, clock.at(5.0));
    assert_eq!(resolved[0].since_ms, firing[0].since_ms);
    assert_eq!(resolved[0].to_json()["since"], firing[0].to_json()["since"]);
}

#[test]
fn a_pending_alert_whose_condition_clears_before_the_duration_never_fires() {
    let hi = |s: &mut Statistics| s.lag = 500;
    let lo = |s: &mut Statistics| s.lag = 0;
    let t = run(
        rule(AlertKind::Lag, Some(100.0), 10),
        &[(0.0, &hi), (9.0, &hi), (9.5, &lo), (10.0, &hi), (19.0, &hi)],
    );
    assert!(t.is_empty(), "{t:?}");
}

#[test]
fn a_zero_duration_fires_at_the_first_evaluation_above_the_threshold() {
    let hi = |s: &mut Statistics| s.lag = 101;
    let eq = |s: &mut Statistics| s.lag = 100;
    let t = run(
        rule(AlertKind::Lag, Some(100.0), 0),
        &[(0.0, &eq), (1.0, &hi), (2.0, &eq)],
    );
    assert_eq!(statuses(&t), vec![(1.0, Firing), (2.0, Resolved)]);
}

#[test]
fn handler_error_rate_is_errors_per_minute_over_the_window() {
    // 30 s window: errors per minute = 2 × errors in the last 30 s.
    let mut r = rule(AlertKind::HandlerErrorRate, Some(10.0), 0);
    r.window = Some(Duration::from_secs(30));
    let errors = |retryable: u64, permanent: u64| {
        move |s: &mut Statistics| {
            s.runner.handler_outcomes = [
                ("processed", 1000),
                ("retryable", retryable),
                ("permanent", permanent),
            ]
            .into();
        }
    };
    let (e0, e4, e6, e6b) = (errors(0, 0), errors(3, 1), errors(4, 2), errors(4, 2));
    let t = run(
        r,
        &[
            (0.0, &e0),
            (10.0, &e4),  // 4 in the window: 8/min
            (20.0, &e6),  // 6 in the window: 12/min: fires
            (45.0, &e6b), // window (15..45]: baseline at 10 s (4): 2 → 4/min: resolved
        ],
    );
    assert_eq!(statuses(&t), vec![(20.0, Firing), (45.0, Resolved)]);
    assert_eq!(t[0].2.value, 12.0);
    assert_eq!(t[1].2.value, 4.0);
}

#[test]
fn dlq_records_counts_dead_letters_within_the_window() {
    let mut r = rule(AlertKind::DlqRecords, Some(2.0), 0);
    r.window = Some(Duration::from_secs(60));
    let dlq = |n: u64| move |s: &mut Statistics| s.runner.dead_lettered = n;
    let (d0, d2, d3, d3b) = (dlq(0), dlq(2), dlq(3), dlq(3));
    let t = run(
        r,
        &[
            (0.0, &d0),
            (10.0, &d2),  // 2: not above 2
            (20.0, &d3),  // 3 within 60 s: fires
            (70.0, &d3b), // baseline at 10 s (2): 1 record in the window
            (90.0, &d3b),
        ],
    );
    assert_eq!(statuses(&t), vec![(20.0, Firing), (70.0, Resolved)]);
    assert_eq!(t[0].2.value, 3.0);
    assert_eq!(t[1].2.value, 1.0);
}

#[test]
fn no_progress_fires_when_a_partition_with_lag_keeps_its_position() {
    let at = |pos: i64, lag: i64| {
        move |s: &mut Statistics| {
            s.partitions = vec![
                partition(0, Some(pos), Some(lag)),
                partition(1, Some(7), Some(0)),
            ]
        }
    };
    let (moving1, moving2, stuck, caught_up) = (at(10, 5), at(11, 5), at(11, 5), at(16, 0));
    let t = run(
        rule(AlertKind::NoProgress, None, 30),
        &[
            (0.0, &moving1),
            (20.0, &moving2), // moved: the clock restarts
            (45.0, &stuck),   // 25 s without progress
            (51.0, &stuck),   // 31 s: fires
            (60.0, &caught_up),
        ],
    );
    assert_eq!(statuses(&t), vec![(51.0, Firing), (60.0, Resolved)]);
    assert_eq!(t[0].2.value, 31.0);
    assert_eq!(t[0].2.threshold, 30.0);
    assert_eq!(t[0].2.since_ms, T0_MS + 20_000);
}

#[test]
fn no_progress_ignores_idle_partitions_and_slow_but_moving_ones() {
    let idle = |s: &mut Statistics| s.partitions = vec![partition(0, Some(9), Some(0))];
    let slow =
        |pos: i64| move |s: &mut Statistics| s.partitions = vec![partition(0, Some(pos), Some(50))];
    let (s1, s2, s3) = (slow(1), slow(2), slow(3));
    let t = run(
        rule(AlertKind::NoProgress, None, 10),
        &[
            (0.0, &idle),
            (30.0, &idle),
            (31.0, &s1),
            (40.0, &s2),
            (49.0, &s3),
            (55.0, &s3),
        ],
    );
    assert!(t.is_empty(), "{t:?}");
}

#[test]
fn not_in_group_fires_without_a_stable_assignment_for_the_duration() {
    let stable = |_: &mut Statistics| {};
    let rebalancing = |s: &mut Statistics| {
        s.group.as_mut().unwrap().state = GroupState::Rebalancing;
    };
    let empty = |s: &mut Statistics| s.group.as_mut().unwrap().assigned_partitions = 0;
    let t = run(
        rule(AlertKind::NotInGroup, None, 15),
        &[
            (0.0, &stable),
            (1.0, &rebalancing),
            (10.0, &empty),
            (16.0, &empty), // 15 s without an assignment: fires
            (17.0, &stable),
        ],
    );
    assert_eq!(statuses(&t), vec![(16.0, Firing), (17.0, Resolved)]);
    assert_eq!(t[0].2.value, 15.0);
}

#[test]
fn circuit_open_fires_while_the_breaker_is_open_or_probing() {
    let closed = |s: &mut Statistics| s.runner.circuit = "closed";
    let open = |s: &mut Statistics| s.runner.circuit = "open";
    let half = |s: &mut Statistics| s.runner.circuit = "half_open";
    let mut r = rule(AlertKind::CircuitOpen, None, 0);
    r.severity = Severity::Critical;
    let t = run(
        r,
        &[
            (0.0, &closed),
            (1.0, &open),
            (2.0, &half),
            (3.0, &open),
            (4.0, &closed),
        ],
    );
    assert_eq!(statuses(&t), vec![(1.0, Firing), (4.0, Resolved)]);
    assert_eq!(t[0].2.severity, Severity::Critical);
}

#[test]
fn the_event_json_and_the_board_follow_the_transitions() {
    let clock = Clock(Instant::now());
    let rules = vec![
        rule(AlertKind::Lag, Some(10.0), 0),
        rule(AlertKind::CircuitOpen, None, 0),
    ];
    let board = AlertBoard::new(&rules);
    let mut e = AlertEvaluator::new(rules);
    let mut s = snap(0.0);
    s.lag = 11;
    let t = e.evaluate(&s, clock.at(0.0));
    assert_eq!(t.len(), 1);
    board.apply(&t[0]);
    let json = t[0].to_json();
    assert_eq!(json["event"], "alert_firing");
    assert_eq!(json["alert"], "lag");
    assert_eq!(json["kind"], "lag");
    assert_eq!(json["severity"], "warning");
    assert_eq!(json["value"], 11.0);
    assert_eq!(json["threshold"], 10.0);
    assert_eq!(json["since"], "2023-11-14T22:13:20.000Z");
    assert_eq!(board.firing().len(), 1);

    let mut metrics = crate::observe::Metrics::new(Arc::new(crate::observe::Observer::new()));
    let board = Arc::new(board);
    metrics.registry_mut().register_collector(board.collector());
    let text = metrics.encode();
    assert!(text.contains("rkc_alert_firing{alert=\"lag\"} 1"), "{text}");
    assert!(
        text.contains("rkc_alert_firing{alert=\"circuit_open\"} 0"),
        "{text}"
    );
    assert!(text.contains("rkc_alert_webhook_dropped_total 0"), "{text}");

    s.lag = 0;
    let t = e.evaluate(&s, clock.at(1.0));
    assert_eq!(t[0].to_json()["event"], "alert_resolved");
    board.apply(&t[0]);
    assert!(board.firing().is_empty());
    assert!(
        metrics
            .encode()
            .contains("rkc_alert_firing{alert=\"lag\"} 0")
    );
}

#[test]
fn rules_are_checked_per_kind() {
    let ok = |r: &AlertRule| r.validate();
    assert!(ok(&rule(AlertKind::Lag, Some(1.0), 0)).is_ok());
    assert_eq!(
        ok(&rule(AlertKind::Lag, None, 0)).unwrap_err().0,
        "threshold"
    );
    assert_eq!(
        ok(&rule(AlertKind::Lag, Some(-1.0), 0)).unwrap_err().0,
        "threshold"
    );
    assert_eq!(
        ok(&rule(AlertKind::CircuitOpen, Some(1.0), 0))
            .unwrap_err()
            .0,
        "threshold"
    );
    assert_eq!(
        ok(&rule(AlertKind::NoProgress, None, 0)).unwrap_err().0,
        "for"
    );
    let mut r = rule(AlertKind::Lag, Some(1.0), 0);
    r.window = Some(Duration::from_secs(1));
    assert_eq!(ok(&r).unwrap_err().0, "window");
    let mut r = rule(AlertKind::DlqRecords, Some(1.0), 0);
    r.window = Some(Duration::ZERO);
    assert_eq!(ok(&r).unwrap_err().0, "window");
    let mut r = rule(AlertKind::Lag, Some(1.0), 0);
    r.name = " ".into();
    assert_eq!(ok(&r).unwrap_err().0, "name");
}
