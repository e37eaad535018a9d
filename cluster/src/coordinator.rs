//! The coordinator: one task per node that keeps the node's fair share of the fleet leased to it. Every period
//! (a third of the ttl) it heartbeats and reads the live nodes, then releases what another live node should
//! hold (handoff), claims what it should hold and is free (never claimed, released, or lapsed), and renews the
//! rest. Requests run concurrently beside a timer for the earliest local lease deadline, so a server that stops
//! answering never keeps the node holding a lease past `last renewal + ttl - margin`.
//!
//! Every change of what this node holds is sent on a channel, in the order it was decided: `Lost` is sent before
//! the release that lets another node claim, and when a deadline passes, so whoever turns these into running and
//! stopped pilots never has two nodes maintain one repository (as long as it acts on `Lost` before the margin
//! runs out).

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    pin::Pin,
};

use futures::{StreamExt, stream::FuturesUnordered};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::{Instant, MissedTickBehavior},
};

use crate::{
    config::ClusterConfig,
    error::ClusterError,
    key::{NodeName, lease_key},
    lease::{Lease, Leases},
    members::Members,
    share::plan,
};

/// A change of what one node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// The node holds `repo`'s lease now, at `revision` (what the fence checks): start maintaining it.
    Gained {
        /// The repository.
        repo: String,
        /// The lease's revision when it was gained. Renewals move it on; [`CoordinatorHandle::held`] has the latest.
        revision: u64,
    },
    /// The node no longer holds `repo` (released to its rightful owner, lapsed, or taken): stop at once.
    Lost {
        /// The repository.
        repo: String,
    },
}

/// An [`Ownership`] change and the node it is about, so one channel can serve several coordinators (several
/// nodes embedded in one process, or a test watching them all in one order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipChange {
    /// The node.
    pub node: NodeName,
    /// What changed.
    pub change: Ownership,
}

/// Starts coordinators. See the module documentation.
#[derive(Debug)]
pub struct Coordinator;

impl Coordinator {
    /// Opens the buckets (so a server without JetStream or a bucket with another ttl is an error here, not in the
    /// task) and starts the node's coordinator over `fleet`, sending its changes on `events`.
    pub async fn start(
        client: &async_nats::Client,
        config: ClusterConfig,
        fleet: Vec<String>,
        events: mpsc::UnboundedSender<OwnershipChange>,
    ) -> Result<CoordinatorHandle, ClusterError> {
        for repo in &fleet {
            lease_key(repo)?;
        }
        let fleet: Vec<String> = fleet.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        let leases = Leases::open(client, &config).await?;
        let members = Members::open(client, &config).await?;
        let (stop, stopped) = oneshot::channel();
        let (held_tx, held_rx) = tokio::sync::watch::channel(BTreeMap::new());
        let (fleet_tx, fleet_rx) = tokio::sync::watch::channel(fleet.clone());
        let node = config.node().clone();
        let run = Run {
            config,
            leases,
            members,
            fleet,
            fleet_rx,
            events,
            held: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            held_tx,
            busy: BTreeSet::new(),
            surveying: false,
            stopping: false,
            ops: FuturesUnordered::new(),
        };
        let task = tokio::spawn(run.run(stopped));
        Ok(CoordinatorHandle { node, stop, task, held: held_rx, fleet: fleet_tx })
    }
}

/// A running coordinator. Dropping the handle stops it as [`CoordinatorHandle::stop`] does, without waiting.
#[derive(Debug)]
pub struct CoordinatorHandle {
    node: NodeName,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    held: tokio::sync::watch::Receiver<BTreeMap<String, Lease>>,
    fleet: tokio::sync::watch::Sender<Vec<String>>,
}

/// What a node holds, kept current by its coordinator: for the fence, in whatever task checks it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Holdings(tokio::sync::watch::Receiver<BTreeMap<String, Lease>>);

impl Holdings {
    /// The revision at which this node holds `repo` now, if it does.
    pub fn revision(&self, repo: &str) -> Option<u64> {
        self.0.borrow().get(repo).map(|lease| lease.revision)
    }

    /// This node's lease of `repo` as its coordinator last renewed it, if it holds it: what [`crate::Fence::check`]
    /// takes.
    pub fn lease(&self, repo: &str) -> Option<Lease> {
        self.0.borrow().get(repo).cloned()
    }
}

impl CoordinatorHandle {
    /// The node.
    pub fn node(&self) -> &NodeName {
        &self.node
    }

    /// The repositories this node holds now, with their latest revisions (for the fence).
    pub fn held(&self) -> BTreeMap<String, u64> {
        self.held.borrow().iter().map(|(repo, lease)| (repo.clone(), lease.revision)).collect()
    }

    /// What this node holds, as it changes, for a reader that does not own the handle.
    pub fn holdings(&self) -> Holdings {
        Holdings(self.held.clone())
    }

    /// Replaces the repositories shared out (a fleet discovered again). Returns at once: the coordinator releases
    /// what left the fleet (sending `Lost` first) and starts a round for what joined it. A name that cannot be
    /// leased is refused and nothing changes.
    pub fn set_fleet(&self, fleet: Vec<String>) -> Result<(), ClusterError> {
        for repo in &fleet {
            lease_key(repo)?;
        }
        let fleet: Vec<String> = fleet.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        self.fleet.send_if_modified(|current| {
            let changed = *current != fleet;
            *current = fleet;
            changed
        });
        Ok(())
    }

    /// Stops gracefully: waits for the requests under way (at most one operation time-out), sends `Lost` for
    /// everything held, releases it and takes the node's heartbeat out, so the others take over within a period.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::warn!(node = %self.node, %error, "the coordinator did not stop cleanly");
        }
    }

    /// Ends the task where it is, releasing nothing: what a crash does. Its leases lapse after the ttl.
    pub fn abort(self) {
        self.task.abort();
    }
}

type Op = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// A request's result, applied by the loop in the order results arrive.
enum Outcome {
    Surveyed(Result<BTreeSet<NodeName>, ClusterError>),
    Claimed(String, Result<Lease, ClusterError>),
    Renewed(String, Result<Lease, ClusterError>),
    Released(String, Result<(), ClusterError>),
}

struct Run {
    config: ClusterConfig,
    leases: Leases,
    members: Members,
    fleet: Vec<String>,
    /// The fleet as the handle last set it.
    fleet_rx: tokio::sync::watch::Receiver<Vec<String>>,
    events: mpsc::UnboundedSender<OwnershipChange>,
    held: BTreeMap<String, Lease>,
    /// Every held lease's local deadline, earliest first: the timer and `expire` look at the front only, so a
    /// node holding tens of thousands of leases does not scan them all for each answer it applies.
    deadlines: BTreeSet<(Instant, String)>,
    held_tx: tokio::sync::watch::Sender<BTreeMap<String, Lease>>,
    /// Repositories with a request in flight; a round leaves them alone.
    busy: BTreeSet<String>,
    surveying: bool,
    /// Set once the coordinator is stopping: results still arriving are applied, but no round follows them.
    stopping: bool,
    ops: FuturesUnordered<Op>,
}

impl Run {
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let mut tick = tokio::time::interval(self.config.period());
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let deadline = self.deadlines.first().map(|(deadline, _)| *deadline);
            let expiry = async move {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                () = expiry => self.expire(),
                Some(outcome) = self.ops.next(), if !self.ops.is_empty() => self.apply(outcome),
                Ok(()) = self.fleet_rx.changed() => self.refleet(),
                _ = tick.tick() => self.round(),
            }
        }
        self.shut_down().await;
    }

    /// Takes the fleet the handle set: what left it is released (`Lost` first), and a round starts at once so what
    /// joined it is claimed without waiting for the timer.
    fn refleet(&mut self) {
        self.fleet = self.fleet_rx.borrow_and_update().clone();
        // A lease with a claim or renewal under way is released when its answer comes (see `keep`): a release sent
        // now could lose the race to that renewal, which would then hold the repository again.
        let gone: Vec<String> = self
            .held
            .keys()
            .filter(|repo| self.fleet.binary_search(repo).is_err() && !self.busy.contains(*repo))
            .cloned()
            .collect();
        for repo in gone {
            self.release(&repo);
        }
        self.round();
    }

    /// Stops holding `repo` (`Lost` first) and releases its lease.
    fn release(&mut self, repo: &str) {
        if let Some(lease) = self.drop_held(repo) {
            self.busy.insert(repo.to_owned());
            let leases = self.leases.clone();
            let repo = repo.to_owned();
            self.ops.push(Box::pin(async move { Outcome::Released(repo, leases.release(&lease).await) }));
        }
    }

    /// Holds a lease a claim or renewal returned, unless its repository left the fleet while the answer travelled:
    /// then it is released at once.
    fn keep(&mut self, lease: Lease) {
        if self.fleet.binary_search(&lease.repo).is_ok() {
            return self.hold(lease);
        }
        // Never announced as gained (again); `Lost` first if it was held. The release is pinned to the new revision.
        self.drop_held(&lease.repo);
        self.busy.insert(lease.repo.clone());
        let leases = self.leases.clone();
        self.ops.push(Box::pin(async move { Outcome::Released(lease.repo.clone(), leases.release(&lease).await) }));
    }

    /// Starts a round with the survey; the rest of the round follows its result.
    fn round(&mut self) {
        if self.surveying {
            return;
        }
        self.surveying = true;
        let members = self.members.clone();
        self.ops.push(Box::pin(async move {
            let (beat, live) = tokio::join!(members.heartbeat(), members.live());
            Outcome::Surveyed(beat.and(live))
        }));
    }

    fn apply(&mut self, outcome: Outcome) {
        self.expire();
        match outcome {
            Outcome::Surveyed(_) if self.stopping => self.surveying = false,
            Outcome::Surveyed(live) => {
                self.surveying = false;
                match live {
                    Ok(live) => self.rebalance(&live),
                    Err(error) => tracing::debug!(node = %self.config.node(), %error, "survey failed; renewing only"),
                }
                self.renew_all();
            }
            Outcome::Claimed(repo, claimed) => {
                self.busy.remove(&repo);
                match claimed {
                    Ok(lease) => self.keep(lease),
                    Err(ClusterError::Taken { holder, .. }) => {
                        tracing::debug!(node = %self.config.node(), %repo, %holder, "still held by another node");
                    }
                    Err(error) => tracing::debug!(node = %self.config.node(), %repo, %error, "claim failed"),
                }
            }
            Outcome::Renewed(repo, renewed) => {
                self.busy.remove(&repo);
                match renewed {
                    Ok(lease) => self.keep(lease),
                    Err(error @ ClusterError::Stale { .. }) => {
                        tracing::info!(node = %self.config.node(), %repo, %error, "lease lost");
                        self.drop_held(&repo);
                    }
                    // Kept until its deadline: the next round may get through.
                    Err(error) => tracing::debug!(node = %self.config.node(), %repo, %error, "renewal failed"),
                }
            }
            Outcome::Released(repo, released) => {
                self.busy.remove(&repo);
                if let Err(error) = released {
                    tracing::debug!(node = %self.config.node(), %repo, %error, "release failed; the lease lapses");
                }
            }
        }
    }

    /// Releases what another live node should hold and claims what this one should.
    fn rebalance(&mut self, live: &BTreeSet<NodeName>) {
        let held: BTreeSet<String> = self.held.keys().cloned().collect();
        let plan = plan(self.config.node(), live, &self.fleet, &held, &self.busy);
        for repo in plan.release {
            self.release(&repo);
        }
        for repo in plan.claim {
            self.busy.insert(repo.clone());
            let leases = self.leases.clone();
            self.ops.push(Box::pin(async move {
                let claimed = leases.claim(&repo).await;
                Outcome::Claimed(repo, claimed)
            }));
        }
    }

    fn renew_all(&mut self) {
        let idle: Vec<Lease> = self.held.values().filter(|lease| !self.busy.contains(&lease.repo)).cloned().collect();
        for lease in idle {
            self.busy.insert(lease.repo.clone());
            let leases = self.leases.clone();
            self.ops.push(Box::pin(async move {
                let renewed = leases.renew(&lease).await;
                Outcome::Renewed(lease.repo, renewed)
            }));
        }
    }

    /// Takes a lease a claim or renewal returned. One whose deadline passed while the answer travelled is not
    /// held (the next claim finds it is this process's and renews it). One that lapsed locally while its renewal
    /// was under way, and that renewal got through, is held again: the write pinned to this node's revision
    /// proves no other node held it in between.
    fn hold(&mut self, lease: Lease) {
        if lease.held_until <= Instant::now() {
            return;
        }
        let repo = lease.repo.clone();
        let revision = lease.revision;
        // Lent to the fence before `Gained` is sent, so whatever acts on `Gained` finds the lease there.
        self.held_tx.send_modify(|held| {
            held.insert(repo.clone(), lease.clone());
        });
        let held_until = lease.held_until;
        let earlier = self.held.insert(repo.clone(), lease);
        // The earlier deadline out before the new one in: a renewal may end at the same instant.
        if let Some(earlier) = &earlier {
            self.deadlines.remove(&(earlier.held_until, repo.clone()));
        }
        self.deadlines.insert((held_until, repo.clone()));
        if earlier.is_none() {
            self.send(Ownership::Gained { repo, revision });
        }
    }

    /// Stops holding `repo`: `Lost` is sent before anything else happens to it.
    fn drop_held(&mut self, repo: &str) -> Option<Lease> {
        let lease = self.held.remove(repo)?;
        self.deadlines.remove(&(lease.held_until, repo.to_owned()));
        self.send(Ownership::Lost { repo: repo.to_owned() });
        self.held_tx.send_modify(|held| {
            held.remove(repo);
        });
        Some(lease)
    }

    /// Drops every lease whose local deadline has come.
    fn expire(&mut self) {
        let now = Instant::now();
        let lapsed: Vec<String> =
            self.deadlines.iter().take_while(|(deadline, _)| *deadline <= now).map(|(_, repo)| repo.clone()).collect();
        if !lapsed.is_empty() {
            tracing::info!(node = %self.config.node(), count = lapsed.len(), "leases lapsed locally without renewal");
        }
        for repo in lapsed {
            self.drop_held(&repo);
        }
    }

    fn send(&self, change: Ownership) {
        // A closed channel means nobody acts on ownership any more; the leases still keep other nodes out until
        // the coordinator stops, so there is nothing better to do than go on.
        let _ = self.events.send(OwnershipChange { node: self.config.node().clone(), change });
    }

    /// Lets requests under way finish (bounded), then gives everything back.
    async fn shut_down(mut self) {
        self.stopping = true;
        let bound = self.config.op_timeout();
        let drain = async {
            while let Some(outcome) = self.ops.next().await {
                self.apply(outcome);
            }
        };
        let _ = tokio::time::timeout(bound, drain).await;
        self.ops = FuturesUnordered::new();
        let held: Vec<String> = self.held.keys().cloned().collect();
        let releases: Vec<Lease> = held.iter().filter_map(|repo| self.drop_held(repo)).collect();
        let leases = &self.leases;
        let released = futures::future::join_all(releases.iter().map(|lease| leases.release(lease))).await;
        for (lease, result) in releases.iter().zip(released) {
            if let Err(error) = result {
                tracing::debug!(node = %self.config.node(), repo = %lease.repo, %error, "release failed; the lease lapses");
            }
        }
        if let Err(error) = self.members.leave().await {
            tracing::debug!(node = %self.config.node(), %error, "leaving failed; the heartbeat lapses");
        }
    }
}
