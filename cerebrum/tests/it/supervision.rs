//! Supervision through the queen: restarts after panics and error returns, restart types, restart intensity and
//! escalation, backoff growth and reset, resume, and start failures (a panic in `pre_start`).

use std::time::Duration;

use hive_cerebrum::{Backoff, HiveEvent, MemberId, MemberSpec, MemberState, QueenConfig, QueenError, RestartType};

use crate::{
    harness::{
        Hive, config, count, failures, is_escalated, is_failed, is_restarted, is_resumed, is_stopped, ms, pilot,
        policy, restart_of,
    },
    member::{Fleet, Probe, TestMsg},
};

#[tokio::test(start_paused = true)]
async fn restarts_after_panic_and_after_error_return_and_the_new_incarnation_answers() {
    let fleet = Fleet::default();
    let mut hive = Hive::start(config(), vec![pilot("a", 5), pilot("b", 5)], fleet.clone()).await;
    let first = fleet.actor("a").get_id();
    assert_eq!(fleet.incarnation("a").await, 1);

    fleet.send("a", TestMsg::Panic);
    let events = hive.events.until("'a' restarted after panic", |e| is_restarted(e, "a")).await;
    let errors = failures(&events, "a");
    assert_eq!(errors.len(), 1, "one MemberFailed before the restart: {events:#?}");
    assert!(errors[0].contains("scripted panic in 'a'"), "the panic message is carried: {}", errors[0]);
    let failed_at = events.iter().position(|e| is_failed(e, "a")).expect("failed event");
    assert!(failed_at < events.len() - 1, "MemberFailed comes before MemberRestarted");
    assert_eq!(restart_of(events.last()), (1, ms(100)));
    assert_ne!(fleet.actor("a").get_id(), first, "a new actor serves the member");
    assert_eq!(fleet.incarnation("a").await, 2, "the new incarnation answers");

    fleet.send("a", TestMsg::Fail);
    let events = hive.events.until("'a' restarted after error", |e| is_restarted(e, "a")).await;
    let errors = failures(&events, "a");
    assert_eq!(errors.len(), 1, "{events:#?}");
    assert!(errors[0].contains("scripted error in 'a'"), "{}", errors[0]);
    assert_eq!(restart_of(events.last()), (2, ms(200)));
    assert_eq!(fleet.incarnation("a").await, 3);

    let status = hive.queen.status().await.expect("status");
    let a = status.member("a").expect("a");
    assert_eq!((a.state, a.restarts), (MemberState::Running, 2));
    assert!(a.last_error.as_deref().is_some_and(|e| e.contains("scripted error")), "{a:?}");
    // The sibling was left alone (one_for_one).
    let b = status.member("b").expect("b");
    assert_eq!((b.state, b.restarts), (MemberState::Running, 0));
    assert_eq!(Probe::get(&fleet.probe("b").starts), 1);
    assert_eq!(fleet.incarnation("b").await, 1);
}

#[tokio::test(start_paused = true)]
async fn permanent_member_is_restarted_after_a_normal_exit() {
    let fleet = Fleet::default();
    let mut hive = Hive::start(config(), vec![pilot("perm", 5)], fleet.clone()).await;

    fleet.send("perm", TestMsg::Exit);
    let events = hive.events.until("'perm' restarted", |e| is_restarted(e, "perm")).await;
    assert_eq!(count(&events, |e| is_failed(e, "perm")), 0, "a normal exit is not a failure: {events:#?}");
    assert_eq!(count(&events, |e| is_stopped(e, "perm")), 0, "{events:#?}");
    assert_eq!(restart_of(events.last()).0, 1);
    assert_eq!(fleet.incarnation("perm").await, 2);
    assert_eq!(hive.state("perm").await, MemberState::Running);
}

#[tokio::test(start_paused = true)]
async fn transient_member_is_not_restarted_after_a_normal_exit_but_is_after_a_panic() {
    let fleet = Fleet::default();
    let transient = |id: &str| MemberSpec::pilot(id).with_policy(policy(RestartType::Transient, 5));
    let mut hive = Hive::start(config(), vec![transient("clean"), transient("crash")], fleet.clone()).await;

    fleet.send("clean", TestMsg::Exit);
    let events = hive.events.until("'clean' stopped", |e| is_stopped(e, "clean")).await;
    match events.last() {
        Some(HiveEvent::MemberStopped { reason, .. }) => assert!(reason.contains("exited normally"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(count(&events, |e| is_failed(e, "clean")), 0);

    fleet.send("crash", TestMsg::Panic);
    let events = hive.events.until("'crash' restarted", |e| is_restarted(e, "crash")).await;
    assert_eq!(count(&events, |e| is_failed(e, "crash")), 1);
    assert_eq!(fleet.incarnation("crash").await, 2);

    // Long after any backoff, the clean exit still has not been restarted.
    tokio::time::advance(Duration::from_secs(120)).await;
    let status = hive.queen.status().await.expect("status");
    assert_eq!(status.member("clean").expect("clean").state, MemberState::Stopped);
    assert_eq!(status.member("crash").expect("crash").state, MemberState::Running);
    assert_eq!(Probe::get(&fleet.probe("clean").start_attempts), 1, "never built again");
    let later = hive.events.ready();
    assert_eq!(count(&later, |e| e.member().is_some_and(|m| m.as_str() == "clean")), 0, "{later:#?}");
}

#[tokio::test(start_paused = true)]
async fn killed_transient_member_is_restarted_as_after_a_failure() {
    let fleet = Fleet::default();
    let spec = MemberSpec::pilot("t").with_policy(policy(RestartType::Transient, 5));
    let mut hive = Hive::start(config(), vec![spec], fleet.clone()).await;

    fleet.actor("t").kill();
    let events = hive.events.until("'t' restarted", |e| is_restarted(e, "t")).await;
    assert_eq!(failures(&events, "t"), ["killed"], "a kill is abnormal, as in OTP: {events:#?}");
    assert_eq!(fleet.incarnation("t").await, 2);
    assert!(fleet.stop_order().is_empty(), "a killed actor skips post_stop");
}

#[tokio::test(start_paused = true)]
async fn temporary_member_is_never_restarted() {
    let fleet = Fleet::default();
    let temporary = |id: &str| MemberSpec::pilot(id).with_policy(policy(RestartType::Temporary, 5));
    let mut hive = Hive::start(config(), vec![temporary("crash"), temporary("clean")], fleet.clone()).await;

    fleet.send("crash", TestMsg::Panic);
    let events = hive.events.until("'crash' stopped", |e| is_stopped(e, "crash")).await;
    assert_eq!(failures(&events, "crash").len(), 1, "the panic is reported before the stop: {events:#?}");
    match events.last() {
        Some(HiveEvent::MemberStopped { reason, .. }) => assert!(reason.contains("not restarted"), "{reason}"),
        other => panic!("{other:?}"),
    }

    fleet.send("clean", TestMsg::Exit);
    let events = hive.events.until("'clean' stopped", |e| is_stopped(e, "clean")).await;
    assert_eq!(count(&events, |e| is_failed(e, "clean")), 0);

    tokio::time::advance(Duration::from_secs(120)).await;
    let status = hive.queen.status().await.expect("status");
    for id in ["crash", "clean"] {
        assert_eq!(status.member(id).expect(id).state, MemberState::Stopped, "{id}");
        assert_eq!(status.member(id).expect(id).restarts, 0, "{id}");
        assert_eq!(Probe::get(&fleet.probe(id).start_attempts), 1, "{id} never built again");
    }
    let later = hive.events.ready();
    assert_eq!(count(&later, |e| is_restarted(e, "crash") || is_restarted(e, "clean")), 0, "{later:#?}");
}

#[tokio::test(start_paused = true)]
async fn fourth_failure_within_the_period_escalates_once_and_without_automatic_resume_the_member_stays_down() {
    let fleet = Fleet::default();
    let config = QueenConfig { resume: None, ..config() };
    let mut hive = Hive::start(config, vec![pilot("a", 3), pilot("b", 3)], fleet.clone()).await;

    for failure in 1..=3u32 {
        fleet.send("a", TestMsg::Panic);
        let events = hive.events.until(&format!("restart {failure}"), |e| is_restarted(e, "a")).await;
        assert_eq!(count(&events, |e| is_escalated(e, "a")), 0, "failure {failure} must not escalate: {events:#?}");
        assert_eq!(count(&events, |e| is_failed(e, "a")), 1);
        assert_eq!(restart_of(events.last()).0, failure);
    }
    fleet.send("a", TestMsg::Panic);
    let events = hive.events.until("escalation", |e| is_escalated(e, "a")).await;
    assert_eq!(count(&events, |e| is_failed(e, "a")), 1, "the 4th failure, then escalation: {events:#?}");
    assert_eq!(count(&events, |e| is_restarted(e, "a")), 0, "{events:#?}");
    match events.last() {
        Some(HiveEvent::MemberEscalated { restarts, period, .. }) => {
            assert_eq!((*restarts, *period), (3, Duration::from_secs(60)));
        }
        other => panic!("{other:?}"),
    }

    // Far past every backoff delay: no restart, no second escalation.
    tokio::time::advance(Duration::from_secs(120)).await;
    let status = hive.queen.status().await.expect("status");
    let a = status.member("a").expect("a");
    assert_eq!((a.state, a.restarts), (MemberState::Escalated, 3));
    assert_eq!(status.member("b").expect("b").state, MemberState::Running);
    assert_eq!(Probe::get(&fleet.probe("a").start_attempts), 4, "1 start + 3 restarts, nothing after escalation");
    let all = hive.events.log().to_vec();
    assert_eq!(count(&all, |e| is_escalated(e, "a")), 1);
    let later = hive.events.ready();
    assert_eq!(count(&later, |e| e.member().is_some_and(|m| m.as_str() == "a")), 0, "{later:#?}");
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_from_the_minimum_and_resets_after_a_quiet_period() {
    let fleet = Fleet::default();
    // Enough intensity that the window never escalates here; reset_after is 5 s.
    let mut hive = Hive::start(config(), vec![pilot("a", 10)], fleet.clone()).await;

    let mut delays = Vec::new();
    for _ in 0..3 {
        let before = tokio::time::Instant::now();
        fleet.send("a", TestMsg::Panic);
        let events = hive.events.until("restart", |e| is_restarted(e, "a")).await;
        let (attempt, delay) = restart_of(events.last());
        assert!(before.elapsed() >= delay, "the restart waited its delay: {:?} < {delay:?}", before.elapsed());
        delays.push((attempt, delay));
    }
    assert_eq!(delays, [(1, ms(100)), (2, ms(200)), (3, ms(400))]);

    // Quiet for longer than reset_after: the next delay is the minimum again.
    tokio::time::advance(Duration::from_secs(6)).await;
    fleet.send("a", TestMsg::Panic);
    let events = hive.events.until("restart after quiet period", |e| is_restarted(e, "a")).await;
    assert_eq!(restart_of(events.last()), (1, ms(100)));

    // And grows again from there.
    fleet.send("a", TestMsg::Panic);
    let events = hive.events.until("restart", |e| is_restarted(e, "a")).await;
    assert_eq!(restart_of(events.last()), (2, ms(200)));
}

#[tokio::test(start_paused = true)]
async fn resume_restarts_an_escalated_member_with_a_fresh_window() {
    let fleet = Fleet::default();
    let mut hive = Hive::start(config(), vec![pilot("a", 2), pilot("b", 2)], fleet.clone()).await;

    for _ in 0..2 {
        fleet.send("a", TestMsg::Panic);
        hive.events.until("restart", |e| is_restarted(e, "a")).await;
    }
    fleet.send("a", TestMsg::Panic);
    hive.events.until("escalation", |e| is_escalated(e, "a")).await;
    assert_eq!(hive.state("a").await, MemberState::Escalated);

    // Only escalated members can be resumed.
    match hive.queen.resume(&MemberId::new("b")).await {
        Err(QueenError::NotEscalated { member, state }) => {
            assert_eq!((member.as_str(), state.as_str()), ("b", "running"))
        }
        other => panic!("resuming a running member: {other:?}"),
    }
    assert!(matches!(hive.queen.resume(&MemberId::new("nobody")).await, Err(QueenError::UnknownMember(_))));

    hive.queen.resume(&MemberId::new("a")).await.expect("resume an escalated member");
    let events = hive.events.until("resumed", |e| is_resumed(e, "a")).await;
    assert_eq!(count(&events, |e| is_restarted(e, "a")), 0, "a resume is not a restart: {events:#?}");
    assert_eq!(hive.state("a").await, MemberState::Running);
    assert_eq!(fleet.incarnation("a").await, 4, "1 start + 2 restarts + the resume");
    match hive.queen.resume(&MemberId::new("a")).await {
        Err(QueenError::NotEscalated { state, .. }) => assert_eq!(state, "running"),
        other => panic!("resuming twice: {other:?}"),
    }

    // Fresh window and fresh backoff: max_restarts (2) failures restart again, from the minimum delay.
    let mut restarts = Vec::new();
    for _ in 0..2 {
        fleet.send("a", TestMsg::Panic);
        let events = hive.events.until("restart after resume", |e| is_restarted(e, "a")).await;
        assert_eq!(count(&events, |e| is_escalated(e, "a")), 0, "{events:#?}");
        restarts.push(restart_of(events.last()));
    }
    assert_eq!(restarts, [(1, ms(100)), (2, ms(200))]);
    fleet.send("a", TestMsg::Panic);
    hive.events.until("second escalation", |e| is_escalated(e, "a")).await;
    assert_eq!(hive.state("a").await, MemberState::Escalated);
    assert_eq!(count(hive.events.log(), |e| is_escalated(e, "a")), 2);
    assert_eq!(hive.queen.status().await.expect("status").member("a").expect("a").restarts, 4, "restarts over life");
}

#[tokio::test(start_paused = true)]
async fn failed_start_on_restart_counts_as_a_failed_restart() {
    let fleet = Fleet::default();
    let mut hive = Hive::start(config(), vec![pilot("a", 3)], fleet.clone()).await;

    // One failed start: the restart after it carries attempt 2 and the doubled delay.
    fleet.script("a", |s| s.fail_starts = 1);
    fleet.send("a", TestMsg::Panic);
    let events = hive.events.until("restart after a failed start", |e| is_restarted(e, "a")).await;
    let errors = failures(&events, "a");
    assert_eq!(errors.len(), 2, "the panic, then the failed start: {events:#?}");
    assert!(errors[0].contains("scripted panic in 'a'"), "{}", errors[0]);
    assert!(errors[1].contains("scripted pre_start panic in 'a'"), "{}", errors[1]);
    assert_eq!(restart_of(events.last()), (2, ms(200)));
    assert_eq!(fleet.incarnation("a").await, 2);
    assert_eq!(Probe::get(&fleet.probe("a").start_attempts), 3);
}

#[tokio::test(start_paused = true)]
async fn repeated_start_failures_escalate() {
    let fleet = Fleet::default();
    // A second member keeps one escalated member from being the whole (known) fleet, which would declare an
    // emergency and resume it at once.
    let mut hive = Hive::start(config(), vec![pilot("a", 2), pilot("b", 2)], fleet.clone()).await;

    fleet.script("a", |s| s.fail_starts = 10);
    fleet.send("a", TestMsg::Panic);
    let events = hive.events.until("escalation", |e| is_escalated(e, "a")).await;
    // Panic (restart 1 scheduled), start fails (restart 2 scheduled), start fails (escalate).
    let errors = failures(&events, "a");
    assert_eq!(errors.len(), 3, "{events:#?}");
    assert_eq!(errors.iter().filter(|e| e.contains("pre_start")).count(), 2, "{errors:?}");
    assert_eq!(count(&events, |e| is_restarted(e, "a")), 0, "no incarnation ever came up: {events:#?}");
    assert!(matches!(events.last(), Some(HiveEvent::MemberEscalated { restarts: 2, .. })), "{events:#?}");
    assert_eq!(hive.state("a").await, MemberState::Escalated);
    assert_eq!(Probe::get(&fleet.probe("a").start_attempts), 3, "the first start and two failed restarts");
    assert_eq!(Probe::get(&fleet.probe("a").starts), 1);

    // Once the builder works again, a resume brings it back.
    fleet.script("a", |s| s.fail_starts = 0);
    hive.queen.resume(&MemberId::new("a")).await.expect("resume");
    hive.events.until("resumed", |e| is_resumed(e, "a")).await;
    assert_eq!(fleet.incarnation("a").await, 2);
}

/// Fails `id` until it escalates (`max_restarts` + 1 failures); returns when the escalation is on the bus.
async fn escalate(hive: &mut Hive, fleet: &Fleet, id: &str, max_restarts: u32) -> Option<Duration> {
    for failure in 1..=max_restarts {
        fleet.send(id, TestMsg::Panic);
        hive.events.until(&format!("restart {failure}"), |e| is_restarted(e, id)).await;
    }
    fleet.send(id, TestMsg::Panic);
    let events = hive.events.until("escalation", |e| is_escalated(e, id)).await;
    match events.last() {
        Some(HiveEvent::MemberEscalated { resume_in, .. }) => *resume_in,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_escalated_member_comes_back_by_itself_after_a_quiet_period_that_grows_while_it_keeps_failing() {
    let fleet = Fleet::default();
    let resume = Backoff {
        min: Duration::from_secs(60),
        max: Duration::from_secs(600),
        factor: 0.0,
        reset_after: Duration::from_secs(3_600),
    };
    let config = QueenConfig { resume: Some(resume), ..config() };
    let mut hive = Hive::start(config, vec![pilot("a", 1), pilot("b", 1)], fleet.clone()).await;

    let mut quiet = Vec::new();
    for round in 0..3 {
        let resume_in = escalate(&mut hive, &fleet, "a", 1).await;
        let escalated_at = tokio::time::Instant::now();
        let events =
            hive.events.until_within(Duration::from_secs(700), "automatic resume", |e| is_resumed(e, "a")).await;
        assert_eq!(count(&events, |e| is_restarted(e, "a")), 0, "round {round}: {events:#?}");
        quiet.push((resume_in, escalated_at.elapsed().as_secs()));
        let status = hive.queen.status().await.expect("status");
        assert_eq!(status.member("a").expect("a").state, MemberState::Running, "round {round}");
    }
    let expected = [
        (Some(Duration::from_secs(60)), 60),
        (Some(Duration::from_secs(120)), 120),
        (Some(Duration::from_secs(240)), 240),
    ];
    assert_eq!(quiet, expected, "announced and waited: a minute, doubling for each escalation after a resume");

    // An hour without escalation: the next quiet period is a minute again.
    tokio::time::advance(Duration::from_secs(3_600)).await;
    assert_eq!(escalate(&mut hive, &fleet, "a", 1).await, Some(Duration::from_secs(60)));

    // An operator resumes it first: the timer finds it running and does nothing.
    hive.queen.resume(&MemberId::new("a")).await.expect("resume");
    hive.events.until("manual resume", |e| is_resumed(e, "a")).await;
    tokio::time::advance(Duration::from_secs(120)).await;
    let later = hive.events.ready();
    assert_eq!(count(&later, |e| is_resumed(e, "a")), 0, "{later:#?}");
    assert_eq!(hive.queen.status().await.expect("status").member("b").expect("b").restarts, 0);
}
