//! Orchestration cycles through the queen: a member that fails mid-cycle still reports for it, silent members count
//! as missed, and the analytics record carries the right numbers for a scripted fleet.

use std::time::Duration;

use hive_cerebrum::{
    CiClass, CiSignature, CycleKind, EmergencyConfig, HealthLevel, HiveEvent, MemberCommand, MemberId, MemberKind,
    MemberSpec, QueenConfig, QueenError, RestartType, Severity, Signal,
};

use crate::{
    harness::{Hive, config, count, eventually, is_escalated, is_failed, is_restarted, is_stopped, pilot, policy},
    member::{Fleet, Health, Probe, TestMsg},
};

#[tokio::test(start_paused = true)]
async fn member_that_panics_mid_cycle_is_restarted_and_still_reports_for_that_cycle() {
    let fleet = Fleet::default();
    fleet.script("a", |s| s.panic_on_observe = 1);
    let mut hive = Hive::start(config(), vec![pilot("a", 5), pilot("b", 5), pilot("c", 5)], fleet.clone()).await;

    let (record, events) = hive.cycle().await;
    assert_eq!(count(&events, |e| is_failed(e, "a")), 1, "{events:#?}");
    assert_eq!(count(&events, |e| is_restarted(e, "a")), 1, "{events:#?}");
    let reported = |id: &str| {
        count(
            &events,
            |e| matches!(e, HiveEvent::HealthReported { member, cycle: Some(1), .. } if member.as_str() == id),
        )
    };
    assert_eq!((reported("a"), reported("b"), reported("c")), (1, 1, 1));
    // The restart came before a's report, which the new incarnation made.
    let restarted_at = events.iter().position(|e| is_restarted(e, "a")).expect("restart");
    let reported_at = events
        .iter()
        .position(|e| matches!(e, HiveEvent::HealthReported { member, .. } if member.as_str() == "a"))
        .expect("report");
    assert!(restarted_at < reported_at);
    assert_eq!(record.missed_reports, 0, "{record:?}");
    assert_eq!((record.total_repositories, record.healthy_repositories, record.active_pilots), (3, 3, 3));
    assert_eq!(Probe::get(&fleet.probe("a").observed), 2, "asked once per incarnation");
    assert_eq!(fleet.incarnation("a").await, 2);

    // The next cycle is ordinary.
    let (record, events) = hive.cycle().await;
    assert_eq!(count(&events, |e| is_failed(e, "a")), 0);
    assert_eq!((record.missed_reports, record.healthy_repositories), (0, 3));
}

/// The kinds of the cycles completed in `events`, in order.
fn kinds(events: &[HiveEvent]) -> Vec<(u64, CycleKind)> {
    events
        .iter()
        .filter_map(|e| match e {
            HiveEvent::CycleCompleted { record } => Some((record.orchestration_cycle, record.kind)),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn observe_now_reads_only_the_members_named_in_one_refresh_cycle() {
    let fleet = Fleet::default();
    let mut hive = Hive::start(config(), vec![pilot("a", 5), pilot("b", 5), pilot("c", 5)], fleet.clone()).await;

    // A burst of events about two members, one of them named twice: one refresh cycle reads each once.
    for id in ["a", "b", "a"] {
        hive.queen.observe_now(&MemberId::new(id)).await.expect("a member");
    }
    let events = hive.events.until("the refresh cycle", |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
    assert_eq!(count(&events, |e| matches!(e, HiveEvent::RefreshRequested { .. })), 3, "{events:#?}");
    assert!(
        events.iter().any(|e| matches!(e, HiveEvent::CycleStarted { cycle: 1, asked: 2, kind: CycleKind::Refresh })),
        "{events:#?}"
    );
    let Some(HiveEvent::CycleCompleted { record }) = events.last() else { unreachable!("until returns the match") };
    assert_eq!((record.kind, record.missed_reports, record.total_repositories), (CycleKind::Refresh, 0, 3));
    let observed = |id: &str| Probe::get(&fleet.probe(id).observed);
    assert_eq!((observed("a"), observed("b"), observed("c")), (1, 1, 0), "only the members named");
    assert!(hive.events.ready().is_empty(), "nothing more was started");

    let unknown = hive.queen.observe_now(&MemberId::new("nobody")).await;
    assert!(matches!(unknown, Err(QueenError::UnknownMember(ref id)) if id.as_str() == "nobody"), "{unknown:?}");
}

#[tokio::test(start_paused = true)]
async fn a_member_named_during_a_cycle_is_read_again_in_a_refresh_cycle_after_it() {
    let fleet = Fleet::default();
    // b does not answer cycle 1 by itself, so the cycle stays open while a is named.
    fleet.script("b", |s| s.silent = true);
    let mut hive = Hive::start(config(), vec![pilot("a", 5), pilot("b", 5)], fleet.clone()).await;
    hive.queen.start_cycle().expect("cycle 1");
    let a_answered =
        |e: &HiveEvent| matches!(e, HiveEvent::HealthReported { member, cycle: Some(1), .. } if member.as_str() == "a");
    hive.events.until("a answered cycle 1", a_answered).await;
    hive.queen.observe_now(&MemberId::new("a")).await.expect("a member");
    // Well past the refresh window: the read a gave may predate the change, but the open cycle comes first.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(count(&hive.events.ready(), |e| matches!(e, HiveEvent::CycleStarted { .. })), 0);

    fleet.script("b", |s| s.silent = false);
    fleet.send("b", TestMsg::Command(MemberCommand::Observe { cycle: 1 }));
    let events = hive
        .events
        .until(
            "the refresh cycle",
            |e| matches!(e, HiveEvent::CycleCompleted { record } if record.kind == CycleKind::Refresh),
        )
        .await;
    assert_eq!(kinds(&events), [(1, CycleKind::Full), (2, CycleKind::Refresh)], "{events:#?}");
    assert_eq!(Probe::get(&fleet.probe("a").observed), 2, "cycle 1 and the refresh");

    // A full cycle reads everyone, so a member named just before it needs no refresh of its own.
    hive.queen.observe_now(&MemberId::new("b")).await.expect("a member");
    hive.queen.start_cycle().expect("cycle 3");
    let events = hive.events.until("cycle 3", |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
    assert_eq!(kinds(&events), [(3, CycleKind::Full)]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(count(&hive.events.ready(), |e| matches!(e, HiveEvent::CycleStarted { .. })), 0, "no refresh after it");
}

#[tokio::test(start_paused = true)]
async fn between_reconciliations_only_members_never_read_are_asked() {
    let fleet = Fleet::default();
    let config = QueenConfig { reconcile_every: 3, ..config() };
    let mut hive = Hive::start(config, vec![pilot("a", 5), pilot("b", 5)], fleet.clone()).await;
    let observed = |id: &str| Probe::get(&fleet.probe(id).observed);

    let (record, _) = hive.cycle().await;
    assert_eq!((record.kind, observed("a"), observed("b")), (CycleKind::Full, 1, 1));
    // A member that joins between reconciliations has no verdict yet: the quiet cycle asks it, and only it.
    hive.queen.add_member(pilot("c", 5)).await.expect("c joins");
    let (record, events) = hive.cycle().await;
    assert_eq!((record.kind, observed("a"), observed("b"), observed("c")), (CycleKind::Quiet, 1, 1, 1));
    assert!(events.iter().any(|e| matches!(e, HiveEvent::CycleStarted { asked: 1, kind: CycleKind::Quiet, .. })));
    // The verdicts stand: the record covers every repository.
    assert_eq!((record.total_repositories, record.healthy_repositories, record.missed_reports), (3, 3, 0));
    let (record, _) = hive.cycle().await;
    assert_eq!((record.kind, observed("a"), observed("c")), (CycleKind::Quiet, 1, 1));
    let (record, _) = hive.cycle().await;
    assert_eq!((record.kind, observed("a"), observed("b"), observed("c")), (CycleKind::Full, 2, 2, 2));

    // In an emergency every cycle reads everything.
    hive.queen.declare_emergency("ops").expect("declared");
    hive.events.until("the declaration", |e| matches!(e, HiveEvent::EmergencyDeclared { .. })).await;
    let (record, _) = hive.cycle().await;
    assert_eq!((record.kind, observed("a")), (CycleKind::Full, 3));
}

#[tokio::test(start_paused = true)]
async fn silent_member_counts_as_missed_when_the_next_cycle_starts() {
    let fleet = Fleet::default();
    fleet.script("quiet", |s| s.silent = true);
    let mut hive = Hive::start(config(), vec![pilot("quiet", 5), pilot("b", 5)], fleet.clone()).await;

    hive.queen.start_cycle().expect("cycle 1");
    hive.events
        .until("b reported", |e| matches!(e, HiveEvent::HealthReported { member, .. } if member.as_str() == "b"))
        .await;
    let probe = fleet.probe("quiet");
    eventually("quiet was asked", || Probe::get(&probe.observed) == 1).await;
    // Cycle 1 stays open for the silent member until cycle 2 starts.
    assert!(hive.events.ready().iter().all(|e| !matches!(e, HiveEvent::CycleCompleted { .. })));
    hive.queen.start_cycle().expect("cycle 2");
    let events = hive.events.until("cycle 1 completed", |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
    let Some(HiveEvent::CycleCompleted { record }) = events.last() else { unreachable!() };
    assert_eq!((record.orchestration_cycle, record.missed_reports), (1, 1));
    assert_eq!(record.healthy_repositories, 1);
}

#[tokio::test(start_paused = true)]
async fn analytics_record_has_the_right_numbers_for_a_scripted_fleet() {
    let fleet = Fleet::default();
    let healthy = ["h1", "h2", "h3", "h4", "h5", "h6", "h7"];
    fleet.script("u1", |s| {
        s.cycles.insert(
            1,
            Health::unhealthy(40).with(Signal::ci_failure(CiSignature::new(
                "ci",
                "test",
                Some("cargo test"),
                CiClass::Test,
            ))),
        );
    });
    fleet.script("u2", |s| {
        s.cycles.insert(
            1,
            Health::unhealthy(40)
                .with(Signal::ci_failure(CiSignature::new("ci", "build", Some("cargo build"), CiClass::Build)))
                .with(Signal::security(Severity::Low, "old advisory")),
        );
    });
    let mut specs: Vec<MemberSpec> = healthy.iter().chain(&["u1", "u2"]).map(|id| pilot(id, 5)).collect();
    specs.push(pilot("esc", 0));
    specs.push(MemberSpec::pilot("tmp").with_policy(policy(RestartType::Temporary, 5)));
    let mut hive = Hive::start(config(), specs, fleet.clone()).await;

    // One member escalated (at its first failure), one temporary member gone for good.
    fleet.send("esc", TestMsg::Panic);
    hive.events.until("esc escalated", |e| is_escalated(e, "esc")).await;
    fleet.send("tmp", TestMsg::Exit);
    hive.events.until("tmp stopped", |e| is_stopped(e, "tmp")).await;

    let (record, _) = hive.cycle().await;
    assert_eq!(record.orchestration_cycle, 1);
    // Supervised: 9 running + 1 escalated; the stopped temporary member is not counted.
    assert_eq!(record.total_repositories, 10);
    assert_eq!(record.active_pilots, 9);
    assert_eq!(record.healthy_repositories, 7);
    assert_eq!(record.issues_detected, 3);
    assert_eq!(record.fixes_attempted, 0);
    assert!(!record.emergency_mode);
    // Mean over the nine reports: (7 * 90 + 2 * 40) / 9 = 78.88...
    assert_eq!(record.global_health_score, 78.9);
    // 7 healthy of 10 known (the escalated member counts as known and unhealthy): exactly 70 % is GOOD.
    assert_eq!(record.ecosystem_health, HealthLevel::Good);
    assert_eq!(record.missed_reports, 0);
    assert_eq!(record.timestamp.len(), "2026-01-01T00:00:00Z".len(), "{}", record.timestamp);
    assert!(record.timestamp.ends_with('Z') && record.timestamp.as_bytes()[10] == b'T', "{}", record.timestamp);
    assert_eq!(Probe::get(&fleet.probe("esc").observed), 0, "escalated members are not asked");
    assert_eq!(Probe::get(&fleet.probe("tmp").observed), 0, "stopped members are not asked");

    // The record as JSON keeps the seed's field names.
    let json = serde_json::to_value(&record).expect("record serialises");
    for field in [
        "timestamp",
        "orchestration_cycle",
        "total_repositories",
        "healthy_repositories",
        "active_pilots",
        "issues_detected",
        "fixes_attempted",
        "emergency_mode",
        "global_health_score",
        "ecosystem_health",
    ] {
        assert!(json.get(field).is_some(), "missing '{field}' in {json}");
    }
    assert_eq!(json["ecosystem_health"], "GOOD");

    // Cycle 2: both unhealthy members recover. 9 of 10 is not more than 90 %: still GOOD.
    let (record, _) = hive.cycle().await;
    assert_eq!((record.healthy_repositories, record.issues_detected), (9, 0));
    assert_eq!(record.global_health_score, 90.0);
    assert_eq!(record.ecosystem_health, HealthLevel::Good);

    // Resuming the escalated member makes the whole fleet healthy: EXCELLENT.
    hive.queen.resume(&"esc".into()).await.expect("resume");
    let (record, _) = hive.cycle().await;
    assert_eq!((record.total_repositories, record.active_pilots, record.healthy_repositories), (10, 10, 10));
    assert_eq!(record.ecosystem_health, HealthLevel::Excellent);

    // Escalated again: its last report was healthy, but an escalated member never counts as healthy.
    fleet.send("esc", TestMsg::Panic);
    hive.events.until("esc escalated again", |e| is_escalated(e, "esc")).await;
    let (record, _) = hive.cycle().await;
    assert_eq!((record.total_repositories, record.active_pilots, record.healthy_repositories), (10, 9, 9));
    assert_eq!(record.ecosystem_health, HealthLevel::Good);
}

#[tokio::test(start_paused = true)]
async fn cycles_run_on_the_interval_and_faster_while_an_emergency_is_active() {
    let fleet = Fleet::default();
    // Cycle 1 declares an emergency (three of four unhealthy, four being a fleet here); every later cycle is healthy.
    for id in ["a", "b", "c"] {
        fleet.script(id, |s| _ = s.cycles.insert(1, Health::unhealthy(40)));
    }
    let config = QueenConfig {
        cycle_interval: Some(Duration::from_secs(60)),
        emergency_cycle_interval: Duration::from_secs(10),
        emergency: EmergencyConfig { clear_after: 2, min_fleet: 4, ..EmergencyConfig::default() },
        ..config()
    };
    let start = tokio::time::Instant::now();
    let mut hive = Hive::start(config, vec![pilot("a", 5), pilot("b", 5), pilot("c", 5), pilot("d", 5)], fleet).await;

    // Paused clock: each cycle completes at the instant its timer fired, so the times are exact.
    let mut at = Vec::new();
    let mut emergency = Vec::new();
    for n in 1..=5u64 {
        let events = hive
            .events
            .until_within(Duration::from_secs(600), &format!("cycle {n}"), |e| {
                matches!(e, HiveEvent::CycleCompleted { .. })
            })
            .await;
        let Some(HiveEvent::CycleCompleted { record }) = events.last() else { unreachable!() };
        assert_eq!(record.orchestration_cycle, n);
        at.push(start.elapsed().as_secs());
        emergency.push(record.emergency_mode);
    }
    assert_eq!(emergency, [true, true, false, false, false], "declared in cycle 1, cleared after 2 healthy cycles");
    // 60 s to the first cycle; 10 s between cycles while the emergency is active (from the declaration on, not
    // one cycle later); back to 60 s once it has cleared (cycle 3's tick was armed while it was still active).
    assert_eq!(at, [60, 70, 80, 90, 150], "cycle completion times in seconds");
}

#[tokio::test(start_paused = true)]
async fn forced_emergency_is_declared_at_start_and_cycles_at_the_emergency_interval() {
    let config = QueenConfig {
        cycle_interval: Some(Duration::from_secs(60)),
        emergency_cycle_interval: Duration::from_secs(10),
        emergency: EmergencyConfig { forced: true, clear_after: 1, ..EmergencyConfig::default() },
        ..config()
    };
    let start = tokio::time::Instant::now();
    let fleet = Fleet::default();
    let mut hive = Hive::start(config, vec![pilot("a", 5), pilot("b", 5)], fleet.clone()).await;
    hive.events.seen("declared", |e| matches!(e, HiveEvent::EmergencyDeclared { reasons } if reasons.len() == 1)).await;
    for n in 1..=3u64 {
        let events = hive.events.until(&format!("cycle {n}"), |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
        let Some(HiveEvent::CycleCompleted { record }) = events.last() else { unreachable!() };
        assert!(record.emergency_mode, "a forced emergency never clears");
        assert_eq!(start.elapsed().as_secs(), 10 * n, "cycle {n}");
    }
    assert_eq!(count(hive.events.log(), |e| matches!(e, HiveEvent::EmergencyDeclared { .. })), 1);
    // Every member was told once.
    for id in ["a", "b"] {
        let probe = fleet.probe(id);
        eventually(&format!("'{id}' in emergency mode"), || Probe::get(&probe.entered) == 1).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_queen_continuing_an_earlier_count_numbers_its_first_cycle_one_more() {
    let config = QueenConfig { last_cycle: 41, ..config() };
    let mut hive = Hive::start(config, vec![pilot("a", 5), pilot("b", 5)], Fleet::default()).await;
    for n in [42, 43] {
        hive.queen.start_cycle().expect("queen is running");
        let events = hive.events.until(&format!("cycle {n}"), |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
        let Some(HiveEvent::CycleCompleted { record }) = events.last() else { unreachable!("until returns the match") };
        assert_eq!(record.orchestration_cycle, n);
        assert!(
            events.iter().any(|e| matches!(e, HiveEvent::CycleStarted { cycle, .. } if *cycle == n)),
            "{events:#?}"
        );
        let answered = events.iter().rev().find_map(|e| match e {
            HiveEvent::CycleProgressed { cycle, answered, asked } if *cycle == n => Some((*answered, *asked)),
            _ => None,
        });
        assert_eq!(answered, Some((2, 2)), "both members answer cycle {n}: {events:#?}");
    }
}

/// The health a member reported, as its `HealthReported` events say, in order.
fn reported(events: &[HiveEvent], id: &str) -> Vec<(u8, bool, Option<u64>)> {
    events
        .iter()
        .filter_map(|e| match e {
            HiveEvent::HealthReported { member, score, healthy, cycle } if member.as_str() == id => {
                Some((*score, *healthy, *cycle))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_report_is_published_when_it_changes_something_or_is_the_first_of_an_incarnation() {
    let fleet = Fleet::default();
    let failing = Signal::ci_failure(CiSignature::new("ci", "test", Some("cargo test"), CiClass::Test));
    fleet.script("a", |s| {
        s.default = Health::healthy(90);
        // Cycle 3 changes the score, 4 changes it back, 5 keeps score and verdict but raises a signal, 6 drops it.
        s.cycles.insert(3, Health::healthy(80));
        s.cycles.insert(5, Health::healthy(90).with(failing.clone()));
    });
    let mut hive = Hive::start(config(), vec![pilot("a", 5), pilot("b", 5)], fleet.clone()).await;

    let mut published = Vec::new();
    let mut signals = 0;
    for _ in 1..=6 {
        let (record, events) = hive.cycle().await;
        assert_eq!(record.missed_reports, 0, "{record:?}");
        published.extend(reported(&events, "a"));
        signals += count(&events, |e| matches!(e, HiveEvent::SignalRaised { member, .. } if member.as_str() == "a"));
    }
    assert_eq!(
        published,
        [(90, true, Some(1)), (80, true, Some(3)), (90, true, Some(4)), (90, true, Some(5)), (90, true, Some(6))],
        "the first report, then only the changed ones (2 repeats 1)"
    );
    assert_eq!(signals, 1, "the signal is published with the report that raised it");
    assert_eq!(reported(hive.events.log(), "b").len(), 1, "b never changed");
    // The queen still holds every member's latest report.
    let latest = hive.queen.report(&MemberId::new("b")).await.expect("queen").expect("b reported");
    assert_eq!((latest.score, latest.healthy, latest.cycle), (90, true, Some(6)));

    // A new incarnation's first report is published even when it repeats the last one, so an observer that saw
    // the failure sees the member report again.
    fleet.script("a", |s| s.panic_on_observe = 1);
    let (_, events) = hive.cycle().await;
    assert_eq!(count(&events, |e| is_restarted(e, "a")), 1, "{events:#?}");
    assert_eq!(reported(&events, "a"), [(90, true, Some(7))]);
    assert!(reported(&events, "b").is_empty(), "{events:#?}");
}

#[tokio::test(start_paused = true)]
async fn cycle_progress_is_published_at_each_new_whole_percent_and_reaches_everyone_asked() {
    // Below a hundred members, every answer is a new percent.
    let members: Vec<_> = ["a", "b", "c"].into_iter().map(|id| pilot(id, 5)).collect();
    let mut hive = Hive::start(config(), members, Fleet::default()).await;
    let (_, events) = hive.cycle().await;
    let progress: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            HiveEvent::CycleProgressed { cycle: 1, answered, asked } => Some((*answered, *asked)),
            _ => None,
        })
        .collect();
    assert_eq!(progress, [(1, 3), (2, 3), (3, 3)]);
    let completed = events.iter().position(|e| matches!(e, HiveEvent::CycleCompleted { .. })).expect("completed");
    let last = events.iter().rposition(|e| matches!(e, HiveEvent::CycleProgressed { .. })).expect("progress");
    assert!(last < completed, "the last progress comes before the cycle's completion");

    // Above a hundred, at most one per percent, and the last one says everyone answered.
    let members: Vec<_> = (0..250).map(|i| pilot(&format!("m{i:03}"), 5)).collect();
    let mut hive = Hive::start(config(), members, Fleet::default()).await;
    let (record, events) = hive.cycle().await;
    assert_eq!(record.missed_reports, 0);
    let progress: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            HiveEvent::CycleProgressed { answered, asked, .. } => Some((*answered, *asked)),
            _ => None,
        })
        .collect();
    assert_eq!(progress.len(), 100, "one per whole percent: {progress:?}");
    assert_eq!(progress.last(), Some(&(250, 250)));
    assert!(progress.windows(2).all(|w| w[0].0 < w[1].0), "answered only grows: {progress:?}");
    assert!(progress.iter().all(|(_, asked)| *asked == 250));
}

#[tokio::test(start_paused = true)]
async fn the_initial_fleet_is_one_fleet_started_and_a_member_added_later_is_member_started() {
    let fleet = Fleet::default();
    // b's first start fails: it is not in the fleet's event, but failed and then restarted.
    fleet.script("b", |s| s.fail_starts = 1);
    let mut hive = Hive::launch_only(config(), vec![pilot("a", 5), pilot("b", 5), pilot("c", 5)], fleet).await;
    let events = hive.events.until("the fleet started", |e| matches!(e, HiveEvent::FleetStarted { .. })).await;
    let Some(HiveEvent::FleetStarted { members }) = events.last() else { unreachable!("until returns the match") };
    let names: Vec<(&str, &MemberKind)> = members.iter().map(|m| (m.member.as_str(), &m.kind)).collect();
    assert_eq!(names, [("a", &MemberKind::Pilot), ("c", &MemberKind::Pilot)]);
    assert_eq!(count(&events, |e| is_failed(e, "b")), 1, "{events:#?}");
    assert_eq!(count(&events, |e| matches!(e, HiveEvent::MemberStarted { .. })), 0, "{events:#?}");
    hive.events.until("b restarted", |e| is_restarted(e, "b")).await;

    hive.queen.add_member(pilot("d", 5)).await.expect("add d");
    let events = hive.events.until("d started", |e| matches!(e, HiveEvent::MemberStarted { .. })).await;
    let Some(HiveEvent::MemberStarted { member, kind }) = events.last() else {
        unreachable!("until returns the match")
    };
    assert_eq!((member.as_str(), kind), ("d", &MemberKind::Pilot));
    assert_eq!(count(hive.events.log(), |e| matches!(e, HiveEvent::FleetStarted { .. })), 1);
}
