//! Graceful shutdown through the queen: members stop in reverse start order, their queued messages are processed
//! first (drain, not stop), and `HiveStopped` closes the event stream.

use hive_cerebrum::{HiveEvent, MemberId, QueenError};

use crate::{
    harness::{Hive, config, is_stopped, pilot, within},
    member::{Fleet, Probe, TestMsg},
};

#[tokio::test]
async fn members_stop_in_reverse_start_order_and_hive_stopped_comes_last() {
    let fleet = Fleet::default();
    let mut hive = Hive::start(config(), vec![pilot("a", 5), pilot("b", 5), pilot("c", 5)], fleet.clone()).await;
    // A member added later started later, so it stops first.
    hive.queen.add_member(pilot("d", 5)).await.expect("add d");
    assert!(
        matches!(hive.queen.add_member(pilot("d", 5)).await, Err(QueenError::DuplicateMember(m)) if m.as_str() == "d")
    );

    within("shutdown", hive.queen.shutdown()).await.expect("shutdown");
    assert_eq!(fleet.stop_order(), ["d", "c", "b", "a"], "post_stop ran in reverse start order");

    let events = hive.events.until("hive stopped", |e| matches!(e, HiveEvent::HiveStopped)).await;
    let stopped: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            HiveEvent::MemberStopped { member, reason } => {
                assert_eq!(reason, "shutdown");
                Some(member.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(stopped, ["d", "c", "b", "a"]);
    assert!(matches!(events.last(), Some(HiveEvent::HiveStopped)));
    for id in ["a", "b", "c", "d"] {
        assert_eq!(Probe::get(&fleet.probe(id).starts), 1, "'{id}' was stopped, not restarted");
    }

    // The queen is gone; a second shutdown is a no-op.
    assert!(matches!(hive.queen.status().await, Err(QueenError::NotRunning)));
    assert!(matches!(hive.queen.start_cycle(), Err(QueenError::NotRunning)));
    within("second shutdown", hive.queen.shutdown()).await.expect("shutting down twice is fine");
}

#[tokio::test]
async fn shutdown_drains_every_queued_message() {
    let fleet = Fleet::default();
    let mut hive = Hive::start(config(), vec![pilot("busy", 5), pilot("idle", 5)], fleet.clone()).await;

    // Queue a thousand messages and shut down at once: each takes a scheduler turn, so most are still queued when
    // the queen gets to the member. A stop would drop them; a drain processes them.
    for _ in 0..1_000 {
        fleet.send("busy", TestMsg::Work);
    }
    within("shutdown", hive.queen.shutdown()).await.expect("shutdown");
    assert_eq!(Probe::get(&fleet.probe("busy").processed), 1_000);
    assert_eq!(fleet.stop_order(), ["idle", "busy"]);
    hive.events.until("busy stopped", |e| is_stopped(e, "busy")).await;
    hive.events.until("hive stopped", |e| matches!(e, HiveEvent::HiveStopped)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_every_queued_message_on_a_multi_thread_runtime() {
    let fleet = Fleet::default();
    let hive = Hive::start(config(), vec![pilot("busy", 5)], fleet.clone()).await;
    for _ in 0..1_000 {
        fleet.send("busy", TestMsg::Work);
    }
    within("shutdown", hive.queen.shutdown()).await.expect("shutdown");
    assert_eq!(Probe::get(&fleet.probe("busy").processed), 1_000);
    assert_eq!(fleet.stop_order(), ["busy"]);
}

#[tokio::test]
async fn removed_member_is_stopped_and_forgotten() {
    let fleet = Fleet::default();
    let mut hive = Hive::start(config(), vec![pilot("a", 5), pilot("b", 5)], fleet.clone()).await;
    hive.queen.remove_member(&MemberId::new("a")).await.expect("remove a");
    let events = hive.events.until("a stopped", |e| is_stopped(e, "a")).await;
    assert!(matches!(events.last(), Some(HiveEvent::MemberStopped { reason, .. }) if reason == "removed"));
    let status = hive.queen.status().await.expect("status");
    assert!(status.member("a").is_none());
    assert_eq!(status.members.len(), 1);
    assert!(matches!(hive.queen.remove_member(&MemberId::new("a")).await, Err(QueenError::UnknownMember(_))));
    // Its exit was not treated as a failure to restart.
    let (record, _) = hive.cycle().await;
    assert_eq!((record.total_repositories, record.active_pilots, record.missed_reports), (1, 1, 0));
    assert_eq!(Probe::get(&fleet.probe("a").starts), 1);
}
