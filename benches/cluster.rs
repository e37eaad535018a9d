//! hive-cluster's coordinators sharing 30,000 repository names on 1, 2 and 3 nodes, all in this one process, against
//! a real nats-server (the testkit's, JetStream on disk, on loopback): how long until the fleet is fully owned and
//! until every repository is with its rightful node, how long one node's renewal round takes, how many NATS
//! messages the cluster exchanges per cycle (a period, ttl/3), and how long until a killed node's share is owned
//! again by the others.
//!
//! The coordinators are driven directly, as `hive serve --cluster` drives its own, without the rest of hive (no
//! pilots, no GitHub): this measures the leasing alone. Ownership is followed through the changes the coordinators
//! send (the same channel `hive serve` acts on), and checked against the leases' bucket once settled, untimed.
//! Messages are counted by each node's NATS client (sent and received, the protocol's own pings not included).
//!
//! `cargo bench --bench cluster` uses 30,000 names and the default ttl of 30 s (a few minutes, most of it the
//! killed node's ttl); `-- --test` uses 300 names and a 3 s ttl.

use std::{
    collections::HashMap,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use hive_cluster::{
    ClusterConfig, Coordinator, CoordinatorHandle, Leases, NodeName, Ownership, OwnershipChange, connect,
    rightful_owner,
};
use hive_testkit::NatsServer;
use tokio::sync::mpsc;

/// How long any one phase may take before the bench gives up on it: far beyond what a settled cluster needs.
const PHASE_LIMIT: Duration = Duration::from_secs(600);

fn main() {
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime builds unless the process is out of threads or descriptors");
    let (size, ttl) = if test_mode { (300, Duration::from_secs(3)) } else { (30_000, Duration::from_secs(30)) };
    runtime.block_on(bench(size, ttl));
}

async fn bench(size: usize, ttl: Duration) {
    let fleet: Vec<String> = (0..size).map(|i| format!("org-{:02}/repo-{i:05}", i % 50)).collect();
    println!("hive-cluster: {size} repositories, ttl {ttl:?} (period {:?}), nodes in one process", ttl / 3);
    println!(
        "| nodes | fully owned | settled | renewal round (slowest node) | messages per cycle | per repository | \
         killed node's share owned again |"
    );
    println!("|---|---|---|---|---|---|---|");
    for nodes in 1..=3 {
        let row = scenario(nodes, &fleet, ttl).await;
        let killed = row.recovered.map_or_else(|| "n/a".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
        let round =
            row.round.map_or_else(|| "back to back".to_owned(), |d| format!("{:.0} ms", d.as_secs_f64() * 1_000.0));
        println!(
            "| {nodes} | {:.2} s | {:.2} s | {round} | {} | {:.2} | {killed} |",
            row.owned.as_secs_f64(),
            row.settled.as_secs_f64(),
            row.messages,
            row.messages as f64 / fleet.len() as f64,
        );
    }
}

/// One scenario's measurements.
struct Row {
    /// From the coordinators' start to every repository held by some node.
    owned: Duration,
    /// From the start to every repository held by its rightful node.
    settled: Duration,
    /// The slowest node's renewal round, from its first renewal answered to its last; `None` when rounds ran
    /// back to back.
    round: Option<Duration>,
    /// Messages sent and received by all nodes' clients over one period, settled.
    messages: u64,
    /// From a node's kill to its share held by the rightful survivors (with two nodes or more).
    recovered: Option<Duration>,
}

struct Node {
    name: NodeName,
    client: async_nats::Client,
    handle: CoordinatorHandle,
}

async fn scenario(count: usize, fleet: &[String], ttl: Duration) -> Row {
    let server = NatsServer::start().await;
    let names: Vec<NodeName> =
        (1..=count).map(|i| NodeName::new(&format!("node-{i}")).expect("a valid node name")).collect();
    // Connected before the clock starts: a node's connection is not what is measured.
    let mut clients = Vec::new();
    for name in &names {
        clients.push(connect(&server.url(), name).await.expect("connect to nats-server"));
    }
    let (sender, changes) = mpsc::unbounded_channel();
    let mut book = Book { changes, holders: HashMap::new() };
    let started = Instant::now();
    let starts = names.iter().zip(&clients).map(|(name, client)| {
        let config = ClusterConfig::new(name.clone(), ttl).expect("valid settings");
        Coordinator::start(client, config, fleet.to_vec(), sender.clone())
    });
    let handles = futures::future::join_all(starts).await;
    let mut nodes: Vec<Node> = names
        .iter()
        .zip(clients)
        .zip(handles)
        .map(|((name, client), handle)| Node {
            name: name.clone(),
            client,
            handle: handle.expect("start a coordinator"),
        })
        .collect();

    let owned = book.wait(|book| book.holders.len() == fleet.len(), "fully owned").await;
    let shares = rightful(fleet, &names);
    let settled = book.wait(|book| book.holders == shares, "settled").await;
    let (owned, settled) = (owned - started, settled - started);
    check_bucket(&server, ttl, &shares).await;

    let round = renewal_round(&nodes, ttl).await;
    let messages = messages_per_period(&nodes, ttl).await;

    let recovered = if count > 1 {
        // kill -9, as the coordinator tests do it: the task ends where it is and releases nothing.
        let victim = nodes.pop().expect("two nodes or more");
        let killed = Instant::now();
        victim.handle.abort();
        drop(victim.client);
        book.holders.retain(|_, holder| *holder != victim.name);
        let survivors: Vec<NodeName> = nodes.iter().map(|node| node.name.clone()).collect();
        let shares = rightful(fleet, &survivors);
        let recovered = book.wait(|book| book.holders == shares, "recovered").await;
        Some(recovered - killed)
    } else {
        None
    };
    for node in nodes {
        node.handle.stop().await;
    }
    Row { owned, settled, round, messages, recovered }
}

/// Who holds what, by the changes the coordinators sent, in the order they sent them.
struct Book {
    changes: mpsc::UnboundedReceiver<OwnershipChange>,
    holders: HashMap<String, NodeName>,
}

impl Book {
    fn read(&mut self) {
        while let Ok(OwnershipChange { node, change }) = self.changes.try_recv() {
            match change {
                Ownership::Gained { repo, .. } => {
                    let before = self.holders.insert(repo, node);
                    assert!(before.is_none(), "a repository gained while another node held it");
                }
                Ownership::Lost { repo } => {
                    self.holders.remove(&repo);
                }
            }
        }
    }

    /// Reads changes every 10 ms until `done` holds; when it first did.
    async fn wait(&mut self, done: impl Fn(&Self) -> bool, what: &str) -> Instant {
        let until = Instant::now() + PHASE_LIMIT;
        loop {
            self.read();
            if done(self) {
                return Instant::now();
            }
            assert!(Instant::now() < until, "not {what} within {PHASE_LIMIT:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Each repository's rightful node among `live`.
fn rightful(fleet: &[String], live: &[NodeName]) -> HashMap<String, NodeName> {
    fleet.iter().map(|repo| (repo.clone(), rightful_owner(repo, live).expect("a live node").clone())).collect()
}

/// The bucket agrees with what the coordinators said: every repository leased, to its rightful node.
async fn check_bucket(server: &NatsServer, ttl: Duration, rightful: &HashMap<String, NodeName>) {
    let config = ClusterConfig::new(NodeName::new("observer").expect("valid"), ttl).expect("valid settings");
    let client = connect(&server.url(), config.node()).await.expect("connect");
    let leases = Leases::open(&client, &config).await.expect("open the leases' bucket");
    // A 2.9 server's listing can miss a key renewed while it runs: a short listing is taken again.
    let mut all = leases.all().await.expect("list the leases");
    for _ in 0..10 {
        if all.len() == rightful.len() {
            break;
        }
        all = leases.all().await.expect("list the leases");
    }
    assert_eq!(all.len(), rightful.len(), "the bucket holds another number of leases");
    for (repo, entry) in &all {
        assert_eq!(rightful.get(repo), Some(&entry.record.node), "{repo} is leased to the wrong node");
    }
}

/// The slowest node's renewal round: each node's revisions are sampled every 20 ms for three periods, the moments
/// they changed split into rounds where nothing changed for a third of a period, and a round seen whole (every lease
/// renewed in it, neither the first nor the last, which the sampling may have cut) measured from its first change to
/// its last. `None` when the rounds ran into each other, leaving no such pause.
async fn renewal_round(nodes: &[Node], ttl: Duration) -> Option<Duration> {
    let period = ttl / 3;
    let mut slowest = Duration::ZERO;
    for node in nodes {
        let holdings = node.handle.holdings();
        let repos: Vec<String> = node.handle.held().into_keys().collect();
        let mut last: Vec<Option<u64>> = repos.iter().map(|repo| holdings.revision(repo)).collect();
        let mut changes: Vec<Instant> = Vec::new();
        let until = Instant::now() + period * 3;
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = Instant::now();
            for (repo, seen) in repos.iter().zip(last.iter_mut()) {
                let revision = holdings.revision(repo);
                if revision != *seen {
                    *seen = revision;
                    changes.push(now);
                }
            }
        }
        let mut rounds: Vec<Vec<Instant>> = Vec::new();
        for at in changes {
            match rounds.last_mut() {
                Some(round) if round.last().is_some_and(|prev| at - *prev < period / 3) => round.push(at),
                _ => rounds.push(vec![at]),
            }
        }
        let whole = rounds
            .iter()
            .skip(1)
            .take(rounds.len().saturating_sub(2))
            .filter(|round| round.len() == repos.len())
            .map(|round| round[round.len() - 1] - round[0])
            .max()?;
        slowest = slowest.max(whole);
    }
    Some(slowest)
}

/// Messages sent and received by every node's client over one period.
async fn messages_per_period(nodes: &[Node], ttl: Duration) -> u64 {
    let count = || -> u64 {
        nodes
            .iter()
            .map(|node| {
                let stats = node.client.statistics();
                stats.in_messages.load(Ordering::Relaxed) + stats.out_messages.load(Ordering::Relaxed)
            })
            .sum()
    };
    let before = count();
    tokio::time::sleep(ttl / 3).await;
    count() - before
}
