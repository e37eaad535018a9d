//! Coordinators against a real nats-server: a fair share each, every repository held once; a node killed, one
//! joining, the server lost and back. Every change the coordinators send goes through one [`Ledger`], which fails
//! the test the moment two nodes would hold one repository.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use hive_cluster::{
    Coordinator, CoordinatorHandle, Fence, LeaseEntry, Leases, NodeName, Ownership, OwnershipChange, connect,
    rightful_owner,
};
use tokio::sync::mpsc;

use crate::server::{Ledger, NatsServer, TTL, config, config_with_ttl, fleet, poll_until};

/// How long a fleet may take to settle after a change: a few periods of requests, generously bounded for a
/// loaded machine. Only the failure bounds (a lapse, a partition) are timed against the ttl.
const SETTLE: Duration = Duration::from_secs(20);

struct Node {
    handle: CoordinatorHandle,
    client: async_nats::Client,
}

async fn start(
    server: &NatsServer,
    name: &str,
    fleet: &[String],
    events: &mpsc::UnboundedSender<OwnershipChange>,
    ttl: Duration,
) -> Node {
    let config = config_with_ttl(name, ttl);
    let client = connect(&server.url(), config.node()).await.expect("connect");
    let handle =
        Coordinator::start(&client, config, fleet.to_vec(), events.clone()).await.expect("start a coordinator");
    Node { handle, client }
}

async fn observer(server: &NatsServer, ttl: Duration) -> Leases {
    let config = config_with_ttl("observer", ttl);
    let client = connect(&server.url(), config.node()).await.expect("connect");
    Leases::open(&client, &config).await.expect("open the leases' bucket")
}

fn names(nodes: &[&str]) -> BTreeSet<NodeName> {
    nodes.iter().map(|n| NodeName::new(n).expect("valid")).collect()
}

/// Whether every repository of `fleet` is held, in the bucket and by the coordinators' own word, by its rightful
/// owner among `live`, and nothing else is held.
async fn converged(observer: &Leases, ledger: &mut Ledger, live: &[&str], fleet: &[String]) -> bool {
    ledger.read();
    let live = names(live);
    let Ok(bucket) = observer.all().await else { return false };
    bucket.len() == fleet.len()
        && ledger.holders().len() == fleet.len()
        && fleet.iter().all(|repo| {
            let owner = rightful_owner(repo, &live);
            owner.is_some()
                && bucket.get(repo).map(|entry| &entry.record.node) == owner
                && ledger.holders().get(repo) == owner
        })
}

async fn settle(observer: &Leases, ledger: &mut Ledger, live: &[&str], fleet: &[String]) {
    let mut settled = false;
    let deadline = Instant::now() + SETTLE;
    while Instant::now() < deadline {
        if converged(observer, ledger, live, fleet).await {
            settled = true;
            break;
        }
        // Each look lists and reads the whole bucket: not so often that the looking loads the coordinators.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(settled, "the fleet did not settle on {live:?} within {SETTLE:?}: held {:?}", ledger.holders());
}

/// The whole bucket, once a listing has `count` leases: a 2.9 server's listing can miss a key renewed while it
/// runs, so a listing that is short is taken again.
async fn every_lease(observer: &Leases, count: usize) -> BTreeMap<String, LeaseEntry> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let listed = observer.all().await.unwrap_or_default();
        if listed.len() == count {
            return listed;
        }
        assert!(
            Instant::now() < deadline,
            "the bucket did not list {count} leases within {SETTLE:?}: {}",
            listed.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Three nodes over 60 repositories, settled, with one ledger of their changes.
struct Cluster {
    fleet: Vec<String>,
    ledger: Ledger,
    events: mpsc::UnboundedSender<OwnershipChange>,
    observer: Leases,
    nodes: Vec<Node>,
}

impl Cluster {
    async fn settled(server: &NatsServer) -> Self {
        Self::settled_over(server, 60, TTL).await
    }

    /// Three nodes over `size` repositories with leases of `ttl`, settled.
    async fn settled_over(server: &NatsServer, size: usize, ttl: Duration) -> Self {
        let fleet = fleet(size);
        let (mut ledger, events) = Ledger::new();
        let observer = observer(server, ttl).await;
        let mut nodes = Vec::new();
        for name in ["a", "b", "c"] {
            nodes.push(start(server, name, &fleet, &events, ttl).await);
        }
        settle(&observer, &mut ledger, &["a", "b", "c"], &fleet).await;
        Self { fleet, ledger, events, observer, nodes }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_hold_every_repository_exactly_once_and_give_it_all_back_when_stopped() {
    let server = NatsServer::start().await;
    let Cluster { mut ledger, observer, nodes, .. } = Cluster::settled(&server).await;

    for node in &nodes {
        let held = node.handle.held();
        assert!(!held.is_empty(), "{} holds none of 60", node.handle.node());
        assert_eq!(held.keys().cloned().collect::<Vec<_>>(), ledger.held_by(node.handle.node().as_str()));
        let leases = Leases::open(&node.client, &config(node.handle.node().as_str())).await.expect("open");
        let fence = Fence::new(leases);
        let holdings = node.handle.holdings();
        for repo in held.keys() {
            let lease = holdings.lease(repo).expect("held");
            fence
                .check(&lease)
                .await
                .unwrap_or_else(|e| panic!("the fence refused {}'s own lease: {e}", node.handle.node()));
        }
    }

    for node in nodes {
        node.handle.stop().await;
    }
    ledger.read();
    assert!(ledger.holders().is_empty(), "still held after every node stopped: {:?}", ledger.holders());
    assert!(observer.all().await.expect("list").is_empty(), "every lease released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_repositories_go_to_the_others_within_a_ttl_and_a_period() {
    let server = NatsServer::start().await;
    let Cluster { fleet, mut ledger, observer, mut nodes, .. } = Cluster::settled(&server).await;
    let orphans = ledger.held_by("c");

    // kill -9: the task ends where it is, its connection with it, and it releases nothing.
    let c = nodes.pop().expect("c");
    let killed = Instant::now();
    c.handle.abort();
    drop(c.client);
    ledger.read();
    ledger.forget("c");

    let period = TTL / 3;
    // The leases lapse a ttl after their last renewal (at most a period before the kill); the next round claims
    // them. The slack covers the server's expiry timer and the requests.
    let bound = TTL + period + Duration::from_millis(1_000);
    let taken = poll_until(bound + Duration::from_secs(5), || {
        ledger.read();
        let taken = orphans.iter().all(|repo| ledger.holders().get(repo).is_some_and(|node| node.as_str() != "c"));
        async move { taken }
    })
    .await;
    let elapsed = killed.elapsed();
    assert!(taken, "c's repositories were not taken over: held {:?}", ledger.holders());
    assert!(elapsed <= bound, "c's repositories took {elapsed:?} to move, more than ttl + period + slack ({bound:?})");
    settle(&observer, &mut ledger, &["a", "b"], &fleet).await;
}

/// The size of the fleet a fourth node joins.
const JOIN_FLEET: usize = 300;
/// The ttl there: a few hundred leases and an observer listing them all keep a loaded machine busy, and a lease
/// that lapsed under that load would move for another reason than the join.
const JOIN_TTL: Duration = Duration::from_secs(6);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_node_takes_about_a_quarter_and_the_others_lose_only_that() {
    let server = NatsServer::start().await;
    let Cluster { fleet, mut ledger, events, observer, mut nodes } =
        Cluster::settled_over(&server, JOIN_FLEET, JOIN_TTL).await;
    let before = ledger.log.len();
    let owners = |leases: &BTreeMap<String, LeaseEntry>| -> BTreeMap<String, String> {
        leases.iter().map(|(repo, entry)| (repo.clone(), entry.record.node.to_string())).collect()
    };
    let held_before = owners(&every_lease(&observer, JOIN_FLEET).await);

    nodes.push(start(&server, "d", &fleet, &events, JOIN_TTL).await);
    settle(&observer, &mut ledger, &["a", "b", "c", "d"], &fleet).await;
    let held_after = owners(&every_lease(&observer, JOIN_FLEET).await);

    // Counted in the bucket: every lease that names another node now went to d, none from one old node to another.
    let mut moved = BTreeSet::new();
    for (repo, old) in &held_before {
        let new = held_after.get(repo).unwrap_or_else(|| panic!("{repo} is not leased after the join"));
        if new != old {
            assert_eq!(new, "d", "{repo} moved from {old} to {new}, between two nodes that were there before");
            moved.insert(repo.clone());
        }
    }
    // Exactly what rendezvous hashing gives d, and no more: nothing was moved and moved back.
    let four = names(&["a", "b", "c", "d"]);
    let ds: BTreeSet<String> =
        fleet.iter().filter(|repo| rightful_owner(repo, &four).is_some_and(|n| n.as_str() == "d")).cloned().collect();
    assert_eq!(moved, ds, "the leases that moved are not d's rendezvous share");
    // The share of each of four nodes is Binomial(300, 1/4) over the hash: mean 75, standard deviation 7.5. The
    // bound is the mean plus four deviations, 105 (35 %), which a fair hash exceeds for fewer than 1 in 30,000
    // fleets; and a join must move something.
    assert!((1..=105).contains(&moved.len()), "d took {} of {JOIN_FLEET}, more than a quarter allows", moved.len());

    // And by the coordinators' own word: the others lost exactly what d gained, each once, and nothing else changed.
    let mut gained = BTreeSet::new();
    let mut lost = BTreeSet::new();
    for change in &ledger.log[before..] {
        match (&change.change, change.node.as_str()) {
            (Ownership::Gained { repo, .. }, "d") => assert!(gained.insert(repo.clone()), "d gained {repo} twice"),
            (Ownership::Lost { repo }, node) if node != "d" => assert!(lost.insert(repo.clone()), "{repo} lost twice"),
            (other, node) => panic!("after the join {node} sent {other:?}"),
        }
    }
    assert_eq!(gained, lost, "the others lost exactly what d gained");
    assert_eq!(gained, moved, "the coordinators' changes are not the bucket's");
    assert_eq!(gained.iter().cloned().collect::<Vec<_>>(), ledger.held_by("d"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_server_loses_every_lease_by_its_deadline_and_a_restarted_one_converges() {
    let mut server = NatsServer::start().await;
    let Cluster { fleet, mut ledger, observer, nodes, .. } = Cluster::settled(&server).await;

    // Every lease was last renewed before this; each node's deadline is at most ttl - margin after it, and no
    // other node may claim before a full ttl has passed, so every `Lost` must have been sent within the ttl.
    let stopped = Instant::now();
    server.stop();
    let all_lost = poll_until(TTL + Duration::from_secs(5), || {
        ledger.read();
        let empty = ledger.holders().is_empty();
        async move { empty }
    })
    .await;
    let elapsed = stopped.elapsed();
    assert!(all_lost, "still held with the server gone: {:?}", ledger.holders());
    assert!(elapsed <= TTL, "the last lease was given up {elapsed:?} after the server went, beyond the ttl {TTL:?}");
    for node in &nodes {
        assert!(node.handle.held().is_empty(), "{} still holds {:?}", node.handle.node(), node.handle.held());
    }

    server.restart().await;
    settle(&observer, &mut ledger, &["a", "b", "c"], &fleet).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_set_on_a_running_coordinator_is_claimed_and_what_left_it_released() {
    let server = NatsServer::start().await;
    let (mut ledger, events) = Ledger::new();
    let observer = observer(&server, TTL).await;
    // Started with nothing to share, as a node is before its first discovery answers.
    let a = start(&server, "a", &[], &events, TTL).await;
    let holdings = a.handle.holdings();
    let first = fleet(12);
    a.handle.set_fleet(first.clone()).expect("valid names");
    settle(&observer, &mut ledger, &["a"], &first).await;
    assert!(first.iter().all(|repo| holdings.revision(repo).is_some()), "holdings lag the ledger");

    // Five repositories leave the fleet: each is lost, then released, and the rest stay held.
    let second = fleet(7);
    a.handle.set_fleet(second.clone()).expect("valid names");
    settle(&observer, &mut ledger, &["a"], &second).await;
    assert!(first[7..].iter().all(|repo| holdings.revision(repo).is_none()), "still holding what left the fleet");
    let lost: BTreeSet<&str> = ledger
        .log
        .iter()
        .filter_map(|change| match &change.change {
            Ownership::Lost { repo } => Some(repo.as_str()),
            Ownership::Gained { .. } => None,
        })
        .collect();
    assert_eq!(lost, first[7..].iter().map(String::as_str).collect::<BTreeSet<_>>());

    let error = a.handle.set_fleet(vec![String::new()]).expect_err("an empty name").to_string();
    assert!(error.contains("invalid repository name ''"), "{error}");
    settle(&observer, &mut ledger, &["a"], &second).await;
    a.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fence_lets_the_holder_write_while_its_renewals_travel() {
    let server = NatsServer::start().await;
    let (mut ledger, events) = Ledger::new();
    let fleet = fleet(20);
    let observer = observer(&server, TTL).await;
    let a = start(&server, "a", &fleet, &events, TTL).await;
    settle(&observer, &mut ledger, &["a"], &fleet).await;
    let fence = Fence::new(Leases::open(&a.client, &config("a")).await.expect("open"));
    let holdings = a.handle.holdings();

    // Every lease checked, over and over, as a steward about to write would, while the coordinator renews them all
    // until each was renewed five times: a look that lands after a renewal was stored and before its answer
    // reached the coordinator finds a newer revision than the holder knows of, and must still pass.
    let mut revisions: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    let renewed = |revisions: &BTreeMap<&str, BTreeSet<u64>>| {
        revisions.len() == fleet.len() && revisions.values().all(|seen| seen.len() > 5)
    };
    let (mut checks, mut refused, mut unheld) = (0, Vec::new(), 0);
    let until = Instant::now() + SETTLE;
    while !renewed(&revisions) && Instant::now() < until {
        let looks = fleet.iter().map(|repo| {
            let (lease, fence) = (holdings.lease(repo), &fence);
            async move {
                match lease {
                    Some(lease) => Some((lease.revision, fence.check(&lease).await)),
                    None => None,
                }
            }
        });
        for (repo, look) in fleet.iter().zip(futures::future::join_all(looks).await) {
            let Some((revision, checked)) = look else {
                unheld += 1;
                continue;
            };
            revisions.entry(repo.as_str()).or_default().insert(revision);
            checks += 1;
            if let Err(error) = checked {
                refused.push(error.to_string());
            }
        }
    }
    assert!(renewed(&revisions), "the leases were not renewed five times each within {SETTLE:?}: {revisions:?}");
    assert!(
        refused.is_empty(),
        "the fence refused the holder {} times in {checks} looks ({unheld} found no lease held): {refused:?}",
        refused.len()
    );
    a.handle.stop().await;
}
