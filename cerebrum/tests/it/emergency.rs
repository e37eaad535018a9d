//! The emergency protocol through the queen: each trigger declares with its reason, members enter and leave
//! emergency mode (by command, or by the flag at their next observation), the sink is notified, a snapshot is
//! written, the recovery attempt resumes escalated members, and the emergency clears after exactly `clear_after`
//! healthy cycles.

use std::time::Duration;

use hive_cerebrum::{
    CiClass, CiSignature, CycleKind, EmergencyConfig, EmergencyReason, HealthLevel, HiveEvent, MemberCommand, MemberId,
    MemberSpec, MemberState, Notice, QueenConfig, Severity, Signal,
};

use crate::{
    harness::{Hive, config, count, eventually, is_escalated, is_resumed, pilot},
    member::{Fleet, Health, Probe, TestMsg},
};

const CLEAR_AFTER: u32 = 3;

fn emergency_config() -> QueenConfig {
    QueenConfig {
        emergency: EmergencyConfig {
            clear_after: CLEAR_AFTER,
            critical_window: Duration::from_secs(30),
            ..EmergencyConfig::default()
        },
        ..config()
    }
}

fn members(ids: &[&str]) -> Vec<MemberSpec> {
    ids.iter().map(|id| pilot(id, 5)).collect()
}

fn ids(names: &[&str]) -> Vec<MemberId> {
    names.iter().map(MemberId::new).collect()
}

fn declarations(events: &[HiveEvent]) -> Vec<Vec<EmergencyReason>> {
    events
        .iter()
        .filter_map(|e| match e {
            HiveEvent::EmergencyDeclared { reasons } => Some(reasons.clone()),
            _ => None,
        })
        .collect()
}

fn clearances(events: &[HiveEvent]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            HiveEvent::EmergencyCleared { healthy_evaluations } => Some(*healthy_evaluations),
            _ => None,
        })
        .collect()
}

/// Runs cycle 1, in which the scripts make exactly one trigger hold, and checks the declaration.
async fn declare_in_first_cycle(hive: &mut Hive, all: &[&str], expected: &[EmergencyReason]) {
    let (record, events) = hive.cycle().await;
    assert_eq!(declarations(&events), [expected.to_vec()], "declared once, for this reason only: {events:#?}");
    assert!(record.emergency_mode, "{record:?}");
    assert_eq!(record.ecosystem_health, HealthLevel::Emergency);
    assert_eq!(record.missed_reports, 0);
    assert!(hive.queen.status().await.expect("status").emergency);
    assert_eq!(hive.sink.notices(), [Notice::EmergencyDeclared { reasons: expected.to_vec() }]);
    for id in all {
        let probe = hive.fleet.probe(id);
        eventually(&format!("'{id}' entered emergency mode"), || Probe::get(&probe.entered) == 1).await;
    }
}

/// Runs healthy cycles and checks the hysteresis: still in emergency for `CLEAR_AFTER - 1` of them, cleared at
/// exactly the `CLEAR_AFTER`th; afterwards every member left emergency mode once.
async fn clear_after_healthy_cycles(hive: &mut Hive, all: &[&str]) {
    for healthy in 1..CLEAR_AFTER {
        let (record, events) = hive.cycle().await;
        assert!(clearances(&events).is_empty(), "cleared after only {healthy} healthy cycle(s): {events:#?}");
        assert!(record.emergency_mode, "healthy cycle {healthy}: {record:?}");
        assert_eq!(record.ecosystem_health, HealthLevel::Emergency);
        for id in all {
            assert_eq!(Probe::get(&hive.fleet.probe(id).left), 0, "'{id}' left emergency mode too early");
        }
    }
    let (record, events) = hive.cycle().await;
    assert_eq!(clearances(&events), [CLEAR_AFTER], "cleared at the {CLEAR_AFTER}th healthy cycle: {events:#?}");
    assert!(declarations(&events).is_empty());
    assert!(!record.emergency_mode, "{record:?}");
    assert_ne!(record.ecosystem_health, HealthLevel::Emergency);
    assert!(!hive.queen.status().await.expect("status").emergency);
    assert!(matches!(hive.sink.notices().last(), Some(Notice::EmergencyCleared)), "{:?}", hive.sink.notices());
    assert_eq!(hive.sink.notices().len(), 2);
    for id in all {
        let probe = hive.fleet.probe(id);
        eventually(&format!("'{id}' left emergency mode"), || Probe::get(&probe.left) == 1).await;
        assert_eq!(Probe::get(&probe.entered), 1, "'{id}'");
    }
    // One more healthy cycle changes nothing.
    let (record, events) = hive.cycle().await;
    assert!(!record.emergency_mode);
    assert!(declarations(&events).is_empty() && clearances(&events).is_empty(), "{events:#?}");
}

#[tokio::test(start_paused = true)]
async fn fleet_health_below_half_declares_writes_a_snapshot_and_clears_with_hysteresis() {
    let all = ["a", "b", "c", "d", "e"];
    let fleet = Fleet::default();
    // Cycle 1: four of five unhealthy (but not critical: 40 >= 25), so only the fleet-health trigger holds.
    for id in ["a", "b", "c", "d"] {
        fleet.script(id, |s| _ = s.cycles.insert(1, Health::unhealthy(40)));
    }
    let state_dir = tempfile::tempdir().expect("tempdir");
    // Two snapshots of earlier runs and a file of someone else's: with two kept, the oldest snapshot goes.
    let snapshots_dir = state_dir.path().join("snapshots");
    std::fs::create_dir_all(&snapshots_dir).expect("mkdir");
    for old in ["emergency-1000-cycle-1.json", "emergency-2000-cycle-9.json", "notes.txt"] {
        std::fs::write(snapshots_dir.join(old), b"{}").expect("write");
    }
    let config =
        QueenConfig { state_dir: Some(state_dir.path().to_path_buf()), keep_snapshots: Some(2), ..emergency_config() };
    let mut hive = Hive::start(config, members(&all), fleet).await;

    let expected = [EmergencyReason::FleetHealthLow { share: 0.2, threshold: 0.5 }];
    declare_in_first_cycle(&mut hive, &all, &expected).await;

    let path = match hive.events.seen("snapshot written", |e| matches!(e, HiveEvent::SnapshotWritten { .. })).await {
        HiveEvent::SnapshotWritten { path } => path,
        _ => unreachable!(),
    };
    assert!(path.starts_with(&snapshots_dir), "{}", path.display());
    // Pruned before the event is published.
    let mut kept: Vec<String> = std::fs::read_dir(&snapshots_dir)
        .expect("snapshots")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    kept.sort();
    let new = path.file_name().expect("name").to_string_lossy().into_owned();
    let mut expected_kept = vec!["emergency-2000-cycle-9.json".to_owned(), new, "notes.txt".to_owned()];
    expected_kept.sort();
    assert_eq!(kept, expected_kept);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("snapshot readable")).expect("snapshot is valid JSON");
    assert_eq!(json["reasons"], serde_json::to_value(expected).expect("reasons serialise"));
    assert_eq!(json["reasons"][0]["trigger"], "fleet_health_low");
    assert_eq!(json["cycle"], 1);
    assert_eq!(json["status"]["members"].as_array().map(Vec::len), Some(5));

    clear_after_healthy_cycles(&mut hive, &all).await;
    let snapshots = count(hive.events.log(), |e| matches!(e, HiveEvent::SnapshotWritten { .. }));
    assert_eq!(snapshots, 1, "one snapshot per declaration");
}

#[tokio::test(start_paused = true)]
async fn critical_members_within_the_window_declare_and_clear_once_the_window_has_passed() {
    let all = ["c1", "c2", "c3", "h1", "h2", "h3", "h4"];
    let fleet = Fleet::default();
    // Three critical (score < 25) of seven: 4/7 healthy keeps the fleet-health trigger quiet.
    for id in ["c1", "c2", "c3"] {
        fleet.script(id, |s| _ = s.cycles.insert(1, Health::unhealthy(10)));
    }
    let mut hive = Hive::start(emergency_config(), members(&all), fleet).await;

    let expected =
        [EmergencyReason::CriticalMembers { members: ids(&["c1", "c2", "c3"]), window: Duration::from_secs(30) }];
    declare_in_first_cycle(&mut hive, &all, &expected).await;

    // Everyone is healthy again, but the critical notes are still inside the window: the trigger still holds and
    // the cycle does not count towards clearing.
    let (record, events) = hive.cycle().await;
    assert_eq!(record.healthy_repositories, 7);
    assert!(record.emergency_mode);
    assert!(declarations(&events).is_empty() && clearances(&events).is_empty(), "{events:#?}");

    tokio::time::advance(Duration::from_secs(31)).await;
    clear_after_healthy_cycles(&mut hive, &all).await;
}

#[tokio::test(start_paused = true)]
async fn critical_security_signal_declares_and_clears_with_hysteresis() {
    let all = ["a", "b", "c"];
    let fleet = Fleet::default();
    fleet.script("a", |s| {
        _ = s.cycles.insert(1, Health::healthy(70).with(Signal::security(Severity::Critical, "CVE-2025-0001")));
    });
    // A high (not critical) alert elsewhere is no trigger.
    fleet.script("b", |s| _ = s.cycles.insert(1, Health::healthy(80).with(Signal::security(Severity::High, "CVE-2"))));
    let mut hive = Hive::start(emergency_config(), members(&all), fleet).await;

    declare_in_first_cycle(&mut hive, &all, &[EmergencyReason::CriticalSecurity { members: ids(&["a"]) }]).await;
    clear_after_healthy_cycles(&mut hive, &all).await;
}

#[tokio::test(start_paused = true)]
async fn same_ci_failure_in_three_members_declares_a_systemic_failure_and_clears_with_hysteresis() {
    let all = ["a", "b", "c", "d", "e"];
    let signature = CiSignature::new("ci", "test", Some("cargo test"), CiClass::Test);
    let fleet = Fleet::default();
    for id in ["a", "c", "e"] {
        fleet.script(id, |s| _ = s.cycles.insert(1, Health::healthy(70).with(Signal::ci_failure(signature.clone()))));
    }
    // Another signature in a fourth member is not part of it.
    fleet.script("b", |s| {
        _ = s.cycles.insert(
            1,
            Health::healthy(70).with(Signal::ci_failure(CiSignature::new(
                "ci",
                "build",
                Some("cargo"),
                CiClass::Build,
            ))),
        )
    });
    let mut hive = Hive::start(emergency_config(), members(&all), fleet).await;

    let expected = [EmergencyReason::SystemicFailure { signature, members: ids(&["a", "c", "e"]) }];
    declare_in_first_cycle(&mut hive, &all, &expected).await;
    clear_after_healthy_cycles(&mut hive, &all).await;
}

#[tokio::test(start_paused = true)]
async fn one_unhealthy_member_is_no_fleet_and_never_declares() {
    // A single local repository scoring 67: "0 % of the fleet healthy", but a fleet of one is no fleet.
    let fleet = Fleet::default();
    fleet.script("only", |s| s.default = Health::unhealthy(67));
    let mut hive = Hive::start(emergency_config(), members(&["only"]), fleet).await;
    for _ in 0..3 {
        let (record, _) = hive.cycle().await;
        assert_eq!((record.total_repositories, record.healthy_repositories), (1, 0), "{record:?}");
        assert!(!record.emergency_mode, "{record:?}");
    }
    assert!(declarations(hive.events.log()).is_empty(), "{:#?}", hive.events.log());
    assert!(hive.sink.notices().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_same_ci_failure_in_three_of_a_hundred_members_is_not_systemic() {
    let signature = CiSignature::new("ci", "lint", Some("clippy"), CiClass::Lint);
    let fleet = Fleet::default();
    let names: Vec<String> = (0..100).map(|i| format!("m{i:03}")).collect();
    // A new lint rule breaks three repositories of a hundred: three chores, not 10 % of the fleet.
    for id in &names[..3] {
        fleet.script(id, |s| s.default = Health::healthy(70).with(Signal::ci_failure(signature.clone())));
    }
    let specs = names.iter().map(|id| pilot(id, 5)).collect();
    let mut hive = Hive::start(emergency_config(), specs, fleet.clone()).await;
    for _ in 0..2 {
        let (record, _) = hive.cycle().await;
        assert_eq!(record.issues_detected, 3, "{record:?}");
        assert!(!record.emergency_mode, "{record:?}");
    }
    assert!(declarations(hive.events.log()).is_empty(), "{:#?}", hive.events.log());

    // Seven more with the same failure make ten of a hundred: now it is systemic.
    for id in &names[3..10] {
        fleet.script(id, |s| s.default = Health::healthy(70).with(Signal::ci_failure(signature.clone())));
    }
    let (record, events) = hive.cycle().await;
    assert!(record.emergency_mode, "{record:?}");
    let members: Vec<MemberId> = names[..10].iter().map(MemberId::new).collect();
    assert_eq!(declarations(&events), [vec![EmergencyReason::SystemicFailure { signature, members }]], "{events:#?}");
}

#[tokio::test(start_paused = true)]
async fn two_members_with_the_same_ci_failure_are_not_systemic() {
    let fleet = Fleet::default();
    for id in ["a", "b"] {
        fleet.script(id, |s| {
            s.default = Health::healthy(70).with(Signal::ci_failure(CiSignature::new(
                "ci",
                "test",
                Some("cargo test"),
                CiClass::Test,
            )))
        });
    }
    let mut hive = Hive::start(emergency_config(), members(&["a", "b", "c"]), fleet).await;
    for _ in 0..3 {
        let (record, _) = hive.cycle().await;
        assert!(!record.emergency_mode);
        assert_eq!(record.issues_detected, 2);
    }
    assert!(declarations(hive.events.log()).is_empty());
    assert!(hive.sink.notices().is_empty());
}

#[tokio::test(start_paused = true)]
async fn all_healthy_fleet_never_declares() {
    let all = ["a", "b", "c", "d", "e"];
    let fleet = Fleet::default();
    let mut hive = Hive::start(emergency_config(), members(&all), fleet.clone()).await;
    for n in 1..=5 {
        let (record, _) = hive.cycle().await;
        assert_eq!(record.orchestration_cycle, n);
        assert!(!record.emergency_mode);
        assert_eq!(record.ecosystem_health, HealthLevel::Excellent);
        assert_eq!((record.healthy_repositories, record.missed_reports), (5, 0));
    }
    let log = hive.events.log();
    assert!(declarations(log).is_empty(), "{log:#?}");
    assert_eq!(count(log, |e| matches!(e, HiveEvent::RecoveryAttempted { .. })), 0);
    assert!(hive.sink.notices().is_empty());
    assert!(!hive.queen.status().await.expect("status").emergency);
    for id in all {
        assert_eq!(Probe::get(&fleet.probe(id).entered), 0, "{id}");
        assert_eq!(Probe::get(&fleet.probe(id).observed), 5, "{id}");
    }
}

#[tokio::test(start_paused = true)]
async fn members_that_follow_the_flag_are_sent_no_command_and_read_the_emergency_at_their_next_observation() {
    let all = ["a", "b", "c", "d", "e"];
    let (following, commanded) = (["a", "b", "c"], ["d", "e"]);
    let fleet = Fleet::default();
    for id in following {
        fleet.script(id, |s| s.follows_flag = true);
    }
    let mut hive = Hive::start(emergency_config(), members(&all), fleet.clone()).await;
    let (record, _) = hive.cycle().await;
    assert!(!record.emergency_mode);

    hive.queen.declare_emergency("ops").expect("queen is running");
    hive.events.until("declared", |e| matches!(e, HiveEvent::EmergencyDeclared { .. })).await;
    for id in commanded {
        let probe = fleet.probe(id);
        eventually(&format!("'{id}' told to enter emergency mode"), || Probe::get(&probe.entered) == 1).await;
    }
    let (record, _) = hive.cycle().await;
    assert!(record.emergency_mode, "{record:?}");
    for id in all {
        let probe = fleet.probe(id);
        assert_eq!(Probe::get(&probe.observed), 2, "'{id}'");
        assert_eq!(Probe::get(&probe.observed_in_emergency), 1, "'{id}' observed in emergency mode");
    }

    hive.queen.clear_emergency().expect("queen is running");
    hive.events.until("cleared", |e| matches!(e, HiveEvent::EmergencyCleared { .. })).await;
    for id in commanded {
        let probe = fleet.probe(id);
        eventually(&format!("'{id}' told to leave emergency mode"), || Probe::get(&probe.left) == 1).await;
    }
    let (record, _) = hive.cycle().await;
    assert!(!record.emergency_mode, "{record:?}");
    for id in all {
        let probe = fleet.probe(id);
        assert_eq!(Probe::get(&probe.observed), 3, "'{id}'");
        assert_eq!(Probe::get(&probe.observed_in_emergency), 1, "'{id}' back to normal at its next observation");
    }
    for id in following {
        let probe = fleet.probe(id);
        assert_eq!((Probe::get(&probe.entered), Probe::get(&probe.left)), (0, 0), "'{id}' was sent no command");
    }
}

#[tokio::test(start_paused = true)]
async fn declaring_resumes_escalated_members_once() {
    let all = ["x", "y", "z", "h1", "h2", "h3", "h4"];
    let fleet = Fleet::default();
    // x, y and z escalate at their first failure.
    let specs: Vec<MemberSpec> = all.iter().map(|id| pilot(id, if id.starts_with('h') { 5 } else { 0 })).collect();
    let mut hive = Hive::start(emergency_config(), specs, fleet.clone()).await;
    let (record, _) = hive.cycle().await;
    assert!(!record.emergency_mode);

    for id in ["x", "y"] {
        fleet.send(id, TestMsg::Panic);
        hive.events.until("escalation", |e| is_escalated(e, id)).await;
    }
    assert!(declarations(hive.events.log()).is_empty(), "two escalated members are below the trigger");
    fleet.send("z", TestMsg::Panic);
    let events = hive.events.until("recovery", |e| matches!(e, HiveEvent::RecoveryAttempted { .. })).await;
    assert_eq!(
        declarations(&events),
        [vec![EmergencyReason::CriticalMembers { members: ids(&["x", "y", "z"]), window: Duration::from_secs(30) }]]
    );
    let Some(HiveEvent::RecoveryAttempted { resumed }) = events.last() else { unreachable!() };
    let mut resumed = resumed.clone();
    resumed.sort();
    assert_eq!(resumed, ids(&["x", "y", "z"]));

    for id in ["x", "y", "z"] {
        hive.events.seen("resumed", |e| is_resumed(e, id)).await;
    }
    let status = hive.status_until("all running", |s| s.members.iter().all(|m| m.state == MemberState::Running)).await;
    assert!(status.emergency);
    for id in ["x", "y", "z"] {
        assert_eq!(fleet.incarnation(id).await, 2, "{id}");
    }
    // Every member is in emergency mode exactly once: running ones by the declaration, resumed ones on start.
    for id in all {
        let probe = fleet.probe(id);
        eventually(&format!("'{id}' in emergency mode"), || Probe::get(&probe.entered) == 1).await;
    }

    // The recovery attempt happens once per declaration, not once per cycle.
    for _ in 0..2 {
        let (record, _) = hive.cycle().await;
        assert!(record.emergency_mode);
        assert_eq!(record.missed_reports, 0);
    }
    let log = hive.events.log();
    assert_eq!(count(log, |e| matches!(e, HiveEvent::RecoveryAttempted { .. })), 1);
    assert_eq!(count(log, |e| matches!(e, HiveEvent::MemberResumed { .. })), 3);
    assert_eq!(declarations(log).len(), 1);
}

/// Fails `id` twice: with `pilot(id, 1)` that is one restart, then escalation.
async fn crash_loop(hive: &mut Hive, fleet: &Fleet, id: &str) {
    fleet.send(id, TestMsg::Panic);
    hive.events.until("restart", |e| crate::harness::is_restarted(e, id)).await;
    fleet.send(id, TestMsg::Panic);
    hive.events.until("escalation", |e| is_escalated(e, id)).await;
}

#[tokio::test(start_paused = true)]
async fn in_a_large_fleet_a_few_crash_loops_are_no_emergency_and_come_back_but_a_tenth_of_the_fleet_is() {
    let fleet = Fleet::default();
    let names: Vec<String> = (0..200).map(|i| format!("m{i:03}")).collect();
    let specs = names.iter().map(|id| pilot(id, 1)).collect();
    let mut hive = Hive::start(emergency_config(), specs, fleet.clone()).await;
    hive.cycle().await;

    // Five of 200 escalate within the window: more than `critical_members`, but 2.5 % of the fleet.
    for id in &names[..5] {
        crash_loop(&mut hive, &fleet, id).await;
    }
    let (record, events) = hive.cycle().await;
    assert!(!record.emergency_mode && declarations(&events).is_empty(), "{events:#?}");
    assert!(declarations(hive.events.log()).is_empty());

    // They come back by themselves after their quiet period (a minute, plus up to 20 % jitter).
    tokio::time::advance(Duration::from_secs(75)).await;
    let status = hive
        .status_until("every escalated member resumed", |s| s.members.iter().all(|m| m.state == MemberState::Running))
        .await;
    assert_eq!(status.members.len(), 200);
    for id in &names[..5] {
        hive.events.seen("automatic resume", |e| is_resumed(e, id)).await;
    }

    // A tenth of the fleet escalating within the window is an emergency.
    for id in &names[5..25] {
        crash_loop(&mut hive, &fleet, id).await;
    }
    hive.events.seen("the declaration", |e| matches!(e, HiveEvent::EmergencyDeclared { .. })).await;
    let declared = declarations(hive.events.log());
    assert_eq!(declared.len(), 1, "{declared:#?}");
    match &declared[0][..] {
        [EmergencyReason::CriticalMembers { members, .. }] => assert_eq!(members.len(), 20),
        other => panic!("{other:#?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn refresh_cycles_never_clear_an_emergency_only_whole_cycles_do() {
    let all = ["a", "b", "c", "d", "e"];
    let fleet = Fleet::default();
    for id in ["a", "b", "c", "d"] {
        fleet.script(id, |s| _ = s.cycles.insert(1, Health::unhealthy(40)));
    }
    let mut hive = Hive::start(emergency_config(), members(&all), fleet).await;
    declare_in_first_cycle(&mut hive, &all, &[EmergencyReason::FleetHealthLow { share: 0.2, threshold: 0.5 }]).await;

    // More healthy refresh cycles of the whole fleet than clearing takes: the emergency holds.
    for _ in 0..CLEAR_AFTER + 1 {
        for id in all {
            hive.queen.observe_now(&MemberId::new(id)).await.expect("a member");
        }
        let events = hive.events.until("a refresh cycle", |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
        let Some(HiveEvent::CycleCompleted { record }) = events.last() else { unreachable!("until returns the match") };
        assert_eq!((record.kind, record.healthy_repositories), (CycleKind::Refresh, 5), "{record:?}");
        assert!(record.emergency_mode && clearances(&events).is_empty(), "{events:#?}");
    }
    // Whole cycles clear it, after exactly CLEAR_AFTER of them.
    let mut cleared = Vec::new();
    for _ in 0..CLEAR_AFTER {
        hive.queen.start_cycle().expect("a cycle");
        let events = hive.events.until("a full cycle", |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
        cleared.extend(clearances(&events));
    }
    assert_eq!(cleared, [CLEAR_AFTER]);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_cycle_that_an_emergency_was_declared_in_does_not_count_towards_clearing_it() {
    let old = ["a", "b", "c", "d"];
    let new = ["u1", "u2", "u3", "u4", "u5"];
    let fleet = Fleet::default();
    for id in new {
        fleet.script(id, |s| s.default = Health::unhealthy(40));
    }
    // Joins with the others and answers only when told: it holds the quiet cycle open.
    fleet.script("late", |s| s.silent = true);
    let config = QueenConfig { reconcile_every: 3, ..emergency_config() };
    let mut hive = Hive::start(config, members(&old), fleet.clone()).await;
    let (record, events) = hive.cycle().await;
    assert!(record.kind == CycleKind::Full && declarations(&events).is_empty(), "{events:#?}");

    // Five unhealthy newcomers, read in the quiet cycle that follows: four healthy of nine declares.
    for id in new.iter().chain(&["late"]) {
        hive.queen.add_member(pilot(id, 5)).await.expect("joins");
    }
    hive.queen.start_cycle().expect("cycle 2");
    hive.cycles += 1;
    hive.events.until("the declaration", |e| matches!(e, HiveEvent::EmergencyDeclared { .. })).await;
    // They leave before the cycle closes, so at its close no trigger holds.
    for id in new {
        hive.queen.remove_member(&MemberId::new(id)).await.expect("a member");
    }
    fleet.script("late", |s| s.silent = false);
    fleet.send("late", TestMsg::Command(MemberCommand::Observe { cycle: 2 }));
    let events = hive.events.until("cycle 2", |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
    let Some(HiveEvent::CycleCompleted { record }) = events.last() else { unreachable!("until returns the match") };
    assert_eq!((record.kind, record.healthy_repositories, record.total_repositories), (CycleKind::Quiet, 5, 5));
    assert!(record.emergency_mode && clearances(&events).is_empty(), "{events:#?}");

    // The quiet cycle did not read the others again: clearing still takes CLEAR_AFTER whole cycles.
    let all = ["a", "b", "c", "d", "late"];
    clear_after_healthy_cycles(&mut hive, &all).await;
}

#[tokio::test(start_paused = true)]
async fn removing_a_healthy_member_that_takes_the_share_below_half_declares_at_once() {
    // Six of twelve healthy: exactly half, which is not below it.
    let all = ["h1", "h2", "h3", "h4", "h5", "h6", "u1", "u2", "u3", "u4", "u5", "u6"];
    let fleet = Fleet::default();
    for id in &all[6..] {
        fleet.script(id, |s| s.default = Health::unhealthy(40));
    }
    let mut hive = Hive::start(emergency_config(), members(&all), fleet).await;
    let (record, events) = hive.cycle().await;
    assert_eq!((record.healthy_repositories, record.total_repositories), (6, 12), "{record:?}");
    assert!(declarations(&events).is_empty(), "{events:#?}");
    // Repeating the same verdicts changes nothing.
    let (_, events) = hive.cycle().await;
    assert!(declarations(&events).is_empty(), "{events:#?}");

    // Five of eleven: below half, with no report to follow; the removal itself is evaluated.
    hive.queen.remove_member(&MemberId::new("h1")).await.expect("h1 is a member");
    let events = hive.events.until("declared", |e| matches!(e, HiveEvent::EmergencyDeclared { .. })).await;
    let declared = declarations(&events);
    assert!(
        matches!(declared.as_slice(), [reasons] if matches!(reasons.as_slice(),
            [EmergencyReason::FleetHealthLow { share, .. }] if (*share - 5.0 / 11.0).abs() < 1e-9)),
        "{declared:#?}"
    );
    assert!(hive.queen.status().await.expect("status").emergency);
}
