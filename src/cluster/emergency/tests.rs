//! The leader's emergency against a real nats-server and a real hive: it goes on from what another wrote on the
//! bulletin, and a successor holds the emergency in force until the fleet has been healthy for `clear_after`
//! evaluations.

use std::{collections::BTreeMap, time::Duration};

use hive::{
    Hive, SimForge,
    cerebrum::{CiClass, CiSignature, MemberId, MemberKind, MemberState, Signal},
};
use hive_cluster::{ClusterConfig, NodeName};
use hive_testkit::NatsServer;

use super::*;

/// The leader's lease in these tests: short, so a handover takes a second or two.
const TTL: Duration = Duration::from_secs(2);
/// How long any awaited step may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// A pilot of another node, failing with one signature or healthy.
fn pilot(repo: &str, failing: bool) -> MemberStatus {
    let signals = if failing {
        vec![Signal::ci_failure(CiSignature::new("ci", "tests", None, CiClass::Test))]
    } else {
        Vec::new()
    };
    MemberStatus {
        id: MemberId::new(repo),
        kind: MemberKind::Pilot,
        state: MemberState::Running,
        restarts: 0,
        score: Some(if failing { 40 } else { 90 }),
        healthy: Some(!failing),
        stale: false,
        last_error: None,
        findings: Vec::new(),
        facts: BTreeMap::new(),
        signals,
    }
}

/// Twelve repositories of node `c`, the first `failing` failing alike (three are systemic), as publication `share`.
fn fleet(view: &FleetView, share: u64, failing: usize) {
    let repos = (0..12).map(|i| pilot(&format!("o/r{i:02}"), i < failing)).collect();
    view.merge("c", share, repos, true);
}

struct Node {
    steering: Steering,
    view: FleetView,
}

async fn node(server: &NatsServer, hive: &Hive, name: &str, clear_after: u32) -> (Node, Bulletin) {
    let config = ClusterConfig::new(NodeName::new(name).expect("valid"), TTL).expect("valid");
    let client = hive_cluster::connect(&server.url(), config.node()).await.expect("connect");
    let leader = hive_cluster::Election::start(&client, &config, None).await.expect("an election");
    let bulletin = Bulletin::emergency(&client, &config).await.expect("the bulletin");
    let view = FleetView::new(name);
    let emergency = EmergencyConfig { clear_after, ..EmergencyConfig::default() };
    let every = Duration::from_millis(50);
    let cadence = Cadence { every, in_emergency: every, settle: Duration::ZERO };
    let steering = Steering::start(hive, leader, bulletin.clone(), view.clone(), emergency, cadence);
    (Node { steering, view }, bulletin)
}

/// Waits for `n` rounds of `node`'s leading task to start: each names the leader in the view first. After two, at
/// least one whole evaluation ran in between, and at most three ran since the call.
async fn rounds(node: &Node, n: usize) {
    for _ in 0..n {
        node.view.set_leader(None);
        let until = std::time::Instant::now() + DEADLINE;
        while node.view.summary()["leader"].is_null() {
            assert!(std::time::Instant::now() < until, "no round of the leading task within {DEADLINE:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The bulletin's declaration now: its leader, its triggers and its revision.
async fn bulletin_now(bulletin: &Bulletin) -> Option<(String, Vec<String>, u64)> {
    let Ok(Some(Board::Posted(posted))) = bulletin.read::<Declaration>().await else { return None };
    let triggers = posted.value.reasons.iter().map(|r| serde_json::to_value(r).expect("json")["trigger"].to_string());
    Some((posted.value.leader, triggers.collect(), posted.revision))
}

/// Polls the bulletin until `done` holds for what it says.
async fn bulletin_until(
    bulletin: &Bulletin,
    done: impl Fn(&(String, Vec<String>, u64)) -> bool,
) -> (String, Vec<String>, u64) {
    let until = std::time::Instant::now() + DEADLINE;
    loop {
        let now = bulletin_now(bulletin).await;
        if let Some(now) = now.filter(|now| done(now)) {
            return now;
        }
        assert!(
            std::time::Instant::now() < until,
            "the bulletin did not come to it: {:?}",
            bulletin_now(bulletin).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn hive() -> Hive {
    Hive::builder().forge(SimForge::new(Vec::new())).repos(Vec::<String>::new()).start().await.expect("a hive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declaration_written_by_another_is_taken_over_and_cleared_after_healthy_evaluations() {
    let server = NatsServer::start().await;
    let hive = hive().await;
    let (a, bulletin) = node(&server, &hive, "a", 5).await;
    fleet(&a.view, 1, 0);
    // a leads, and has evaluated the healthy fleet: nothing to write.
    let until = std::time::Instant::now() + DEADLINE;
    while a.view.summary()["leader"] != "a" {
        assert!(std::time::Instant::now() < until, "a does not lead");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rounds(&a, 2).await;
    assert_eq!(bulletin_now(&bulletin).await, None, "nothing was declared");

    // Someone else writes a declaration (a leader a did not know of): a goes on from it.
    let other = Declaration {
        v: VERSION,
        leader: "z".to_owned(),
        reasons: vec![EmergencyReason::Declared { by: "z".to_owned() }],
        at: hive_support::now_rfc3339(),
    };
    let revision = bulletin.read::<Declaration>().await.expect("read").map(|board| board.revision());
    let written = bulletin.post(&other, revision).await.expect("written by hand");
    rounds(&a, 2).await;
    let held = bulletin_now(&bulletin).await.expect("a declaration");
    assert_eq!((held.0.as_str(), held.2), ("z", written), "cleared before five healthy evaluations");
    let cleared = bulletin_until(&bulletin, |(leader, triggers, _)| leader == "a" && triggers.is_empty()).await;
    assert!(cleared.2 > written, "{cleared:?}");
    a.steering.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successor_holds_the_emergency_until_the_fleet_is_healthy_for_clear_after_evaluations() {
    let server = NatsServer::start().await;
    let hive = hive().await;
    let (a, bulletin) = node(&server, &hive, "a", 5).await;
    let (b, _) = node(&server, &hive, "b", 5).await;
    fleet(&a.view, 1, 3);
    fleet(&b.view, 1, 3);
    let (first, triggers, declared) = bulletin_until(&bulletin, |(_, triggers, _)| !triggers.is_empty()).await;
    assert_eq!(triggers, [r#""systemic_failure""#], "{first}");

    // The leader stops; the other takes over, and holds the emergency while the fleet is sick.
    let (leader, successor) = if first == "a" { (a, b) } else { (b, a) };
    let next = successor.view.node();
    leader.steering.stop().await;
    let until = std::time::Instant::now() + DEADLINE;
    while successor.view.summary()["leader"] != next.as_str() {
        assert!(std::time::Instant::now() < until, "{next} does not lead after {first} stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rounds(&successor, 3).await;
    let held = bulletin_now(&bulletin).await.expect("a declaration");
    assert_eq!((held.0.as_str(), held.2), (first.as_str(), declared), "the emergency changed under {next}");

    // Healed: not cleared after two rounds (at most three healthy evaluations), cleared after five.
    fleet(&successor.view, 2, 0);
    rounds(&successor, 2).await;
    let held = bulletin_now(&bulletin).await.expect("a declaration");
    assert_eq!((held.0.as_str(), held.2), (first.as_str(), declared), "cleared too soon");
    let cleared = bulletin_until(&bulletin, |(leader, triggers, _)| *leader == next && triggers.is_empty()).await;
    assert!(cleared.2 > declared, "{cleared:?}");
    successor.steering.stop().await;
}
