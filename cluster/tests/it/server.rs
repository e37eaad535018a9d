//! What the cluster tests share: a real nats-server (the testkit's), short ttls, and what a coordinator test
//! watches: every node's ownership changes in the one order they were sent.

use std::{collections::BTreeMap, future::Future, time::Duration};

use hive_cluster::{ClusterConfig, NodeName, Ownership, OwnershipChange};
use tokio::{sync::mpsc, time::Instant};

/// The ttl of leases and heartbeats in these tests: short, so lapses happen within seconds.
pub const TTL: Duration = Duration::from_secs(2);

pub use hive_testkit::NatsServer;

/// Polls `check` every 20 ms until it holds or `within` has passed; whether it held.
pub async fn poll_until<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A node's settings in these tests.
pub fn config(node: &str) -> ClusterConfig {
    config_with_ttl(node, TTL)
}

/// A node's settings with another ttl (every node and observer on one server must use the same).
pub fn config_with_ttl(node: &str, ttl: Duration) -> ClusterConfig {
    ClusterConfig::new(NodeName::new(node).expect("a valid node name"), ttl).expect("valid settings")
}

/// `org/repo-0` .. `org/repo-{n-1}`.
pub fn fleet(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("org/repo-{i}")).collect()
}

/// Who holds what, as the coordinators said it, read from the one channel they all send on, in the order they
/// sent. Every change is checked as it is read: a node gains only what no node holds, and loses only what it
/// holds. So at no moment did two nodes consider themselves a repository's holder.
pub struct Ledger {
    events: mpsc::UnboundedReceiver<OwnershipChange>,
    holders: BTreeMap<String, NodeName>,
    /// Every change read, in order, per node.
    pub log: Vec<OwnershipChange>,
}

impl Ledger {
    /// A ledger and the sender every coordinator gets a clone of.
    pub fn new() -> (Self, mpsc::UnboundedSender<OwnershipChange>) {
        let (tx, events) = mpsc::unbounded_channel();
        (Self { events, holders: BTreeMap::new(), log: Vec::new() }, tx)
    }

    /// Reads every change sent so far, checking each.
    pub fn read(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            match &event.change {
                Ownership::Gained { repo, .. } => {
                    if let Some(holder) = self.holders.get(repo) {
                        panic!("{} gained {repo} while {holder} held it; changes so far: {:#?}", event.node, self.log);
                    }
                    self.holders.insert(repo.clone(), event.node.clone());
                }
                Ownership::Lost { repo } => {
                    let holder = self.holders.remove(repo);
                    assert_eq!(holder.as_ref(), Some(&event.node), "{} lost {repo}, which it did not hold", event.node);
                }
            }
            self.log.push(event);
        }
    }

    /// Who holds what now, by the changes read.
    pub fn holders(&self) -> &BTreeMap<String, NodeName> {
        &self.holders
    }

    /// What `node` holds now, by the changes read.
    pub fn held_by(&self, node: &str) -> Vec<String> {
        self.holders.iter().filter(|(_, holder)| holder.as_str() == node).map(|(repo, _)| repo.clone()).collect()
    }

    /// A node that was killed holds nothing, though it could not say so.
    pub fn forget(&mut self, node: &str) {
        self.holders.retain(|_, holder| holder.as_str() != node);
    }
}
